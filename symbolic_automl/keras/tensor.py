"""Symbolic tensors: how the functional API records a graph of symbolic layers.

Calling a `LayerSpec` on symbolic tensors returns a new `SymbolicTensor` that
remembers the call. `Model(inputs, outputs)` walks these back from the outputs
and stores the graph as a flat, JSON-friendly list of nodes, so a tensor used
twice (a residual connection) is stored once, and a layer object called twice
shares its weights, as in Keras.
"""

import itertools
from typing import Any, List, Sequence

import pyglove as pg

from symbolic_automl.keras import spec

_ids = itertools.count()


class SymbolicTensor:
    """The output of a symbolic layer call; not itself symbolic (never stored)."""

    def __init__(self, layer: "spec.KerasSpec", args: Sequence[Any], kwargs: dict):
        self.layer = layer
        self.args = list(args)
        self.kwargs = dict(kwargs)
        self.uid = next(_ids)

    def __repr__(self):
        return f"SymbolicTensor({type(self.layer).__name__}, uid={self.uid})"


class LayerSpec(spec.KerasSpec):
    """Base of symbolic Keras layers; calling one records a functional-API node."""

    def __call__(self, *args, **kwargs) -> SymbolicTensor:
        if not tensors_in(list(args)):
            raise TypeError(
                f"{type(self).__name__} was called on {args!r}; expected symbolic "
                "tensors from `Input(...)` or from another symbolic layer call."
            )
        return SymbolicTensor(self, args, kwargs)


class InputSpec(LayerSpec):
    """`keras.Input` as a symbolic object; also the source of functional graphs."""

    def to_keras(self):
        import keras  # pylint: disable=g-import-not-at-top

        return keras.Input(**self.constructor_kwargs())


def tensors_in(value) -> List[Any]:
    """The symbolic tensors inside a (nested list, tuple or dict) call argument."""
    if isinstance(value, (SymbolicTensor, InputSpec)):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    return []


def Input(shape=None, batch_size=None, dtype=None, sparse=None, name=None,
          **kwargs) -> InputSpec:  # pylint: disable=invalid-name
    """Symbolic `keras.Input`: use it as the first element of `Sequential`, or as
    the source of a functional model. Its arguments may be hyper-values too."""
    args = dict(shape=tuple(shape) if isinstance(shape, list) else shape,
                batch_size=batch_size, dtype=dtype, sparse=sparse, name=name)
    args.update(kwargs)
    return InputSpec(**{k: v for k, v in args.items() if v is not None})


pg.members([(pg.typing.StrKey(), pg.typing.Any(), "Argument of keras.Input.")])(InputSpec)



