"""`EvoNormEvaluator`: scores a candidate layer graph in K anchor architectures.

For one candidate (a `LayerGraph`), in order, stopping at the first failure:

1. structural checks on a probe batch (`checks.Probe`): the output depends on
   x, is finite, and is not a functional duplicate of an earlier candidate;
2. for each anchor: build it with the candidate in every norm-act slot, the
   stability check (`checks.adversarial_gradient_norm` below `max_gradient_norm`),
   then `quality_steps` training steps and the quality check (validation
   accuracy at least `quality_threshold`);
3. training each anchor on to `train_steps`: metric `acc_<anchor>` is its
   final validation accuracy, one objective per anchor.

A failed check raises `symbolic_automl.RejectedError`: the search records the
trial as `rejected` with the reason, and its metrics (`stage`, the formula,
what was measured so far). Completed trials' metrics hold the formula, the
per-anchor accuracies (after the quality steps and at the end), the gradient
norms and the seconds spent in each part: `structural_seconds`, `cleanup_seconds`
(releasing the previous candidate's models), `build_seconds` (building and
compiling the anchors), `stability_seconds`, `quality_fit_seconds` (the first
`quality_steps`, inside `fit`, its tracing included), `accuracy_seconds`,
`train_on_seconds` (the rest of the training, no tracing) and `train_seconds`
(their sum: all time inside `fit`).

Example::

    evaluator = EvoNormEvaluator(tiny_anchors(), data, quality_steps=100, train_steps=300)
    metrics = evaluator(evonorm_s0(groups=4), context=None)
"""

import collections
import contextlib
import time
from typing import Any, Dict, Optional, Sequence

import numpy as np

from symbolic_automl.errors import RejectedError

from . import checks
from .anchors import Anchor


class EvoNormEvaluator:
    """Trains a candidate layer in every anchor; rejects it early where it fails.

    Args:
        anchors: the `Anchor`s (K of them: K objectives `acc_<name>`).
        data: `((x, y), (x_val, y_val))`, images channels-last, integer labels.
        quality_steps: steps before the quality check (the paper's 100).
        quality_threshold: minimum validation accuracy after `quality_steps`
            on every anchor (the paper's 0.2).
        train_steps: total training steps per anchor (at least `quality_steps`).
        batch_size: training batch size.
        learning_rate: Adam's learning rate.
        max_gradient_norm: the stability threshold on the adversarial gradient norm.
        stability_steps, stability_epsilon: the adversarial ascent's steps and
            relative radius (see `checks.adversarial_gradient_norm`).
        probe_shape: shape of the structural checks' random batch (its channel
            count decides the group size the probe sees).
        seed: of the probe, the weight initialization and the batches.
    """

    def __init__(self, anchors: Sequence[Anchor], data, *, quality_steps: int = 100,
                 quality_threshold: float = 0.2, train_steps: int = 300, batch_size: int = 32,
                 learning_rate: float = 3e-3, max_gradient_norm: float = 1e3,
                 stability_steps: int = 4, stability_epsilon: float = 0.3,
                 probe_shape: Sequence[int] = (8, 6, 6, 16), seed: int = 0):
        anchors = list(anchors)
        if not anchors or not all(isinstance(a, Anchor) for a in anchors):
            raise TypeError(f"anchors must be a non-empty list of evonorm.anchors.Anchor, "
                            f"got {anchors!r:.200}")
        names = [a.name for a in anchors]
        if len(set(names)) != len(names):
            raise ValueError(f"anchor names must be distinct, got {names}")
        try:
            (x, y), (x_val, y_val) = data
        except (TypeError, ValueError):
            raise ValueError("data must be ((x, y), (x_val, y_val)) arrays") from None
        if np.ndim(x) != 4:
            raise ValueError(f"data images must be 4-D (n, h, w, c), got shape {np.shape(x)}")
        if not 0 < quality_steps <= train_steps:
            raise ValueError(f"need 0 < quality_steps <= train_steps, got {quality_steps}, "
                             f"{train_steps}")
        self.anchors = anchors
        self.x, self.y = np.asarray(x, "float32"), np.asarray(y)
        self.x_val, self.y_val = np.asarray(x_val, "float32"), np.asarray(y_val)
        self.quality_steps = int(quality_steps)
        self.quality_threshold = float(quality_threshold)
        self.train_steps = int(train_steps)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.max_gradient_norm = float(max_gradient_norm)
        self.stability_steps = int(stability_steps)
        self.stability_epsilon = float(stability_epsilon)
        self.seed = int(seed)
        self.probe = checks.Probe(probe_shape, seed)
        self.signatures = checks.SignatureIndex()
        self._built_models = True  # Unknown: clear the session before the first build.

    @property
    def objective(self):
        return [f"acc_{a.name}" for a in self.anchors]

    # --------------------------------------------------------------- resume

    def restore(self, trials) -> int:
        """Re-indexes the probe signatures of earlier trials (on resume).

        Every recorded candidate that got past the duplicate check is indexed
        again under its own id, so a resumed search still deduplicates
        against them. Returns how many were indexed.
        """
        from symbolic_automl import trial as trial_lib  # pylint: disable=g-import-not-at-top

        import keras  # pylint: disable=g-import-not-at-top

        count = 0
        for t in trials:
            stage = t.metrics.get("stage")
            passed = (t.status in trial_lib.FINISHED_WITH_REWARD
                      or stage in (checks.STABILITY, checks.QUALITY))
            if not passed or t.model_json is None:
                continue
            _, _, signature = self.probe.check(t.model)
            if signature is not None:
                self.signatures.add(t.id, signature)
                count += 1
        keras.backend.clear_session()
        return count

    # ------------------------------------------------------------- evaluate

    def __call__(self, graph, context) -> Dict[str, Any]:
        import keras  # pylint: disable=g-import-not-at-top

        trial_id = getattr(context, "trial_id", len(self.signatures) + 1)
        metrics: Dict[str, Any] = {"formula": graph.formula()}
        start = time.time()
        stage, reason, signature = self.probe.check(graph)
        if stage is None:
            duplicate = self.signatures.find(signature)
            if duplicate is not None:
                stage, reason = checks.DUPLICATE, f"computes the same function as trial {duplicate}"
            else:
                self.signatures.add(trial_id, signature)
        metrics["structural_seconds"] = time.time() - start
        if stage is not None:
            self._reject(stage, reason, metrics)
        seconds = collections.defaultdict(float)
        with _timed(seconds, "cleanup"):
            self._release_models()
        self._built_models = True
        try:
            self._train_in_anchors(graph, metrics, seconds)
        except RejectedError as e:  # It holds a copy of the metrics: add the times.
            e.metrics.update(_times(seconds))
            raise
        metrics.update(_times(seconds), stage="trained")
        return metrics

    def _train_in_anchors(self, graph, metrics: Dict[str, Any], seconds) -> None:
        import keras  # pylint: disable=g-import-not-at-top

        models = []
        for index, anchor in enumerate(self.anchors):
            with _timed(seconds, "build"):
                keras.utils.set_random_seed(self.seed + index)
                model = anchor.build(graph)
                model.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                              metrics=["accuracy"], jit_compile=False)
            with _timed(seconds, "stability"):
                norm = self._stability(model)
            metrics[f"grad_norm_{anchor.name}"] = norm
            if not norm <= self.max_gradient_norm:
                self._reject(checks.STABILITY,
                             f"adversarial gradient norm {norm:.4g} > {self.max_gradient_norm:g} "
                             f"in anchor {anchor.name}", metrics)
            with _timed(seconds, "quality_fit"):
                self._fit(model, self.quality_steps, index)
            with _timed(seconds, "accuracy"):
                accuracy = self._accuracy(model)
            metrics[f"quality_acc_{anchor.name}"] = accuracy
            if not accuracy >= self.quality_threshold:
                self._reject(checks.QUALITY,
                             f"validation accuracy {accuracy:.3f} < {self.quality_threshold} after "
                             f"{self.quality_steps} steps in anchor {anchor.name}", metrics)
            models.append(model)
        for index, (anchor, model) in enumerate(zip(self.anchors, models)):
            if self.train_steps > self.quality_steps:
                with _timed(seconds, "train_on"):
                    self._fit(model, self.train_steps - self.quality_steps, index + 1000)
            with _timed(seconds, "accuracy"):
                metrics[f"acc_{anchor.name}"] = self._accuracy(model)

    def _release_models(self):
        # Drops the earlier candidate's models and traced functions. Only when
        # one was built: most candidates stop at the structural checks, and a
        # `clear_session` (with its full garbage collection, ~1 s with
        # TensorFlow loaded) per candidate took 40% of a search's time.
        if self._built_models:
            import keras  # pylint: disable=g-import-not-at-top

            keras.backend.clear_session(free_memory=True)
            self._built_models = False

    @staticmethod
    def _reject(stage: str, reason: str, metrics: dict):
        metrics["stage"] = stage
        raise RejectedError(f"{stage}: {reason}", metrics=metrics)

    def _stability(self, model) -> float:
        import keras  # pylint: disable=g-import-not-at-top

        rng = np.random.RandomState(self.seed)
        batch = rng.choice(len(self.x), self.batch_size, replace=False)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return checks.adversarial_gradient_norm(
            model, self.x[batch], self.y[batch], loss, steps=self.stability_steps,
            epsilon=self.stability_epsilon)

    def _fit(self, model, steps: int, seed: int):
        # Batches from a seeded permutation of the training set, cycled.
        rng = np.random.RandomState(self.seed * 7919 + seed)
        need = steps * self.batch_size
        order = np.concatenate([rng.permutation(len(self.x))
                                for _ in range(-(-need // len(self.x)))])[:need]
        model.fit(self.x[order], self.y[order], batch_size=self.batch_size, epochs=1,
                  shuffle=False, verbose=0)

    def _accuracy(self, model) -> float:
        # One forward pass outside `evaluate`, which would trace a test function per model.
        logits = np.asarray(model(self.x_val, training=False))
        if not np.all(np.isfinite(logits)):
            return 0.0
        return float(np.mean(np.argmax(logits, axis=-1) == self.y_val))


def _times(seconds: Dict[str, float]) -> Dict[str, float]:
    """`<part>_seconds` metrics, and `train_seconds`: all time inside `fit`
    (its tracing included), in the quality steps and after."""
    times = {f"{part}_seconds": value for part, value in seconds.items()}
    times["train_seconds"] = seconds.get("quality_fit", 0.0) + seconds.get("train_on", 0.0)
    return times


@contextlib.contextmanager
def _timed(seconds: Dict[str, float], key: str):
    start = time.time()
    try:
        yield
    finally:
        seconds[key] += time.time() - start
