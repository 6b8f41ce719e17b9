"""Symbolic mirror of `keras.layers`: every layer class, each argument searchable.

`from symbolic_automl.keras import layers` then `layers.Conv2D(pg.oneof([16, 32]), 3)`
is the Keras call with a hyper-value in it. Layers are also callable on symbolic
tensors, for the functional API (see `symbolic_automl.keras.model`).

Example::

    import pyglove as pg
    from symbolic_automl.keras import layers

    conv = layers.Conv2D(pg.oneof([16, 32, 64]), pg.oneof([3, 5]),
                         activation=pg.oneof(["relu", "swish"]))
"""

import keras

from symbolic_automl.keras import spec
from symbolic_automl.keras.tensor import LayerSpec

globals().update(
    spec.mirror_module(
        keras.layers,
        base=LayerSpec,
        module=__name__,
        predicate=lambda cls: issubclass(cls, keras.layers.Layer),
    )
)


def symbolic_layer(layer_class):
    """Returns the symbolic stand-in of a user's own Keras layer class.

    Example::

        class Scale(keras.layers.Layer):
            def __init__(self, factor=1.0, **kwargs): ...

        SymbolicScale = symbolic_layer(Scale)
        space = Sequential([..., SymbolicScale(pg.floatv(0.5, 2.0))])
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise TypeError(
            f"symbolic_layer expects a keras.layers.Layer subclass, got {layer_class!r}."
        )
    return spec.symbolic_class(layer_class, base=LayerSpec)
