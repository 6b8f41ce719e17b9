"""The hand-written supernet steps: second order vs first order, both backends."""

import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl import keras as sk  # noqa: E402
from symbolic_automl.algorithms.weight_sharing import DARTS  # noqa: E402
from symbolic_automl.oneshot import SupernetRun  # noqa: E402


def _space():
    return sk.Sequential([
        sk.Input(shape=(6,)),
        pg.oneof([sk.layers.Dense(8, activation="relu"), sk.layers.Dense(8, activation="tanh"),
                  sk.layers.Dense(8)]),
        pg.oneof([sk.layers.Dense(3), sk.layers.Dense(3, activation="sigmoid")]),
    ])


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 6)).astype("float32")
    return x, (x[:, :3] ** 2).astype("float32")


def _arch_grads(order, unrolled_lr):
    keras.utils.set_random_seed(3)
    run = SupernetRun(DARTS(order=order, seed=3, loss="mse", batch_size=16), _space(), _data())
    x, y = run.x_w[:16], run.y_w[:16]
    xv, yv = run.x_a[:16], run.y_a[:16]
    noise = run.noise()
    return run.stepper.arch_gradients(x, y, xv, yv, noise, order=order,
                                      unrolled_lr=unrolled_lr)


def test_second_order_with_zero_unrolled_lr_equals_first_order():
    first = _arch_grads(1, 0.0)
    second = _arch_grads(2, 0.0)
    assert any(np.abs(g).max() > 1e-6 for g in first)
    for g1, g2 in zip(first, second):
        np.testing.assert_allclose(g2, g1, rtol=1e-5, atol=1e-7)


def test_second_order_with_a_learning_rate_changes_the_gradient():
    first = _arch_grads(1, 0.0)
    second = _arch_grads(2, 0.5)
    assert not all(np.allclose(g1, g2, atol=1e-6) for g1, g2 in zip(first, second))


def _numeric_unrolled_gradient(run, batches, noise, xi, shift=None, h=1e-2):
    """d/dα[0][1] of L_val(w + shift - ξ ∇w L_train(w, α), α), by central differences."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    x, y, xv, yv = batches
    net, alphas, algorithm = run.net, run.alphas, run.algorithm
    weights = [v.numpy() for v in net.trainable_variables]
    shift = shift or [0.0] * len(weights)

    def unrolled_val_loss(alpha_values):
        for a, v in zip(alphas, alpha_values):
            a.assign(v)
        for w, v in zip(net.trainable_variables, weights):
            w.assign(v)
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(run.loss_fn(y, net(x, algorithm.mixing(alphas, noise),
                                                     training=True)))
        g = tape.gradient(loss, net.trainable_variables)
        for w, gw, d in zip(net.trainable_variables, g, shift):
            w.assign(w + d - xi * gw)
        return float(keras.ops.mean(run.loss_fn(yv, net(xv, algorithm.mixing(alphas, noise),
                                                        training=True))))

    base = [a.numpy().copy() for a in alphas]
    plus = [b.copy() for b in base]
    minus = [b.copy() for b in base]
    plus[0][1] += h
    minus[0][1] -= h
    numeric = (unrolled_val_loss(plus) - unrolled_val_loss(minus)) / (2 * h)
    for a, v in zip(alphas, base):
        a.assign(v)
    for w, v in zip(net.trainable_variables, weights):
        w.assign(v)
    return numeric


def test_second_order_matches_a_finite_difference_of_the_unrolled_loss():
    # d/dα L_val(w - ξ ∇w L_train(w, α), α): check one coordinate numerically
    # (a fresh optimizer: SGD's velocity is zero).
    xi = 0.5
    keras.utils.set_random_seed(3)
    run = SupernetRun(DARTS(order=2, seed=3, loss="mse", batch_size=16, w_weight_decay=0.0),
                      _space(), _data())
    batches = run.x_w[:16], run.y_w[:16], run.x_a[:16], run.y_a[:16]
    noise = run.noise()
    grads = run.stepper.arch_gradients(*batches, noise, order=2, unrolled_lr=xi)
    numeric = _numeric_unrolled_gradient(run, batches, noise, xi)
    assert grads[0][1] == pytest.approx(numeric, rel=0.05, abs=1e-4)


def test_second_order_unrolls_with_sgd_momentum_as_the_reference():
    # The reference's w' = w - ξ (μ buf + ∇w L_train + wd w), buf = -velocity / lr.
    xi, lr, momentum = 0.5, 0.1, 0.9
    keras.utils.set_random_seed(3)
    run = SupernetRun(DARTS(order=2, seed=3, loss="mse", batch_size=16, w_weight_decay=0.0,
                            w_momentum=momentum), _space(), _data())
    batches = run.x_w[:16], run.y_w[:16], run.x_a[:16], run.y_a[:16]
    noise = run.noise()
    for i in range(3):  # weight steps only: SGD's velocity fills up
        run.stepper.step(run.x_w[16 * i:16 * (i + 1)], run.y_w[16 * i:16 * (i + 1)],
                         *batches[2:], noise, noise, order=0)
    velocity = [np.asarray(m.numpy()) for m in run.stepper.w_optimizer.momentums]
    assert max(np.abs(v).max() for v in velocity) > 1e-3
    grads = run.stepper.arch_gradients(*batches, noise, order=2, unrolled_lr=xi,
                                       learning_rate=lr)
    with_momentum = _numeric_unrolled_gradient(
        run, batches, noise, xi, shift=[momentum * xi / lr * v for v in velocity])
    without = _numeric_unrolled_gradient(run, batches, noise, xi)
    assert grads[0][1] == pytest.approx(with_momentum, rel=0.05, abs=1e-4)
    assert abs(with_momentum - without) > 0.2 * abs(with_momentum) + 1e-4
    # ξ = 0 is still first order, whatever the velocity.
    first = run.stepper.arch_gradients(*batches, noise, order=1)
    zero = run.stepper.arch_gradients(*batches, noise, order=2, unrolled_lr=0.0,
                                      learning_rate=lr)
    for g1, g0 in zip(first, zero):
        np.testing.assert_allclose(g0, g1, rtol=1e-5, atol=1e-7)


_GRADIENTS = ("grad_weights", "grad_alphas", "grad_both")


def test_every_order_reuses_one_trace_of_each_gradient():
    # Each gradient is compiled once and shared by first order, second order,
    # the weight step and `arch_gradients`; the unrolled step leaves w as it was.
    keras.utils.set_random_seed(3)
    run = SupernetRun(DARTS(order=2, seed=3, loss="mse", batch_size=16), _space(), _data())
    stepper = run.stepper
    batches = run.x_w[:16], run.y_w[:16], run.x_a[:16], run.y_a[:16]
    noise = run.noise()
    stepper.step(*batches, noise, noise, order=0)  # SGD's velocity becomes non-zero
    weights = [v.numpy().copy() for v in run.net.trainable_variables]
    stepper.arch_gradients(*batches, noise, order=2, unrolled_lr=0.5, learning_rate=0.1)
    for w, v in zip(weights, run.net.trainable_variables):
        np.testing.assert_array_equal(v.numpy(), w)
    for order in (1, 2, 2, 0, 2):
        stepper.step(*batches, run.noise(), run.noise(), order=order, unrolled_lr=0.1)
    stepper.arch_gradients(*batches, noise, order=1)
    assert {k: stepper.traces.get(k) for k in _GRADIENTS} == dict.fromkeys(_GRADIENTS, 1)
    assert max(stepper.traces.values()) == 1, stepper.traces


_JAX_SCRIPT = textwrap.dedent("""
    import numpy as np, pyglove as pg, keras
    from symbolic_automl import keras as sk
    from symbolic_automl.algorithms.weight_sharing import DARTS
    from symbolic_automl.oneshot import SupernetRun
    assert keras.backend.backend() == "jax"
    space = sk.Sequential([sk.Input(shape=(6,)),
        pg.oneof([sk.layers.Dense(8, activation="relu"), sk.layers.Dense(8)]),
        sk.layers.Dense(3)])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6)).astype("float32"); y = (x[:, :3] ** 2).astype("float32")
    grads = {}
    for order in (1, 2):
        keras.utils.set_random_seed(3)
        run = SupernetRun(DARTS(order=order, seed=3, loss="mse", batch_size=16), space, (x, y))
        noise = run.noise()
        grads[order] = run.stepper.arch_gradients(run.x_w[:16], run.y_w[:16], run.x_a[:16],
                                                  run.y_a[:16], noise, order=order)
        before = run.stepper.alpha_values()
        run.train()
        assert not np.allclose(before[0], run.stepper.alpha_values()[0])
    np.testing.assert_allclose(grads[2][0], grads[1][0], rtol=1e-4, atol=1e-6)
    # Trained with second order, then asked for gradients: one trace per gradient.
    assert {k: run.stepper.traces.get(k) for k in ("grad_weights", "grad_alphas",
                                                   "grad_both")} == dict.fromkeys(
        ("grad_weights", "grad_alphas", "grad_both"), 1), run.stepper.traces
    # After training SGD's velocity is non-zero: it moves the unrolled weights
    # (learning_rate=0 drops it), and ξ = 0 is still first order.
    batches = (run.x_w[:16], run.y_w[:16], run.x_a[:16], run.y_a[:16])
    g = lambda **kw: run.stepper.arch_gradients(*batches, noise, order=2, **kw)[0]
    assert not np.allclose(g(unrolled_lr=0.5, learning_rate=0.01),
                           g(unrolled_lr=0.5, learning_rate=0.0), atol=1e-7)
    np.testing.assert_allclose(
        g(unrolled_lr=0.0, learning_rate=0.01),
        run.stepper.arch_gradients(*batches, noise, order=1)[0], rtol=1e-4, atol=1e-6)
    outcome = DARTS(epochs=2, loss="mse", batch_size=16, order=2).search(space, (x, y))
    assert outcome.dna in (pg.DNA(0), pg.DNA(1)) and len(outcome.history) == 2

    def build():  # define-by-run: the mixing reaches the user's graph under jax.jit
        inputs = keras.Input((6,))
        h = pg.oneof([keras.layers.Dense(8, activation="relu"),
                      lambda t: keras.layers.Dense(8)(t)], name="h")(inputs)
        return keras.Model(inputs, keras.layers.Dense(3)(h))
    outcome = DARTS(epochs=2, loss="mse", batch_size=16, order=2).search(build, (x, y))
    assert outcome.dna in (pg.DNA(0), pg.DNA(1))
    assert outcome.history[0]["alphas"] != outcome.history[-1]["alphas"]

    # SPOS recalibrates batch-norm statistics in the jitted state.
    from symbolic_automl.algorithms.weight_sharing import SPOS
    bn_space = sk.Sequential([sk.Input(shape=(6,)),
        pg.oneof([sk.layers.Dense(8), sk.layers.Dense(8, activation="relu")]),
        sk.layers.BatchNormalization(), sk.layers.Dense(3)])
    run = SupernetRun(SPOS(epochs=1, loss="mse", batch_size=16), bn_space, (x, y))
    run.train()
    bn = [v for v in run.net.non_trainable_variables if "moving_mean" in v.path][0]
    index = [id(v) for v in run.net.non_trainable_variables].index(id(bn))
    shared = np.asarray(run.stepper.state["nt"][index])
    mixing = run.net.dna_to_mixing(pg.DNA(1))
    assert run.recalibrate_batch_norm(mixing, 2)
    run.stepper.sync()  # the Keras variables get the trained weights
    hidden = [np.asarray(run.net.stack[0].candidates[1](xb)) for xb in run.calibration_batches(2)]
    recalibrated = np.asarray(run.stepper.state["nt"][index])
    assert not np.allclose(recalibrated, shared)
    np.testing.assert_allclose(recalibrated, np.mean([h.mean(0) for h in hidden], 0),
                               rtol=1e-4, atol=1e-5)
    print("JAX-OK")
""")


def test_jax_backend_trains_and_unrolls():
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2",
               JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", _JAX_SCRIPT], env=env,
                            capture_output=True, text=True, timeout=300)
    assert "JAX-OK" in result.stdout, result.stderr[-3000:]
