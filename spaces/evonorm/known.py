"""Known layers as points of the layer-graph space: BN-ReLU, EvoNorm-B0, EvoNorm-S0.

Each function returns a `LayerGraph`; `num_nodes` pads it with unused nodes in
front so that it is a point of `graph_space(num_nodes)` (unused nodes change
nothing: only the nodes the output depends on are computed).

Example::

    space = graph_space(num_nodes=10, groups=4)
    dna = pg.template(space).encode(evonorm_s0(groups=4, num_nodes=10))
"""

from typing import List, Optional, Sequence

from .graph import LayerGraph, Node
from .primitives import NUM_INITIAL

X, ZERO, V0, V1 = range(NUM_INITIAL)


def _n(i: int) -> int:
    """The index of intermediate node i (before padding)."""
    return NUM_INITIAL + i


def _graph(nodes: Sequence[Sequence], num_nodes: Optional[int], **settings) -> LayerGraph:
    nodes = [list(n) + [X] * (3 - len(n)) for n in nodes]
    padding = 0 if num_nodes is None else num_nodes - len(nodes)
    if padding < 0:
        raise ValueError(f"This layer needs {len(nodes)} intermediate nodes; "
                         f"num_nodes={num_nodes} is too few")
    # Unused leading nodes read only x, so every padded graph is valid.
    padded: List[Node] = [Node(op="abs", inputs=[X, X]) for _ in range(padding)]
    padded += [Node(op=op, inputs=[_shift(a, padding), _shift(b, padding)]) for op, a, b in nodes]
    return LayerGraph(nodes=padded, **settings)


def _shift(source: int, padding: int) -> int:
    return source if source < NUM_INITIAL else source + padding


def bn_relu(num_nodes: Optional[int] = None, **settings) -> LayerGraph:
    """`max((x − μ_{b,w,h}(x)) / s_{b,w,h}(x) · v1 + v0, 0)`: batch norm then ReLU.

    v1 and v0 are batch norm's scale and offset (γ and β of the graph then
    scale the ReLU's output, starting at the identity).
    """
    return _graph([
        ("batch_mean", X),           # 0: μ
        ("neg", _n(0)),              # 1: -μ
        ("add", X, _n(1)),           # 2: x - μ
        ("batch_std", X),            # 3: s
        ("div", _n(2), _n(3)),       # 4: (x - μ) / s
        ("mul", _n(4), V1),          # 5: · v1
        ("add", _n(5), V0),          # 6: + v0
        ("max", _n(6), ZERO),        # 7: ReLU
    ], num_nodes, **settings)


def evonorm_b0(num_nodes: Optional[int] = None, **settings) -> LayerGraph:
    """EvoNorm-B0: `x / max(s_{b,w,h}(x), v1·x + s_{w,h}(x))`."""
    return _graph([
        ("batch_std", X),            # 0
        ("mul", V1, X),              # 1: v1·x
        ("instance_std", X),         # 2
        ("add", _n(1), _n(2)),       # 3
        ("max", _n(0), _n(3)),       # 4
        ("div", X, _n(4)),           # 5
    ], num_nodes, **settings)


def evonorm_s0(num_nodes: Optional[int] = None, **settings) -> LayerGraph:
    """EvoNorm-S0: `x·σ(v1·x) / s_{w,h,c/g}(x)`."""
    return _graph([
        ("mul", V1, X),              # 0: v1·x
        ("sigmoid", _n(0)),          # 1
        ("mul", X, _n(1)),           # 2: x·σ(v1·x)
        ("group_std", X),            # 3
        ("div", _n(2), _n(3)),       # 4
    ], num_nodes, **settings)


KNOWN = {"bn_relu": bn_relu, "evonorm_b0": evonorm_b0, "evonorm_s0": evonorm_s0}
