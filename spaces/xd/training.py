"""`XDTraining`: a training recipe with a second optimizer for XD architecture parameters.

It is a `TrainingRecipe` (the weights' optimizer, learning rate, schedule,
weight decay, ...) plus the architecture optimizer's own settings, each of
which may be a hyper-value, so `search` can tune the architecture learning
rate itself. `KerasEvaluator` compiles with its `make_optimizer`, a
`SplitOptimizer`.

Example::

    training = XDTraining(optimizer="adam", learning_rate=1e-3, weight_decay=1e-4,
                          schedule="step", arch_learning_rate=pg.floatv(1e-4, 1e-1, scale="log"),
                          epochs=5, loss="mse", metrics=[])
    evaluator = sa.KerasEvaluator(x, y, validation_data=(xv, yv), training=training,
                                  objective="val_loss")
"""

from typing import Any

import keras
import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.spaces.training import SCHEDULES, TrainingRecipe
from symbolic_automl.spaces.xd.optimizer import SplitOptimizer

ARCH_OPTIMIZERS = ("adam", "sgd")


class XDTraining(TrainingRecipe):
    """`TrainingRecipe` for models with XD-operations: two optimizers.

    Fields besides `TrainingRecipe`'s (each may be a hyper-value):
      arch_optimizer: 'adam' (the reference's) or 'sgd' (with `arch_momentum`).
      arch_learning_rate: of the architecture parameters; 0 freezes them.
      arch_schedule: one of `SCHEDULES`, or None for the weights' `schedule`.
      arch_momentum: of 'sgd'.
    """

    # What `KerasEvaluator(jit_compile="auto")` uses for this recipe: XLA. XD's many
    # small matmuls fuse under XLA (a train step 1.6-1.8x faster on CPU), which
    # Keras' own "auto" leaves off on a CPU-only TensorFlow. Not a symbolic field:
    # like the evaluator's own switch, it does not change what a trial's numbers mean.
    jit_compile = True

    arch_optimizer: pg.typing.Any(default="adam")
    arch_learning_rate: pg.typing.Any(default=1e-3)
    arch_schedule: pg.typing.Any(default=None)
    arch_momentum: pg.typing.Any(default=0.0)

    def check(self) -> None:
        super().check()
        if self.arch_optimizer not in ARCH_OPTIMIZERS:
            raise errors.InfeasibleError(
                f"XDTraining.arch_optimizer must be one of {ARCH_OPTIMIZERS}, got "
                f"{self.arch_optimizer!r}.")
        if self.arch_schedule is not None and self.arch_schedule not in SCHEDULES:
            raise errors.InfeasibleError(
                f"XDTraining.arch_schedule must be None or one of {SCHEDULES}, got "
                f"{self.arch_schedule!r}.")
        if not float(self.arch_learning_rate) >= 0.0:
            raise errors.InfeasibleError(
                f"XDTraining.arch_learning_rate must be >= 0, got {self.arch_learning_rate!r}.")

    def arch_learning_rate_schedule(self, steps_per_epoch: int) -> Any:
        """The architecture learning rate, or its Keras schedule."""
        rate = float(self.arch_learning_rate)
        if rate == 0.0:
            return 0.0
        schedule = self.schedule if self.arch_schedule is None else self.arch_schedule
        recipe = self.clone(override={"learning_rate": rate, "schedule": schedule})
        return recipe.learning_rate_schedule(steps_per_epoch)

    def make_optimizer(self, steps_per_epoch: int) -> SplitOptimizer:
        weights_optimizer = super().make_optimizer(steps_per_epoch)  # checks the recipe
        rate = self.arch_learning_rate_schedule(steps_per_epoch)
        if self.arch_optimizer == "adam":
            arch_optimizer = keras.optimizers.Adam(rate)
        else:
            arch_optimizer = keras.optimizers.SGD(rate, momentum=float(self.arch_momentum))
        return SplitOptimizer(weights_optimizer, arch_optimizer)
