"""DARTS' second-order architecture gradient: the unrolled step, one function per backend.

The gradient of L_val(w', α) with w' one SGD step of the weights ahead,

    ∇α L_val(w', α) − ξ ∇²α,w L_train(w, α) ∇w' L_val(w', α),

takes the Hessian-vector product by central finite differences,
(∇α L_train(w⁺, α) − ∇α L_train(w⁻, α)) / 2ε with w± = w ± ε ∇w' L_val(w', α)
and ε = 0.01 / ‖∇w' L_val(w', α)‖, as in the paper and the reference
(`architect.py`).

The unrolled weights are the reference's w' = w − ξ (μ·buf + ∇w L_train + wd·w),
buf being SGD's momentum buffer. Keras's SGD keeps the velocity
v = μ·v − lr·g instead of PyTorch's buf = μ·buf + g, so buf = −v / lr and
w' = w + μ (ξ / lr) v − ξ (∇w L_train + wd·w); `momentum_scale` gives μ ξ / lr,
computed on the host.

The arithmetic is backend-neutral (lists of tensors, `keras.ops`); what differs
per backend is one small function each, `tensorflow_rule` and `jax_rule`,
which build the rule a `Stepper` of `symbolic_automl.oneshot.backend_*` calls
for order 2 (see those modules for the rule's contract). Each composes the
stepper's shared gradient functions with a few small compiled updates, so
second order costs one trace (`grad_both`) more than first order.

Example::

    rules = {2: RULES[keras.backend.backend()]}   # what DARTS.arch_gradient_rules gives
    stepper.arch_gradients(x, y, x_val, y_val, noise, order=2, unrolled_lr=0.025,
                           learning_rate=0.025)
"""

from typing import Callable, Dict, Optional

import keras


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
    w − ξ (μ·buf + ∇w L_train + wd·w) with buf = −v / lr.
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


def _scalars(stepper, unrolled_lr, learning_rate):
    """ξ and μ ξ / lr as float32 tensors (Python floats would retrace per value)."""
    v_scale = momentum_scale(stepper.w_optimizer, unrolled_lr, learning_rate)
    return (keras.ops.convert_to_tensor(unrolled_lr, "float32"),
            keras.ops.convert_to_tensor(v_scale, "float32"))


def tensorflow_rule(stepper) -> Callable:
    """The unrolled ∇α on `backend_tensorflow.Stepper`: its weights move, then come back."""
    weights = stepper.weights

    def velocities():
        # `w_optimizer.build(weights)` made them in the order of the weights.
        momentums = getattr(stepper.w_optimizer, "momentums", None) or []
        return list(momentums) if momentums else [None] * len(weights)

    def unroll(backup, g_train, xi, v_scale):
        for w, u in zip(weights, unrolled_weights(
                backup, g_train, velocities(), xi, stepper.w_weight_decay, v_scale)):
            w.assign(u)

    def shift(backup, direction, scale):
        for w, b, d in zip(weights, backup, direction):
            w.assign(b + scale * d)

    def restore(backup):
        for w, b in zip(weights, backup):
            w.assign(b)

    snapshot = stepper.compiled("snapshot", lambda: [keras.ops.copy(w) for w in weights])
    unroll = stepper.compiled("unroll", unroll)
    eps_of = stepper.compiled("eps", finite_difference_eps)
    shift = stepper.compiled("shift", shift)
    restore = stepper.compiled("restore", restore)
    combine = stepper.compiled("combine", unrolled_arch_gradients)

    def rule(x_tr, y_tr, x_val, y_val, noise, unrolled_lr=0.0, learning_rate=None):
        xi, v_scale = _scalars(stepper, unrolled_lr, learning_rate)
        backup = snapshot()
        _, g_train = stepper.grad_weights(x_tr, y_tr, noise)
        unroll(backup, g_train, xi, v_scale)
        val_loss, grads = stepper.grad_both(x_val, y_val, noise)
        d_alpha, d_w = grads[:len(stepper.alphas)], grads[len(stepper.alphas):]
        eps = eps_of(d_w)
        shift(backup, d_w, eps)
        _, g_plus = stepper.grad_alphas(x_tr, y_tr, noise)
        shift(backup, d_w, -eps)
        _, g_minus = stepper.grad_alphas(x_tr, y_tr, noise)
        restore(backup)
        return val_loss, combine(d_alpha, g_plus, g_minus, xi, eps)

    return rule


def jax_rule(stepper) -> Callable:
    """The unrolled ∇α on `backend_jax.Stepper`: pure functions of its state."""
    optimizer = stepper.w_optimizer
    # Where SGD's velocity of each weight sits in the optimizer's state.
    position = {id(v): i for i, v in enumerate(optimizer.variables)}
    velocity_index = [position[id(m)] for m in getattr(optimizer, "momentums", None) or []]

    def unroll(w, g_train, w_opt, xi, v_scale):
        velocities = ([w_opt[i] for i in velocity_index] if velocity_index
                      else [None] * len(w))
        return unrolled_weights(w, g_train, velocities, xi, stepper.w_weight_decay, v_scale)

    def perturb(w, d_w):
        """w ± ε d_w and ε, for the finite-difference Hessian-vector product."""
        eps = finite_difference_eps(d_w)
        return ([wi + eps * d for wi, d in zip(w, d_w)],
                [wi - eps * d for wi, d in zip(w, d_w)], eps)

    unroll = stepper.compiled("unroll", unroll)
    perturb = stepper.compiled("perturb", perturb)
    combine = stepper.compiled("combine", unrolled_arch_gradients)

    def rule(state, x_tr, y_tr, x_val, y_val, noise, unrolled_lr=0.0, learning_rate=None):
        xi, v_scale = _scalars(stepper, unrolled_lr, learning_rate)
        w, a = state["w"], state["a"]
        _, g_train = stepper.grad_weights(w, state["nt"], a, x_tr, y_tr, noise)
        w_prime = unroll(w, g_train, state["w_opt"], xi, v_scale)
        (val_loss, nt), (d_alpha, d_w) = stepper.grad_both(w_prime, state["nt"], a, x_val,
                                                           y_val, noise)
        w_plus, w_minus, eps = perturb(w, d_w)
        _, g_plus = stepper.grad_alphas(w_plus, nt, a, x_tr, y_tr, noise)
        _, g_minus = stepper.grad_alphas(w_minus, nt, a, x_tr, y_tr, noise)
        return val_loss, nt, combine(d_alpha, g_plus, g_minus, xi, eps)

    return rule


RULES: Dict[str, Callable] = {"tensorflow": tensorflow_rule, "jax": jax_rule}
