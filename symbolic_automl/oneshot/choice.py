"""Choice points of a supernet and the layer that mixes a choice's candidates.

A `ChoicePoint` is one place where the space chooses among layers (ops); its
`MixedOp` holds every candidate's Keras layer, with its own weights shared by
every architecture that picks it, and computes `sum_i w_i * candidate_i(x)` for
mixing weights `w` that the weight-sharing algorithm supplies on each call
(softmax(α) for DARTS, a straight-through one-hot for GDAS, a sampled one-hot for
SPOS and REINFORCE).

The mixing weights reach a `MixedOp` in one of two ways: as the second call
argument (`mixed(x, w)`, the supernets built from symbolic spaces), or, when
called as `mixed(x)` inside a plain Keras model (the supernets of define-by-run
functions, whose graph the user's code wires), from the `active_mixing` scope
that the supernet opens around each forward pass.

Example::

    mixed = MixedOp([keras.layers.Dense(8, activation="relu"),
                     keras.layers.Dense(8, activation="tanh")])
    y = mixed(x, keras.ops.convert_to_tensor([0.3, 0.7]))

    with active_mixing([keras.ops.convert_to_tensor([0.3, 0.7])]):
        y = mixed(x)           # mixed.choice_index == 0 picks the first vector
"""

import contextlib
import dataclasses
import threading
from typing import Any, List, Optional, Sequence

import keras
from keras import ops


@dataclasses.dataclass
class ChoicePoint:
    """One relaxed choice: where it is in the space and what it chooses among.

    Attributes:
      key: a name for the history and plots; the DNA decision point's id for
        spaces handled generically (e.g. 'layers[1]'), the hyper-value's name
        for define-by-run functions (e.g. 'op1').
      candidates: a short label per candidate (e.g. 'Conv2D(16, 3)').
    """

    key: str
    candidates: List[str]

    @property
    def num_candidates(self) -> int:
        return len(self.candidates)


_scope = threading.local()


@contextlib.contextmanager
def active_mixing(mixing: Sequence[Any]):
    """Makes `mixing` (one weight vector per choice point) visible to `MixedOp(x)` calls.

    A define-by-run supernet wraps the Keras model the user's function built;
    that model calls its mixed ops as `op(x)`, so the mixing weights, which are
    traced values under `tf.function`/`jax.jit` and must stay differentiable,
    travel through this per-thread scope instead of through the graph.
    """
    previous = getattr(_scope, "mixing", None)
    _scope.mixing = list(mixing)
    try:
        yield
    finally:
        _scope.mixing = previous


def _current_mixing():
    return getattr(_scope, "mixing", None)


class MixedOp(keras.layers.Layer):
    """Holds all candidates of one choice; outputs their mixture.

    Candidates must produce outputs of the same shape, as every candidate of a
    `pg.oneof` over layers in a working space does. A zero mixing weight still
    runs the candidate (so that one compiled step serves every sampled path);
    the candidate's weights then get a zero gradient.

    Args:
      candidates: Keras layers, or callables `tensor -> tensor` that build
        layers when called (e.g. `lambda t: layers.Conv2D(8, 3)(t)`). A callable
        is traced once, on the first call's input shape, into a small
        functional `keras.Model`, so its layers (and weights) are created once.
      choice_index: position of this op's mixing vector in the mixing list of
        `active_mixing` (used when called without mixing weights).
      decision: the name of the search space's decision point it relaxes.
      **kwargs: `keras.layers.Layer` arguments (e.g. `name`).
    """

    def __init__(self, candidates: Sequence[Any], choice_index: Optional[int] = None,
                 decision: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        if not candidates:
            raise ValueError("MixedOp needs at least one candidate layer, got none.")
        for c in candidates:
            if not (isinstance(c, keras.layers.Layer) or
                    (callable(c) and not isinstance(c, type))):
                raise TypeError(
                    f"MixedOp candidates must be Keras layers or callables returning "
                    f"tensors, got {type(c).__name__}: {c!r:.100}")
        # Layers are tracked (and their weights owned) from here on; callables
        # become layers in `build`, once the input shape is known.
        self.candidates = list(candidates)
        self.choice_index = choice_index
        self.decision = decision

    def build(self, input_shape):
        if any(not isinstance(c, keras.layers.Layer) for c in self.candidates):
            self.candidates = [
                c if isinstance(c, keras.layers.Layer)
                else _trace_callable(c, input_shape, f"{self.name}_candidate_{i}")
                for i, c in enumerate(self.candidates)]

    def call(self, x, mixing=None, training=None):
        if mixing is None:
            mixing = self._mixing_from_scope()
        output, first_shape = None, None
        for i, layer in enumerate(self.candidates):
            y = layer(x, training=training)
            shape = tuple(y.shape[1:])
            if first_shape is None:
                first_shape = shape
            elif shape != first_shape:
                raise ValueError(
                    f"The candidates of choice {self.decision or self.name!r} give "
                    f"outputs of different shapes: {first_shape} from "
                    f"{self.candidates[0].name!r}, {shape} from {layer.name!r}; a "
                    "supernet adds the candidates' outputs, so they must have the "
                    "same shape.")
            y = y * ops.cast(mixing[i], y.dtype)
            output = y if output is None else output + y
        return output

    def _mixing_from_scope(self):
        scope = _current_mixing()
        if scope is None:
            # Keras's symbolic pass while the user's function wires the graph:
            # only shapes matter, a uniform mixture gives them.
            n = len(self.candidates)
            return ops.full((n,), 1.0 / n)
        if self.choice_index is None or self.choice_index >= len(scope):
            raise ValueError(
                f"MixedOp {self.name!r} (choice index {self.choice_index}) was called "
                f"without mixing weights and the active mixing has {len(scope)} "
                "vectors; call it as op(x, mixing) or inside its supernet.")
        return scope[self.choice_index]


def _is_shape(value) -> bool:
    return isinstance(value, (tuple, list)) and all(
        d is None or isinstance(d, int) for d in value)


def _trace_callable(fn, input_shape, name) -> keras.Model:
    """`fn` applied to symbolic inputs of `input_shape`, as a functional model."""
    if _is_shape(input_shape):
        inputs = keras.Input(shape=tuple(input_shape[1:]))
    else:
        inputs = [keras.Input(shape=tuple(s[1:])) for s in input_shape]
    outputs = fn(inputs)
    if not keras.utils.is_keras_tensor(outputs):
        raise TypeError(
            f"A callable candidate of a choice must return a tensor when called on "
            f"the choice's input, got {type(outputs).__name__} from {fn!r:.100}.")
    return keras.Model(inputs, outputs, name=name)
