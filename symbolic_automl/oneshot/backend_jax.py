"""The hand-written supernet training step for the JAX backend.

Same interface as `backend_tensorflow.Stepper`, over explicit state. Each
distinct gradient is one `jax.jit` of `value_and_grad` over (weights, α) with
Keras's stateless call: `grad_weights`, `grad_alphas` and `grad_both`, traced
once and reused by every order, beside small jitted updates (the two
optimizers' applies). A step calls them in sequence from Python, and so does
an architecture-gradient rule (e.g. DARTS' unrolled step), which jits its own
small pieces with `compiled`; each call is one XLA program, so a supernet pass
is still one launch rather than thousands of small kernels, and the per-call
dispatch is tiny next to it. (One program holding the five passes of a
second-order step took XLA minutes and ~20 GiB to compile on a CPU.) `traces`
counts the traces of each jitted function.

An architecture-gradient rule for order k is built once per stepper,
`rule = factory(stepper)`, and called as
`rule(state, x_tr, y_tr, x_val, y_val, noise, **options) -> (val_loss, nt, ∇α)`,
`nt` being the batch-norm state after the validation pass; `state` is
`stepper.state` (weights "w", "nt", "w_opt", "a", "a_opt") and stays unchanged.
"""

from typing import List, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from symbolic_automl.oneshot.stepper import BaseStepper


def _global_norm(tree):
    return jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in tree))


def _arrays(values, dtype=None):
    return [jnp.asarray(v, dtype) for v in values]


class Stepper(BaseStepper):
    """Supernet + architecture parameters + their optimizers, as jitted JAX state.

    Args: as `stepper.BaseStepper`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        net = self.net
        self.w_optimizer.build(net.trainable_variables)
        self.a_optimizer.build(self.alphas)
        self.state = {
            "w": [v.value for v in net.trainable_variables],
            "nt": [v.value for v in net.non_trainable_variables],
            "w_opt": [v.value for v in self.w_optimizer.variables],
            "a": [v.value for v in self.alphas],
            "a_opt": [v.value for v in self.a_optimizer.variables],
        }
        # (w, nt, a, x, y, noise) -> ((loss, nt), gradients wrt w, α or (α, w)).
        self.grad_weights = self.compiled("grad_weights", jax.value_and_grad(
            self._loss, argnums=0, has_aux=True))
        self.grad_alphas = self.compiled("grad_alphas", jax.value_and_grad(
            self._loss, argnums=2, has_aux=True))
        self.grad_both = self.compiled("grad_both", jax.value_and_grad(
            self._loss, argnums=(2, 0), has_aux=True))
        self._apply_weights = self.compiled("apply_weights", self._apply_weights_impl)
        self._apply_alphas = self.compiled("apply_alphas", self._apply_alphas_impl)
        self._predict = self.compiled("predict", self._predict_impl)
        self._forward_train = self.compiled("forward_train", self._forward_train_impl)
        self.build_rules()

    def _compile(self, fn):
        return jax.jit(fn)

    # -- pure functions of the state -------------------------------------------

    def _loss(self, w, nt, a, x, y, noise):
        mixing = self.mixing_fn(a, noise)
        pred, nt = self.net.stateless_call(w, nt, x, mixing, training=True)
        return jnp.mean(self.loss_fn(y, pred)), nt

    def _apply_weights_impl(self, w_opt, g_w, w):
        if self.grad_clip is not None:
            scale = jnp.minimum(1.0, self.grad_clip / (_global_norm(g_w) + 1e-6))
            g_w = [g * scale for g in g_w]
        g_w = [g + self.w_weight_decay * wi for g, wi in zip(g_w, w)]
        w, w_opt = self.w_optimizer.stateless_apply(w_opt, g_w, w)
        return w, w_opt

    def _apply_alphas_impl(self, a_opt, g_a, a):
        g_a = [g + self.a_weight_decay * ai for g, ai in zip(g_a, a)]
        a, a_opt = self.a_optimizer.stateless_apply(a_opt, g_a, a)
        return a, a_opt

    def _predict_impl(self, w, nt, x, mixing):
        return self.net.stateless_call(w, nt, x, mixing, training=False)[0]

    def _forward_train_impl(self, w, nt, x, mixing):
        return self.net.stateless_call(w, nt, x, mixing, training=True)[1]

    # -- the architecture gradients, from Python --------------------------------

    def _arch_grads(self, order, state, x_tr, y_tr, x_val, y_val, noise, options):
        """(validation loss, batch-norm state after it, ∇α L_val) of `state`."""
        if order == 1:
            (val_loss, nt), g_a = self.grad_alphas(state["w"], state["nt"], state["a"],
                                                   x_val, y_val, noise)
            return val_loss, nt, g_a
        return self.rule(order)(state, x_tr, y_tr, x_val, y_val, noise, **options)

    # -- the interface shared with backend_tensorflow ---------------------------

    def step(self, x_tr, y_tr, x_val, y_val, noise_arch, noise_weights, *, order: int,
             **options):
        """One architecture update (unless `order` is 0), then one weight update.

        `options` go to the architecture-gradient rule of `order` (DARTS'
        unrolled step takes `unrolled_lr` and `learning_rate`); order 1 needs none.
        """
        x_tr, y_tr, x_val, y_val = _arrays((x_tr, y_tr, x_val, y_val))
        state = dict(self.state)
        val_loss = 0.0
        if order:
            val_loss, state["nt"], g_a = self._arch_grads(
                order, state, x_tr, y_tr, x_val, y_val, _arrays(noise_arch), options)
            state["a"], state["a_opt"] = self._apply_alphas(state["a_opt"], g_a, state["a"])
        (train_loss, state["nt"]), g_w = self.grad_weights(
            state["w"], state["nt"], state["a"], x_tr, y_tr, _arrays(noise_weights))
        state["w"], state["w_opt"] = self._apply_weights(state["w_opt"], g_w, state["w"])
        self.state = state
        return float(train_loss), float(val_loss)

    def arch_gradients(self, x_tr, y_tr, x_val, y_val, noise, *, order: int,
                       **options) -> List[np.ndarray]:
        """∇α of the validation loss (first order or a rule's), without any update."""
        grads = self._arch_grads(order, self.state, *_arrays((x_tr, y_tr, x_val, y_val)),
                                 _arrays(noise), options)[2]
        return [np.asarray(g) for g in grads]

    def predict(self, x, mixing: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(self._predict(self.state["w"], self.state["nt"], x,
                                        _arrays(mixing)))

    def forward_train(self, x, mixing: Sequence[np.ndarray]):
        """A training-mode forward pass: updates batch-norm statistics, not weights."""
        self.state["nt"] = self._forward_train(self.state["w"], self.state["nt"], x,
                                               _arrays(mixing))

    def non_trainable_values(self, indices: Sequence[int]) -> List[np.ndarray]:
        return [np.asarray(self.state["nt"][i]) for i in indices]

    def assign_non_trainable(self, indices: Sequence[int], values: Sequence[np.ndarray]):
        nt = list(self.state["nt"])
        for i, value in zip(indices, values):
            nt[i] = jnp.asarray(value, nt[i].dtype)
        self.state["nt"] = nt

    def apply_arch_gradients(self, grads: Sequence[np.ndarray]):
        self.state["a"], self.state["a_opt"] = self._apply_alphas(
            self.state["a_opt"], _arrays(grads, jnp.float32), self.state["a"])

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
