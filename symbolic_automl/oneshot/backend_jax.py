"""The hand-written supernet training step for the JAX backend.

Same interface as `backend_tensorflow.Stepper`. The whole step (architecture
update, first or second order, then the weight update) is one `jax.jit`-compiled
function over explicit state, so a DARTS step is one XLA program rather than
thousands of small kernel launches.
"""

import functools
from typing import Callable, List, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from symbolic_automl.oneshot.base import momentum_scale


def _global_norm(tree):
    return jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in tree))


class Stepper:
    """Supernet + architecture parameters + their optimizers, as jitted JAX state.

    Args: as `backend_tensorflow.Stepper`.
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
        w_optimizer.build(net.trainable_variables)
        a_optimizer.build(self.alphas)
        # Where SGD's velocity of each weight sits in the optimizer's state.
        position = {id(v): i for i, v in enumerate(w_optimizer.variables)}
        momentums = list(getattr(w_optimizer, "momentums", None) or [])
        self._velocity_index = [position[id(m)] for m in momentums] or None
        self.state = {
            "w": [v.value for v in net.trainable_variables],
            "nt": [v.value for v in net.non_trainable_variables],
            "w_opt": [v.value for v in w_optimizer.variables],
            "a": [v.value for v in self.alphas],
            "a_opt": [v.value for v in a_optimizer.variables],
        }
        self._steps = {order: jax.jit(functools.partial(self._step, order))
                       for order in (0, 1, 2)}
        self._predict = jax.jit(self._predict_impl)
        self._forward_train = jax.jit(self._forward_train_impl)
        self._arch_grads = {order: jax.jit(functools.partial(self._arch_grads_impl, order))
                            for order in (1, 2)}

    # -- pure functions of the state -------------------------------------------

    def _loss(self, w, nt, a, x, y, noise):
        mixing = self.mixing_fn(a, noise)
        pred, nt = self.net.stateless_call(w, nt, x, mixing, training=True)
        return jnp.mean(self.loss_fn(y, pred)), nt

    def _first_order(self, w, nt, a, x_val, y_val, noise):
        (val_loss, nt), g_a = jax.value_and_grad(
            lambda a_: self._loss(w, nt, a_, x_val, y_val, noise), has_aux=True)(a)
        return val_loss, nt, g_a

    def _second_order(self, w, nt, a, w_opt, x_tr, y_tr, x_val, y_val, noise, xi, v_scale):
        train_loss_of = lambda w_, a_: self._loss(w_, nt, a_, x_tr, y_tr, noise)[0]
        g_train = jax.grad(train_loss_of)(w, a)
        # w' = w - ξ (μ buf + ∇w L_train(w, α) + wd w): the one-step unrolled
        # weights, with the reference's buf = -velocity / lr (backend_tensorflow).
        w_prime = [wi - xi * (g + self.w_weight_decay * wi) for wi, g in zip(w, g_train)]
        if self._velocity_index is not None:
            w_prime = [wp + v_scale * w_opt[i] for wp, i in zip(w_prime, self._velocity_index)]
        (val_loss, nt), (g_a, d_w) = jax.value_and_grad(
            lambda a_, w_: self._loss(w_, nt, a_, x_val, y_val, noise),
            argnums=(0, 1), has_aux=True)(a, w_prime)
        # ε = 0.01 / ‖∇w' L_val(w', α)‖, as in the paper.
        eps = 0.01 / (_global_norm(d_w) + 1e-12)
        w_plus = [wi + eps * d for wi, d in zip(w, d_w)]
        w_minus = [wi - eps * d for wi, d in zip(w, d_w)]
        g_plus = jax.grad(train_loss_of, argnums=1)(w_plus, a)
        g_minus = jax.grad(train_loss_of, argnums=1)(w_minus, a)
        g_a = [g - xi * (p - m) / (2.0 * eps) for g, p, m in zip(g_a, g_plus, g_minus)]
        return val_loss, nt, g_a

    def _arch_grads_impl(self, order, state, x_tr, y_tr, x_val, y_val, noise, xi, v_scale):
        if order == 1:
            return self._first_order(state["w"], state["nt"], state["a"], x_val, y_val,
                                     noise)[2]
        return self._second_order(state["w"], state["nt"], state["a"], state["w_opt"],
                                  x_tr, y_tr, x_val, y_val, noise, xi, v_scale)[2]

    def _step(self, order, state, x_tr, y_tr, x_val, y_val, noise_arch, noise_weights, xi,
              v_scale):
        w, nt, a, a_opt = state["w"], state["nt"], state["a"], state["a_opt"]
        val_loss = jnp.zeros(())
        if order:
            if order == 1:
                val_loss, nt, g_a = self._first_order(w, nt, a, x_val, y_val, noise_arch)
            else:
                val_loss, nt, g_a = self._second_order(
                    w, nt, a, state["w_opt"], x_tr, y_tr, x_val, y_val, noise_arch, xi,
                    v_scale)
            g_a = [g + self.a_weight_decay * ai for g, ai in zip(g_a, a)]
            a, a_opt = self.a_optimizer.stateless_apply(a_opt, g_a, a)
        (train_loss, nt), g_w = jax.value_and_grad(
            lambda w_: self._loss(w_, nt, a, x_tr, y_tr, noise_weights), has_aux=True)(w)
        scale = jnp.minimum(1.0, self.grad_clip / (_global_norm(g_w) + 1e-6))
        g_w = [g * scale + self.w_weight_decay * wi for g, wi in zip(g_w, w)]
        w, w_opt = self.w_optimizer.stateless_apply(state["w_opt"], g_w, w)
        new_state = {"w": w, "nt": nt, "w_opt": w_opt, "a": a, "a_opt": a_opt}
        return new_state, train_loss, val_loss

    def _predict_impl(self, w, nt, x, mixing):
        return self.net.stateless_call(w, nt, x, mixing, training=False)[0]

    def _forward_train_impl(self, w, nt, x, mixing):
        return self.net.stateless_call(w, nt, x, mixing, training=True)[1]

    # -- the interface shared with backend_tensorflow ---------------------------

    def step(self, x_tr, y_tr, x_val, y_val, noise_arch, noise_weights, *, order: int,
             unrolled_lr: float = 0.0, learning_rate: Optional[float] = None):
        """One architecture update (unless `order` is 0), then one weight update.

        `unrolled_lr` is ξ; `learning_rate` the weights' current learning rate
        (None: ξ), which turns SGD's velocity into the reference's momentum buffer.
        """
        self.state, train_loss, val_loss = self._steps[order](
            self.state, x_tr, y_tr, x_val, y_val, list(noise_arch), list(noise_weights),
            jnp.float32(unrolled_lr),
            jnp.float32(momentum_scale(self.w_optimizer, unrolled_lr, learning_rate)))
        return float(train_loss), float(val_loss)

    def arch_gradients(self, x_tr, y_tr, x_val, y_val, noise, *, order: int,
                       unrolled_lr: float = 0.0,
                       learning_rate: Optional[float] = None) -> List[np.ndarray]:
        """∇α of the validation loss (first or second order), without any update."""
        grads = self._arch_grads[order](
            self.state, x_tr, y_tr, x_val, y_val, list(noise), jnp.float32(unrolled_lr),
            jnp.float32(momentum_scale(self.w_optimizer, unrolled_lr, learning_rate)))
        return [np.asarray(g) for g in grads]

    def predict(self, x, mixing: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(self._predict(self.state["w"], self.state["nt"], x,
                                        [jnp.asarray(m) for m in mixing]))

    def forward_train(self, x, mixing: Sequence[np.ndarray]):
        """A training-mode forward pass: updates batch-norm statistics, not weights."""
        self.state["nt"] = self._forward_train(self.state["w"], self.state["nt"], x,
                                               [jnp.asarray(m) for m in mixing])

    def non_trainable_values(self, indices: Sequence[int]) -> List[np.ndarray]:
        return [np.asarray(self.state["nt"][i]) for i in indices]

    def assign_non_trainable(self, indices: Sequence[int], values: Sequence[np.ndarray]):
        nt = list(self.state["nt"])
        for i, value in zip(indices, values):
            nt[i] = jnp.asarray(value, nt[i].dtype)
        self.state["nt"] = nt

    def apply_arch_gradients(self, grads: Sequence[np.ndarray]):
        a = self.state["a"]
        grads = [jnp.asarray(g, jnp.float32) + self.a_weight_decay * ai
                 for g, ai in zip(grads, a)]
        self.state["a"], self.state["a_opt"] = self.a_optimizer.stateless_apply(
            self.state["a_opt"], grads, a)

    def alpha_values(self) -> List[np.ndarray]:
        return [np.asarray(a) for a in self.state["a"]]

    def sync(self):
        """Writes the jitted state back into the Keras variables."""
        for variables, key in ((self.net.trainable_variables, "w"),
                               (self.net.non_trainable_variables, "nt"),
                               (self.w_optimizer.variables, "w_opt"),
                               (self.alphas, "a"), (self.a_optimizer.variables, "a_opt")):
            for v, value in zip(variables, self.state[key]):
                v.assign(value)
