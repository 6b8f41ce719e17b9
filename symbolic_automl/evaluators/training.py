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

import numbers
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

    def _on_bound(self):
        super()._on_bound()
        # Checked here, not when a trial trains: a bad value would fail every trial.
        for name in ("epochs", "batch_size"):
            check_positive_int(f"{type(self).__name__}({name}=...)", getattr(self, name))

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


def check_positive_int(what: str, value: Any) -> None:
    """Refuses `value` unless it is a positive int, or a `pg.oneof` of positive ints.

    Raises:
      TypeError, ValueError: naming `what`, the value and what was expected.
    """
    if isinstance(value, pg.hyper.Float):
        raise TypeError(f"{what}: expected a positive int or a pg.oneof of positive ints, "
                        f"got {value!r:.100}, which gives floats.")
    if isinstance(value, pg.hyper.OneOf):
        candidates = [c for c in value.candidates if not isinstance(c, pg.hyper.HyperValue)]
    elif isinstance(value, pg.hyper.HyperValue):
        return  # A custom hyper-value: its values are only known per trial.
    else:
        candidates = [value]
    for candidate in candidates:
        if not isinstance(candidate, numbers.Integral) or isinstance(candidate, bool):
            raise TypeError(f"{what}: expected a positive int, got {candidate!r:.100} "
                            f"(a {type(candidate).__name__}).")
        if candidate < 1:
            raise ValueError(f"{what}: expected a positive int, got {candidate!r}.")


class Trainable(pg.Object):
    """A model and its training recipe: one symbolic object, one joint space."""

    model: pg.typing.Any()
    training: pg.typing.Object(Training)
