"""Symbolic mirror of `keras.layers`: every layer class, each argument searchable.

`from symbolic_automl.keras import layers` then `layers.Conv2D(pg.oneof([16, 32]), 3)`
is the Keras call with a hyper-value in it. Layers are also callable on symbolic
tensors, for the functional API (see `symbolic_automl.keras.model`), and so are
the lowercase helpers (`layers.add`, `layers.concatenate`, ...) and `layers.Input`.
Anything else in `keras.layers` (e.g. `layers.serialize`) is Keras's own.

Example::

    import pyglove as pg
    from symbolic_automl.keras import layers

    conv = layers.Conv2D(pg.oneof([16, 32, 64]), pg.oneof([3, 5]),
                         activation=pg.oneof(["relu", "swish"]))
    y = layers.add([x, conv(x)])                      # x: a symbolic tensor

Your own layers subclass `layers.Layer` as in Keras, and their constructor
arguments may then hold hyper-values (see `symbolic_automl.keras.custom`)::

    class Block(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(units)           # a real Dense at build time

        def call(self, x):
            return ops.relu(self.dense(x))

    block = Block(pg.oneof([32, 64]))                   # a searchable spec
"""

import keras

from symbolic_automl.keras import custom
from symbolic_automl.keras import spec
from symbolic_automl.keras.norm_activation_layer import NormActivationLayer as _NormActivation
from symbolic_automl.keras.tensor import Input, LayerSpec, tensors_in  # pylint: disable=unused-import

globals().update(
    spec.mirror_module(
        keras.layers,
        base=LayerSpec,
        module=__name__,
        predicate=lambda cls: issubclass(cls, keras.layers.Layer),
    )
)

# Subclass this (not the generated spec of `keras.layers.Layer`) for your own layers.
Layer = custom.Layer


def _functional_helper(helper_name: str, class_name: str):
    """`layers.add`-style helper: the layer class applied to a list of tensors."""
    layer_class = globals()[class_name]
    keras_helper = getattr(keras.layers, helper_name)

    def helper(inputs, **kwargs):
        if tensors_in(inputs):
            return layer_class(**kwargs)(inputs)
        return keras_helper(inputs, **kwargs)

    helper.__name__ = helper.__qualname__ = helper_name
    helper.__doc__ = (
        f"`keras.layers.{helper_name}`: `{class_name}(**kwargs)(inputs)` on symbolic "
        f"tensors (recorded), Keras's own helper on real tensors.")
    return helper


add = _functional_helper("add", "Add")
average = _functional_helper("average", "Average")
concatenate = _functional_helper("concatenate", "Concatenate")
maximum = _functional_helper("maximum", "Maximum")
minimum = _functional_helper("minimum", "Minimum")
multiply = _functional_helper("multiply", "Multiply")
subtract = _functional_helper("subtract", "Subtract")


def dot(inputs, axes=-1, **kwargs):
    """`keras.layers.dot`: `Dot(axes, **kwargs)(inputs)` on symbolic tensors."""
    if tensors_in(inputs):
        return Dot(axes=axes, **kwargs)(inputs)  # pylint: disable=undefined-variable
    return keras.layers.dot(inputs, axes=axes, **kwargs)


# Not in keras.layers: the normalization-activation slot as one layer,
# `NormActivationLayer(norm_act=BatchNormActivation("relu"))`.
NormActivationLayer = spec.symbolic_class(_NormActivation, base=LayerSpec, module=__name__,
                                          name="NormActivationLayer")


def symbolic_layer(layer_class):
    """Returns the symbolic stand-in of a user's own Keras layer class.

    Subclasses of `layers.Layer` (this module's) have one already; this is for
    layers that subclass `keras.layers.Layer` directly.

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
    own = custom.symbolic_class_of(layer_class)
    if own is not None:
        return own
    return spec.symbolic_class(layer_class, base=LayerSpec)


def __getattr__(name):
    # The rest of keras.layers (serialize, deserialize, ...) is Keras's own.
    try:
        return getattr(keras.layers, name)
    except AttributeError:
        raise AttributeError(
            f"Neither the symbolic mirror nor keras.layers has {name!r}.") from None
