"""The DARTS search network (supernet) of a DARTS space (reference `model_search.py`).

`DartsSupernet(space)` is the weight-sharing network of `darts.darts_space(...)`:
every cell holds, on each of its 14 edges (node `i` reads states `0..i+1`), a mixed
op over `'none'` plus the space's primitives, with batch norms without affine
parameters; all normal cells share one set of architecture weights and all
reduction cells another (2 x 14 x 8 α for the paper's space). At 16 channels,
8 cells and CIFAR-10 input it has 1,930,618 weights, the reference's count.

Derivation follows the paper: per node keep the 2 incoming edges whose strongest
non-`none` op weighs most, each with that op; the result is the DNA of the space.

`symbolic_automl.oneshot.build_supernet(space)` finds this builder by itself
(a space package's `supernet` module registers its builders).

Example::

    from symbolic_automl.spaces import darts
    from symbolic_automl.spaces.darts.supernet import DartsSupernet

    space = darts.darts_space(channels=16, num_cells=8)
    net = DartsSupernet(space)
    net.build_weights()
    net.count_params()                  # 1930618
"""

from typing import List, Sequence

import keras
import numpy as np
import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.oneshot.choice import ChoicePoint, MixedOp
from symbolic_automl.oneshot.supernet import Supernet, register_supernet_builder
from symbolic_automl.spaces.darts import ops
from symbolic_automl.spaces.darts.network import DartsNetwork

NONE = "none"


class PoolBN(keras.layers.Layer):
    """Pooling followed by a non-affine batch norm, as the reference's MixedOp."""

    def __init__(self, pool, **kwargs):
        super().__init__(**kwargs)
        self.pool = pool
        self.bn = ops.batch_norm(False)

    def call(self, x, training=None):
        return self.bn(self.pool(x), training=training)


def _search_op(name, C, stride):
    op = ops.OPS[name](C, stride, False)
    return PoolBN(op) if "pool" in name else op


class SearchCell(keras.layers.Layer):
    """A cell of the search network: every edge a mixed op, nodes summed, concat."""

    def __init__(self, num_nodes, candidates, channels, reduction, reduction_prev,
                 multiplier=None, **kwargs):
        super().__init__(**kwargs)
        self.num_nodes = num_nodes
        self.multiplier = multiplier or num_nodes
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0 = ops.FactorizedReduce(channels, affine=False)
        else:
            self.preprocess0 = ops.ReLUConvBN(channels, 1, 1, 0, affine=False)
        self.preprocess1 = ops.ReLUConvBN(channels, 1, 1, 0, affine=False)
        self.edges = []
        for i in range(num_nodes):
            for j in range(i + 2):
                stride = 2 if reduction and j < 2 else 1
                self.edges.append(
                    MixedOp([_search_op(name, channels, stride) for name in candidates]))

    def call(self, inputs, mixing, training=None):
        s0, s1 = inputs
        states = [self.preprocess0(s0, training=training),
                  self.preprocess1(s1, training=training)]
        offset = 0
        for _ in range(self.num_nodes):
            node = None
            for j, h in enumerate(states):
                y = self.edges[offset + j](h, mixing[offset + j], training=training)
                node = y if node is None else node + y
            offset += len(states)
            states.append(node)
        return keras.ops.concatenate(states[-self.multiplier:], axis=-1)


def _edge_choices(cell_space, what):
    """(inputs per node, primitives) of a cell space; a clear error if not DARTS-like."""
    primitives, inputs_per_node = None, None
    for i, node in enumerate(cell_space.nodes):
        edges = node.sym_getattr("edges")
        if not isinstance(edges, pg.hyper.ManyOf):
            raise errors.SearchSpaceError(
                f"{what} node {i}: expected its edges to be a pg.manyof over candidate "
                f"input edges (darts_cell_space), got {type(edges).__name__}.")
        if [e.input for e in edges.candidates] != list(range(i + 2)):
            raise errors.SearchSpaceError(
                f"{what} node {i}: expected one candidate edge per earlier state "
                f"0..{i + 1}, got inputs {[e.input for e in edges.candidates]}.")
        for e in edges.candidates:
            op = e.sym_getattr("op")
            names = list(op.candidates) if isinstance(op, pg.hyper.OneOf) else None
            if names is None:
                raise errors.SearchSpaceError(
                    f"{what} node {i}: the op of the edge from state {e.input} must be "
                    f"a pg.oneof over op names for the supernet to relax; got {op!r}.")
            if primitives is not None and names != primitives:
                raise errors.SearchSpaceError(
                    f"{what}: every edge must choose among the same ops; got {names} "
                    f"and {primitives}.")
            primitives = names
        if inputs_per_node not in (None, edges.num_choices):
            raise errors.SearchSpaceError(f"{what}: nodes differ in inputs per node.")
        inputs_per_node = edges.num_choices
    return inputs_per_node, primitives


class DartsSupernet(Supernet):
    """The DARTS search network of a `darts_space`; `call(images, mixing)` -> logits.

    `mixing` holds one vector per edge: the normal cell's edges first (node by
    node, input by input), then the reduction cell's; each over
    `self.candidates` (`'none'` first, then the space's primitives).
    """

    def __init__(self, space: DartsNetwork, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(space, DartsNetwork):
            raise errors.SearchSpaceError(
                f"DartsSupernet expects a DartsNetwork space (darts.darts_space()), "
                f"got {type(space).__name__}.")
        extra = [str(dp.id) for dp in pg.dna_spec(space).decision_points
                 if not str(dp.id).startswith(("normal.", "reduce."))]
        if extra:
            raise errors.SearchSpaceError(
                f"The DARTS supernet relaxes only the cells' edges and ops; the space "
                f"also chooses {extra}, which it cannot relax. Fix those values.")
        self.space = space
        self.dna_spec = pg.dna_spec(space)
        self.num_nodes = len(space.normal.nodes)
        if len(space.reduce.nodes) != self.num_nodes:
            raise errors.SearchSpaceError(
                "The normal and reduction cell spaces must have the same number of nodes.")
        self.inputs_per_node, self.primitives = _edge_choices(space.normal, "normal cell")
        reduce_choices = _edge_choices(space.reduce, "reduction cell")
        if reduce_choices != (self.inputs_per_node, self.primitives):
            raise errors.SearchSpaceError(
                "The normal and reduction cell spaces must choose among the same ops and "
                "inputs per node.")
        self.candidates = [NONE] + [p for p in self.primitives if p != NONE]
        self.edges_per_cell = sum(i + 2 for i in range(self.num_nodes))
        self.choice_points = [
            ChoicePoint(key=f"{cell}.edge[{i}<-{j}]", candidates=list(self.candidates))
            for cell in ("normal", "reduce")
            for i in range(self.num_nodes) for j in range(i + 2)]
        self.input_shapes = [tuple(space.input_shape)]
        C = space.channels
        self.stem_conv = keras.layers.Conv2D(
            space.stem_multiplier * C, 3, padding="same", use_bias=False,
            data_format="channels_last")
        self.stem_bn = ops.batch_norm(True)
        reductions = {space.num_cells // 3, 2 * space.num_cells // 3}
        self.cells = []
        C_curr, reduction_prev = C, False
        for i in range(space.num_cells):
            reduction = i in reductions
            if reduction:
                C_curr *= 2
            self.cells.append(SearchCell(self.num_nodes, self.candidates, C_curr, reduction,
                                         reduction_prev, name=f"search_cell_{i}"))
            reduction_prev = reduction
        self.pooling = keras.layers.GlobalAveragePooling2D(data_format="channels_last")
        self.classifier = keras.layers.Dense(space.num_classes)

    def call(self, images, mixing, training=None):
        x = self.stem_bn(self.stem_conv(images), training=training)
        s0 = s1 = x
        k = self.edges_per_cell
        for cell in self.cells:
            weights = mixing[k:2 * k] if cell.reduction else mixing[:k]
            s0, s1 = s1, cell([s0, s1], weights, training=training)
        return self.classifier(self.pooling(s1))

    # -- derivation -------------------------------------------------------------

    def genotype_pairs(self, scores: Sequence[np.ndarray]):
        """Per cell type, per node: the kept `(op, input)` pairs (the paper's rule)."""
        if len(scores) != len(self.choice_points):
            raise ValueError(
                f"Expected {len(self.choice_points)} score vectors, got {len(scores)}.")
        k = self.edges_per_cell
        result = {}
        for c, cell in enumerate(("normal", "reduce")):
            weights = np.asarray(scores[c * k:(c + 1) * k])
            ops_no_none = np.array(weights)
            ops_no_none[:, 0] = -np.inf  # 'none' is candidate 0
            nodes, offset = [], 0
            for i in range(self.num_nodes):
                rows = ops_no_none[offset:offset + i + 2]
                strongest = sorted(range(i + 2), key=lambda j: -rows[j].max())
                kept = sorted(strongest[:self.inputs_per_node])
                nodes.append([(self.candidates[int(np.argmax(rows[j]))], j) for j in kept])
                offset += i + 2
            result[cell] = nodes
        return result

    def derive(self, scores: Sequence[np.ndarray]) -> pg.DNA:
        pairs = self.genotype_pairs(scores)

        def decide(decision_point):
            path = str(decision_point.id)  # e.g. 'normal.nodes[2].edges'
            cell, rest = path.split(".", 1)
            node = int(rest.split("[", 1)[1].split("]", 1)[0])
            return pg.DNA([(j, self.primitives.index(op)) for op, j in pairs[cell][node]])

        return pg.DNA.from_fn(self.dna_spec, decide)

    def dna_to_mixing(self, dna: pg.DNA) -> List[np.ndarray]:
        """One-hot rows for the DNA's chosen edges; the others weigh zero (none)."""
        value = pg.materialize(self.space, dna)
        mixing = []
        for cell in (value.normal, value.reduce):
            for i, node in enumerate(cell.nodes):
                chosen = {e.input: e.op for e in node.edges}
                for j in range(i + 2):
                    row = np.zeros((len(self.candidates),), "float32")
                    if j in chosen:
                        row[self.candidates.index(chosen[j])] = 1.0
                    mixing.append(row)
        return mixing


register_supernet_builder(DartsNetwork, DartsSupernet)
