"""`NormActivationLayer`: a normalization-activation slot value as one Keras layer.

Architectures written as functional graphs apply a `NormActivation` directly
(`y = norm_act(x, name)`); layers that own their sublayers (the DARTS ops) and
hand-written mirror models hold this layer instead. It builds the slot value's
layers once, from the input shape, into a small functional graph, and calls it
with the `training` flag, so a layer with moving statistics behaves as it would
inline. Its config stores the slot value as PyGlove JSON (data, not code), so a
saved model loads back.

Example::

    import keras
    from symbolic_automl.keras import BatchNormActivation
    from symbolic_automl.keras.norm_activation_layer import NormActivationLayer

    layer = NormActivationLayer(BatchNormActivation("relu"))
    y = layer(keras.ops.ones((2, 8, 8, 4)), training=True)      # shape (2, 8, 8, 4)

In the symbolic Keras mirror it is `symbolic_automl.keras.layers.NormActivationLayer(
norm_act=...)`, searchable like any layer.
"""

from typing import Any

import keras
import pyglove as pg

from symbolic_automl.keras.norm_activation import NormActivation


def as_norm_activation(value: Any) -> NormActivation:
    """A `NormActivation` from itself or its PyGlove JSON (a str or dict)."""
    if isinstance(value, str):
        try:
            value = pg.from_json_str(value)
        except ValueError:  # not JSON at all (json.JSONDecodeError is a ValueError)
            pass
    elif isinstance(value, dict):
        value = pg.from_json(value)
    if not isinstance(value, NormActivation):
        raise TypeError(
            f"Expected a NormActivation (e.g. BatchNormActivation('relu')) or its JSON, "
            f"got {value!r} of type {type(value).__name__}.")
    return value


@keras.saving.register_keras_serializable(package="symbolic_automl")
class NormActivationLayer(keras.layers.Layer):
    """Applies a `NormActivation`'s layers to channels-last inputs; same shape out.

    Args:
      norm_act: the slot value (or its PyGlove JSON, as in a saved config).
    """

    def __init__(self, norm_act, **kwargs):
        super().__init__(**kwargs)
        self.norm_act = as_norm_activation(norm_act)
        self.graph = None

    def build(self, input_shape):
        # Only the channels are fixed: the same layer serves any image size.
        shape = (None,) * (len(input_shape) - 2) + (input_shape[-1],)
        inputs = keras.Input(shape=shape, dtype=self.compute_dtype)
        outputs = self.norm_act(inputs, name=self.name)
        if tuple(outputs.shape[1:]) != shape:
            raise ValueError(
                f"{self.norm_act!r} changed the shape {shape} to "
                f"{tuple(outputs.shape[1:])}; a NormActivation must keep it.")
        self.graph = keras.Model(inputs, outputs, name=f"{self.name}_graph")

    def call(self, x, training=None):
        return self.graph(x, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["norm_act"] = pg.to_json_str(self.norm_act)
        return config
