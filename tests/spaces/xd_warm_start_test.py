"""Exact warm start: `XD.from_conv(conv)` computes what the Keras convolution does.

The issue's grid: channels (1, 1) and (2, 3); lengths 15 and 16; kernels 1-5;
dilations 1-3; strides 1-3; 'same', 'valid' and circular padding; each XD mode
('fixed' FFTs and 'butterfly' K-matrices initialized to the DFT), relative L2
< 1e-5 in float32. Skipped: stride > 1 with dilation > 1, which Keras itself
rejects (`ValueError`; checked below). Conv1D runs the whole grid by default;
Conv2D and DepthwiseConv2D run it under `-m slow` and a covering sample (every
value of every argument, both modes) by default.
"""

import itertools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl.spaces import xd  # noqa: E402

CHANNELS = [(1, 1), (2, 3)]
LENGTHS = [15, 16]
KERNELS = [1, 2, 3, 4, 5]
DILATIONS = [1, 2, 3]
STRIDES = [1, 2, 3]
PADDINGS = ["valid", "same", "circular"]
ARCHS = ["fixed", "butterfly"]


def _grid():
    for channels, n, k, d, s, padding in itertools.product(
            CHANNELS, LENGTHS, KERNELS, DILATIONS, STRIDES, PADDINGS):
        if d > 1 and s > 1:
            continue  # Keras rejects strides > 1 with dilation_rate > 1.
        yield channels, n, k, d, s, padding


GRID = list(_grid())


def _id(case):
    (ci, co), n, k, d, s, padding = case
    return f"c{ci}{co}-n{n}-k{k}-d{d}-s{s}-{padding}"


def _make_conv(kind, channels, k, d, s, padding):
    _, c_out = channels
    if kind == "depthwise2d":
        if padding == "circular":
            return None
        return keras.layers.DepthwiseConv2D(k, strides=s, dilation_rate=d, padding=padding,
                                            depth_multiplier=c_out)
    if kind == "conv2d":
        if padding == "circular":
            return xd.CircularConv2D(c_out, k, strides=s, dilation_rate=d)
        return keras.layers.Conv2D(c_out, k, strides=s, dilation_rate=d, padding=padding)
    if padding == "circular":
        return xd.CircularConv1D(c_out, k, strides=s, dilation_rate=d)
    return keras.layers.Conv1D(c_out, k, strides=s, dilation_rate=d, padding=padding)


def _check(kind, case, archs=ARCHS):
    channels, n, k, d, s, padding = case
    conv = _make_conv(kind, channels, k, d, s, padding)
    if conv is None:
        pytest.skip("Keras depthwise convolutions have no circular counterpart here.")
    rng = np.random.RandomState(n * 100 + k * 10 + d)
    shape = (2, n, channels[0]) if kind == "conv1d" else (2, n, n - 1, channels[0])
    x = rng.randn(*shape).astype("float32")
    conv.build(x.shape)
    conv.set_weights([rng.randn(*w.shape).astype("float32") for w in conv.get_weights()])
    expected = keras.ops.convert_to_numpy(conv(x))
    for arch in archs:
        layer = xd.XD.from_conv(conv, arch=arch)
        got = keras.ops.convert_to_numpy(layer(x))
        assert got.shape == expected.shape, (arch, got.shape, expected.shape)
        error = np.linalg.norm(got - expected) / np.linalg.norm(expected)
        assert error < 1e-5, f"{arch}: relative L2 {error:.2e}"
        assert len(layer.arch_variables) == (0 if arch == "fixed" else 3 * (shape[1:-1].__len__()))


@pytest.mark.parametrize("case", GRID, ids=_id)
def test_conv1d_grid(case):
    _check("conv1d", case)


def _covering_sample():
    """Cases covering every value of every argument with both channel settings."""
    picked = []
    for i, (k, padding) in enumerate(itertools.product(KERNELS, PADDINGS)):
        d, s = [(1, 1), (2, 1), (3, 1), (1, 2), (1, 3)][i % 5]
        picked.append((CHANNELS[i % 2], LENGTHS[(i // 2) % 2], k, d, s, padding))
    return picked


@pytest.mark.parametrize("kind", ["conv2d", "depthwise2d"])
@pytest.mark.parametrize("case", _covering_sample(), ids=_id)
def test_2d_covering_sample(kind, case):
    _check(kind, case)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["conv2d", "depthwise2d"])
@pytest.mark.parametrize("case", GRID, ids=_id)
def test_2d_grid(kind, case):
    _check(kind, case)


def test_keras_rejects_the_skipped_combinations():
    with pytest.raises(ValueError):
        keras.layers.Conv1D(2, 3, strides=2, dilation_rate=2)


def test_rectangular_kernel_and_conv3d_fixed():
    rng = np.random.RandomState(0)
    conv = keras.layers.Conv2D(3, (2, 5), strides=(1, 2), padding="same")
    x = rng.randn(2, 9, 12, 2).astype("float32")
    expected = keras.ops.convert_to_numpy(conv(x))
    for arch in ARCHS:
        got = keras.ops.convert_to_numpy(xd.XD.from_conv(conv, arch=arch)(x))
        np.testing.assert_allclose(got, expected, atol=1e-5)
    conv3 = keras.layers.Conv3D(2, 3, padding="same")
    x3 = rng.randn(1, 5, 6, 4, 2).astype("float32")
    expected3 = keras.ops.convert_to_numpy(conv3(x3))
    layer = xd.XD.from_conv(conv3, arch="fixed")
    assert type(layer) is xd.XD and layer.rank == 3
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x3)), expected3, atol=1e-5)


# The grid's sizes (<= 32) are all below butterfly.DENSE_MAX_SIZE, where each
# K-matrix block is one dense matmul; longer inputs (the PDE's 256-1024) run the
# two-stage block path. Forcing it here checks that path, and deeper K-matrices
# (extra blocks start as the identity), on a covering sample of both ranks.
TWO_STAGE_SAMPLE = [
    ("conv1d", ((2, 3), 15, 5, 2, 1, "same")),
    ("conv1d", ((2, 3), 16, 17, 1, 1, "circular")),
    ("conv1d", ((1, 1), 16, 3, 1, 3, "valid")),
    ("conv2d", ((2, 3), 15, 3, 1, 2, "circular")),
    ("depthwise2d", ((2, 3), 16, 4, 2, 1, "same")),
]


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("kind, case", TWO_STAGE_SAMPLE, ids=lambda v: v if isinstance(v, str)
                         else _id(v))
def test_two_stage_path_and_deeper_kmatrices_stay_exact(kind, case, depth, monkeypatch):
    from symbolic_automl.spaces.xd import butterfly  # pylint: disable=g-import-not-at-top

    monkeypatch.setattr(butterfly, "DENSE_MAX_SIZE", 0)
    channels, n, k, d, s, padding = case
    conv = _make_conv(kind, channels, k, d, s, padding)
    rng = np.random.RandomState(7)
    shape = (2, n, channels[0]) if kind == "conv1d" else (2, n, n - 1, channels[0])
    x = rng.randn(*shape).astype("float32")
    conv.build(x.shape)
    conv.set_weights([rng.randn(*w.shape).astype("float32") for w in conv.get_weights()])
    expected = keras.ops.convert_to_numpy(conv(x))
    layer = xd.XD.from_conv(conv, arch="butterfly", depth=depth)
    got = keras.ops.convert_to_numpy(layer(x))
    error = np.linalg.norm(got - expected) / np.linalg.norm(expected)
    assert error < 1e-5, f"relative L2 {error:.2e}"
    assert all(v.shape[0] == depth for v in layer.arch_variables)
