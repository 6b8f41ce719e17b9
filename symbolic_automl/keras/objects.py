"""Symbolic mirrors of the Keras modules whose objects are passed as arguments.

Optimizers, regularizers, initializers, constraints, losses and metrics, e.g.
`optimizers.Adam(learning_rate=pg.floatv(1e-4, 1e-1, scale="log"))`.
"""

import keras

from symbolic_automl.keras import spec


def _mirror(keras_module, module):
    return spec.mirror_module(keras_module, base=spec.KerasSpec, module=module)


class _Namespace:
    """A read-only bag of generated classes, shown like a module."""

    def __init__(self, name, classes):
        self.__name__ = name
        self.__dict__.update(classes)

    def __repr__(self):
        return f"<symbolic mirror {self.__name__}>"


def _namespace(keras_module, short_name):
    module = f"{__name__}.{short_name}"
    return _Namespace(module, _mirror(keras_module, module))


optimizers = _namespace(keras.optimizers, "optimizers")
regularizers = _namespace(keras.regularizers, "regularizers")
initializers = _namespace(keras.initializers, "initializers")
constraints = _namespace(keras.constraints, "constraints")
losses = _namespace(keras.losses, "losses")
metrics = _namespace(keras.metrics, "metrics")
