"""`EvoNormGraph`: the Keras 3 layer a layer graph builds.

The layer holds the graph as plain data (a list of `[op, input_a, input_b]`),
so it serializes with `get_config` and needs no pyglove to run. Only the nodes
the output depends on are computed, and only the parameters they read are
created: `v0` (init 0) and `v1` (init 1) when read, `gamma`/`beta` always, and
per batch aggregate a moving statistic (`moving_mean_<i>` init 0,
`moving_variance_<i>` init 1), updated as `m ← decay·m + (1 − decay)·stat`
in training and used in its place at inference, as batch normalization does.

Example::

    layer = EvoNormGraph([["batch_std", 0, 0], ["div", 0, 4]])   # x / s_{b,w,h}(x)
    y = layer(x, training=True)
"""

from typing import List, Sequence

import keras
from keras import ops

from .moments import batch_moments, group_moments, instance_moments
from .primitives import NUM_INITIAL, check_op, fallback_groups

_UNARY_FNS = {
    "neg": lambda a: -a,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "exp": ops.exp,
    "log": lambda a: ops.sign(a) * ops.log(ops.abs(a)),
    "abs": ops.abs,
    "square": ops.square,
    "sqrt": lambda a: ops.sign(a) * ops.sqrt(ops.abs(a)),
}
_BINARY_FNS = {
    "add": ops.add,
    "mul": ops.multiply,
    "div": ops.divide,
    "max": ops.maximum,
}


def live_nodes(nodes: Sequence[Sequence]) -> List[int]:
    """Indices (0-based, among intermediate nodes) the last node depends on, ascending."""
    needed, stack = set(), [len(nodes) - 1]
    while stack:
        i = stack.pop()
        if i in needed:
            continue
        needed.add(i)
        op, a, b = nodes[i]
        for source in ((a,) if check_op(op).arity == 1 else (a, b)):
            if source >= NUM_INITIAL:
                stack.append(source - NUM_INITIAL)
    return sorted(needed)


@keras.saving.register_keras_serializable(package="symbolic_automl.evonorm")
class EvoNormGraph(keras.layers.Layer):
    """A normalization-activation layer computed by a graph of primitives.

    Args:
        nodes: intermediate nodes in order, each `[op, a, b]`: `op` a primitive
            name, `a`/`b` indices of earlier nodes (0 x, 1 the zero tensor, 2 v0,
            3 v1, 4 + i the i-th intermediate node); unary ops ignore `b`. The
            last node, times γ plus β, is the output.
        groups: channel groups of the group aggregates (lowered until it
            divides C, as the reference EvoNorm-S0 does).
        epsilon: added to every variance before its square root.
        momentum: decay of the moving statistics of the batch aggregates.
    """

    def __init__(self, nodes, groups: int = 32, epsilon: float = 1e-5,
                 momentum: float = 0.9, **kwargs):
        super().__init__(**kwargs)
        self.nodes = [[str(op), int(a), int(b)] for op, a, b in nodes]
        if not self.nodes:
            raise ValueError("EvoNormGraph needs at least one intermediate node")
        for i, (op, a, b) in enumerate(self.nodes):
            check_op(op)
            limit = NUM_INITIAL + i
            if not (0 <= a < limit and 0 <= b < limit):
                raise ValueError(f"Node {i} ({op}) reads inputs {a}, {b}; node {i} may only "
                                 f"read nodes 0..{limit - 1} (4 initial nodes, then earlier "
                                 "intermediate nodes)")
        self.groups = int(groups)
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self._live = live_nodes(self.nodes)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"EvoNormGraph takes channels-last 4-D inputs with a known "
                             f"channel count, got shape {input_shape}")
        channels = input_shape[-1]
        self._groups = fallback_groups(self.groups, channels)
        reads = {s for i in self._live for s in self._sources(i)}
        self.v0 = (self.add_weight(name="v0", shape=(channels,), initializer="zeros")
                   if 2 in reads else None)
        self.v1 = (self.add_weight(name="v1", shape=(channels,), initializer="ones")
                   if 3 in reads else None)
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")
        self.moving = {}
        for i in self._live:
            op = self.nodes[i][0]
            if op in ("batch_mean", "batch_std"):
                kind = "mean" if op == "batch_mean" else "variance"
                self.moving[i] = self.add_weight(
                    name=f"moving_{kind}_{i}", shape=(channels,),
                    initializer="zeros" if kind == "mean" else "ones", trainable=False)

    def _sources(self, i):
        op, a, b = self.nodes[i]
        return (a,) if check_op(op).arity == 1 else (a, b)

    def call(self, x, training=False):
        values = {0: x, 1: ops.zeros((), dtype=x.dtype)}
        if self.v0 is not None:
            values[2] = self.v0
        if self.v1 is not None:
            values[3] = self.v1
        for i in self._live:
            op = self.nodes[i][0]
            operands = [values[s] for s in self._sources(i)]
            values[NUM_INITIAL + i] = self._apply(i, op, operands, x, training)
        out = values[NUM_INITIAL + len(self.nodes) - 1]
        return (out + ops.zeros_like(x)) * self.gamma + self.beta

    def _apply(self, i, op, operands, x, training):
        if op in _BINARY_FNS:
            return _BINARY_FNS[op](*operands)
        if op in _UNARY_FNS:
            return _UNARY_FNS[op](operands[0])
        # An aggregate of a per-channel vector or the zero tensor reduces the
        # broadcast tensor, as a graph over full tensors would.
        a = operands[0] + ops.zeros_like(x)
        if op.startswith("batch_"):
            return self._batch_statistic(i, op, a, training)
        if op.startswith("instance_"):
            mean, variance = instance_moments(a)
        else:
            mean, variance = group_moments(a, self._groups)
        return mean if op.endswith("_mean") else ops.sqrt(variance + self.epsilon)

    def _batch_statistic(self, i, op, a, training):
        moving = self.moving[i]
        if training:
            mean, variance = batch_moments(a)
            statistic = mean if op == "batch_mean" else variance
            moving.assign(moving * self.momentum
                          + ops.reshape(statistic, (-1,)) * (1.0 - self.momentum))
        else:
            statistic = moving
        return statistic if op == "batch_mean" else ops.sqrt(statistic + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(nodes=self.nodes, groups=self.groups, epsilon=self.epsilon,
                      momentum=self.momentum)
        return config
