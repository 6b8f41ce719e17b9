"""Evaluator-side rejection (EvoNorm): a cheap check before the full evaluation.

The check needs the model, so it wraps the *evaluator*, not the algorithm:
`with_rejection(evaluator, check, threshold)` runs `check(model, context)`
first and raises `RejectedError` when the score is below `threshold`; the
search loop records the trial as `rejected` and calls the algorithm's
`feedback_infeasible(dna)` (see `evolution_with_rejection`). EvoNorm discarded
layers below 20% accuracy after 100 training steps:

    evaluator = sa.with_rejection(
        sa_core.KerasEvaluator(x, y, epochs=5),
        check=sa.keras_proxy_check(x[:512], y[:512], steps=100), threshold=0.2)

This module is the only one in `algorithms/` that touches Keras, and only
inside `keras_proxy_check`'s returned callable.
"""

from typing import Any, Callable, Optional

import pyglove as pg

from symbolic_automl.errors import RejectedError

Check = Callable[[Any, Any], float]


@pg.members([
    ("evaluator", pg.typing.Any(),
     "The full evaluator `(model, context) -> metrics`."),
    ("check", pg.typing.Any(),
     "The cheap check `(model, context) -> score`."),
    ("threshold", pg.typing.Float(), "Scores below it are rejected."),
    ("metric_name", pg.typing.Str(default="proxy_score"),
     "Name under which the check's score is added to the full metrics."),
])
class Rejection(pg.Object):
    """An evaluator that rejects candidates whose cheap check scores below a threshold.

    Example::

        evaluator = Rejection(full_evaluator, check=lambda m, c: proxy(m), threshold=0.2)
    """

    def __call__(self, model, context):
        score = float(self.check(model, context))
        if not score >= self.threshold:  # also rejects NaN.
            raise RejectedError(f"proxy score {score:.3f} < threshold {self.threshold}")
        metrics = dict(self.evaluator(model, context))
        metrics.setdefault(self.metric_name, score)
        return metrics


def with_rejection(evaluator, check: Check, threshold: float,
                   metric_name: str = "proxy_score") -> Rejection:
    """Wraps `evaluator` so that candidates scoring below `threshold` are rejected.

    Args:
        evaluator: the full evaluator `(model, context) -> metrics dict`.
        check: `(model, context) -> float`, e.g. `keras_proxy_check(...)` or any
            predicate on the model (return 0/1).
        threshold: minimum score to go on to the full evaluation.
        metric_name: the score is also reported in the trial's metrics.

    Example::

        with_rejection(evaluator, check=keras_proxy_check(x, y, steps=100), threshold=0.2)
    """
    return Rejection(evaluator, check, float(threshold), metric_name)


def keras_proxy_check(x, y, steps: int = 100, batch_size: int = 32,
                      validation_data: Optional[tuple] = None,
                      metric: str = "accuracy",
                      optimizer: str = "adam",
                      learning_rate: float = 1e-2,
                      loss: str = "sparse_categorical_crossentropy") -> Check:
    """A check that trains the model `steps` steps and returns its accuracy.

    Args:
        x, y: training subset (arrays); batches cycle through it.
        steps: training steps (EvoNorm used 100).
        batch_size: examples per step.
        validation_data: `(x, y)` to score on (default: the training subset).
        metric: the compiled metric returned.
        optimizer, learning_rate, loss: used when the model is not compiled yet
            (a short proxy run wants a higher learning rate than Keras' default).

    Returns:
        `(model, context) -> float`.

    Example::

        check = keras_proxy_check(x_train[:1024], y_train[:1024], steps=100)
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")

    def check(model, context) -> float:
        del context
        from symbolic_automl.keras import to_keras  # pylint: disable=g-import-not-at-top

        keras_model = to_keras(model)
        if not getattr(keras_model, "compiled", False):
            import keras  # pylint: disable=g-import-not-at-top  (evaluator side only)

            keras_optimizer = keras.optimizers.get(optimizer)
            keras_optimizer.learning_rate = learning_rate
            keras_model.compile(optimizer=keras_optimizer, loss=loss, metrics=[metric])
        num_batches = max(1, len(x) // batch_size)
        epochs = max(1, -(-steps // num_batches))
        keras_model.fit(x, y, batch_size=batch_size, epochs=epochs,
                        steps_per_epoch=min(steps, num_batches), verbose=0)
        xv, yv = validation_data if validation_data is not None else (x, y)
        scores = keras_model.evaluate(xv, yv, verbose=0, return_dict=True)
        return float(scores[metric if metric in scores else "compile_metrics"])

    return check
