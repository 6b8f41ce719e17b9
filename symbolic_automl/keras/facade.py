"""The rest of a Keras script, on a symbolic model: fixed, it is the Keras model.

`Sequential` and `Model` from the mirror answer the Keras model API:

* With no hyper-value left, `summary()`, `count_params()`, `compile`, `fit`,
  `evaluate`, `predict`, `save("m.keras")`, `get_weights()`, ... act on the
  Keras model it builds (`model.keras_model`), built once and kept until the
  symbolic model changes (a rebind builds a new one).
* Still a search space, `compile(...)` and `fit(x, y, ...)` train nothing:
  they record the training recipe (optimizer, which may hold a `pg.floatv`
  learning rate; loss; metrics; epochs; batch size; validation data;
  callbacks), and `sa.search(model, algorithm, max_trials=...)` then trains
  every candidate with it, no `evaluator=` needed. The recipe's hyper-values
  join the model's in one genotype; `fit` returns a `NotTrained` in place of
  a `History`, and logs what it recorded. `summary()` lists the hyper-values left;
  anything else (`predict`, `evaluate`, `save`, ...) is a clear error naming
  them.

Example (an unchanged Keras script, with literals made hyper-values)::

    model = keras.Sequential([keras.Input((8, 8, 1)),
                              keras.layers.Conv2D(pg.oneof([8, 16]), 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(pg.floatv(1e-4, 1e-2, scale="log")),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=2, validation_data=(xv, yv))   # logs: recorded, not trained
    result = sa.search(model, algorithm=pg.geno.Random(seed=1), max_trials=10)
"""

import re
from typing import Any, Optional

from absl import logging
import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.keras import spec
from symbolic_automl.keras.tensor import SymbolicTensor, tensors_in

# Keras model attributes read through to the built model (beyond the methods below).
_KERAS_ATTRIBUTES = frozenset([
    "predict_on_batch", "train_on_batch", "test_on_batch", "save_weights", "load_weights",
    "get_weights", "set_weights", "get_layer", "export", "weights", "trainable_weights",
    "non_trainable_weights", "variables", "trainable_variables", "non_trainable_variables",
    "optimizer", "metrics", "metrics_names", "history", "input", "output", "input_shape",
    "output_shape", "stop_training", "compiled_loss", "loss", "get_compile_config",
    "get_metrics_result", "reset_metrics", "make_train_function", "make_predict_function",
    "make_test_function", "layers",
])

# Metric names whose best value is the smallest.
_LOWER_IS_BETTER = re.compile(
    r"(loss|error|crossentropy|hinge|divergence|poisson|logcosh|^mae$|^mse$|^mape$|^msle$|"
    r"^rmse$)")


class _NotBuiltError(errors.SearchSpaceError, AttributeError):
    """A Keras attribute asked of a model that is still a search space."""


class NotTrained:
    """What `fit` on a search space returns instead of a Keras `History`.

    Reading its `history` (as scripts do after `fit`) says why there is none.
    """

    def __init__(self, model_type: str):
        self._model_type = model_type

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise errors.SearchSpaceError(
            f"{self._model_type} is a search space, so fit() trained nothing and there is no "
            f"History.{name}: run sa.search(model, algorithm=..., max_trials=...) and read "
            "the trials' metrics (result.best.metrics), or fit a fixed model.")

    def __repr__(self):
        return f"<NotTrained: {self._model_type} is a search space; fit() recorded the recipe>"


class KerasModelFacade:
    """Mixin of the symbolic Keras models: the Keras model API, see the module doc."""

    # The built model and the recorded recipe are not symbolic (never serialized).

    @property
    def keras_model(self):
        """The Keras model this fixed symbolic model builds (built once, cached)."""
        spec.check_fixed(self, "using it as a Keras model (or search it: sa.search)")
        return spec.built_once(self, "_keras_model")

    def _on_bound(self):
        super()._on_bound()
        self._set_raw_attr("_keras_model", None)

    def _is_space(self) -> bool:
        return not pg.is_deterministic(self)

    def __call__(self, *args, **kwargs):
        """On symbolic tensors: a nested-model node; on real ones: the Keras model."""
        if tensors_in([list(args), kwargs]):
            return SymbolicTensor(self, args, kwargs)
        return self.keras_model(*args, **kwargs)

    def __getattr__(self, name):
        if name in _KERAS_ATTRIBUTES:
            if self._is_space():
                # An AttributeError too, so that hasattr() answers False on a space.
                raise _NotBuiltError(
                    f"{type(self).__name__}.{name} is an attribute of the Keras model it "
                    f"builds, and it still holds hyper-values at {spec.hyper_paths(self)}: "
                    "materialize it (pg.materialize or a search) first.")
            return getattr(self.keras_model, name)
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}")

    def summary(self, *args, **kwargs):
        """The Keras summary; on a space, the hyper-values left to search."""
        if self._is_space():
            hypers = pg.query(self, where=lambda v: isinstance(v, pg.hyper.HyperValue),
                              enter_selected=False)
            lines = [f"  {path}: {pg.format(value, compact=True)}" for path, value in hypers.items()]
            print_fn = kwargs.get("print_fn") or print
            print_fn(f"{type(self).__name__} search space, {len(lines)} hyper-value(s) left "
                     "(nothing built yet):\n" + "\n".join(lines))
            return None
        return self.keras_model.summary(*args, **kwargs)

    def count_params(self) -> int:
        return self.keras_model.count_params()

    def evaluate(self, *args, **kwargs):
        return self.keras_model.evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        return self.keras_model.predict(*args, **kwargs)

    def save(self, filepath, *args, **kwargs):
        """`.keras`/`.h5`: the Keras model's `save`; other paths: symbolic JSON."""
        if str(filepath).endswith((".keras", ".h5")):
            return self.keras_model.save(filepath, *args, **kwargs)
        from symbolic_automl import export  # pylint: disable=g-import-not-at-top

        return export.save(self, str(filepath))

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **options):
        """Keras `compile`; on a space, records the arguments as the training recipe."""
        if not self._is_space():
            return self.keras_model.compile(
                optimizer=spec.to_keras_value(optimizer), loss=spec.to_keras_value(loss),
                metrics=spec.to_keras_value(metrics), **spec.to_keras_value(options))
        self._set_raw_attr("_recorded_compile", dict(
            optimizer=optimizer, loss=loss, metrics=metrics, options=options))
        logging.info("%s is a search space: compile(...) recorded as the training recipe "
                     "for sa.search.", type(self).__name__)
        return None

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, **options):
        """Keras `fit`; on a space, trains nothing and records the recipe for `sa.search`.

        Returns:
          The Keras `History`; on a space, a `NotTrained` whose attributes
          explain that nothing was trained.
        """
        if not self._is_space():
            return self.keras_model.fit(
                x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                callbacks=callbacks, validation_split=validation_split,
                validation_data=validation_data, **options)
        if getattr(self, "_recorded_compile", None) is None:
            raise errors.SearchSpaceError(
                f"fit() on a search space records the training recipe, which starts with "
                f"compile(...): call model.compile(optimizer=..., loss=..., metrics=...) "
                f"first (hyper-values left at {spec.hyper_paths(self)}).")
        if validation_data is None and not validation_split:
            raise errors.SearchSpaceError(
                "fit() on a search space records the training recipe for sa.search, which "
                "scores each candidate on held-out data: pass validation_data=(x_val, y_val) "
                "or validation_split=<fraction>.")
        self._set_raw_attr("_recorded_fit", dict(
            x=x, y=y, batch_size=batch_size, epochs=epochs, verbose=verbose,
            callbacks=callbacks, validation_split=validation_split,
            validation_data=validation_data, options=options))
        evaluator = self.recorded_evaluator()
        logging.warning(
            "%s is a search space (hyper-values at %s): fit() trained nothing. Its "
            "compile/fit arguments are recorded; sa.search(model, algorithm=..., "
            "max_trials=...) trains each candidate with them and %s %r.",
            type(self).__name__, ", ".join(spec.hyper_paths(self)),
            "minimizes" if evaluator.direction == "min" else "maximizes", evaluator.objective)
        return NotTrained(type(self).__name__)

    def recorded_evaluator(self):
        """The `KerasEvaluator` that the recorded `compile`/`fit` arguments describe.

        Raises:
          SearchSpaceError: `compile` and `fit` were not both called on this space.
        """
        from symbolic_automl.evaluators import KerasEvaluator, Training  # pylint: disable=g-import-not-at-top

        compiled = getattr(self, "_recorded_compile", None)
        fitted = getattr(self, "_recorded_fit", None)
        if compiled is None or fitted is None:
            raise errors.SearchSpaceError(
                "sa.search needs an evaluator=..., or a model on which compile(...) and "
                "fit(x, y, validation_data=...) were called to record the training recipe.")
        metrics = list(compiled["metrics"] or [])
        training = Training(
            optimizer=_optimizer_value(compiled["optimizer"]),
            loss=compiled["loss"],
            metrics=metrics,
            epochs=fitted["epochs"],
            batch_size=32 if fitted["batch_size"] is None else fitted["batch_size"])
        options = dict(compiled["options"])
        jit_compile = options.pop("jit_compile", "auto")
        fit_options = dict(fitted["options"])
        steps_per_epoch = fit_options.pop("steps_per_epoch", None)
        objective = _objective(metrics)
        evaluator = KerasEvaluator(
            fitted["x"], fitted["y"], fitted["validation_data"], training=training,
            objective=objective,
            validation_split=fitted["validation_split"] or None,
            jit_compile=jit_compile, steps_per_epoch=steps_per_epoch,
            callbacks=fitted["callbacks"] or (),
            verbose=0 if fitted["verbose"] == "auto" else fitted["verbose"],
            compile_options=options, fit_options=fit_options)
        evaluator.direction = "min" if _LOWER_IS_BETTER.search(objective[4:]) else "max"
        return evaluator


def _optimizer_value(optimizer):
    """A recipe field for `optimizer`: names and specs as they are, Keras objects as config.

    A Keras optimizer object holds training state, so each trial gets a fresh
    one made from its config.
    """
    import keras  # pylint: disable=g-import-not-at-top

    if isinstance(optimizer, keras.optimizers.Optimizer):
        return keras.optimizers.serialize(optimizer)
    return optimizer


def _metric_name(metric) -> Optional[str]:
    if isinstance(metric, str):
        return metric
    if isinstance(metric, spec.KerasSpec):
        name = metric.sym_init_args.get("name")
        if isinstance(name, str):
            return name
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(metric).__name__).lower()
    name = getattr(metric, "name", None) or getattr(metric, "__name__", None)
    return name if isinstance(name, str) else None


def _objective(metrics) -> str:
    """The validation metric to maximize: the first compiled metric's, else the loss."""
    name = _metric_name(metrics[0]) if metrics else None
    return f"val_{name}" if name else "val_loss"
