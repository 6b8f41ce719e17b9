"""`Training`: the symbolic training recipe the Keras evaluator follows.

Its fields may hold hyper-values, so one search can tune training and
architecture together. `Trainable` pairs a model with its own recipe in a
single symbolic object.

Example::

    training = Training(
        optimizer=pg.oneof(["adam", "sgd"]),
        learning_rate=pg.floatv(1e-4, 1e-1, scale="log"),
        epochs=3, batch_size=64)
    evaluator = KerasEvaluator(x, y, validation_data=(xv, yv), training=training)

Subclasses (see `symbolic_automl.spaces.training`) override the hooks
`make_optimizer`, `make_loss` and `prepare_training_data` for schedules, weight
decay, label smoothing or augmentation.
"""

from typing import Any

import pyglove as pg

from symbolic_automl.keras import spec


class Training(pg.Object):
    """How to compile and fit a model."""

    optimizer: pg.typing.Any(default="adam")  # Name, or a symbolic keras optimizer.
    learning_rate: pg.typing.Any(default=None)  # Applies when `optimizer` is a name.
    loss: pg.typing.Any(default="sparse_categorical_crossentropy")
    metrics: pg.typing.List(pg.typing.Any(), default=["accuracy"])
    epochs: pg.typing.Any(default=1)
    batch_size: pg.typing.Any(default=32)

    def make_optimizer(self, steps_per_epoch: int) -> Any:
        """A fresh Keras optimizer (one per trial: optimizers hold state)."""
        del steps_per_epoch  # Used by subclasses for schedules.
        import keras  # pylint: disable=g-import-not-at-top

        if isinstance(self.optimizer, spec.KerasSpec):
            return self.optimizer.to_keras()
        optimizer = keras.optimizers.get(self.optimizer)
        if self.learning_rate is not None:
            optimizer.learning_rate = float(self.learning_rate)
        return optimizer

    def make_loss(self) -> Any:
        return spec.to_keras_value(self.loss)

    def make_metrics(self) -> Any:
        return spec.to_keras_value(list(self.metrics))

    def prepare_training_data(self, x: Any, y: Any = None) -> Any:
        """Hook to transform the training data (augmentation); identity here."""
        return x, y


class Trainable(pg.Object):
    """A model and its training recipe: one symbolic object, one joint space."""

    model: pg.typing.Any()
    training: pg.typing.Object(Training)
