"""Symbolic mirrors of the Keras modules whose objects are passed as arguments.

Optimizers (and their learning-rate schedules), regularizers, initializers,
constraints, losses and metrics, e.g.
`optimizers.Adam(learning_rate=pg.floatv(1e-4, 1e-1, scale="log"))`.
Each namespace also passes through the rest of its Keras module
(`optimizers.get`, `losses.sparse_categorical_crossentropy`, ...), and
`losses.Loss` / `metrics.Metric` are bases for your own classes (see
`symbolic_automl.keras.custom`).
"""

import keras

from symbolic_automl.keras import custom
from symbolic_automl.keras import spec


class Namespace:
    """Generated classes shown like a module; other names come from `keras_module`."""

    def __init__(self, name, classes, keras_module):
        self.__name__ = name
        self._keras_module = keras_module
        self.__dict__.update(classes)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(self._keras_module, name)
        except AttributeError:
            raise AttributeError(
                f"Neither {self.__name__} nor {self._keras_module.__name__} has "
                f"{name!r}.") from None

    def __dir__(self):
        return sorted(set(self.__dict__) | {n for n in dir(self._keras_module)
                                            if not n.startswith("_")})

    def __repr__(self):
        return f"<symbolic mirror {self.__name__}>"


def namespace(keras_module, short_name, **overrides):
    """The mirror of `keras_module`: every class symbolic, the rest passed through."""
    module = f"{__name__}.{short_name}"
    classes = spec.mirror_module(keras_module, base=spec.KerasSpec, module=module)
    classes.update(overrides)
    return Namespace(module, classes, keras_module)


optimizers = namespace(
    keras.optimizers, "optimizers",
    schedules=namespace(keras.optimizers.schedules, "optimizers.schedules"))
regularizers = namespace(keras.regularizers, "regularizers")
initializers = namespace(keras.initializers, "initializers")
constraints = namespace(keras.constraints, "constraints")
losses = namespace(keras.losses, "losses", Loss=custom.Loss)
metrics = namespace(keras.metrics, "metrics", Metric=custom.Metric)
