"""Training hyper-parameters as a search space: optimizer, learning rate, schedule,
weight decay, batch size, epochs, label smoothing and augmentation.

`TrainingRecipe` extends the core `Training` the `KerasEvaluator` follows, so it
goes wherever a `Training` goes: as the evaluator's `training=` (its hyper-values
join the model's genotype) or inside `Trainable(model=..., training=...)`, one
symbolic object for a joint architecture + training search.

Example::

    import pyglove as pg
    import symbolic_automl as sa
    from symbolic_automl.spaces import nasbench101, training

    space = sa.Trainable(model=nasbench101.small_nasbench101_space(),
                         training=training.training_space(epochs=3))
    result = sa.search(space, algorithm=pg.evolution.regularized_evolution(),
                       evaluator=sa.KerasEvaluator(x, y, validation_data=(xv, yv)),
                       max_trials=20)
"""

import math
from typing import Any, Optional, Sequence, Union

import keras
import numpy as np
import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.evaluators.training import Training
from symbolic_automl.keras import spec

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam")
SCHEDULES = ("constant", "cosine", "step", "exponential")
AUGMENTATIONS = ("none", "flip", "shift", "flip_shift", "cutout")


class TrainingRecipe(Training):
    """A `Training` with schedules, weight decay, label smoothing and augmentation.

    Fields (besides `Training`'s optimizer, learning_rate, loss, metrics, epochs,
    batch_size), each may be a hyper-value:

      schedule: 'constant', 'cosine' (to 0), 'step' (x0.1 at 1/2, 2/3 and 5/6 of
        training, NAS-Bench-101's STEPWISE) or 'exponential' (to 1% by the end).
      step_every_epochs: with 'step', multiply by `step_factor` every this many
        epochs instead (PyTorch's StepLR; the FNO recipe halves every 100 of 500).
      step_factor: that factor.
      warmup_epochs: linear warm-up from 0 before a cosine schedule.
      weight_decay: decoupled weight decay (Keras optimizers' `weight_decay`).
      momentum: of 'sgd' (Nesterov) and 'rmsprop'.
      label_smoothing: of the sparse categorical cross-entropy (the default loss).
      from_logits: whether the model outputs logits (the spaces end in softmax).
      augmentation: 'none', 'flip' (horizontal), 'shift' (random translation by up
        to `shift_fraction` of the side, zero fill), 'flip_shift', or 'cutout' (a
        zeroed square of `cutout_fraction` of the side), drawn afresh each epoch.
      seed: seed of the augmentation and shuffling.

    Example::

        TrainingRecipe(optimizer="sgd", learning_rate=0.1, schedule="cosine",
                       weight_decay=5e-4, label_smoothing=0.1, augmentation="shift")
    """

    learning_rate: pg.typing.Any(default=1e-3)
    schedule: pg.typing.Any(default="constant")
    warmup_epochs: pg.typing.Any(default=0)
    step_every_epochs: pg.typing.Any(default=None)
    step_factor: pg.typing.Any(default=0.1)
    weight_decay: pg.typing.Any(default=0.0)
    momentum: pg.typing.Any(default=0.9)
    label_smoothing: pg.typing.Any(default=0.0)
    from_logits: pg.typing.Bool(default=False)
    augmentation: pg.typing.Any(default="none")
    shift_fraction: pg.typing.Any(default=0.125)
    cutout_fraction: pg.typing.Any(default=0.25)
    seed: pg.typing.Int(default=0)

    def check(self) -> None:
        """Raises `InfeasibleError` naming the bad setting (e.g. a 'warp' schedule)."""
        if not pg.is_deterministic(self):
            raise errors.SearchSpaceError(
                "TrainingRecipe still holds hyper-values; materialize it first.")
        _check_member("optimizer", self.optimizer, OPTIMIZERS,
                      allow=lambda v: isinstance(v, spec.KerasSpec))
        _check_member("schedule", self.schedule, SCHEDULES)
        _check_member("augmentation", self.augmentation, AUGMENTATIONS)
        _check_range("learning_rate", self.learning_rate, 0.0, None, open_low=True)
        _check_range("weight_decay", self.weight_decay, 0.0, None)
        _check_range("momentum", self.momentum, 0.0, 1.0)
        _check_range("label_smoothing", self.label_smoothing, 0.0, 1.0)
        _check_range("warmup_epochs", self.warmup_epochs, 0.0, None)
        if self.step_every_epochs is not None:
            _check_range("step_every_epochs", self.step_every_epochs, 0.0, None, open_low=True)
            _check_range("step_factor", self.step_factor, 0.0, None, open_low=True)
        _check_range("shift_fraction", self.shift_fraction, 0.0, 1.0)
        _check_range("cutout_fraction", self.cutout_fraction, 0.0, 1.0)
        if int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise errors.InfeasibleError(
                f"TrainingRecipe needs epochs >= 1 and batch_size >= 1, got "
                f"epochs={self.epochs!r}, batch_size={self.batch_size!r}.")
        if self.warmup_epochs and self.warmup_epochs >= self.epochs:
            raise errors.InfeasibleError(
                f"TrainingRecipe warms up for {self.warmup_epochs} epochs, which leaves "
                f"nothing of {self.epochs} epochs; expected warmup_epochs < epochs.")

    def learning_rate_schedule(self, steps_per_epoch: int) -> Union[float, Any]:
        """The learning rate, or a Keras schedule over `epochs * steps_per_epoch` steps."""
        lr = float(self.learning_rate)
        total = max(1, int(self.epochs) * int(steps_per_epoch))
        warmup = min(total - 1, int(round(float(self.warmup_epochs) * steps_per_epoch)))
        if self.schedule == "constant":
            return lr
        if self.schedule == "cosine":
            if warmup > 0:
                return keras.optimizers.schedules.CosineDecay(
                    0.0, decay_steps=total - warmup, warmup_target=lr, warmup_steps=warmup)
            return keras.optimizers.schedules.CosineDecay(lr, decay_steps=total)
        if self.schedule == "step" and self.step_every_epochs is not None:
            every = max(1, int(round(float(self.step_every_epochs) * steps_per_epoch)))
            # PiecewiseConstantDecay switches after a boundary step: the new rate
            # starts at step `every`, as StepLR's does at its epoch.
            boundaries = [b - 1 for b in range(every, total, every)]
            values = [lr * float(self.step_factor) ** i for i in range(len(boundaries) + 1)]
            if not boundaries:
                return lr
            return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
        if self.schedule == "step":
            boundaries = sorted({max(1, int(total * f)) for f in (0.5, 0.667, 0.833)})
            values = [lr * 0.1 ** i for i in range(len(boundaries) + 1)]
            return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
        return keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=total, decay_rate=0.01)

    def make_optimizer(self, steps_per_epoch: int) -> Any:
        self.check()
        if isinstance(self.optimizer, spec.KerasSpec):
            return super().make_optimizer(steps_per_epoch)
        kwargs = dict(learning_rate=self.learning_rate_schedule(steps_per_epoch),
                      weight_decay=float(self.weight_decay) or None)
        if self.optimizer == "adam":
            return keras.optimizers.Adam(**kwargs)
        if self.optimizer == "adamw":
            # AdamW's own default decay (0.004) would apply on 0; keep it explicit.
            kwargs["weight_decay"] = float(self.weight_decay)
            return keras.optimizers.AdamW(**kwargs)
        if self.optimizer == "sgd":
            return keras.optimizers.SGD(momentum=float(self.momentum), nesterov=True, **kwargs)
        if self.optimizer == "rmsprop":
            return keras.optimizers.RMSprop(momentum=float(self.momentum), **kwargs)
        return keras.optimizers.Nadam(**kwargs)

    def make_loss(self) -> Any:
        if self.loss == "sparse_categorical_crossentropy" and (
                self.label_smoothing or self.from_logits):
            return SparseCategoricalCrossentropyWithSmoothing(
                label_smoothing=float(self.label_smoothing), from_logits=self.from_logits)
        return super().make_loss()

    def prepare_training_data(self, x: Any, y: Any = None) -> Any:
        """Arrays unchanged, or an `AugmentedDataset` drawing fresh augmentations per epoch."""
        self.check()
        if self.augmentation == "none":
            return x, y
        if y is None or not isinstance(x, np.ndarray) or x.ndim != 4:
            raise ValueError(
                f"augmentation={self.augmentation!r} needs image arrays x of shape "
                f"(n, height, width, channels) and labels y; got x of type "
                f"{type(x).__name__}{getattr(x, 'shape', '')}. Augment a tf.data "
                "pipeline yourself, or use augmentation='none'.")
        return AugmentedDataset(x, y, batch_size=int(self.batch_size),
                                augmentation=self.augmentation,
                                shift_fraction=float(self.shift_fraction),
                                cutout_fraction=float(self.cutout_fraction),
                                seed=self.seed), None


def training_space(optimizers: Sequence[str] = ("adam", "sgd", "rmsprop", "adamw"),
                   learning_rate: Sequence[float] = (1e-4, 1e-1),
                   schedules: Sequence[str] = ("constant", "cosine", "step"),
                   weight_decays: Sequence[float] = (0.0, 1e-5, 1e-4, 1e-3),
                   batch_sizes: Sequence[int] = (32, 64, 128),
                   epochs: Union[int, Sequence[int]] = (3, 6, 12),
                   label_smoothings: Sequence[float] = (0.0, 0.1),
                   augmentations: Sequence[str] = ("none", "shift"),
                   **kwargs) -> TrainingRecipe:
    """A `TrainingRecipe` whose fields are choices; one value fixes a field.

    Args:
      optimizers: optimizer families from `OPTIMIZERS`.
      learning_rate: `(low, high)` of a log-scale `pg.floatv`, or one float.
      schedules: from `SCHEDULES`.
      weight_decays: candidate decoupled weight decays.
      batch_sizes: candidate batch sizes.
      epochs: candidate epoch counts, or one.
      label_smoothings: candidate label smoothing amounts.
      augmentations: from `AUGMENTATIONS` ('flip' suits natural images, not digits).
      **kwargs: other `TrainingRecipe` fields (warmup_epochs, momentum, ...).
    """
    _check_subset("optimizers", optimizers, OPTIMIZERS)
    _check_subset("schedules", schedules, SCHEDULES)
    _check_subset("augmentations", augmentations, AUGMENTATIONS)
    if isinstance(learning_rate, (int, float)):
        lr = float(learning_rate)
    else:
        low, high = learning_rate
        if not 0 < low < high:
            raise errors.SearchSpaceError(
                f"learning_rate range {tuple(learning_rate)!r} must be (low, high) with "
                "0 < low < high (a log scale).")
        lr = pg.floatv(float(low), float(high), scale="log")
    return TrainingRecipe(
        optimizer=_choice(optimizers), learning_rate=lr, schedule=_choice(schedules),
        weight_decay=_choice(weight_decays), batch_size=_choice(batch_sizes),
        epochs=_choice(epochs), label_smoothing=_choice(label_smoothings),
        augmentation=_choice(augmentations), **kwargs)


@keras.saving.register_keras_serializable(package="symbolic_automl.training")
class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):
    """Sparse categorical cross-entropy with label smoothing (Keras' sparse loss has none)."""

    def __init__(self, label_smoothing: float = 0.0, from_logits: bool = False,
                 name: str = "sparse_categorical_crossentropy_smoothed", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        one_hot = keras.ops.one_hot(labels, keras.ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=self.from_logits,
            label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "from_logits": self.from_logits}


class AugmentedDataset(keras.utils.PyDataset):
    """Shuffled batches of images with random augmentations, new ones every epoch.

    Numpy only, so it feeds any Keras backend.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, augmentation: str,
                 shift_fraction: float = 0.125, cutout_fraction: float = 0.25,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} examples but y has {len(y)}.")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.augmentation = augmentation
        self.shift_fraction = shift_fraction
        self.cutout_fraction = cutout_fraction
        self._rng = np.random.RandomState(seed)
        self._order = self._rng.permutation(len(x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.augment(self.x[rows]), self.y[rows]

    def on_epoch_end(self):
        self._order = self._rng.permutation(len(self.x))

    def augment(self, images: np.ndarray) -> np.ndarray:
        """A randomly augmented copy of a batch `(n, height, width, channels)`."""
        images = np.array(images, copy=True)
        n, height, width = images.shape[:3]
        if self.augmentation in ("flip", "flip_shift"):
            flip = self._rng.rand(n) < 0.5
            images[flip] = images[flip, :, ::-1]
        if self.augmentation in ("shift", "flip_shift"):
            max_dy = int(round(height * self.shift_fraction))
            max_dx = int(round(width * self.shift_fraction))
            padded = np.pad(images, ((0, 0), (max_dy, max_dy), (max_dx, max_dx), (0, 0)))
            for i in range(n):
                dy = self._rng.randint(0, 2 * max_dy + 1)
                dx = self._rng.randint(0, 2 * max_dx + 1)
                images[i] = padded[i, dy:dy + height, dx:dx + width]
        if self.augmentation == "cutout":
            size = max(1, int(round(min(height, width) * self.cutout_fraction)))
            for i in range(n):
                cy, cx = self._rng.randint(0, height), self._rng.randint(0, width)
                images[i, max(0, cy - size // 2):cy + (size + 1) // 2,
                       max(0, cx - size // 2):cx + (size + 1) // 2] = 0
        return images


def _choice(candidates):
    if isinstance(candidates, (str, int, float, bool)):
        return candidates
    candidates = list(candidates)
    if not candidates:
        raise errors.SearchSpaceError("An empty list of candidates; expected at least one.")
    return candidates[0] if len(candidates) == 1 else pg.oneof(candidates)


def _check_subset(name: str, values: Sequence[str], allowed: Sequence[str]) -> None:
    values = [values] if isinstance(values, str) else list(values)
    unknown = [v for v in values if v not in allowed]
    if not values or unknown:
        raise errors.SearchSpaceError(
            f"{name} {values!r} must be a non-empty list from {list(allowed)}; "
            f"unknown: {unknown}.")


def _check_member(name: str, value: Any, allowed: Sequence[str], allow=None) -> None:
    if allow is not None and allow(value):
        return
    if value not in allowed:
        raise errors.InfeasibleError(
            f"TrainingRecipe {name}={value!r}; expected one of {list(allowed)}.")


def _check_range(name: str, value: Any, low: float, high: Optional[float],
                 open_low: bool = False) -> None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise errors.InfeasibleError(
            f"TrainingRecipe {name}={value!r}; expected a number.") from None
    too_low = number <= low if open_low else number < low
    if too_low or (high is not None and number > high) or not math.isfinite(number):
        bound = f"{'>' if open_low else '>='} {low}" + ("" if high is None else f" and <= {high}")
        raise errors.InfeasibleError(f"TrainingRecipe {name}={value!r}; expected a number {bound}.")
