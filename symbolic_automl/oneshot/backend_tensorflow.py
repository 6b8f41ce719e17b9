"""The hand-written supernet training step for the TensorFlow backend.

One `Stepper` per search. `step` does, on one pair of batches, the
architecture update (first order: ∇α L_val(w, α); second order: the unrolled
step of DARTS with the finite-difference Hessian-vector product) and then the
weight update (SGD, gradients clipped by global norm, L2 weight decay added
after clipping, as the reference's `nn.utils.clip_grad_norm_` + `SGD(weight_decay)`).
`backend_jax.py` implements the same interface with `jax.jit`.

The unrolled weights are the reference's w' = w − ξ (μ·buf + ∇w L_train + wd·w),
buf being SGD's momentum buffer. Keras's SGD keeps the velocity
v = μ·v − lr·g instead of PyTorch's buf = μ·buf + g, so buf = −v / lr and
w' = w + μ (ξ / lr) v − ξ (∇w L_train + wd·w); `base.momentum_scale` gives
μ ξ / lr, computed on the host.
"""

from typing import Callable, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from symbolic_automl.oneshot.base import momentum_scale


class Stepper:
    """Supernet + architecture parameters + their optimizers, stepped in TF graphs.

    Args:
      net: a built `Supernet`.
      alphas: one `keras.Variable` per choice point.
      loss_fn: `(y_true, y_pred) -> loss` (per sample or mean).
      w_optimizer, a_optimizer: Keras optimizers for weights and α.
      mixing_fn: `(alphas, noise) -> mixing weights`, in `keras.ops`.
      grad_clip, w_weight_decay, a_weight_decay: as in the DARTS paper.
    """

    def __init__(self, net, alphas, loss_fn, w_optimizer, a_optimizer,
                 mixing_fn: Callable, grad_clip: float, w_weight_decay: float,
                 a_weight_decay: float):
        self.net = net
        self.alphas = list(alphas)
        self.loss_fn = loss_fn
        self.w_optimizer = w_optimizer
        self.a_optimizer = a_optimizer
        self.mixing_fn = mixing_fn
        self.grad_clip = grad_clip
        self.w_weight_decay = w_weight_decay
        self.a_weight_decay = a_weight_decay
        self.weights = list(net.trainable_variables)
        w_optimizer.build(self.weights)
        a_optimizer.build(self.alphas)
        self._steps = {order: tf.function(self._make_step(order), reduce_retracing=True)
                       for order in (0, 1, 2)}
        self._predict = tf.function(self._predict_impl, reduce_retracing=True)
        self._forward_train = tf.function(self._forward_train_impl, reduce_retracing=True)

    # -- losses and gradients -------------------------------------------------

    def _loss(self, x, y, noise):
        mixing = self.mixing_fn(self.alphas, noise)
        pred = self.net(x, mixing, training=True)
        return tf.reduce_mean(self.loss_fn(y, pred))

    def _grads(self, loss_thunk, variables):
        with tf.GradientTape() as tape:
            loss = loss_thunk()
        grads = tape.gradient(loss, variables)
        return loss, [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]

    def _first_order(self, x_val, y_val, noise):
        return self._grads(lambda: self._loss(x_val, y_val, noise), self.alphas)

    def _second_order(self, x_tr, y_tr, x_val, y_val, noise, xi, v_scale):
        weights = self.weights
        backup = [tf.identity(w) for w in weights]
        _, g_train = self._grads(lambda: self._loss(x_tr, y_tr, noise), weights)
        # w' = w - ξ (μ buf + ∇w L_train(w, α) + wd w): the one-step unrolled
        # weights, with buf = -velocity / lr (see the module docstring).
        velocities = self._velocities()
        for w, b, g, v in zip(weights, backup, g_train, velocities):
            unrolled = b - xi * (g + self.w_weight_decay * b)
            w.assign(unrolled if v is None else unrolled + v_scale * v)
        with tf.GradientTape() as tape:
            val_loss = self._loss(x_val, y_val, noise)
        d_alpha, d_w = tape.gradient(val_loss, [self.alphas, weights])
        d_w = [tf.zeros_like(w) if g is None else g for g, w in zip(d_w, weights)]
        d_alpha = [tf.zeros_like(a) if g is None else g for g, a in zip(d_alpha, self.alphas)]
        # ε = 0.01 / ‖∇w' L_val(w', α)‖, as in the paper.
        eps = 0.01 / (tf.linalg.global_norm(d_w) + 1e-12)
        for w, b, d in zip(weights, backup, d_w):
            w.assign(b + eps * d)
        _, g_plus = self._grads(lambda: self._loss(x_tr, y_tr, noise), self.alphas)
        for w, b, d in zip(weights, backup, d_w):
            w.assign(b - eps * d)
        _, g_minus = self._grads(lambda: self._loss(x_tr, y_tr, noise), self.alphas)
        for w, b in zip(weights, backup):
            w.assign(b)
        grads = [da - xi * (gp - gm) / (2.0 * eps)
                 for da, gp, gm in zip(d_alpha, g_plus, g_minus)]
        return val_loss, grads

    def _velocities(self):
        """SGD's velocity per weight (None everywhere without momentum)."""
        # `w_optimizer.build(self.weights)` made them in the order of the weights.
        momentums = getattr(self.w_optimizer, "momentums", None) or []
        return list(momentums) if momentums else [None] * len(self.weights)

    def _make_step(self, order):
        def step(x_tr, y_tr, x_val, y_val, noise_arch, noise_weights, xi, v_scale):
            val_loss = tf.constant(0.0)
            if order == 1:
                val_loss, g_alpha = self._first_order(x_val, y_val, noise_arch)
            elif order == 2:
                val_loss, g_alpha = self._second_order(
                    x_tr, y_tr, x_val, y_val, noise_arch, xi, v_scale)
            if order:
                self.a_optimizer.apply(
                    [g + self.a_weight_decay * a for g, a in zip(g_alpha, self.alphas)],
                    self.alphas)
            train_loss, g_w = self._grads(
                lambda: self._loss(x_tr, y_tr, noise_weights), self.weights)
            g_w, _ = tf.clip_by_global_norm(g_w, self.grad_clip)
            self.w_optimizer.apply(
                [g + self.w_weight_decay * w for g, w in zip(g_w, self.weights)],
                self.weights)
            return train_loss, val_loss
        return step

    def _predict_impl(self, x, mixing):
        return self.net(x, mixing, training=False)

    def _forward_train_impl(self, x, mixing):
        self.net(x, mixing, training=True)

    # -- the interface shared with backend_jax ----------------------------------

    def step(self, x_tr, y_tr, x_val, y_val, noise_arch, noise_weights, *, order: int,
             unrolled_lr: float = 0.0, learning_rate: Optional[float] = None):
        """One architecture update (unless `order` is 0), then one weight update.

        `unrolled_lr` is ξ; `learning_rate` the weights' current learning rate
        (None: ξ itself, the paper's choice), which converts SGD's velocity into
        the reference's momentum buffer.
        """
        train_loss, val_loss = self._steps[order](
            x_tr, y_tr, x_val, y_val, [tf.constant(n) for n in noise_arch],
            [tf.constant(n) for n in noise_weights], tf.constant(unrolled_lr, tf.float32),
            tf.constant(momentum_scale(self.w_optimizer, unrolled_lr, learning_rate),
                        tf.float32))
        return float(train_loss), float(val_loss)

    def arch_gradients(self, x_tr, y_tr, x_val, y_val, noise, *, order: int,
                       unrolled_lr: float = 0.0,
                       learning_rate: Optional[float] = None) -> List[np.ndarray]:
        """∇α of the validation loss (first or second order), without any update."""
        if order == 1:
            _, grads = self._first_order(x_val, y_val, [tf.constant(n) for n in noise])
        else:
            _, grads = self._second_order(
                x_tr, y_tr, x_val, y_val, [tf.constant(n) for n in noise],
                tf.constant(unrolled_lr, tf.float32),
                tf.constant(momentum_scale(self.w_optimizer, unrolled_lr, learning_rate),
                            tf.float32))
        return [np.asarray(g) for g in grads]

    def predict(self, x, mixing: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(self._predict(x, [tf.constant(m) for m in mixing]))

    def forward_train(self, x, mixing: Sequence[np.ndarray]):
        """A training-mode forward pass: updates batch-norm statistics, not weights."""
        self._forward_train(x, [tf.constant(m) for m in mixing])

    def non_trainable_values(self, indices: Sequence[int]) -> List[np.ndarray]:
        variables = self.net.non_trainable_variables
        return [np.asarray(variables[i].numpy()) for i in indices]

    def assign_non_trainable(self, indices: Sequence[int], values: Sequence[np.ndarray]):
        variables = self.net.non_trainable_variables
        for i, value in zip(indices, values):
            variables[i].assign(value)

    def apply_arch_gradients(self, grads: Sequence[np.ndarray]):
        self.a_optimizer.apply(
            [tf.constant(g, tf.float32) + self.a_weight_decay * a
             for g, a in zip(grads, self.alphas)], self.alphas)

    def alpha_values(self) -> List[np.ndarray]:
        return [np.asarray(a.numpy()) for a in self.alphas]

    def sync(self):
        """Variables already hold the state on this backend."""
