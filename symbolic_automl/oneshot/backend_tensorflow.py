"""The hand-written supernet training step for the TensorFlow backend.

One `Stepper` per search. `step` does, on one pair of batches, the
architecture update (first order: ∇α L_val(w, α); second order: the unrolled
step of DARTS with the finite-difference Hessian-vector product) and then the
weight update (SGD, gradients clipped by global norm, L2 weight decay added
after clipping, as the reference's `nn.utils.clip_grad_norm_` + `SGD(weight_decay)`).
`backend_jax.py` implements the same interface with `jax.jit`.

Each distinct gradient is one `tf.function`, traced once and reused by every
order: `_grad_weights` (∇w L), `_grad_alphas` (∇α L) and `_grad_both` (∇α L and
∇w L in one backward pass), beside small compiled updates (unroll, shift,
restore, the two optimizers' applies). A step calls them in sequence from
Python. The second-order step is five passes over the supernet; one graph
holding all of them took minutes (grappler is superlinear in graph size) to
compile on a CPU, while second order now costs one trace (`_grad_both`) more
than first order. `traces` counts the traces of each compiled function.

The unrolled weights are the reference's w' = w − ξ (μ·buf + ∇w L_train + wd·w),
buf being SGD's momentum buffer. Keras's SGD keeps the velocity
v = μ·v − lr·g instead of PyTorch's buf = μ·buf + g, so buf = −v / lr and
w' = w + μ (ξ / lr) v − ξ (∇w L_train + wd·w); `base.momentum_scale` gives
μ ξ / lr, computed on the host.
"""

from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from symbolic_automl.oneshot.base import (
    counting_traces,
    finite_difference_eps,
    momentum_scale,
    unrolled_arch_gradients,
    unrolled_weights,
)


def _tensors(values, dtype=None):
    return [tf.convert_to_tensor(v, dtype) for v in values]


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
        self.traces: Dict[str, int] = {}

        def compiled(name, fn):
            return tf.function(counting_traces(self.traces, name, fn), reduce_retracing=True)

        # (x, y, noise) -> (mean loss, gradients wrt w, α or α + w).
        self._grad_weights = compiled("grad_weights", self._grad_weights_impl)
        self._grad_alphas = compiled("grad_alphas", self._grad_alphas_impl)
        self._grad_both = compiled("grad_both", self._grad_both_impl)
        self._apply_weights = compiled("apply_weights", self._apply_weights_impl)
        self._apply_alphas = compiled("apply_alphas", self._apply_alphas_impl)
        self._snapshot = compiled("snapshot", self._snapshot_impl)
        self._unroll = compiled("unroll", self._unroll_impl)
        self._eps = compiled("eps", finite_difference_eps)
        self._shift = compiled("shift", self._shift_impl)
        self._restore = compiled("restore", self._restore_impl)
        self._combine = compiled("combine", unrolled_arch_gradients)
        self._predict = compiled("predict", self._predict_impl)
        self._forward_train = compiled("forward_train", self._forward_train_impl)

    # -- the compiled pieces ----------------------------------------------------

    def _grads(self, x, y, noise, variables):
        """Mean loss and its gradients wrt `variables` (zeros where unconnected)."""
        with tf.GradientTape() as tape:
            mixing = self.mixing_fn(self.alphas, noise)
            loss = tf.reduce_mean(self.loss_fn(y, self.net(x, mixing, training=True)))
        grads = tape.gradient(loss, variables)
        return loss, [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]

    def _grad_weights_impl(self, x, y, noise):
        return self._grads(x, y, noise, self.weights)

    def _grad_alphas_impl(self, x, y, noise):
        return self._grads(x, y, noise, self.alphas)

    def _grad_both_impl(self, x, y, noise):
        return self._grads(x, y, noise, self.alphas + self.weights)

    def _apply_weights_impl(self, grads):
        grads, _ = tf.clip_by_global_norm(grads, self.grad_clip)
        self.w_optimizer.apply(
            [g + self.w_weight_decay * w for g, w in zip(grads, self.weights)], self.weights)

    def _apply_alphas_impl(self, grads):
        self.a_optimizer.apply(
            [g + self.a_weight_decay * a for g, a in zip(grads, self.alphas)], self.alphas)

    def _snapshot_impl(self):
        return [tf.identity(w) for w in self.weights]

    def _unroll_impl(self, backup, g_train, xi, v_scale):
        for w, u in zip(self.weights, unrolled_weights(
                backup, g_train, self._velocities(), xi, self.w_weight_decay, v_scale)):
            w.assign(u)

    def _shift_impl(self, backup, direction, scale):
        for w, b, d in zip(self.weights, backup, direction):
            w.assign(b + scale * d)

    def _restore_impl(self, backup):
        for w, b in zip(self.weights, backup):
            w.assign(b)

    def _velocities(self):
        """SGD's velocity per weight (None everywhere without momentum)."""
        # `w_optimizer.build(self.weights)` made them in the order of the weights.
        momentums = getattr(self.w_optimizer, "momentums", None) or []
        return list(momentums) if momentums else [None] * len(self.weights)

    def _predict_impl(self, x, mixing):
        return self.net(x, mixing, training=False)

    def _forward_train_impl(self, x, mixing):
        self.net(x, mixing, training=True)

    # -- the architecture gradients, from Python --------------------------------

    def _second_order(self, x_tr, y_tr, x_val, y_val, noise, xi, v_scale):
        """The unrolled ∇α L_val(w', α); the weights are w again on return."""
        backup = self._snapshot()
        _, g_train = self._grad_weights(x_tr, y_tr, noise)
        self._unroll(backup, g_train, xi, v_scale)
        val_loss, grads = self._grad_both(x_val, y_val, noise)
        d_alpha, d_w = grads[:len(self.alphas)], grads[len(self.alphas):]
        eps = self._eps(d_w)
        self._shift(backup, d_w, eps)
        _, g_plus = self._grad_alphas(x_tr, y_tr, noise)
        self._shift(backup, d_w, -eps)
        _, g_minus = self._grad_alphas(x_tr, y_tr, noise)
        self._restore(backup)
        return val_loss, self._combine(d_alpha, g_plus, g_minus, xi, eps)

    def _arch_grads(self, order, x_tr, y_tr, x_val, y_val, noise, unrolled_lr,
                    learning_rate):
        if order == 1:
            return self._grad_alphas(x_val, y_val, noise)
        return self._second_order(
            x_tr, y_tr, x_val, y_val, noise, tf.constant(unrolled_lr, tf.float32),
            tf.constant(momentum_scale(self.w_optimizer, unrolled_lr, learning_rate),
                        tf.float32))

    # -- the interface shared with backend_jax ----------------------------------

    def step(self, x_tr, y_tr, x_val, y_val, noise_arch, noise_weights, *, order: int,
             unrolled_lr: float = 0.0, learning_rate: Optional[float] = None):
        """One architecture update (unless `order` is 0), then one weight update.

        `unrolled_lr` is ξ; `learning_rate` the weights' current learning rate
        (None: ξ itself, the paper's choice), which converts SGD's velocity into
        the reference's momentum buffer.
        """
        x_tr, y_tr, x_val, y_val = _tensors((x_tr, y_tr, x_val, y_val))
        val_loss = 0.0
        if order:
            val_loss, g_alpha = self._arch_grads(order, x_tr, y_tr, x_val, y_val,
                                                 _tensors(noise_arch), unrolled_lr,
                                                 learning_rate)
            self._apply_alphas(g_alpha)
        train_loss, g_w = self._grad_weights(x_tr, y_tr, _tensors(noise_weights))
        self._apply_weights(g_w)
        return float(train_loss), float(val_loss)

    def arch_gradients(self, x_tr, y_tr, x_val, y_val, noise, *, order: int,
                       unrolled_lr: float = 0.0,
                       learning_rate: Optional[float] = None) -> List[np.ndarray]:
        """∇α of the validation loss (first or second order), without any update."""
        _, grads = self._arch_grads(order, *_tensors((x_tr, y_tr, x_val, y_val)),
                                    _tensors(noise), unrolled_lr, learning_rate)
        return [np.asarray(g) for g in grads]

    def predict(self, x, mixing: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(self._predict(x, _tensors(mixing)))

    def forward_train(self, x, mixing: Sequence[np.ndarray]):
        """A training-mode forward pass: updates batch-norm statistics, not weights."""
        self._forward_train(x, _tensors(mixing))

    def non_trainable_values(self, indices: Sequence[int]) -> List[np.ndarray]:
        variables = self.net.non_trainable_variables
        return [np.asarray(variables[i].numpy()) for i in indices]

    def assign_non_trainable(self, indices: Sequence[int], values: Sequence[np.ndarray]):
        variables = self.net.non_trainable_variables
        for i, value in zip(indices, values):
            variables[i].assign(value)

    def apply_arch_gradients(self, grads: Sequence[np.ndarray]):
        self._apply_alphas(_tensors(grads, tf.float32))

    def alpha_values(self) -> List[np.ndarray]:
        return [np.asarray(a.numpy()) for a in self.alphas]

    def sync(self):
        """Variables already hold the state on this backend."""
