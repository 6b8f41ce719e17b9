"""The NAS-Bench-101 cell search space and network (Ying et al. 2019,
"NAS-Bench-101: Towards Reproducible Neural Architecture Search", ICML), following
the reference code (github.com/google-research/nasbench, `lib/model_builder.py`,
`lib/model_spec.py`, `lib/graph_util.py`).

A cell is a DAG over 7 vertices: the input, 5 intermediate vertices each applying one
of {conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3}, and the output. The adjacency
matrix is upper-triangular (21 edge bits). Vertices not on an input→output path are
pruned; a pruned graph with more than 9 edges, or none from input to output, is
infeasible. The network is the paper's: a 3x3 conv-bn-relu stem of 128 channels,
3 stacks of 3 cells, a 2x2 max-pool halving the resolution and channels doubling
before stacks 2 and 3, global average pooling and a dense classifier.

Inside a cell, the output's channels are split evenly among the vertices feeding it
(which are concatenated), other vertices take the largest channel count among their
successors, the input reaches vertices through 1x1 conv-bn-relu projections, and an
input→output edge adds a projection of the input to the output.

Example::

    import pyglove as pg
    from symbolic_automl.spaces import nasbench101

    space = nasbench101.nasbench101_space()          # the paper's network
    small = nasbench101.small_nasbench101_space()    # 8x8x1 digits, 16 channels
    network = next(pg.random_sample(small, seed=1))
    network.cell.check()          # raises InfeasibleError("11 edges after ...")
    network.cell.fingerprint()    # the NAS-Bench-101 module hash (isomorphism-free)
    model = network.to_keras()
"""

import hashlib
from typing import List, Optional, Sequence, Tuple

import keras
import numpy as np
import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.keras.norm_activation import BatchNormActivation, NormActivation

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
# In the reference's order: the hash labels ops by their index here.
OPS = (CONV3X3, CONV1X1, MAXPOOL3X3)

NUM_VERTICES = 7
MAX_EDGES = 9

# The reference's batch norm epsilon (`lib/base_ops.py`).
_BN_EPSILON = 1e-5


@pg.members([
    ("matrix", pg.typing.List(pg.typing.List(pg.typing.Int(min_value=0, max_value=1))),
     "Adjacency matrix, `matrix[i][j] = 1` for an edge from vertex i to vertex j; "
     "vertex 0 is the input, the last vertex the output. Upper-triangular."),
    ("ops", pg.typing.List(pg.typing.Str()),
     "Op of each intermediate vertex (vertices 1..n-2), from `OPS`."),
    ("max_edges", pg.typing.Int(min_value=1, default=MAX_EDGES),
     "Most edges the pruned graph may have (9 in NAS-Bench-101)."),
])
class NASBench101Cell(pg.Object):
    """A NAS-Bench-101 module: an op-labelled DAG from input to output."""

    @property
    def num_vertices(self) -> int:
        return len(self.ops) + 2

    def labels(self) -> List[str]:
        """Ops of all vertices, with 'input' and 'output' at the ends."""
        return [INPUT] + list(self.ops) + [OUTPUT]

    def check(self) -> None:
        """Raises `InfeasibleError` naming the problem if this cell cannot be built.

        Checks shape, op names and upper-triangularity, prunes vertices off every
        input→output path, then requires a path and at most `max_edges` edges.
        """
        self.pruned()

    def pruned(self) -> Tuple[np.ndarray, List[str]]:
        """Returns `(matrix, labels)` of the graph without vertices off input→output paths.

        Raises:
          InfeasibleError: a malformed matrix, an unknown op, no input→output path,
            or more than `max_edges` edges after pruning.
        """
        matrix = self._checked_matrix()
        labels = self.labels()
        n = len(labels)
        from_input = _reachable(matrix, 0, forward=True)
        to_output = _reachable(matrix, n - 1, forward=False)
        kept = sorted(from_input & to_output)
        if 0 not in kept or n - 1 not in kept:
            raise errors.InfeasibleError(
                f"NAS-Bench-101 cell has no path from the input to the output "
                f"(edges {_edge_list(matrix)}); a cell needs at least one.")
        pruned = matrix[np.ix_(kept, kept)]
        num_edges = int(pruned.sum())
        if num_edges > self.max_edges:
            remaining = [(i, j) for i, j in _edge_list(matrix) if i in kept and j in kept]
            raise errors.InfeasibleError(
                f"NAS-Bench-101 cell has {num_edges} edges after pruning, at most "
                f"{self.max_edges} are allowed (edges {remaining}).")
        return pruned, [labels[i] for i in kept]

    def num_edges(self) -> int:
        """Edges of the pruned graph."""
        return int(self.pruned()[0].sum())

    def fingerprint(self) -> str:
        """The NAS-Bench-101 module hash of the pruned graph.

        Isomorphic cells (the same graph with intermediate vertices renumbered, or
        differing only in pruned vertices) hash equal; it is the reference's
        `graph_util.hash_module`, so it equals the dataset's module hash.
        """
        matrix, labels = self.pruned()
        op_index = [-1] + [OPS.index(op) for op in labels[1:-1]] + [-2]
        return graph_hash(matrix, op_index)

    @classmethod
    def from_spec(cls, matrix: Sequence[Sequence[int]], ops: Sequence[str],
                  **kwargs) -> "NASBench101Cell":
        """A cell from a NAS-Bench-101 `ModelSpec`-style matrix and op list.

        `ops` may include 'input' and 'output' at its ends, as in the reference API.
        """
        ops = list(ops)
        if ops and ops[0] == INPUT and ops[-1] == OUTPUT:
            ops = ops[1:-1]
        return cls(matrix=[[int(v) for v in row] for row in matrix], ops=ops, **kwargs)

    def _checked_matrix(self) -> np.ndarray:
        if not pg.is_deterministic(self):
            raise errors.SearchSpaceError(
                "NASBench101Cell still holds hyper-values; materialize it first "
                "(pg.materialize, pg.random_sample or a search).")
        n = self.num_vertices
        if len(self.matrix) != n or any(len(row) != n for row in self.matrix):
            shape = f"{len(self.matrix)}x{[len(r) for r in self.matrix]}"
            raise errors.InfeasibleError(
                f"NAS-Bench-101 cell with {len(self.ops)} intermediate ops needs a "
                f"{n}x{n} adjacency matrix, got rows of lengths {shape}.")
        unknown = [op for op in self.ops if op not in OPS]
        if unknown:
            raise errors.InfeasibleError(
                f"NAS-Bench-101 cell has unknown ops {unknown}; expected ops from "
                f"{list(OPS)}.")
        matrix = np.array(self.matrix, dtype=np.int64)
        below = [(i, j) for i, j in zip(*np.nonzero(np.tril(matrix)))]
        if below:
            raise errors.InfeasibleError(
                f"NAS-Bench-101 cell matrix must be upper-triangular (edges go from a "
                f"lower to a higher vertex), but has edges {[(int(i), int(j)) for i, j in below]}.")
        return matrix


def graph_hash(matrix: np.ndarray, labels: Sequence[int]) -> str:
    """Weisfeiler-Lehman-style hash of a labelled DAG (NAS-Bench-101's `hash_module`).

    Each vertex starts from the md5 of (out-degree, in-degree, label); each of
    `n` rounds rehashes it with the sorted hashes of its in- and out-neighbours;
    the graph hash is the md5 of the sorted vertex hashes.

    Args:
      matrix: square 0/1 adjacency matrix.
      labels: one integer label per vertex (-1 input, -2 output, else op index).

    Example::

        graph_hash(np.array([[0, 1], [0, 0]]), [-1, -2])
    """
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    in_edges = matrix.sum(axis=0).tolist()
    out_edges = matrix.sum(axis=1).tolist()
    hashes = [_md5(str((out_edges[v], in_edges[v], int(labels[v])))) for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5("".join(sorted(hashes[w] for w in range(n) if matrix[w, v])) + "|" +
                 "".join(sorted(hashes[w] for w in range(n) if matrix[v, w])) + "|" +
                 hashes[v])
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


def compute_vertex_channels(input_channels: int, output_channels: int,
                            matrix: np.ndarray) -> List[int]:
    """Channels of every vertex of a pruned cell, as in the reference.

    The output's channels are split among the vertices feeding it (the first
    `output_channels % fan_in` of them get one more); any other interior vertex
    takes the largest channel count among its successors.
    """
    n = matrix.shape[0]
    channels = [0] * n
    channels[0], channels[n - 1] = input_channels, output_channels
    if n == 2:
        return channels
    fan_in = int(matrix[1:, n - 1].sum())
    interior, correction = divmod(output_channels, fan_in)
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            channels[v] = interior + (1 if correction else 0)
            correction = max(correction - 1, 0)
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    channels[v] = max(channels[v], channels[dst])
    return channels


@pg.members([
    ("cell", pg.typing.Object(NASBench101Cell), "The module every cell uses."),
    ("input_shape", pg.typing.Tuple([pg.typing.Int(min_value=1)] * 3, default=(32, 32, 3)),
     "Image shape, channels last."),
    ("num_classes", pg.typing.Int(min_value=1, default=10), "Output classes."),
    ("stem_channels", pg.typing.Int(min_value=1, default=128),
     "Channels of the 3x3 stem and of the first stack's cells."),
    ("num_stacks", pg.typing.Int(min_value=1, default=3),
     "Stacks of cells; each after the first halves the resolution, doubles channels."),
    ("cells_per_stack", pg.typing.Int(min_value=1, default=3), "Cells in each stack."),
    ("bn_momentum", pg.typing.Float(min_value=0.0, max_value=1.0, default=0.997),
     "Batch norm momentum: the paper's 0.997 suits long training; short proxy runs "
     "need ~0.9 or the moving statistics stay near their initial values."),
    ("classifier_activation", pg.typing.Str(default="softmax").noneable(),
     "Activation of the last layer: 'softmax' (default, for the sparse "
     "cross-entropy the Keras evaluator uses) or None for logits."),
    ("norm_act", pg.typing.Object(NormActivation).noneable(),
     "The normalization-activation slot after every convolution (stem, conv "
     "vertices, projections). None (default): batch norm (`bn_momentum`, epsilon "
     "1e-5) then ReLU, today's layers `{name}_bn`, `{name}_relu`; a "
     "`NormActivation` replaces every one of those pairs."),
], init_arg_list=["cell"])
class NASBench101Network(pg.Object):
    """The NAS-Bench-101 network around one cell; `to_keras()` builds it."""

    def check(self) -> None:
        """Raises `InfeasibleError` with the reason if this network cannot be built."""
        self.cell.check()

    def fingerprint(self) -> str:
        """The cell's NAS-Bench-101 hash: isomorphic samples of one space share it."""
        return self.cell.fingerprint()

    def to_keras(self) -> keras.Model:
        """A fresh Keras model of this network (raises `InfeasibleError` if infeasible)."""
        matrix, labels = self.cell.pruned()
        inputs = keras.Input(shape=tuple(self.input_shape))
        # `bn`: the slot value every conv is followed by.
        bn = self.norm_act or BatchNormActivation(
            "relu", momentum=self.bn_momentum, epsilon=_BN_EPSILON, activation_layer="relu")
        net = _conv_bn_relu(inputs, 3, self.stem_channels, "stem", bn)
        channels = self.stem_channels
        for stack in range(self.num_stacks):
            if stack > 0:
                net = keras.layers.MaxPooling2D(2, strides=2, padding="same",
                                                name=f"stack{stack}_downsample")(net)
                channels *= 2
            for index in range(self.cells_per_stack):
                net = _build_cell(net, matrix, labels, channels,
                                  f"stack{stack}_cell{index}", bn)
        net = keras.layers.GlobalAveragePooling2D(name="global_pool")(net)
        outputs = keras.layers.Dense(self.num_classes, activation=self.classifier_activation,
                                     name="classifier")(net)
        return keras.Model(inputs, outputs, name="nasbench101")


def nasbench101_space(ops: Sequence[str] = OPS, num_vertices: int = NUM_VERTICES,
                      max_edges: int = MAX_EDGES, **network_kwargs) -> NASBench101Network:
    """The NAS-Bench-101 search space: every edge bit and every op a decision.

    Args:
      ops: candidate ops of the intermediate vertices.
      num_vertices: vertices including input and output (7 in the paper).
      max_edges: most edges a pruned cell may have (9 in the paper).
      **network_kwargs: `NASBench101Network` fields (input_shape, num_classes,
        stem_channels, num_stacks, cells_per_stack, classifier_activation); the
        defaults are the paper's CIFAR-10 network.

    Returns:
      A `NASBench101Network` whose cell holds `n(n-1)/2` `pg.oneof([0, 1])` edge
      bits and `n-2` `pg.oneof(ops)`.
    """
    if not isinstance(num_vertices, int) or num_vertices < 2:
        raise errors.SearchSpaceError(
            f"num_vertices must be an integer >= 2 (input and output), got {num_vertices!r}.")
    ops = list(ops)
    unknown = [op for op in ops if op not in OPS]
    if not ops or unknown:
        raise errors.SearchSpaceError(
            f"ops {ops!r} must be a non-empty list of NAS-Bench-101 ops from {list(OPS)}; "
            f"unknown: {unknown}.")
    matrix = [[pg.oneof([0, 1]) if j > i else 0 for j in range(num_vertices)]
              for i in range(num_vertices)]
    cell = NASBench101Cell(matrix=matrix, ops=[pg.oneof(ops) for _ in range(num_vertices - 2)],
                           max_edges=max_edges)
    return NASBench101Network(cell, **network_kwargs)


def small_nasbench101_space(input_shape=(8, 8, 1), num_classes: int = 10,
                            stem_channels: int = 16, num_stacks: int = 1,
                            cells_per_stack: int = 1, bn_momentum: float = 0.9,
                            **kwargs) -> NASBench101Network:
    """The NAS-Bench-101 space on a network small enough for digits on a laptop CPU."""
    return nasbench101_space(input_shape=tuple(input_shape), num_classes=num_classes,
                             stem_channels=stem_channels, num_stacks=num_stacks,
                             cells_per_stack=cells_per_stack, bn_momentum=bn_momentum,
                             **kwargs)


class DedupeIsomorphic:
    """Wraps an evaluator so that isomorphic cells are trained only once.

    Many samples of the NAS-Bench-101 space are the same computation (pruned
    vertices, renumbered vertices; mutations often touch only pruned parts). The
    first model with a given `fingerprint()` is evaluated; later ones get a copy of
    its metrics plus `duplicate_of_trial`, as a lookup in the NAS-Bench-101 table
    would. Other attributes (`training`, `saves_models`, ...) are the wrapped
    evaluator's.

    Example::

        evaluator = nasbench101.DedupeIsomorphic(sa.KerasEvaluator(x, y, ...))
    """

    def __init__(self, evaluator):
        self.evaluator = evaluator
        self._seen = {}

    def __getattr__(self, name):
        return getattr(self.__dict__["evaluator"], name)

    def __call__(self, model, context):
        network = model.model if hasattr(model, "training") and hasattr(model, "model") \
            else model
        key = network.fingerprint()
        if hasattr(model, "training"):
            # A joint space: the same cell with another training recipe is new.
            key += "/" + pg.format(model.training, compact=True)
        if key in self._seen:
            trial_id, metrics = self._seen[key]
            return {**metrics, "duplicate_of_trial": float(trial_id)}
        metrics = self.evaluator(model, context)
        self._seen[key] = (getattr(context, "trial_id", -1), dict(metrics))
        return metrics


@keras.saving.register_keras_serializable(package="symbolic_automl.nasbench101")
class ChannelTruncation(keras.layers.Layer):
    """Keeps the first `channels` channels (the reference's `truncate`)."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def call(self, inputs):
        return inputs[..., :self.channels]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.channels,)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def _conv_bn_relu(x, kernel_size: int, channels: int, name: str, norm_act: NormActivation):
    x = keras.layers.Conv2D(channels, kernel_size, padding="same", use_bias=False,
                            kernel_initializer="variance_scaling", name=f"{name}_conv")(x)
    if isinstance(norm_act, BatchNormActivation):
        return norm_act(x, name, act_name=f"{name}_relu")
    return norm_act(x, name)


def _apply_op(op: str, x, channels: int, name: str, norm_act: NormActivation):
    if op == CONV3X3:
        return _conv_bn_relu(x, 3, channels, name, norm_act)
    if op == CONV1X1:
        return _conv_bn_relu(x, 1, channels, name, norm_act)
    return keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_maxpool")(x)


def _build_cell(inputs, matrix: np.ndarray, labels: List[str], channels: int, name: str,
                norm_act: NormActivation):
    """One module, as the reference's `build_module`, on a pruned graph."""
    n = matrix.shape[0]
    vertex_channels = compute_vertex_channels(int(inputs.shape[-1]), channels, matrix)
    tensors = [inputs]
    concat_in = []
    for t in range(1, n - 1):
        add_in = []
        for src in range(1, t):
            if matrix[src, t]:
                x = tensors[src]
                if int(x.shape[-1]) > vertex_channels[t]:
                    x = ChannelTruncation(vertex_channels[t],
                                          name=f"{name}_v{src}to{t}_truncate")(x)
                add_in.append(x)
        if matrix[0, t]:
            add_in.append(_conv_bn_relu(inputs, 1, vertex_channels[t],
                                        f"{name}_v{t}_projection", norm_act))
        x = add_in[0] if len(add_in) == 1 else keras.layers.Add(name=f"{name}_v{t}_add")(add_in)
        tensors.append(_apply_op(labels[t], x, vertex_channels[t], f"{name}_v{t}", norm_act))
        if matrix[t, n - 1]:
            concat_in.append(tensors[t])
    if not concat_in:
        return _conv_bn_relu(inputs, 1, channels, f"{name}_output_projection", norm_act)
    outputs = concat_in[0] if len(concat_in) == 1 else keras.layers.Concatenate(
        name=f"{name}_concat")(concat_in)
    if matrix[0, n - 1]:
        projection = _conv_bn_relu(inputs, 1, channels, f"{name}_output_projection", norm_act)
        outputs = keras.layers.Add(name=f"{name}_output_add")([outputs, projection])
    return outputs


def _reachable(matrix: np.ndarray, start: int, forward: bool) -> set:
    seen, frontier = {start}, [start]
    while frontier:
        v = frontier.pop()
        neighbours = np.nonzero(matrix[v] if forward else matrix[:, v])[0]
        for w in neighbours.tolist():
            if w not in seen:
                seen.add(w)
                frontier.append(w)
    return seen


def _edge_list(matrix: np.ndarray) -> List[Tuple[int, int]]:
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(matrix))]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()
