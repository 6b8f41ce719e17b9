"""`keras.ops` that records calls on symbolic tensors and runs them on real ones.

`from symbolic_automl.keras import ops` (or `keras.ops` from our `keras`)
gives every `keras.ops` function. Called on symbolic tensors (a functional
model being written), it records an `Op` node holding the function's *name*,
so the model still serializes to JSON and is rebuilt by looking the name up in
`keras.ops`; called on anything else (inside a custom layer's `call`, on
arrays), it is the Keras function itself.

Example::

    from symbolic_automl import keras
    from symbolic_automl.keras import ops

    x = keras.Input(shape=(10, 16))
    h = keras.layers.Dense(pg.oneof([16, 32]))(x)
    y = ops.mean(ops.relu(h), axis=1)                     # recorded
    model = keras.Model(x, keras.layers.Dense(3)(y))
    ops.relu(np.array([-1.0, 2.0]))                       # runs: [0., 2.]

Submodules work the same way: `ops.image.resize(x, (8, 8))`, `ops.nn.gelu(x)`.
"""

import functools

import keras

from symbolic_automl.keras import tensor


def recording(name: str, module: str = "ops"):
    """The `keras.<module>.<name>` function, recording when given symbolic tensors."""
    function = tensor.resolve_op(name, module)

    @functools.wraps(function)
    def call(*args, **kwargs):
        if tensor.tensors_in([list(args), kwargs]):
            return tensor.record_op(name, args, kwargs, module)
        return function(*args, **kwargs)

    return call


class RecordingNamespace:
    """`keras.ops` (or a submodule, or `keras.activations`) with recording functions.

    Attributes that are not functions (constants, submodules' own values) are
    the Keras ones.
    """

    def __init__(self, module: str, prefix: str = ""):
        self._module = module
        self._prefix = prefix
        self.__name__ = f"symbolic_automl.keras.{module}.{prefix}".rstrip(".")

    def _real(self):
        value = {"ops": keras.ops, "activations": keras.activations}[self._module]
        for part in filter(None, self._prefix.split(".")):
            value = getattr(value, part)
        return value

    @functools.lru_cache(maxsize=None)
    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        real = getattr(self._real(), name)  # AttributeError names keras's module.
        if type(real).__name__ == "module":
            return RecordingNamespace(self._module, f"{self._prefix}{name}.")
        if callable(real) and not isinstance(real, type):
            return recording(f"{self._prefix}{name}", self._module)
        return real

    def __dir__(self):
        return [n for n in dir(self._real()) if not n.startswith("_")]

    def __repr__(self):
        return f"<recording mirror of keras.{self._module}.{self._prefix}>".replace(".>", ">")


_ops = RecordingNamespace("ops")


def __getattr__(name: str):
    return getattr(_ops, name)


def __dir__():
    return dir(_ops)
