"""XD-operations: the layer, circular convolutions, K-matrices, relax, training, saving."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl.spaces import xd  # noqa: E402
from symbolic_automl.spaces.xd import butterfly, geometry  # noqa: E402


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_circular_conv1d_is_periodic_cross_correlation():
    rng = np.random.RandomState(0)
    conv = xd.CircularConv1D(3, 4, strides=2)
    x = rng.randn(2, 16, 2).astype("float32")
    y = _np(conv(x))
    kernel, bias = conv.get_weights()
    n, left = 16, 1  # span 4: pad 1 left, 2 right
    expected = np.zeros((2, 8, 3))
    for t in range(8):
        for j in range(4):
            expected[:, t] += x[:, (2 * t + j - left) % n] @ kernel[j]
    np.testing.assert_allclose(y, expected + bias, atol=1e-5)
    assert conv.compute_output_shape((None, 16, 2)) == (None, 8, 3)
    # Periodic: shifting the input by the stride shifts the output by one.
    shifted = _np(conv(np.roll(x, 2, axis=1)))
    np.testing.assert_allclose(shifted, np.roll(y, 1, axis=1), atol=1e-5)


def test_circular_conv_config_round_trip_and_errors():
    conv = xd.CircularConv2D(4, 3, dilation_rate=2, name="c")
    config = conv.get_config()
    assert config["padding"] == "circular"
    clone = xd.CircularConv2D.from_config(config)
    assert clone.kernel_size == (3, 3) and clone.dilation_rate == (2, 2)
    with pytest.raises(ValueError, match="pads circularly"):
        xd.CircularConv1D(4, 3, padding="same")
    with pytest.raises(ValueError, match="channels_last"):
        xd.CircularConv1D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="wrap an input of length 4"):
        xd.CircularConv1D(1, 5, dilation_rate=3)(np.zeros((1, 4, 1), "float32"))


def test_dft_butterflies_match_numpy_fft_in_bit_reversed_order():
    rng = np.random.RandomState(1)
    for n in (2, 8, 32):
        x = rng.randn(3, n, 2).astype("float32")
        re, im = butterfly.butterfly_multiply(x, None, butterfly.dft_twiddle(n, False), 1,
                                              increasing=False)
        spectrum = _np(re) + 1j * _np(im)
        expected = np.fft.fft(x, axis=1, norm="ortho")[:, butterfly.bit_reversal(n)]
        np.testing.assert_allclose(spectrum, expected, atol=1e-5)
        back, _ = butterfly.butterfly_multiply(re, im, butterfly.dft_twiddle(n, True), 1,
                                               increasing=True)
        np.testing.assert_allclose(_np(back), x, atol=1e-5)
    # Extra blocks start as the identity: depth 3 is the same transform.
    tw3 = butterfly.dft_twiddle(8, False, depth=3)
    x = rng.randn(4, 8).astype("float32")
    re3, _ = butterfly.butterfly_multiply(x, None, tw3, 1, increasing=False)
    re1, _ = butterfly.butterfly_multiply(x, None, butterfly.dft_twiddle(8, False), 1,
                                          increasing=False)
    np.testing.assert_allclose(_np(re3), _np(re1), atol=1e-6)
    with pytest.raises(ValueError, match="power-of-two"):
        butterfly.dft_twiddle(12, False)


def test_plan_sizes():
    same = geometry.plan_axis(16, 3, padding="same")
    assert (same.size, same.offset, same.out) == (17, 1, 16)
    assert geometry.plan_axis(16, 3, padding="same", power_of_two=True).size == 32
    # Native circular: no padding at all, the transform has the input's length.
    circular = geometry.plan_axis(256, 17, padding="circular", power_of_two=True)
    assert (circular.size, circular.wrap, circular.offset) == (256, (0, 0), 8)
    wrapped = geometry.plan_axis(15, 3, padding="circular", power_of_two=True)
    assert wrapped.wrap == (1, 1) and wrapped.size == 32
    with pytest.raises(ValueError, match="padding must be one of"):
        geometry.plan_axis(8, 3, padding="causal")


def test_layer_variables_config_and_errors():
    layer = xd.XD1D(4, 3, padding="same", arch="butterfly", depth=2, name="op")
    layer.build((None, 16, 2))
    assert [v.name for v in layer.model_variables] == ["kernel", "bias"]
    assert layer.kernel.shape == (3, 2, 4)
    assert sorted(v.name for v in layer.arch_variables) == ["arch_K0", "arch_L0", "arch_M0"]
    assert layer.arch_variables[0].shape == (2, 5, 16, 2, 2, 2)  # depth 2, 32 = 2^5
    assert all(xd.is_arch_variable(v) for v in layer.arch_variables)
    fixed = xd.XD1D(4, 3, arch="fixed")
    fixed.build((None, 16, 2))
    assert fixed.arch_variables == []
    clone = xd.XD1D.from_config(layer.get_config())
    assert (clone.depth, clone.padding, clone.kernel_size) == (2, "same", (3,))
    assert layer.compute_output_shape((None, 16, 2)) == (None, 16, 4)
    with pytest.raises(ValueError, match="arch must be one of"):
        xd.XD1D(4, 3, arch="kaleidoscope")
    with pytest.raises(ValueError, match="exactly one of filters"):
        xd.XD1D(4, 3, depth_multiplier=2)
    with pytest.raises(ValueError, match="known spatial sizes"):
        xd.XD1D(4, 3).build((None, None, 2))
    with pytest.raises(ValueError, match="groups=1"):
        xd.XD.from_conv(keras.layers.Conv1D(4, 3, groups=2))
    with pytest.raises(ValueError, match="not a convolution XD replaces"):
        xd.XD.from_conv(keras.layers.Dense(3))


def test_from_unbuilt_conv_copies_weights_at_first_build():
    rng = np.random.RandomState(2)
    conv = keras.layers.Conv1D(3, 3, padding="same")
    x = rng.randn(2, 8, 2).astype("float32")
    expected = _np(conv(x))
    conv_unbuilt = keras.layers.Conv1D(3, 3, padding="same")
    conv_unbuilt.build((None, 8, 2))  # built, but never called: shape from the build
    conv_unbuilt.set_weights(conv.get_weights())
    layer = xd.XD.from_conv(conv_unbuilt)
    assert layer.built
    np.testing.assert_allclose(_np(layer(x)), expected, atol=1e-5)


def test_symbolic_circular_conv_spec_builds_the_layer_and_round_trips_json():
    import pyglove as pg  # pylint: disable=g-import-not-at-top
    from symbolic_automl import keras as sk  # pylint: disable=g-import-not-at-top

    model = sk.Sequential([sk.Input(shape=(32, 2)),
                           xd.specs.CircularConv1D(pg.oneof([4, 8]), 17, use_bias=False)])
    fixed = pg.materialize(model, pg.DNA(1))
    keras_model = pg.from_json_str(pg.to_json_str(fixed)).to_keras()
    assert isinstance(keras_model.layers[0], xd.CircularConv1D)
    assert keras_model.output_shape == (None, 32, 8)


# ------------------------------------------------------------------------- relax
def _mirror_cnn(filters=4):
    import pyglove as pg  # pylint: disable=g-import-not-at-top
    from symbolic_automl import keras as sk  # pylint: disable=g-import-not-at-top

    del pg
    return sk.Sequential([
        sk.Input(shape=(16, 2)),
        xd.specs.CircularConv1D(filters, 5, activation="relu"),
        sk.layers.Conv1D(filters, 3, padding="same", strides=2),
        sk.layers.BatchNormalization(),
        sk.layers.GlobalAveragePooling1D(),
        sk.layers.Dense(3),
    ])


def test_relax_mirror_is_a_rebind_with_same_outputs_and_weight_count():
    import pyglove as pg  # pylint: disable=g-import-not-at-top

    model = _mirror_cnn()
    relaxed = xd.relax(model)
    kinds = [type(layer).__name__ for layer in relaxed.layers[1:]]
    assert kinds == ["XD1D", "XD1D", "BatchNormalization", "GlobalAveragePooling1D", "Dense"]
    assert relaxed.layers[1].padding == "circular" and relaxed.layers[2].strides == 2
    assert type(model.layers[1]).__name__ == "CircularConv1D"  # the original is untouched
    # The docstring's one-line rebind is exactly relax.
    rebound = model.clone(deep=True).rebind(
        lambda k, v, p: xd.xd_spec(v) if xd.is_conv_spec(v) else v)
    assert pg.eq(rebound, relaxed)
    # Hyper-values in a convolution's arguments stay searchable after relaxing.
    space = _mirror_cnn(filters=pg.oneof([4, 8]))
    relaxed_space = xd.relax(space)
    assert len(pg.dna_spec(relaxed_space).elements) == len(pg.dna_spec(space).elements) == 2
    assert pg.materialize(relaxed_space, pg.DNA([1, 0])).layers[1].filters == 8

    original, relaxed_keras = model.to_keras(), relaxed.to_keras()
    xd.transfer_weights(original, relaxed_keras)
    x = np.random.RandomState(0).randn(5, 16, 2).astype("float32")
    np.testing.assert_allclose(_np(relaxed_keras(x)), _np(original(x)), rtol=1e-5, atol=1e-5)
    assert xd.count_weights(xd.model_variables(relaxed_keras)) == original.count_params()
    assert xd.count_weights(xd.arch_variables(relaxed_keras)) > 0
    json_round_trip = pg.from_json_str(pg.to_json_str(relaxed))
    assert pg.eq(json_round_trip, relaxed)


def _residual_cnn():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    y = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    y = keras.layers.BatchNormalization()(y)
    y = xd.CircularConv2D(6, 3)(y)
    x = keras.layers.Add()([x, y])
    x = keras.layers.Conv2D(4, 2, strides=2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


def test_relax_built_functional_model_with_residual_keeps_trained_function():
    rng = np.random.RandomState(1)
    model = _residual_cnn()
    x = rng.randn(16, 8, 8, 3).astype("float32")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, rng.randint(0, 5, 16), epochs=1, verbose=0)  # trained, BN statistics moved
    for arch in ("butterfly", "fixed"):
        relaxed = xd.relax(model, arch=arch)
        assert sum(isinstance(layer, xd.XD) for layer in relaxed.layers) == 4
        np.testing.assert_allclose(_np(relaxed(x)), _np(model(x)), rtol=1e-5, atol=1e-5)
        assert xd.count_weights(xd.model_variables(relaxed)) == model.count_params()
        assert (xd.count_weights(xd.arch_variables(relaxed)) > 0) == (arch == "butterfly")
