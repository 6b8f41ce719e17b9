"""The relative L2 error, the Fourier Neural Operator papers' loss and metric.

    relative_l2(y, y_hat) = ||y_hat - y||_2 / ||y||_2        per example,

averaged over the batch (the reference's `LpLoss(size_average=False)` summed
over a loader and divided by the number of samples). Examples are flattened,
so targets (n, s) and predictions (n, s) or (n, s, 1) compare alike.

Example::

    model.compile(optimizer="adam", loss=RelativeL2(), metrics=[RelativeL2Error()])
"""

import keras
from keras import ops


def relative_l2(y_true, y_pred):
    """Per-example ||y_pred - y_true|| / ||y_true|| over all but the batch axis."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    batch = ops.shape(y_pred)[0]
    y_true = ops.reshape(y_true, (batch, -1))
    y_pred = ops.reshape(y_pred, (batch, -1))
    error = ops.sqrt(ops.sum(ops.square(y_pred - y_true), axis=-1))
    scale = ops.sqrt(ops.sum(ops.square(y_true), axis=-1))
    return error / ops.maximum(scale, keras.config.epsilon())


@keras.saving.register_keras_serializable(package="symbolic_automl.pde")
class RelativeL2(keras.losses.Loss):
    """Mean over the batch of the relative L2 error (the FNO training loss)."""

    def __init__(self, name: str = "relative_l2", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return relative_l2(y_true, y_pred)


@keras.saving.register_keras_serializable(package="symbolic_automl.pde")
class RelativeL2Error(keras.metrics.MeanMetricWrapper):
    """The relative L2 error averaged over every example seen (the FNO test metric)."""

    def __init__(self, name: str = "relative_l2", dtype=None):
        super().__init__(fn=relative_l2, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}
