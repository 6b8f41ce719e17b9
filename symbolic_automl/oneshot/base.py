"""`WeightSharingAlgorithm`: search a space by training its supernet once.

A weight-sharing algorithm is a small symbolic object (so it is stored and
printed like any other search setting) that decides three things; the supernet
training loop in `search` does the rest:

* how each choice point mixes its candidates during training (`mixing`):
  softmax(α) for DARTS, a straight-through Gumbel one-hot for GDAS, a sampled
  one-hot for SPOS and REINFORCE;
* how α learns (`arch_order`: 0 none, 1 first-order gradient, 2 DARTS'
  unrolled second order; or `after_step` for REINFORCE's policy gradient);
* how the final architecture is read off (`derive`: argmax per choice by
  default; the DARTS cell keeps the two strongest edges per node).

`search(space, evaluator)` returns a `SearchOutcome` with the derived `pg.DNA`
for the space's `pg.DNASpec` and a per-epoch history (losses, softmax(α) per
choice point), which `symbolic_automl.search` stores and then materializes,
optionally retrains with the evaluator (`retrain=True`) and records as an
ordinary trial. The space may be symbolic or a define-by-run function (then
the DNA fits `pg.hyper.trace(fn, require_hyper_name=True).dna_spec`, and the
function re-run under that DNA builds the model); see `supernet.py` for what
can be relaxed.

Example::

    from symbolic_automl.algorithms.weight_sharing import DARTS
    outcome = DARTS(epochs=5).search(space, evaluator)   # or via symbolic_automl.search
    model = pg.materialize(space, outcome.dna)
    model = symbolic_automl.space.Space(build).materialize(outcome.dna)  # define-by-run
"""

import dataclasses
import functools
import math
import time
from typing import Any, Dict, List, Optional, Sequence

import keras
import numpy as np
import pyglove as pg

from symbolic_automl.keras import spec as sk_spec
from symbolic_automl.oneshot.supernet import Supernet, build_supernet


@dataclasses.dataclass
class SearchOutcome:
    """What a weight-sharing search returns.

    Attributes:
      dna: the derived architecture, a `pg.DNA` of `pg.dna_spec(space)`.
      history: one JSON-able dict per epoch (losses, architecture weights).
      supernet: the trained supernet (weights can be inherited).
      alphas: final architecture parameters, one array per choice point.
      metrics: the derived architecture's `val_loss` (and `val_accuracy`) with
        the supernet's inherited weights, on the evaluator's validation data if
        it has any, else on the architecture half of the training data.
      extra: algorithm-specific results (e.g. SPOS's evaluated candidates).
    """

    dna: pg.DNA
    history: List[Dict[str, Any]]
    supernet: Optional[Supernet] = None
    alphas: Optional[List[np.ndarray]] = None
    metrics: Dict[str, float] = dataclasses.field(default_factory=dict)
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)


def backend_module():
    """The module holding the hand-written step for the current Keras backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from symbolic_automl.oneshot import backend_tensorflow as module  # pylint: disable=g-import-not-at-top
    elif backend == "jax":
        from symbolic_automl.oneshot import backend_jax as module  # pylint: disable=g-import-not-at-top
    else:
        raise NotImplementedError(
            f"Weight-sharing search runs on the 'tensorflow' and 'jax' Keras backends; "
            f"the current backend is {backend!r} (set KERAS_BACKEND).")
    return module


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


def momentum_scale(w_optimizer, unrolled_lr: float, learning_rate: Optional[float]) -> float:
    """μ ξ / lr: the factor of SGD's velocity in the unrolled weights (0 if ξ = 0)."""
    momentum = float(getattr(w_optimizer, "momentum", 0.0) or 0.0)
    if not unrolled_lr or not momentum:
        return 0.0
    if learning_rate is None:
        return momentum
    return momentum * unrolled_lr / learning_rate if learning_rate > 0 else 0.0


def unrolled_weights(weights, grads, velocities, xi, weight_decay, v_scale):
    """DARTS' one-step unrolled weights w' = w − ξ (∇w L_train + wd·w) + (μ ξ / lr)·v.

    `velocities` holds SGD's velocity per weight (None without momentum) and
    `v_scale` is `momentum_scale`: w' is then the reference's
    w − ξ (μ·buf + ∇w L_train + wd·w) with buf = −v / lr. Backend-neutral
    arithmetic on lists of tensors.
    """
    unrolled = [w - xi * (g + weight_decay * w) for w, g in zip(weights, grads)]
    return [u if v is None else u + v_scale * v for u, v in zip(unrolled, velocities)]


def finite_difference_eps(direction):
    """ε = 0.01 / ‖∇w' L_val(w', α)‖ of the Hessian-vector product, as in the paper."""
    norm = keras.ops.sqrt(sum(keras.ops.sum(keras.ops.square(d)) for d in direction))
    return 0.01 / (norm + 1e-12)


def unrolled_arch_gradients(d_alpha, g_plus, g_minus, xi, eps):
    """∇α L_val(w', α) − ξ (∇α L_train(w⁺, α) − ∇α L_train(w⁻, α)) / 2ε."""
    return [da - xi * (gp - gm) / (2.0 * eps) for da, gp, gm in zip(d_alpha, g_plus, g_minus)]


def counting_traces(counts: Dict[str, int], name: str, fn):
    """`fn`, counting in `counts[name]` each time it runs: under a compiler, each trace."""

    # wraps: TF's retracing warning keys on the code found through __wrapped__;
    # without it every function wrapped here would count as one.
    @functools.wraps(fn)
    def traced(*args):
        counts[name] = counts.get(name, 0) + 1
        return fn(*args)

    return traced


def softmax(values: np.ndarray) -> np.ndarray:
    e = np.exp(values - np.max(values))
    return e / e.sum()


@pg.members([
    ("epochs", pg.typing.Int(min_value=1, default=10), "Supernet training epochs."),
    ("batch_size", pg.typing.Int(min_value=1).noneable(),
     "Batch size; None: the evaluator's, else 64."),
    ("steps_per_epoch", pg.typing.Int(min_value=1).noneable(),
     "Cap on steps per epoch; None: one pass over the weights' half of the data."),
    ("train_portion", pg.typing.Float(min_value=0.05, max_value=0.95, default=0.5),
     "Share of the training data for weights; the rest trains the architecture."),
    ("retrain", pg.typing.Bool(default=False),
     "Retrain the derived architecture from scratch with the evaluator."),
    ("seed", pg.typing.Int(default=0), "Seed of α's initialization, splits and sampling."),
    ("loss", pg.typing.Any(default=None),
     "Loss (name or callable); None: the evaluator's training loss."),
    ("w_learning_rate", pg.typing.Float(min_value=0.0, default=0.025),
     "SGD learning rate of the weights (cosine decay to `w_learning_rate_min`)."),
    ("w_learning_rate_min", pg.typing.Float(min_value=0.0, default=0.001), ""),
    ("w_momentum", pg.typing.Float(min_value=0.0, default=0.9), ""),
    ("w_weight_decay", pg.typing.Float(min_value=0.0, default=3e-4), ""),
    ("grad_clip", pg.typing.Float(min_value=0.0, default=5.0),
     "Global-norm clip of the weights' gradients."),
    ("a_learning_rate", pg.typing.Float(min_value=0.0, default=3e-4),
     "Adam learning rate of the architecture parameters."),
    ("a_beta_1", pg.typing.Float(default=0.5), ""),
    ("a_beta_2", pg.typing.Float(default=0.999), ""),
    ("a_weight_decay", pg.typing.Float(min_value=0.0, default=1e-3),
     "L2 weight decay of α (added to the gradient, as PyTorch's Adam does)."),
    ("init_scale", pg.typing.Float(min_value=0.0, default=1e-3),
     "α starts as init_scale × N(0, 1), as in the reference."),
])
class WeightSharingAlgorithm(pg.Object):
    """Base of DARTS, GDAS, REINFORCE and SPOS; see the module docstring."""

    # 0: α gets no gradient update; 1: first order; 2: unrolled second order.
    arch_order = 1

    # -- hooks ----------------------------------------------------------------

    def mixing(self, alphas, noise):
        """Mixing weights per choice point from α and this step's noise (keras.ops)."""
        return [keras.ops.softmax(a) for a in alphas]

    def sample_noise(self, rng: np.random.Generator, alphas: Sequence[np.ndarray],
                     progress: float):
        """Per-choice noise for one forward pass, drawn on the host.

        `progress` runs from 0 to 1 over the training (for annealing).
        """
        return [np.zeros(a.shape, "float32") for a in alphas]

    def unrolled_learning_rate(self, current_lr: float) -> float:
        return current_lr

    def after_step(self, run: "SupernetRun", batch_val) -> Dict[str, float]:
        """Called after each step; REINFORCE updates its policy here."""
        return {}

    def architecture_weights(self, alphas: Sequence[np.ndarray]) -> List[np.ndarray]:
        """What the history records per choice point: softmax(α) by default."""
        return [softmax(a) for a in alphas]

    def derive(self, run: "SupernetRun") -> pg.DNA:
        return run.net.derive(self.architecture_weights(run.stepper.alpha_values()))

    # -- the loop ---------------------------------------------------------------

    def search(self, space, evaluator) -> SearchOutcome:
        """Trains the space's supernet on the evaluator's data; derives a DNA.

        Args:
          space: a symbolic space, a define-by-run function, or a `Space`.
          evaluator: a `KerasEvaluator` (its `x`, `y`, `validation_data` and
            training loss/batch size are used) or an `(x, y[, validation])` tuple.

        Returns:
          A `SearchOutcome`.
        """
        run = SupernetRun(self, space, evaluator)
        run.train()
        dna = self.derive(run)
        run.stepper.sync()
        return SearchOutcome(dna=dna, history=run.history, supernet=run.net,
                             alphas=run.stepper.alpha_values(),
                             metrics=run.inherited_metrics(dna), extra=run.extra)


class SupernetRun:
    """State of one weight-sharing search: supernet, data halves, stepper, history."""

    def __init__(self, algorithm: WeightSharingAlgorithm, space, evaluator,
                 net: Optional[Supernet] = None):
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
        self.w_schedule = keras.optimizers.schedules.CosineDecay(
            algorithm.w_learning_rate, decay_steps=total_steps,
            alpha=(algorithm.w_learning_rate_min / algorithm.w_learning_rate
                   if algorithm.w_learning_rate else 0.0))
        w_optimizer = keras.optimizers.SGD(self.w_schedule, momentum=algorithm.w_momentum)
        a_optimizer = keras.optimizers.Adam(algorithm.a_learning_rate,
                                            beta_1=algorithm.a_beta_1,
                                            beta_2=algorithm.a_beta_2)
        self.alphas = [
            keras.Variable(
                (algorithm.init_scale * self.rng.standard_normal(c.num_candidates))
                .astype("float32"), name=f"alpha_{i}")
            for i, c in enumerate(self.net.choice_points)]
        self.stepper = backend_module().Stepper(
            self.net, self.alphas, self.loss_fn, w_optimizer, a_optimizer,
            algorithm.mixing, algorithm.grad_clip, algorithm.w_weight_decay,
            algorithm.a_weight_decay)
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
                    order=algorithm.arch_order,
                    unrolled_lr=algorithm.unrolled_learning_rate(lr), learning_rate=lr)
                losses.append(train_loss)
                val_losses.append(val_loss)
                for k, v in algorithm.after_step(self, (x_val, y_val)).items():
                    extras.setdefault(k, []).append(v)
                self.global_step += 1
            if not all(math.isfinite(v) for v in losses):
                raise FloatingPointError(
                    f"Supernet training diverged in epoch {epoch}: train losses "
                    f"{losses[-3:]}; lower w_learning_rate or check the data.")
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
