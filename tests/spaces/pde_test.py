"""PDE baselines: the spectral convolution against numpy, the relative L2 loss, FNO-1d
and its CNN backbone (parameter counts by hand, a training step), the FNO recipe,
and the JAX backend."""

import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl import data  # noqa: E402
from symbolic_automl.spaces import pde  # noqa: E402


def numpy_spectral_conv(x, w_real, w_imag, modes):
    """Direct spectral convolution: rfft over length, mix the first modes, irfft."""
    length = x.shape[1]
    x_hat = np.fft.rfft(x.astype(np.float64), axis=1)                # (b, freq, in)
    weights = w_real.astype(np.float64) + 1j * w_imag.astype(np.float64)  # (in, out, modes)
    out_hat = np.zeros((x.shape[0], length // 2 + 1, weights.shape[1]), np.complex128)
    for m in range(modes):
        out_hat[:, m, :] = x_hat[:, m, :] @ weights[:, :, m]
    return np.fft.irfft(out_hat, n=length, axis=1)


@pytest.mark.parametrize("length,modes", [(32, 6), (31, 16), (16, 9)])
def test_spectral_conv_matches_numpy(length, modes):
    rng = np.random.RandomState(0)
    x = rng.randn(2, length, 3).astype("float32")
    layer = pde.SpectralConv1D(5, modes, kernel_initializer="glorot_normal")
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, length, 5)
    w_real, w_imag = (keras.ops.convert_to_numpy(w) for w in (layer.kernel_real,
                                                              layer.kernel_imag))
    expected = numpy_spectral_conv(x, w_real, w_imag, modes)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    # The imaginary weights matter (a real-only layer would pass a weaker test).
    assert np.abs(numpy_spectral_conv(x, w_real, 0 * w_imag, modes) - expected).max() > 1e-2
    assert layer.count_params() == 2 * 3 * 5 * modes


def test_spectral_conv_drops_high_frequencies_and_commutes_with_shifts():
    layer = pde.SpectralConv1D(2, 4, kernel_initializer="glorot_normal")
    t = np.arange(64) * 2 * np.pi / 64
    low, high = np.sin(2 * t), np.sin(9 * t)
    batch = np.stack([np.stack([low, low], -1), np.stack([high, high], -1)]).astype("float32")
    y = keras.ops.convert_to_numpy(layer(batch))
    assert np.abs(y[1]).max() < 1e-5 < np.abs(y[0]).max()  # mode 9 is beyond 4 modes
    # A convolution: shifting the input shifts the output.
    shifted = keras.ops.convert_to_numpy(layer(np.roll(batch, 5, axis=1)))
    np.testing.assert_allclose(shifted, np.roll(y, 5, axis=1), atol=1e-5)


def test_spectral_conv_default_init_config_and_errors(tmp_path):
    layer = pde.SpectralConv1D(4, 3)
    layer.build((None, 16, 2))
    real = keras.ops.convert_to_numpy(layer.kernel_real)
    assert real.min() >= 0 and real.max() < 1 / (2 * 4)  # the reference's U[0, 1/(in*out))
    clone = pde.SpectralConv1D.from_config(layer.get_config())
    assert (clone.filters, clone.modes) == (4, 3)
    with pytest.raises(ValueError, match="modes=10 exceeds the 9 frequencies"):
        pde.SpectralConv1D(4, 10).build((None, 16, 2))
    with pytest.raises(ValueError, match="modes must be a positive integer; got 0"):
        pde.SpectralConv1D(4, 0)
    # A saved model reloads with the same weights and outputs.
    inputs = keras.Input((16, 2))
    model = keras.Model(inputs, pde.SpectralConv1D(3, 5)(inputs))
    x = np.random.RandomState(1).randn(2, 16, 2).astype("float32")
    path = str(tmp_path / "spectral.keras")
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(x), model(x), atol=1e-6)


def test_relative_l2_is_the_papers_metric():
    rng = np.random.RandomState(0)
    y = rng.randn(4, 10).astype("float32")
    y_hat = y + 0.1 * rng.randn(4, 10).astype("float32")
    per_example = np.linalg.norm(y_hat - y, axis=1) / np.linalg.norm(y, axis=1)
    loss = float(pde.RelativeL2()(y, y_hat[..., None]))  # (n, s) vs (n, s, 1) alike
    assert loss == pytest.approx(per_example.mean(), rel=1e-5)
    metric = pde.RelativeL2Error()
    metric.update_state(y[:2], y_hat[:2])
    metric.update_state(y[2:], y_hat[2:])
    assert float(metric.result()) == pytest.approx(per_example.mean(), rel=1e-5)
    # Scale-free: scaling both by 10 changes nothing; a 2x prediction errs by exactly 1.
    assert float(pde.RelativeL2()(10 * y, 10 * y_hat)) == pytest.approx(loss, rel=1e-5)
    assert float(pde.RelativeL2()(y, 2 * y)) == pytest.approx(1.0, rel=1e-5)


def _operator_network_params(width, depth, kernel_params, projection, in_channels=2):
    lift = in_channels * width + width
    pointwise = width * width + width
    head = width * projection + projection + projection + 1
    return lift + depth * (kernel_params + pointwise) + head


def test_fno1d_has_the_reference_parameter_count():
    model = pde.fno1d(resolution=64).to_keras()
    # 4 Fourier layers, 16 complex modes of 64x64 weights (the reference prints 549569).
    expected = _operator_network_params(64, 4, 2 * 64 * 64 * 16, 128)
    assert expected == 549569
    assert model.count_params() == expected
    assert model.input_shape == (None, 64, 2) and model.output_shape == (None, 64)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("SpectralConv1D") == 4 and "Conv1D" not in kinds


def test_cnn1d_is_the_backbone_with_circular_kernel_17():
    from symbolic_automl.spaces import xd
    model = pde.cnn1d(resolution=64).to_keras()
    expected = _operator_network_params(64, 4, 64 * 64 * 17, 128)  # no conv bias
    assert expected == 303809
    assert model.count_params() == expected
    convs = [layer for layer in model.layers if isinstance(layer, xd.CircularConv1D)]
    assert len(convs) == 4 and all(c.kernel_size == (17,) and not c.use_bias for c in convs)
    # Circular: the backbone commutes with periodic shifts of a(x) (grid channel fixed).
    x = np.random.RandomState(0).randn(1, 64, 2).astype("float32")
    shifted = x.copy()
    shifted[..., 0] = np.roll(x[..., 0], 7, axis=1)
    model_no_grid = pde.cnn1d(resolution=64, in_channels=1).to_keras()
    np.testing.assert_allclose(model_no_grid(shifted[..., :1]),
                               np.roll(model_no_grid(x[..., :1]), 7, axis=1), atol=1e-4)


def test_models_are_symbolic_and_searchable():
    space = pde.fno1d(resolution=32, width=8, modes=pg.oneof([2, 4]),
                      activation=pg.oneof(["gelu", "relu"]))
    # One decision per place: 4 Fourier layers' modes, 3 block activations and the head's.
    ids = [str(e.id) for e in pg.dna_spec(space).elements]
    assert sum(i.endswith(".modes") for i in ids) == 4
    assert sum(i.endswith(".activation") for i in ids) == 4
    choices = [1, 0, 1, 0, 1, 0, 1, 1]  # modes 4, gelu, ..., last modes 4, head relu
    assert [i.endswith(".modes") for i in ids] == [True, False] * 3 + [True, False]
    model = pg.materialize(space, pg.DNA(choices)).to_keras()
    spectral = [layer for layer in model.layers if isinstance(layer, pde.SpectralConv1D)]
    assert [layer.modes for layer in spectral] == [4] * 4
    assert model.get_layer("project").activation.__name__ == "relu"
    # JSON round trip (what the trial store keeps).
    again = pg.from_json_str(pg.to_json_str(pg.materialize(space, pg.DNA([0] * 8))))
    assert again.to_keras().count_params() == _operator_network_params(8, 4, 2 * 8 * 8 * 2, 128)


def test_fno_recipe_and_a_few_steps_lower_the_error(tmp_path):
    recipe = pde.fno_training(epochs=10, batch_size=4)
    optimizer = recipe.make_optimizer(steps_per_epoch=5)
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert optimizer.weight_decay == pytest.approx(1e-4)
    rate = recipe.learning_rate_schedule(steps_per_epoch=5)
    values = [float(keras.ops.convert_to_numpy(rate(s))) for s in (0, 9, 10, 20, 30, 45)]
    assert values == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4, 1.25e-4, 6.25e-5])
    (x, y), _ = data.load("burgers", resolution=32, n_train=16, n_test=1, fine_grid=64,
                          dt=2e-3, cache_dir=str(tmp_path))
    keras.utils.set_random_seed(0)
    model = pde.fno1d(resolution=32, width=8, modes=4, projection=16).to_keras()
    fast = pde.fno_training(epochs=10, batch_size=4, learning_rate=5e-3)
    model.compile(fast.make_optimizer(4), fast.make_loss(), metrics=fast.make_metrics())
    before = model.evaluate(x, y, verbose=0, return_dict=True)["relative_l2"]
    model.fit(x, y, epochs=10, batch_size=4, verbose=0)
    after = model.evaluate(x, y, verbose=0, return_dict=True)["relative_l2"]
    assert after < 0.75 * before


def test_cnn_trains_a_step():
    model = pde.cnn1d(resolution=32, width=8, kernel_size=5, projection=16).to_keras()
    recipe = pde.fno_training(epochs=2, batch_size=4)
    model.compile(recipe.make_optimizer(1), recipe.make_loss())
    x = np.random.RandomState(0).randn(4, 32, 2).astype("float32")
    y = np.sin(x[..., 0])
    weights = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert all(not np.allclose(a, b) for a, b in zip(weights, model.get_weights()))


def test_jax_backend():
    snippet = textwrap.dedent("""
        import numpy as np, keras
        assert keras.backend.backend() == "jax"
        from symbolic_automl.spaces import pde
        from tests.spaces.pde_test import numpy_spectral_conv
        x = np.random.RandomState(0).randn(2, 32, 3).astype("float32")
        layer = pde.SpectralConv1D(4, 7, kernel_initializer="glorot_normal")
        y = keras.ops.convert_to_numpy(layer(x))
        w = [keras.ops.convert_to_numpy(v) for v in (layer.kernel_real, layer.kernel_imag)]
        np.testing.assert_allclose(y, numpy_spectral_conv(x, *w, 7), rtol=1e-4, atol=1e-5)
        model = pde.fno1d(resolution=32, width=8, modes=4, projection=16).to_keras()
        recipe = pde.fno_training(epochs=2, batch_size=4)
        model.compile(recipe.make_optimizer(1), recipe.make_loss())
        loss = model.train_on_batch(np.concatenate([x[..., :1], x[..., 1:2]], -1),
                                    np.sin(x[..., 0]))
        assert np.isfinite(loss), loss
        print("jax ok", model.count_params())
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-c", snippet], cwd=root, capture_output=True,
                            text=True, timeout=300,
                            env={**os.environ, "KERAS_BACKEND": "jax",
                                 "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "jax ok" in result.stdout


@pytest.mark.slow
def test_relaxed_cnn_starts_at_its_error_and_xd_training_lowers_it(tmp_path):
    # The XD paper's workflow at toy size: relax a (built) CNN backbone, check it
    # computes the same, train weights and K-matrices with their two optimizers.
    from symbolic_automl.spaces import xd  # pylint: disable=g-import-not-at-top

    (x, y), _ = data.load("burgers", resolution=32, n_train=16, n_test=1, fine_grid=64,
                          dt=2e-3, cache_dir=str(tmp_path))
    keras.utils.set_random_seed(0)
    cnn = pde.cnn1d(resolution=32, width=8, kernel_size=5, projection=16).to_keras()
    relaxed = xd.relax(cnn)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(relaxed(x)),
                               keras.ops.convert_to_numpy(cnn(x)), rtol=1e-4, atol=1e-5)
    recipe = xd.XDTraining(**pde.fno_training(epochs=10, batch_size=4, learning_rate=5e-3)
                           .sym_init_args, arch_learning_rate=1e-2)
    relaxed.compile(recipe.make_optimizer(4), recipe.make_loss(),
                    metrics=recipe.make_metrics())
    start = relaxed.evaluate(x, y, verbose=0, return_dict=True)["relative_l2"]
    arch_before = [keras.ops.convert_to_numpy(v) for v in xd.arch_variables(relaxed)]
    relaxed.fit(x, y, epochs=10, batch_size=4, verbose=0)
    after = relaxed.evaluate(x, y, verbose=0, return_dict=True)["relative_l2"]
    assert after < 0.75 * start
    moved = [np.abs(keras.ops.convert_to_numpy(v) - b).max()
             for v, b in zip(xd.arch_variables(relaxed), arch_before)]
    assert len(moved) == 12 and min(moved) > 0  # M, L, K of each of the 4 blocks
