"""Train an operator model through the `KerasEvaluator` and report the FNO paper's figures.

`train_and_test` is what the `xd_pde` demo and benchmark run for every model:
the same data, the same recipe (or the XD one, with its architecture
optimizer), the relative L2 test error at the end, and the time per epoch
(training batches only, median over epochs after the first, which compiles).

Example::

    result = train_and_test(pde.fno1d(resolution=256), pde.fno_training(epochs=5),
                            (x, y), (x_test, y_test))
    result["test_relative_l2"], result["seconds_per_epoch"]
"""

import statistics
import time
from typing import Any, Dict, List, Tuple

import keras

from symbolic_automl.evaluators.keras_evaluator import KerasEvaluator


class EpochTimer(keras.callbacks.Callback):
    """Seconds of each epoch's training batches (validation excluded).

    `seconds` is wall-clock time; `cpu_seconds` this process's CPU time, which
    other jobs on a shared machine inflate far less (it counts every thread, so
    it is not wall time on several cores).
    """

    def __init__(self):
        super().__init__()
        self.seconds: List[float] = []
        self.cpu_seconds: List[float] = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = (time.perf_counter(), time.process_time())

    def on_test_begin(self, logs=None):
        self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()

    def _stop(self):
        if self._start is not None:
            self.seconds.append(time.perf_counter() - self._start[0])
            self.cpu_seconds.append(time.process_time() - self._start[1])
            self._start = None


def train_and_test(model: Any, training: Any, train: Tuple[Any, Any], test: Tuple[Any, Any],
                   verbose: int = 0, jit_compile: Any = "auto") -> Dict[str, float]:
    """Fits `model` (symbolic, or a Keras model) with `training` and tests it.

    Args:
      model: what `KerasEvaluator` accepts (a symbolic model, a keras.Model).
      training: a `Training` whose metrics include `RelativeL2Error`
        (e.g. `fno_training(...)`).
      train, test: `(x, y)` arrays.
      verbose: Keras' fit verbosity.
      jit_compile: the `KerasEvaluator`'s (XLA for the train step; "auto" is
        Keras' choice, which leaves XLA off on a CPU-only TensorFlow).

    Returns:
      test_relative_l2 and train_relative_l2 after the last epoch,
      seconds_per_epoch (median after the first epoch; the first if only one),
      cpu_seconds_per_epoch (the same median of process CPU time),
      first_epoch_seconds, params, train_seconds.
    """
    timer = EpochTimer()
    evaluator = KerasEvaluator(train[0], train[1], validation_data=test, training=training,
                               objective="val_relative_l2", callbacks=[timer],
                               verbose=verbose, jit_compile=jit_compile)
    metrics = evaluator(model, None)
    later = timer.seconds[1:] or timer.seconds
    later_cpu = timer.cpu_seconds[1:] or timer.cpu_seconds
    return dict(test_relative_l2=metrics["val_relative_l2"],
                train_relative_l2=metrics["relative_l2"],
                seconds_per_epoch=statistics.median(later),
                cpu_seconds_per_epoch=statistics.median(later_cpu),
                first_epoch_seconds=timer.seconds[0],
                params=metrics["params"], train_seconds=metrics["train_seconds"])


MODELS = ("cnn", "xd", "fno")


def operator_models(resolution: int, epochs: int, names=MODELS, width: int = 64,
                    modes: int = 16, batch_size: int = 20,
                    arch_learning_rate: float = 1e-3) -> Dict[str, Tuple[Any, Any]]:
    """The benchmark's three models with their recipes, by name, in `names`' order.

      cnn: `cnn1d` (circular kernel modes + 1) with `fno_training`;
      xd:  `symbolic_automl.spaces.xd.relax(cnn)` (every K convolution an
           XD-operation warm-started from it), trained with the same recipe for
           the weights and Adam at `arch_learning_rate` for the architecture
           (the XD paper's Burgers setting, `--arch_lr=0.001`);
      fno: `fno1d` with `fno_training`.
    """
    from symbolic_automl.spaces.pde import models  # pylint: disable=g-import-not-at-top

    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"Unknown models {unknown}; expected some of {list(MODELS)}.")
    recipe = models.fno_training(epochs=epochs, batch_size=batch_size)
    built = {}
    for name in names:
        if name == "fno":
            built[name] = (models.fno1d(resolution=resolution, modes=modes, width=width), recipe)
            continue
        cnn = models.cnn1d(resolution=resolution, kernel_size=modes + 1, width=width)
        if name == "cnn":
            built[name] = (cnn, recipe)
        else:
            built[name] = xd_model_and_recipe(cnn, recipe, arch_learning_rate)
    return built


def xd_model_and_recipe(cnn: Any, recipe: Any, arch_learning_rate: float) -> Tuple[Any, Any]:
    """`xd.relax(cnn)` and `recipe` as an `xd.XDTraining` with Adam on the architecture.

    The architecture rate follows the weights' schedule, as in the XD paper's
    PDE script (its `arch_sched` is the weights' StepLR without warm-up).
    """
    import pyglove as pg  # pylint: disable=g-import-not-at-top
    from symbolic_automl.spaces import xd  # pylint: disable=g-import-not-at-top

    fields = {k: pg.clone(v, deep=True) if isinstance(v, pg.Symbolic) else v
              for k, v in recipe.sym_init_args.items()}
    training = xd.XDTraining(**fields, arch_optimizer="adam",
                             arch_learning_rate=arch_learning_rate)
    return xd.relax(cnn), training
