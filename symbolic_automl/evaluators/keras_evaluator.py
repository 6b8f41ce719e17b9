"""`KerasEvaluator`: trains a materialized model with `model.fit` and reports metrics.

Example::

    evaluator = KerasEvaluator(
        x_train, y_train, validation_data=(x_val, y_val),
        training=Training(epochs=3, learning_rate=pg.floatv(1e-4, 1e-1, scale="log")),
        objective="val_accuracy")
    result = search(space, algorithm=..., evaluator=evaluator, max_trials=20)

Data may be numpy arrays or `tf.data.Dataset`s (then batch them yourself and
leave `y` out). Each trial starts from a cleared Keras session, so memory does
not grow across trials.
"""

import contextlib
import gc
import math
import os
import time
from typing import Any, Iterator, Optional, Sequence

from absl import logging
import pyglove as pg

from symbolic_automl import compatibility
from symbolic_automl import errors
from symbolic_automl import keras as symbolic_keras
from symbolic_automl.evaluators import custom_gradients
from symbolic_automl.evaluators.training import Trainable, Training, check_positive_int


class KerasEvaluator:
    """Compiles and fits each candidate; reward = a named validation metric.

    Args:
      x, y: training data (arrays), or `x` a `tf.data.Dataset` of batches.
      validation_data: `(x_val, y_val)` or a dataset; required unless
        `validation_split` is given.
      training: a `Training` recipe (may hold hyper-values: they join the
        search space).
      objective: the metric that becomes the trial's reward.
      validation_split: fraction of `x, y` held out when no validation data.
      strategy: a `tf.distribute.Strategy` to build and train under.
      mixed_precision: train in `mixed_float16`.
      jit_compile: compile the train step with XLA (True/False); "auto" takes the
        training recipe's `jit_compile` class attribute where it has one
        (`xd.XDTraining`: True), else leaves the choice to Keras.
      steps_per_epoch: cap the steps of each epoch (quick proxy runs).
      callbacks: extra Keras callbacks for every trial.
      verbose: `model.fit` verbosity.
      compile_options: more `model.compile` arguments (e.g. `loss_weights`).
      fit_options: more `model.fit` arguments (e.g. `class_weight`, `shuffle`).
    """

    # The search gives each trial a directory for `model.keras` and keeps the best.
    saves_models = True

    def __init__(self, x: Any = None, y: Any = None, validation_data: Any = None, *,
                 training: Optional[Training] = None, objective: str = "val_accuracy",
                 validation_split: Optional[float] = None, strategy: Any = None,
                 mixed_precision: bool = False, jit_compile: Any = "auto",
                 steps_per_epoch: Optional[int] = None, callbacks: Sequence[Any] = (),
                 verbose: int = 0, compile_options: Optional[dict] = None,
                 fit_options: Optional[dict] = None):
        if x is None:
            raise ValueError("KerasEvaluator needs training data: x (and y) arrays or a dataset.")
        if validation_data is None and validation_split is None:
            raise ValueError(
                "KerasEvaluator needs validation_data=(x_val, y_val) or "
                "validation_split=<fraction> to compute the objective "
                f"{objective!r} on held-out data.")
        if validation_split is not None and not 0.0 < validation_split < 1.0:
            raise ValueError(f"validation_split must be in (0, 1), got {validation_split!r}.")
        if steps_per_epoch is not None:
            check_positive_int("KerasEvaluator(steps_per_epoch=...)", steps_per_epoch)
        if not (jit_compile is True or jit_compile is False or jit_compile == "auto"):
            raise ValueError(f"KerasEvaluator(jit_compile=...) must be True, False or 'auto', "
                             f"got {jit_compile!r}.")
        if training is None:
            training = Training()
        if not isinstance(training, Training):
            raise TypeError(f"training must be a Training, got {type(training).__name__}.")
        self.x, self.y = x, y
        self.validation_data = validation_data
        self.validation_split = validation_split
        self.training = training
        self.objective = objective
        self.strategy = strategy
        self.mixed_precision = mixed_precision
        self.jit_compile = jit_compile
        self.steps_per_epoch = steps_per_epoch
        self.callbacks = list(callbacks)
        self.verbose = verbose
        self.compile_options = dict(compile_options or {})
        self.fit_options = dict(fit_options or {})
        self._logged_devices = False

    def recipe(self) -> dict:
        """The settings that decide what a trial's numbers mean, as stable text.

        Resuming a store refuses a change in any of them (see
        `symbolic_automl.compatibility`): the training recipe, the held-out
        fraction, the steps per epoch, precision, and the extra compile/fit
        arguments. Not in it: the data (other array objects of the same data
        must resume), the strategy, XLA, callbacks and verbosity.
        """
        settings = {"evaluator": compatibility.stable_text(type(self))}
        settings.update(compatibility.symbolic_fields(self.training, "training"))
        settings.update({
            "validation_split": repr(self.validation_split),
            "steps_per_epoch": repr(self.steps_per_epoch),
            "mixed_precision": repr(bool(self.mixed_precision)),
            "compile_options": compatibility.stable_text(self.compile_options),
            "fit_options": compatibility.stable_text(self.fit_options),
        })
        return settings

    def __call__(self, model: Any, context) -> dict:
        training = self.training
        if isinstance(model, Trainable):
            model, training = model.model, model.training
        elif context is not None and context.training is not None:
            training = context.training
        if not pg.is_deterministic(training):
            raise errors.SearchSpaceError(
                "The training recipe still holds hyper-values; the search should have "
                f"materialized it: {training!r:.300}")
        self._reset_keras_state()
        self._log_devices_once()
        # The trial's traced graphs go with its model, not into TensorFlow's registry.
        with custom_gradients.released():
            return self._train(model, training, context)

    def _train(self, model: Any, training, context) -> dict:
        start = time.time()
        scope = self.strategy.scope() if self.strategy is not None else _NullScope()
        with scope:
            keras_model = symbolic_keras.to_keras(model)
            steps = self._steps_per_epoch(training)
            keras_model.compile(
                optimizer=training.make_optimizer(steps),
                loss=training.make_loss(),
                metrics=training.make_metrics(),
                jit_compile=self._jit_compile(training),
                **self.compile_options)
        x, y = training.prepare_training_data(self.x, self.y)
        history = keras_model.fit(
            x, y,
            validation_data=self.validation_data,
            validation_split=self.validation_split or 0.0,
            epochs=int(training.epochs),
            batch_size=None if _is_dataset(x) else int(training.batch_size),
            steps_per_epoch=self.steps_per_epoch,
            callbacks=[_ReportToContext(context)] + self.callbacks,
            verbose=self.verbose,
            **self.fit_options)
        # A missing objective is the search's to judge: it stops after the first trial.
        metrics = {k: float(v[-1]) for k, v in history.history.items() if v}
        metrics["params"] = float(keras_model.count_params())
        metrics["epochs"] = float(len(history.history.get("loss", [])))
        metrics["train_seconds"] = time.time() - start
        if context is not None and context.artifact_dir is not None:
            keras_model.save(os.path.join(context.artifact_dir, "model.keras"))
        return metrics

    def _jit_compile(self, training) -> Any:
        if self.jit_compile != "auto":
            return self.jit_compile
        return getattr(type(training), "jit_compile", "auto")

    def _steps_per_epoch(self, training) -> int:
        if self.steps_per_epoch:
            return int(self.steps_per_epoch)
        if _is_dataset(self.x):
            cardinality = int(self.x.cardinality())
            return max(cardinality, 1)
        n = len(self.x) * (1.0 - (self.validation_split or 0.0))
        return max(1, math.ceil(n / int(training.batch_size)))

    def _reset_keras_state(self):
        import keras  # pylint: disable=g-import-not-at-top

        _SESSION.clear()
        _GARBAGE.collect_if_due()
        keras.mixed_precision.set_global_policy(
            "mixed_float16" if self.mixed_precision else "float32")

    def _log_devices_once(self):
        if self._logged_devices:
            return
        self._logged_devices = True
        try:
            import tensorflow as tf  # pylint: disable=g-import-not-at-top

            gpus = tf.config.list_physical_devices("GPU")
            logging.info("KerasEvaluator: training on %s.",
                         f"{len(gpus)} GPU(s)" if gpus else "CPU (no GPU visible)")
        except ImportError:
            pass


class _GarbageSchedule:
    """Full garbage collections between trials, at most `budget` of the time trained.

    Collecting frees the last trial's model (its cycles hold variables, host
    or GPU memory, and its traced graphs once `custom_gradients.released` has
    let go of them) before the next one is built. A full collection with
    TensorFlow loaded takes tens of milliseconds, more when other code keeps
    models alive: on tiny models, collecting before each one made the
    evaluator ~1.3x a hand-written fit. Long trials (GPU training) collect
    every time; short ones every few trials, so that collecting costs at most
    `budget` of the time between collections.
    """

    def __init__(self, budget: float = 0.01):
        self.budget = budget
        self._frozen = False
        self._last_collect = None  # perf_counter() at the end of the last collection.
        self._collect_seconds = 0.0

    def collect_if_due(self) -> None:
        now = time.perf_counter()
        if self._last_collect is not None and (
                self._collect_seconds > self.budget * (now - self._last_collect)):
            return
        gc.collect()
        if not self._frozen:
            # Libraries and data exist before the first trial and live on: frozen,
            # no collection looks at them again.
            gc.freeze()
            self._frozen = True
        self._last_collect = time.perf_counter()
        self._collect_seconds = self._last_collect - now


_GARBAGE = _GarbageSchedule()


class _SessionSchedule:
    """`keras.backend.clear_session` before each trial; TensorFlow's kernel cache less often.

    On TensorFlow, `clear_session` also empties the eager kernel cache, and
    the next trial then makes every kernel it runs again: ~4% of a small
    model's build, compile and fit, measured over alternating trials in one
    process. Keeping the cache left memory flat over 200 trials, but nothing
    else bounds it, so it is still emptied every `kernel_cache_trials` trials.
    """

    def __init__(self, kernel_cache_trials: int = 20):
        self.kernel_cache_trials = kernel_cache_trials
        self._trials = 0

    def clear(self) -> None:
        import keras  # pylint: disable=g-import-not-at-top

        self._trials += 1
        keep = self._trials % self.kernel_cache_trials and keras.backend.backend() == "tensorflow"
        with _kernel_cache_kept() if keep else contextlib.nullcontext():
            keras.backend.clear_session(free_memory=False)


@contextlib.contextmanager
def _kernel_cache_kept() -> Iterator[None]:
    """Inside, TensorFlow's `clear_kernel_cache` does nothing (on its eager context only)."""
    from tensorflow.python.eager import context as eager  # pylint: disable=g-import-not-at-top

    context = eager.context()
    try:
        context.clear_kernel_cache = _keep_kernel_cache  # Shadows the method.
    except AttributeError:  # A context that takes no attributes: the cache is emptied.
        yield
        return
    try:
        yield
    finally:
        del context.clear_kernel_cache


def _keep_kernel_cache() -> None:
    pass


_SESSION = _SessionSchedule()


def _is_dataset(x) -> bool:
    return type(x).__name__.endswith("Dataset") or hasattr(x, "element_spec")


class _NullScope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _report_callback_base():
    import keras  # pylint: disable=g-import-not-at-top

    return keras.callbacks.Callback


class _ReportToContext(_report_callback_base()):
    """Reports each epoch's logs to the trial context; honours stop requests."""

    def __init__(self, context):
        super().__init__()
        self._context = context

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for key, value in logs.items():
            if not math.isfinite(float(value)):
                self.model.stop_training = True
                raise FloatingPointError(f"{key} became {value} at epoch {epoch + 1}.")
        if self._context is None:
            return
        self._context.report(epoch + 1, logs)
        if self._context.should_stop():
            self.model.stop_training = True
