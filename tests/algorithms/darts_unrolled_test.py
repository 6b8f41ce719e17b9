"""DARTS' second-order architecture gradient against a closed form, on TF and JAX.

On a tiny supernet (one choice between two linear layers, mean squared error)
the training loss is quadratic in the weights, so the finite-difference
Hessian-vector product of the unrolled step is exact, and the unrolled
gradient must equal d/dα L_val(w'(α), α) with
w'(α) = w − ξ (∇w L_train(w, α) + wd·w) + μ (ξ / lr) v (v: SGD's velocity),
computed here in float64 numpy from the closed-form loss. The same check runs
in a subprocess with KERAS_BACKEND=jax (this file run as a script).
"""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl import keras as sk  # noqa: E402
from symbolic_automl.algorithms.weight_sharing import DARTS  # noqa: E402
from symbolic_automl.algorithms.weight_sharing import darts_unrolled  # noqa: E402
from symbolic_automl.oneshot import SupernetRun, build_supernet  # noqa: E402

XI, LR, MOMENTUM, WEIGHT_DECAY = 0.5, 0.1, 0.9, 0.5


def _softmax(a):
    e = np.exp(a - a.max())
    return e / e.sum()


def _loss(w, alpha, x, y):
    """Mean squared error of softmax(α)-mixed linear candidates w[0], w[1]."""
    m = _softmax(alpha)
    return np.mean((x @ (m[0] * w[0] + m[1] * w[1]) - y) ** 2)


def _grad_w(w, alpha, x, y):
    m = _softmax(alpha)
    residual = 2.0 * (x @ (m[0] * w[0] + m[1] * w[1]) - y) / len(x)
    return [m[k] * x.T @ residual for k in (0, 1)]


def _unrolled_loss(alpha, w, velocity, batches, weight_decay, momentum_scale):
    x, y, xv, yv = batches
    g = _grad_w(w, alpha, x, y)
    unrolled = [w[k] - XI * (g[k] + weight_decay * w[k]) + momentum_scale * velocity[k]
                for k in (0, 1)]
    return _loss(unrolled, alpha, xv, yv)


def closed_form_gradient(alpha, w, velocity, batches, weight_decay, momentum_scale, h=1e-6):
    """d/dα of the unrolled validation loss, by central differences in float64."""
    grad = np.zeros_like(alpha)
    for i in range(len(alpha)):
        step = np.zeros_like(alpha)
        step[i] = h
        grad[i] = (_unrolled_loss(alpha + step, w, velocity, batches, weight_decay,
                                  momentum_scale)
                   - _unrolled_loss(alpha - step, w, velocity, batches, weight_decay,
                                    momentum_scale)) / (2 * h)
    return grad


def unrolled_gradient_errors():
    """Relative errors of the stepper's unrolled ∇α, fresh and with SGD momentum."""
    space = sk.Sequential([sk.Input(shape=(2,)), pg.oneof([
        sk.layers.Dense(1, use_bias=False), sk.layers.Dense(1, use_bias=False,
                                                            activation="linear")])])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype("float32")
    y = (x @ np.array([[1.5], [-0.5]]) + 0.1 * rng.standard_normal((64, 1))).astype("float32")
    net = build_supernet(space)
    net.build_weights()
    for variable, value in zip(net.trainable_variables, ([[0.7], [0.2]], [[-0.4], [0.9]])):
        variable.assign(np.array(value, "float32"))
    run = SupernetRun(DARTS(order=2, loss="mse", batch_size=16, init_scale=1.0,
                            w_weight_decay=WEIGHT_DECAY, w_momentum=MOMENTUM), space, (x, y),
                      net=net)
    batches = run.x_w[:16], run.y_w[:16], run.x_a[:16], run.y_a[:16]
    noise = run.noise()
    exact = [b.astype("float64") for b in batches]
    results = {}
    for case in ("fresh", "momentum"):
        if case == "momentum":  # a weight step fills SGD's velocity and moves w
            run.stepper.step(*batches, noise, noise, order=0)
        run.stepper.sync()
        w = [v.numpy().astype("float64") for v in run.net.trainable_variables]
        velocity = [np.asarray(m.numpy(), "float64") for m in run.stepper.w_optimizer.momentums]
        alpha = run.stepper.alpha_values()[0].astype("float64")
        got = run.stepper.arch_gradients(*batches, noise, order=2, unrolled_lr=XI,
                                         learning_rate=LR)[0]
        first = run.stepper.arch_gradients(*batches, noise, order=1)[0]
        scale = MOMENTUM * XI / LR
        want = closed_form_gradient(alpha, w, velocity, exact, WEIGHT_DECAY, scale)
        # What a step that dropped weight decay or momentum would give.
        no_decay = closed_form_gradient(alpha, w, velocity, exact, 0.0, scale)
        no_momentum = closed_form_gradient(alpha, w, velocity, exact, WEIGHT_DECAY, 0.0)
        norm = np.abs(want).max()
        results[case] = {
            "error": float(np.abs(got - want).max() / norm),
            "first_order": float(np.abs(first - want).max() / norm),
            "no_decay": float(np.abs(no_decay - want).max() / norm),
            "no_momentum": float(np.abs(no_momentum - want).max() / norm),
            "velocity": float(max(np.abs(v).max() for v in velocity)),
        }
    return results


def _check(results):
    for case, r in results.items():
        assert r["error"] < 2e-3, (case, r)
        # The check can tell: first order, and an unrolled step without weight
        # decay, are far off the closed form.
        assert r["first_order"] > 0.05 and r["no_decay"] > 0.05, (case, r)
    assert results["fresh"]["velocity"] == 0.0
    assert results["momentum"]["velocity"] > 1e-3
    assert results["momentum"]["no_momentum"] > 0.05, results


def test_unrolled_gradient_equals_the_closed_form_on_tensorflow():
    _check(unrolled_gradient_errors())


# ~10 s of CPU, mostly importing Keras and JAX in a fresh process; the default run
# covers JAX's unrolled step in tests/oneshot/backend_test.py.
@pytest.mark.slow
def test_unrolled_gradient_equals_the_closed_form_on_jax():
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2",
               JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, __file__], env=env, capture_output=True,
                            text=True, timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stderr[-3000:]
    payload = json.loads(lines[-1])
    assert payload["backend"] == "jax"
    _check(payload["results"])


def test_second_order_is_a_rule_on_both_backends():
    assert set(darts_unrolled.RULES) == {"tensorflow", "jax"}
    assert DARTS().arch_gradient_rules("tensorflow") == {2: darts_unrolled.tensorflow_rule}
    assert DARTS(order=1).arch_gradient_rules("jax") == {2: darts_unrolled.jax_rule}
    assert DARTS(unrolled_lr=0.2).arch_gradient_options(0.01) == {
        "unrolled_lr": 0.2, "learning_rate": 0.01}
    assert DARTS().arch_gradient_options(0.01)["unrolled_lr"] == 0.01


if __name__ == "__main__":
    print(json.dumps({"backend": keras.backend.backend(),
                      "results": unrolled_gradient_errors()}))
