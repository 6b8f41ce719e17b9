"""The hand-written supernet training step for the TensorFlow backend.

One `Stepper` per search. `step` does, on one pair of batches, the
architecture update (first order: ∇α L_val(w, α); a higher order: the rule the
algorithm supplies, e.g. DARTS' unrolled step in
`symbolic_automl.algorithms.weight_sharing.darts_unrolled`) and then the
weight update (the algorithm's optimizer; gradients clipped by global norm, L2
weight decay added after clipping, as PyTorch's `nn.utils.clip_grad_norm_` +
`SGD(weight_decay)`). `backend_jax.py` implements the same interface with
`jax.jit`.

Each distinct gradient is one `tf.function`, traced once and reused by every
order: `grad_weights` (∇w L), `grad_alphas` (∇α L) and `grad_both` (∇α L and
∇w L in one backward pass), beside small compiled updates (the two
optimizers' applies). A step calls them in sequence from Python, and so does
an architecture-gradient rule, which compiles its own small pieces with
`compiled` (one graph holding a whole second-order step took minutes to
compile on a CPU: grappler is superlinear in graph size). `traces` counts the
traces of each compiled function.

An architecture-gradient rule for order k is built once per stepper,
`rule = factory(stepper)`, and called as
`rule(x_tr, y_tr, x_val, y_val, noise, **options) -> (val_loss, ∇α)` with the
options `step` got; it may move `stepper.weights` but leaves them as they were.
"""

from typing import List, Sequence

import numpy as np
import tensorflow as tf

from symbolic_automl.oneshot.stepper import BaseStepper


def _tensors(values, dtype=None):
    return [tf.convert_to_tensor(v, dtype) for v in values]


class Stepper(BaseStepper):
    """Supernet + architecture parameters + their optimizers, stepped in TF graphs.

    Args: as `stepper.BaseStepper`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.weights = list(self.net.trainable_variables)
        self.w_optimizer.build(self.weights)
        self.a_optimizer.build(self.alphas)
        # (x, y, noise) -> (mean loss, gradients wrt w, α or α + w).
        self.grad_weights = self.compiled("grad_weights", self._grad_weights_impl)
        self.grad_alphas = self.compiled("grad_alphas", self._grad_alphas_impl)
        self.grad_both = self.compiled("grad_both", self._grad_both_impl)
        self._apply_weights = self.compiled("apply_weights", self._apply_weights_impl)
        self._apply_alphas = self.compiled("apply_alphas", self._apply_alphas_impl)
        self._predict = self.compiled("predict", self._predict_impl)
        self._forward_train = self.compiled("forward_train", self._forward_train_impl)
        self.build_rules()

    def _compile(self, fn):
        return tf.function(fn, reduce_retracing=True)

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
        if self.grad_clip is not None:
            grads, _ = tf.clip_by_global_norm(grads, self.grad_clip)
        self.w_optimizer.apply(
            [g + self.w_weight_decay * w for g, w in zip(grads, self.weights)], self.weights)

    def _apply_alphas_impl(self, grads):
        self.a_optimizer.apply(
            [g + self.a_weight_decay * a for g, a in zip(grads, self.alphas)], self.alphas)

    def _predict_impl(self, x, mixing):
        return self.net(x, mixing, training=False)

    def _forward_train_impl(self, x, mixing):
        self.net(x, mixing, training=True)

    # -- the architecture gradients, from Python --------------------------------

    def _arch_grads(self, order, x_tr, y_tr, x_val, y_val, noise, options):
        if order == 1:
            return self.grad_alphas(x_val, y_val, noise)
        return self.rule(order)(x_tr, y_tr, x_val, y_val, noise, **options)

    # -- the interface shared with backend_jax ----------------------------------

    def step(self, x_tr, y_tr, x_val, y_val, noise_arch, noise_weights, *, order: int,
             **options):
        """One architecture update (unless `order` is 0), then one weight update.

        `options` go to the architecture-gradient rule of `order` (DARTS'
        unrolled step takes `unrolled_lr` and `learning_rate`); order 1 needs none.
        """
        x_tr, y_tr, x_val, y_val = _tensors((x_tr, y_tr, x_val, y_val))
        val_loss = 0.0
        if order:
            val_loss, g_alpha = self._arch_grads(order, x_tr, y_tr, x_val, y_val,
                                                 _tensors(noise_arch), options)
            self._apply_alphas(g_alpha)
        train_loss, g_w = self.grad_weights(x_tr, y_tr, _tensors(noise_weights))
        self._apply_weights(g_w)
        return float(train_loss), float(val_loss)

    def arch_gradients(self, x_tr, y_tr, x_val, y_val, noise, *, order: int,
                       **options) -> List[np.ndarray]:
        """∇α of the validation loss (first order or a rule's), without any update."""
        _, grads = self._arch_grads(order, *_tensors((x_tr, y_tr, x_val, y_val)),
                                    _tensors(noise), options)
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
