"""The layer-graph space: a normalization-activation layer as a symbolic graph.

A `LayerGraph` has four initial nodes: the input `x` (index 0), a constant
zero tensor (1), and two per-channel trainable vectors `v0` (2, init 0) and
`v1` (3, init 1). Intermediate node i (index 4 + i) applies a primitive to
one or two earlier nodes; the last node, scaled by a per-channel γ and
shifted by β, is the output. A `LayerGraph` is a `NormActivation`, so it fills
the normalization-activation slot of any architecture by rebinding, and its
fields may hold `pg.oneof`s: `graph_space(num_nodes)` is the search space.

Example::

    space = graph_space(num_nodes=10, groups=4)
    graph = next(pg.random_sample(space, seed=1))     # or any algorithm's proposal
    print(evonorm_s0())                               # x·σ(v1·x) / s_{w,h,c/g}(x)
    y = graph(keras_tensor, name="block1_norm")       # a fresh EvoNormGraph layer
"""

from typing import Any, List, Optional, Sequence

import pyglove as pg

from symbolic_automl.keras.norm_activation import NormActivation

from .primitives import (
    ALL_OPS, INITIAL_NODES, NUM_INITIAL, PRIMITIVES, check_op, _ATOM)

# The paper's graph size (see docs/evonorm.md: its body was not readable here,
# so this is our reading; BN-ReLU as a graph needs 8 nodes).
DEFAULT_NUM_NODES = 10


@pg.members([
    ("op", pg.typing.Str(), "The primitive's name (see primitives.PRIMITIVES)."),
    ("inputs", pg.typing.List(pg.typing.Int(min_value=0), min_size=2, max_size=2),
     "Indices of the two input nodes (0 x, 1 zero, 2 v0, 3 v1, 4 + i node i); "
     "a unary op reads only the first."),
])
class Node(pg.Object):
    """One intermediate node: a primitive and the earlier nodes it reads."""

    def _on_bound(self):
        super()._on_bound()
        if isinstance(self.op, str):
            check_op(self.op)


@pg.members([
    ("nodes", pg.typing.List(pg.typing.Object(Node), min_size=1),
     "Intermediate nodes in order; the last one is the output (before γ, β)."),
    ("groups", pg.typing.Int(min_value=1, default=32),
     "Channel groups of the group aggregates (lowered until it divides C)."),
    ("epsilon", pg.typing.Float(min_value=0.0, default=1e-5),
     "Added to every variance before its square root."),
    ("momentum", pg.typing.Float(min_value=0.0, max_value=1.0, default=0.9),
     "Decay of the batch aggregates' moving statistics."),
])
class LayerGraph(NormActivation):
    """A normalization-activation layer as a graph of primitives (EvoNorm's space).

    Prints as its formula (`str(graph)`); `graph(x, name)` applies a fresh
    `EvoNormGraph` Keras layer named `name` to the Keras tensor `x`.

    Example::

        s0 = LayerGraph(nodes=[Node(op="mul", inputs=[3, 0]), Node(op="sigmoid", inputs=[4, 0]),
                               Node(op="mul", inputs=[0, 5]), Node(op="group_std", inputs=[0, 0]),
                               Node(op="div", inputs=[6, 7])], groups=4)
        str(s0)   # 'x·σ(v1·x) / s_{w,h,c/g}(x)'
    """

    def _on_bound(self):
        super()._on_bound()
        for i, node in enumerate(self.nodes):
            for source in node.inputs:
                if isinstance(source, int) and source >= NUM_INITIAL + i:
                    raise ValueError(
                        f"Node {i} ({node.op}) reads node {source}; node {i} may only read "
                        f"nodes 0..{NUM_INITIAL + i - 1} (the 4 initial nodes x, 0, v0, v1, "
                        "then earlier intermediate nodes)")

    # ----------------------------------------------------------------- Keras

    def node_list(self) -> List[list]:
        """The graph as plain data: `[op, a, b]` per intermediate node."""
        if not pg.is_deterministic(self):
            raise ValueError("This LayerGraph still holds hyper-values (it is a search "
                             "space); materialize a candidate first")
        return [[n.op, n.inputs[0], n.inputs[1]] for n in self.nodes]

    def keras_layer(self, name: Optional[str] = None):
        """A fresh `EvoNormGraph` Keras layer computing this graph."""
        from .graph_layer import EvoNormGraph  # pylint: disable=g-import-not-at-top

        return EvoNormGraph(self.node_list(), groups=self.groups, epsilon=self.epsilon,
                            momentum=self.momentum, name=name)

    def __call__(self, x: Any, name: str) -> Any:
        return self.keras_layer(name=name)(x)

    # ---------------------------------------------------------- structure

    def live(self) -> List[int]:
        """Indices of the intermediate nodes the output depends on, ascending."""
        from .graph_layer import live_nodes  # pylint: disable=g-import-not-at-top

        return live_nodes(self.node_list())

    def reads(self) -> set:
        """Initial nodes (by index) the output depends on."""
        nodes = self.node_list()
        return {s for i in self.live() for s in _sources(nodes[i]) if s < NUM_INITIAL}

    def depends_on_input(self) -> bool:
        """Whether `x` is an ancestor of the output."""
        return 0 in self.reads()

    def batch_independent(self) -> bool:
        """Whether no live node aggregates over the batch."""
        nodes = self.node_list()
        return all(PRIMITIVES[nodes[i][0]].aggregate != "batch" for i in self.live())

    # ------------------------------------------------------------ formula

    def formula(self) -> str:
        """The output (before γ, β) as a formula, e.g. `x·σ(v1·x) / s_{w,h,c/g}(x)`."""
        nodes = self.node_list()
        memo = {}

        def render(index):
            if index < NUM_INITIAL:
                return INITIAL_NODES[index], _ATOM
            if index not in memo:
                op, a, b = nodes[index - NUM_INITIAL]
                primitive = PRIMITIVES[op]
                operands = [render(a)] + ([render(b)] if primitive.arity == 2 else [])
                memo[index] = primitive.render(*_parenthesize(primitive, operands)), \
                    primitive.precedence
            return memo[index]

        return render(NUM_INITIAL + len(nodes) - 1)[0]

    def __str__(self):
        if not pg.is_deterministic(self):
            return super().__str__()
        return self.formula()


def _sources(node: Sequence) -> tuple:
    op, a, b = node
    return (a,) if PRIMITIVES[op].arity == 1 else (a, b)


def _parenthesize(primitive, operands):
    """Operand strings, bracketed where the op binds tighter than they do."""
    out = []
    for position, (text, precedence) in enumerate(operands):
        if primitive.precedence == _ATOM and primitive.name != "square":
            needs = False  # Function-call syntax brackets its operands itself.
        elif primitive.name in ("square", "neg"):
            needs = precedence < _ATOM
        elif primitive.name == "div" and position == 1:
            needs = precedence <= primitive.precedence  # a / (b·c), a / (b / c)
        else:
            needs = precedence < primitive.precedence
        out.append(f"({text})" if needs else text)
    return out


def graph_space(num_nodes: int = DEFAULT_NUM_NODES, ops: Sequence[str] = ALL_OPS,
                groups: int = 32, epsilon: float = 1e-5, momentum: float = 0.9) -> LayerGraph:
    """The search space of layer graphs with `num_nodes` intermediate nodes.

    Each node's op is a `pg.oneof(ops)` and each of its two inputs a
    `pg.oneof` over the nodes before it, so any pyglove algorithm or mutator
    (or ours, `GraphEvolution`) changes one node's op or inputs.

    Args:
        num_nodes: intermediate nodes per graph.
        ops: the primitives to choose from (`BATCH_INDEPENDENT_OPS` for the
            S-series search).
        groups, epsilon, momentum: fixed settings of every candidate.

    Example::

        space = graph_space(num_nodes=10, groups=4)
        pg.dna_spec(space)   # 30 decisions
    """
    if not isinstance(num_nodes, int) or num_nodes < 1:
        raise ValueError(f"num_nodes must be a positive int, got {num_nodes!r}")
    ops = [check_op(op).name for op in ops]
    if len(set(ops)) != len(ops) or not ops:
        raise ValueError(f"ops must be distinct primitive names, got {ops}")
    nodes = []
    for i in range(num_nodes):
        sources = list(range(NUM_INITIAL + i))
        nodes.append(Node(op=pg.oneof(ops),
                          inputs=[pg.oneof(sources), pg.oneof(sources)]))
    return LayerGraph(nodes=nodes, groups=groups, epsilon=epsilon, momentum=momentum)
