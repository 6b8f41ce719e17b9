"""The DARTS cell as a symbolic object and search space (Liu et al. 2019).

A cell has intermediate nodes; node `i` sums the outputs of two edges, each applying
an op to an earlier state (0 and 1: the two previous cells' outputs; `j + 2`: node
`j`). As a search space each node is a `pg.manyof(2, ...)` over its candidate input
edges, each edge carrying its own `pg.oneof` over ops, so an op choice exists only for
the chosen inputs (a PyGlove conditional space).

Example::

    import pyglove as pg
    from symbolic_automl.spaces.darts import cell

    space = cell.darts_cell_space()
    one = pg.random_sample(space, seed=1).__next__()   # a DartsCell without hyper-values
    pairs, concat = one.to_pairs()                     # [('sep_conv_3x3', 0), ...]
"""

from typing import List, Optional, Sequence, Tuple

import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.spaces.darts import ops


@pg.members([
    ("input", pg.typing.Int(min_value=0),
     "State the edge reads: 0 and 1 are the cell inputs, i + 2 is node i."),
    ("op", pg.typing.Str(), "Name of the op on the edge, a key of `ops.OPS`."),
])
class Edge(pg.Object):
    """One edge of a cell: `op` applied to state `input`."""


@pg.members([
    ("edges", pg.typing.List(pg.typing.Object(Edge)),
     "Edges whose outputs the node sums; two in DARTS."),
])
class Node(pg.Object):
    """An intermediate node of a cell: the sum of its edges' outputs."""


@pg.members([
    ("nodes", pg.typing.List(pg.typing.Object(Node), min_size=1),
     "Intermediate nodes, in order."),
    ("concat", pg.typing.List(pg.typing.Int(min_value=0), min_size=1).noneable(),
     "States concatenated into the cell output; None: every intermediate node."),
])
class DartsCell(pg.Object):
    """A DARTS cell (normal or reduction): nodes of edges, and the output concat."""

    @property
    def concat_indices(self) -> List[int]:
        if self.concat is None:
            return list(range(2, len(self.nodes) + 2))
        return list(self.concat)

    def check(self, allow_none_op: bool = False, what: str = "cell") -> None:
        """Raises `InfeasibleError` with the reason if this cell cannot be built.

        Args:
          allow_none_op: accept the 'none' op (only the supernet can build it).
          what: how to name the cell in messages, e.g. "normal cell".
        """
        if not pg.is_deterministic(self):
            raise errors.SearchSpaceError(
                f"The {what} still holds hyper-values; materialize it first.")
        allowed = ops.SEARCH_PRIMITIVES if allow_none_op else ops.PRIMITIVES
        for i, node in enumerate(self.nodes):
            if not node.edges:
                raise errors.InfeasibleError(f"{what}: node {i} has no input edge.")
            for edge in node.edges:
                if edge.input >= i + 2:
                    raise errors.InfeasibleError(
                        f"{what}: node {i} reads state {edge.input}, which is not "
                        f"computed before it; expected an input in 0..{i + 1}.")
                if edge.op == "none" and not allow_none_op:
                    raise errors.InfeasibleError(
                        f"{what}: node {i} has op 'none' on its edge from state "
                        f"{edge.input}; 'none' exists only in the weight-sharing supernet, "
                        f"a discrete cell uses one of {list(ops.PRIMITIVES)}.")
                if edge.op not in ops.OPS:
                    raise errors.InfeasibleError(
                        f"{what}: node {i} has unknown op {edge.op!r}; expected one "
                        f"of {list(allowed)}.")
        num_states = len(self.nodes) + 2
        for index in self.concat_indices:
            if index >= num_states:
                raise errors.InfeasibleError(
                    f"{what}: concat index {index} is not a state of a cell with "
                    f"{len(self.nodes)} nodes; expected indices in 0..{num_states - 1}.")

    def to_pairs(self) -> Tuple[List[Tuple[str, int]], List[int]]:
        """Returns `(pairs, concat)` in the genotype format (two pairs per node)."""
        self.check(allow_none_op=True)
        pairs = []
        for i, node in enumerate(self.nodes):
            if len(node.edges) != 2:
                raise errors.SearchSpaceError(
                    f"Node {i} has {len(node.edges)} edges; the genotype format needs "
                    "exactly 2 per node.")
            pairs.extend((edge.op, edge.input) for edge in node.edges)
        return pairs, self.concat_indices

    @classmethod
    def from_pairs(cls, pairs: Sequence[Tuple[str, int]],
                   concat: Optional[Sequence[int]] = None) -> "DartsCell":
        """Builds the cell of a genotype's `(op, input)` pairs, two per node.

        Edges keep the genotype's order, so `to_pairs` gives the same pairs back.
        """
        if len(pairs) % 2:
            raise errors.SearchSpaceError(
                f"{len(pairs)} (op, input) pairs; expected two per node.")
        nodes = [Node(edges=[Edge(input=index, op=op) for op, index in pairs[k:k + 2]])
                 for k in range(0, len(pairs), 2)]
        default_concat = list(range(2, len(nodes) + 2))
        concat = None if concat is None or list(concat) == default_concat else list(concat)
        return cls(nodes=nodes, concat=concat)


def darts_cell_space(num_nodes: int = 4, primitives: Sequence[str] = ops.PRIMITIVES,
                     inputs_per_node: int = 2) -> DartsCell:
    """The DARTS cell search space.

    Node `i` chooses `inputs_per_node` distinct earlier states (`pg.manyof`, sorted)
    and, for each chosen one, an op (`pg.oneof` over `primitives`).

    Args:
      num_nodes: intermediate nodes per cell (4 in DARTS).
      primitives: candidate ops, keys of `ops.OPS` (default: the 7 DARTS ops,
        without 'none').
      inputs_per_node: inputs each node sums (2 in DARTS).

    Returns:
      A `DartsCell` holding hyper-values.
    """
    if not isinstance(num_nodes, int) or num_nodes < 1:
        raise errors.SearchSpaceError(
            f"num_nodes must be a positive integer, got {num_nodes!r}.")
    if not isinstance(inputs_per_node, int) or not 1 <= inputs_per_node <= 2:
        raise errors.SearchSpaceError(
            f"inputs_per_node must be 1 or 2 (node 0 has only two candidate inputs), "
            f"got {inputs_per_node!r}.")
    primitives = list(primitives)
    unknown = [p for p in primitives if p not in ops.OPS]
    if not primitives or unknown:
        raise errors.SearchSpaceError(
            f"primitives {primitives!r} must be a non-empty list of ops from "
            f"{sorted(ops.OPS)}; unknown: {unknown}.")
    nodes = []
    for i in range(num_nodes):
        candidates = [Edge(input=j, op=pg.oneof(primitives)) for j in range(i + 2)]
        nodes.append(Node(edges=pg.manyof(inputs_per_node, candidates,
                                          distinct=True, sorted=True)))
    return DartsCell(nodes=nodes)
