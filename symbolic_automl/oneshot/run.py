"""`SupernetRun`: the supernet training loop every weight-sharing algorithm shares.

One run holds the supernet built from the space, the two halves of the
evaluator's training data (the weights' and the architecture's), α, and the
current backend's `Stepper` (`backend_tensorflow.py`, `backend_jax.py`), and
trains for the algorithm's epochs: each step one architecture update (of the
algorithm's `arch_order`) and one weight update, then the algorithm's
`after_step`. The algorithm (a `base.WeightSharingAlgorithm`) supplies the
optimizers, α's start, the mixing and the noise; the run records one history
entry per epoch and evaluates paths with the trained weights.

Example::

    run = SupernetRun(DARTS(order=2, epochs=1), space, (x, y))
    run.stepper.arch_gradients(x[:16], y[:16], x[16:32], y[16:32], run.noise(),
                               order=2, unrolled_lr=0.025)
    run.train()
    run.evaluate(run.net.dna_to_mixing(dna))   # {"loss": ..., "accuracy": ...}
"""

import importlib
import math
import time
from typing import Any, Dict, List, Optional

import keras
import numpy as np

from symbolic_automl.keras import spec as sk_spec
from symbolic_automl.oneshot.network import Supernet
from symbolic_automl.oneshot.supernet import build_supernet

_BACKENDS = ("tensorflow", "jax")


def backend_module():
    """The module holding the hand-written step for the current Keras backend."""
    backend = keras.backend.backend()
    if backend not in _BACKENDS:
        raise ValueError(
            f"Weight-sharing search runs on the {' and '.join(map(repr, _BACKENDS))} Keras "
            f"backends; the current backend is {backend!r} (set KERAS_BACKEND).")
    # By name: only the current backend's module (and framework) is imported.
    return importlib.import_module(f"symbolic_automl.oneshot.backend_{backend}")


def _training_value(evaluator, name, default=None):
    training = getattr(evaluator, "training", None)
    if isinstance(training, dict):
        return training.get(name, default)
    return getattr(training, name, default) if training is not None else default


def _evaluator_data(evaluator):
    """(x, y, validation_data) from a KerasEvaluator, or from an (x, y[, val]) tuple."""
    if isinstance(evaluator, (tuple, list)):
        x, y = evaluator[0], evaluator[1]
        return np.asarray(x), np.asarray(y), (evaluator[2] if len(evaluator) > 2 else None)
    try:
        x, y = evaluator.x, evaluator.y
    except AttributeError as e:
        raise TypeError(
            f"Weight-sharing search trains on the evaluator's data: expected an "
            f"evaluator with `.x` and `.y` (symbolic_automl.evaluators.KerasEvaluator) "
            f"or an (x, y) tuple, got {type(evaluator).__name__}.") from e
    return np.asarray(x), np.asarray(y), getattr(evaluator, "validation_data", None)


def softmax(values: np.ndarray) -> np.ndarray:
    """softmax of one vector of α, on the host."""
    e = np.exp(values - np.max(values))
    return e / e.sum()


class SupernetRun:
    """State of one weight-sharing search: supernet, data halves, stepper, history.

    Args:
      algorithm: a `base.WeightSharingAlgorithm`.
      space: a symbolic space, a define-by-run function, or a `Space`.
      evaluator: a `KerasEvaluator` or an `(x, y[, validation])` tuple.
      net: a supernet to train instead of `build_supernet(space)`.
    """

    def __init__(self, algorithm, space, evaluator, net: Optional[Supernet] = None):
        self.algorithm = algorithm
        self.rng = np.random.default_rng(algorithm.seed)
        self.net = net if net is not None else build_supernet(space)
        self.net.build_weights()
        x, y, self.validation_data = _evaluator_data(evaluator)
        order = self.rng.permutation(len(x))
        split = int(round(len(x) * algorithm.train_portion))
        if split < 1 or split >= len(x):
            raise ValueError(
                f"train_portion={algorithm.train_portion} leaves no data for the weights "
                f"or for the architecture ({len(x)} examples).")
        self.x_w, self.y_w = x[order[:split]], y[order[:split]]
        self.x_a, self.y_a = x[order[split:]], y[order[split:]]
        self.batch_size = (algorithm.batch_size or _training_value(evaluator, "batch_size")
                           or 64)
        self.batch_size = min(self.batch_size, len(self.x_w), len(self.x_a))
        steps = len(self.x_w) // self.batch_size
        if algorithm.steps_per_epoch:
            steps = min(steps, algorithm.steps_per_epoch)
        self.steps_per_epoch = max(1, steps)
        loss = algorithm.loss or _training_value(evaluator, "loss") or \
            "sparse_categorical_crossentropy"
        loss = sk_spec.to_keras_value(loss)
        self.loss_fn = keras.losses.get(loss) if isinstance(loss, (str, dict)) else loss
        loss_name = loss if isinstance(loss, str) else type(loss).__name__ + str(
            getattr(loss, "__name__", ""))
        self.classification = "crossentropy" in loss_name.lower()
        total_steps = algorithm.epochs * self.steps_per_epoch
        self.optimizers = algorithm.optimizers(total_steps)
        self.w_schedule = self.optimizers.learning_rate
        self.alphas = [
            keras.Variable(np.asarray(algorithm.initial_alpha(self.rng, c.num_candidates),
                                      "float32"), name=f"alpha_{i}")
            for i, c in enumerate(self.net.choice_points)]
        backend = keras.backend.backend()
        self.stepper = backend_module().Stepper(
            self.net, self.alphas, self.loss_fn, self.optimizers.weights,
            self.optimizers.architecture, algorithm.mixing, self.optimizers.grad_clip,
            self.optimizers.weight_decay, self.optimizers.arch_weight_decay,
            arch_rules=algorithm.arch_gradient_rules(backend))
        self.history: List[Dict[str, Any]] = []
        self.extra: Dict[str, Any] = {}
        self.global_step = 0

    def noise(self):
        progress = self.global_step / max(1, self.algorithm.epochs * self.steps_per_epoch)
        return self.algorithm.sample_noise(self.rng, self.stepper.alpha_values(), progress)

    def train(self):
        algorithm = self.algorithm
        for epoch in range(algorithm.epochs):
            start = time.time()
            perm_w = self.rng.permutation(len(self.x_w))
            perm_a = self.rng.permutation(len(self.x_a))
            losses, val_losses, extras = [], [], {}
            for step in range(self.steps_per_epoch):
                bs = self.batch_size
                idx_w = perm_w[step * bs:(step + 1) * bs]
                idx_a = perm_a[(step * bs) % max(1, len(self.x_a) - bs + 1):][:bs]
                x_tr, y_tr = self.x_w[idx_w], self.y_w[idx_w]
                x_val, y_val = self.x_a[idx_a], self.y_a[idx_a]
                lr = float(self.w_schedule(self.global_step))
                train_loss, val_loss = self.stepper.step(
                    x_tr, y_tr, x_val, y_val, self.noise(), self.noise(),
                    order=algorithm.arch_order, **algorithm.arch_gradient_options(lr))
                losses.append(train_loss)
                val_losses.append(val_loss)
                for k, v in algorithm.after_step(self, (x_val, y_val)).items():
                    extras.setdefault(k, []).append(v)
                self.global_step += 1
            if not all(math.isfinite(v) for v in losses):
                raise FloatingPointError(
                    f"Supernet training diverged in epoch {epoch}: train losses "
                    f"{losses[-3:]}; lower the weights' learning rate or check the data.")
            alphas = self.stepper.alpha_values()
            entry = {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "seconds": time.time() - start,
                "architecture": {
                    c.key: {"candidates": list(c.candidates),
                            "weights": [float(v) for v in w]}
                    for c, w in zip(self.net.choice_points,
                                    algorithm.architecture_weights(alphas))},
                "alphas": [[float(v) for v in a] for a in alphas],
            }
            if algorithm.arch_order:
                entry["val_loss"] = float(np.mean(val_losses))
            for k, v in extras.items():
                entry[k] = float(np.mean(v))
            self.history.append(entry)

    def evaluate(self, mixing, x=None, y=None, batch_size=256) -> Dict[str, float]:
        """Loss (and accuracy) of the supernet under fixed mixing weights."""
        x = self.x_a if x is None else x
        y = self.y_a if y is None else y
        preds = np.concatenate([self.stepper.predict(x[i:i + batch_size], mixing)
                                for i in range(0, len(x), batch_size)])
        loss = float(np.mean(keras.ops.convert_to_numpy(self.loss_fn(y, preds))))
        result = {"loss": loss}
        if self.classification and preds.ndim == 2 and preds.shape[-1] > 1:
            labels = y if y.ndim == 1 else np.argmax(y, -1)
            result["accuracy"] = float(np.mean(np.argmax(preds, -1) == labels))
        return result

    def batch_norm_layers(self) -> List[keras.layers.BatchNormalization]:
        """The supernet's batch-norm layers (shared by every path through them)."""
        return [layer for layer in self.net._flatten_layers()  # pylint: disable=protected-access
                if isinstance(layer, keras.layers.BatchNormalization)]

    def calibration_batches(self, num_batches: int) -> List[np.ndarray]:
        """The first `num_batches` batches of the weights' half (a fixed random subset)."""
        bs = self.batch_size
        return [self.x_w[i * bs:(i + 1) * bs]
                for i in range(min(num_batches, max(1, len(self.x_w) // bs)))]

    def recalibrate_batch_norm(self, mixing, num_batches: int) -> bool:
        """Sets every batch-norm layer's statistics to those of the path `mixing` selects.

        Shared batch-norm statistics average over all the paths trained; the SPOS
        paper recomputes them per candidate before evaluating it. Each statistic
        becomes the mean of its per-batch values over `calibration_batches`
        (PyTorch's cumulative average with `momentum=None`, as in the paper's code).

        Returns:
          False if the supernet has no batch-norm layer (nothing to do).
        """
        layers = self.batch_norm_layers()
        if not layers or num_batches < 1:
            return False
        position = {id(v): i for i, v in enumerate(self.net.non_trainable_variables)}
        indices = [position[id(v)] for layer in layers
                   for v in (layer.moving_mean, layer.moving_variance)]
        momenta = [layer.momentum for layer in layers]
        batches = self.calibration_batches(num_batches)
        sums = None
        try:
            # Momentum 0: after each pass a statistic holds this batch's value.
            for layer in layers:
                layer.momentum = 0.0
            for x in batches:
                self.stepper.forward_train(x, mixing)
                values = self.stepper.non_trainable_values(indices)
                sums = values if sums is None else [s + v for s, v in zip(sums, values)]
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum
        self.stepper.assign_non_trainable(indices, [s / len(batches) for s in sums])
        return True

    def inherited_metrics(self, dna) -> Dict[str, float]:
        """`val_*` metrics of `dna`'s path through the trained supernet."""
        data = self.validation_data
        if isinstance(data, (tuple, list)) and len(data) >= 2:
            x, y = np.asarray(data[0]), np.asarray(data[1])
        else:
            x, y = self.x_a, self.y_a
        metrics = self.evaluate(self.net.dna_to_mixing(dna), x, y)
        return {f"val_{k}": v for k, v in metrics.items()}
