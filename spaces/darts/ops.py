"""DARTS candidate operations as Keras 3 layers (Liu et al. 2019, "DARTS: Differentiable
Architecture Search", ICLR).

A faithful port of the reference code's `cnn/operations.py` (github.com/quark0/darts):
ReLU-conv-BN order, convolutions without bias, separable convolutions applied twice,
`FactorizedReduce` for strided skips and for the reduced input of the cell after a
reduction, average pooling that ignores padding (`count_include_pad=False`) and explicit,
symmetric padding as in PyTorch. Tensors are channels-last (NHWC). Every op takes the
same `affine` switch as the reference: `affine=False` gives batch norms without learned
scale and shift, as in the DARTS search network (supernet).

`OPS[name](C, stride, affine)` builds the op called `name` with `C` output channels, like
the reference's `OPS` dict; input channels are read from the input when the layer builds.
`conv_7x1_1x7` (AmoebaNet's factorized 7x7) is there too, as in the reference, though
not among the searched `PRIMITIVES`.

The normalization-activation slot. Every op here is activation -> conv -> BN: the
activation that opens an op and the batch norm that closes it are the two halves of
one slot, the `norm_act` argument (a `symbolic_automl.keras.NormActivation`):

* a `BatchNormActivation` (the default, `DEFAULT_NORM_ACT`: ReLU, PyTorch's BN
  momentum and epsilon) keeps the reference's order: its activation opens the op,
  its batch norm (with its momentum and epsilon) closes it;
* any other layer (an EvoNorm, which normalizes and activates at once) takes the
  batch norm's place, after the conv, and the opening activation is dropped: the
  op becomes conv -> layer, and the nonlinearity moves from before each conv to
  after it. Since every state of a cell is a sum of op outputs (or a pool of
  them), each conv then still reads activated features, as the paper's layers
  replace BN-ReLU pairs.
`OPS` includes `'none'` (`Zero`), which only the weight-sharing supernet uses; the
evaluation search space samples from `PRIMITIVES`.

Example::

    import keras
    from symbolic_automl.spaces.darts import ops

    layer = ops.OPS["sep_conv_3x3"](16, 2, True)
    y = layer(keras.ops.ones((1, 32, 32, 16)))     # shape (1, 16, 16, 16)
"""

from typing import Callable, Dict, Optional

import keras
import pyglove as pg
from keras import ops as K

from symbolic_automl.keras.norm_activation import BatchNormActivation, NormActivation
from symbolic_automl.keras.norm_activation_layer import NormActivationLayer, as_norm_activation

# PyTorch's BatchNorm2d defaults (momentum 0.1 of the new value, eps 1e-5).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

_SERIALIZATION_PACKAGE = "symbolic_automl.darts"


def _register(cls):
    return keras.saving.register_keras_serializable(package=_SERIALIZATION_PACKAGE)(cls)


def batch_norm(affine: bool, name: str = None) -> keras.layers.BatchNormalization:
    """PyTorch-style `BatchNorm2d(C, affine=affine)` on channels-last tensors."""
    return keras.layers.BatchNormalization(
        axis=-1, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
        center=affine, scale=affine, name=name)


DEFAULT_NORM_ACT = BatchNormActivation("relu", momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


def resolve_norm_act(norm_act) -> NormActivation:
    """The slot value: `DEFAULT_NORM_ACT` for None, JSON (from a config) parsed."""
    return DEFAULT_NORM_ACT if norm_act is None else as_norm_activation(norm_act)


def opening_activation(norm_act: NormActivation) -> Optional[Callable]:
    """The activation an op applies first: the batch norm slot's, else none."""
    if not isinstance(norm_act, BatchNormActivation) or norm_act.activation is None:
        return None
    if norm_act.activation == "relu":
        return K.relu
    if norm_act.activation == "relu6":
        return K.relu6
    return keras.activations.get(norm_act.activation)


def closing_norm(norm_act: NormActivation, affine: bool = True,
                 name: str = None) -> keras.layers.Layer:
    """The layer that closes an op: the batch norm (PyTorch-style, `affine` as the
    reference), or the whole fused layer (which has its own parameters)."""
    if isinstance(norm_act, BatchNormActivation):
        return keras.layers.BatchNormalization(
            axis=-1, momentum=norm_act.momentum, epsilon=norm_act.epsilon,
            center=affine, scale=affine, name=name)
    return NormActivationLayer(norm_act, name=name)


def norm_act_config(norm_act: NormActivation) -> dict:
    """Config entry for a slot value: none for the default (configs stay as before)."""
    if pg.eq(norm_act, DEFAULT_NORM_ACT):
        return {}
    return {"norm_act": pg.to_json_str(norm_act)}


class _Slotted:
    """Mixin of ops that open with the slot's activation and close with its norm."""

    def _init_slot(self, norm_act, affine):
        self.norm_act = resolve_norm_act(norm_act)
        self.activate = opening_activation(self.norm_act)
        self.bn = closing_norm(self.norm_act, affine)

    def _open(self, x):
        return x if self.activate is None else self.activate(x)


def _symmetric_padding(padding: int, name: str = None):
    # PyTorch pads both sides equally; Keras 'same' pads more at the end when
    # the stride is 2, which would shift every strided op by one pixel.
    return keras.layers.ZeroPadding2D(padding, data_format="channels_last", name=name)


def _check_positive(value, what):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}.")


def _check_stride(stride):
    if stride not in (1, 2):
        raise ValueError(f"DARTS ops take stride 1 or 2, got {stride!r}.")


class _DartsOp(keras.layers.Layer):
    """Base of the ops: keeps `C_out`, `stride`, `affine` and serializes them."""

    def __init__(self, C_out, stride=1, affine=True, **kwargs):
        super().__init__(**kwargs)
        _check_positive(C_out, f"{type(self).__name__} output channels")
        _check_stride(stride)
        self.C_out = C_out
        self.stride = stride
        self.affine = affine

    def get_config(self):
        config = super().get_config()
        config.update(C_out=self.C_out, stride=self.stride, affine=self.affine)
        return config

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (batch, _strided(height, self.stride), _strided(width, self.stride),
                self.C_out)


def _strided(size, stride):
    # Output size of every stride-s op here: ceil(size / s), as in the reference.
    if size is None:
        return None
    return (size + stride - 1) // stride


@_register
class ReLUConvBN(_Slotted, _DartsOp):
    """ReLU, then a `kernel_size` convolution (no bias), then batch norm.

    Example::

        ReLUConvBN(48, kernel_size=1)   # the cell's input preprocessing
    """

    def __init__(self, C_out, kernel_size=1, stride=1, padding=0, affine=True,
                 norm_act=None, **kwargs):
        super().__init__(C_out, stride, affine, **kwargs)
        self.kernel_size = kernel_size
        self.padding = padding
        self.pad = _symmetric_padding(padding) if padding else None
        self.conv = keras.layers.Conv2D(
            C_out, kernel_size, strides=stride, padding="valid", use_bias=False,
            data_format="channels_last")
        self._init_slot(norm_act, affine)

    def build(self, input_shape):
        # Explicit so that a loaded model can rebuild the weights before reading them.
        shape = self.pad.compute_output_shape(input_shape) if self.pad else input_shape
        self.conv.build(shape)
        self.bn.build(self.conv.compute_output_shape(shape))

    def call(self, x, training=None):
        x = self._open(x)
        if self.pad is not None:
            x = self.pad(x)
        return self.bn(self.conv(x), training=training)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        def out(size):
            if size is None:
                return None
            return (size + 2 * self.padding - self.kernel_size) // self.stride + 1
        return (batch, out(height), out(width), self.C_out)

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size, padding=self.padding,
                      **norm_act_config(self.norm_act))
        return config


class ReLUSepConvBN(_Slotted, keras.layers.Layer):
    """ReLU, depthwise conv (groups = channels), 1x1 conv, batch norm: one half of SepConv."""

    def __init__(self, C_out, kernel_size, stride, padding, dilation, affine,
                 norm_act=None, **kwargs):
        super().__init__(**kwargs)
        self.pad = _symmetric_padding(padding) if padding else None
        self.depthwise = keras.layers.DepthwiseConv2D(
            kernel_size, strides=stride, padding="valid", dilation_rate=dilation,
            use_bias=False, data_format="channels_last")
        self.pointwise = keras.layers.Conv2D(
            C_out, 1, use_bias=False, data_format="channels_last")
        self._init_slot(norm_act, affine)

    def build(self, input_shape):
        shape = self.pad.compute_output_shape(input_shape) if self.pad else input_shape
        self.depthwise.build(shape)
        shape = self.depthwise.compute_output_shape(shape)
        self.pointwise.build(shape)
        self.bn.build(self.pointwise.compute_output_shape(shape))

    def call(self, x, training=None):
        x = self._open(x)
        if self.pad is not None:
            x = self.pad(x)
        return self.bn(self.pointwise(self.depthwise(x)), training=training)

    def compute_output_shape(self, input_shape):
        shape = self.pad.compute_output_shape(input_shape) if self.pad else input_shape
        return self.pointwise.compute_output_shape(
            self.depthwise.compute_output_shape(shape))


@_register
class DilConv(_DartsOp):
    """Dilated depthwise-separable convolution: ReLU, dilated depthwise, 1x1, BN.

    `dil_conv_3x3` is `DilConv(C, 3, stride, padding=2, dilation=2)`: a 5x5 receptive
    field with 3x3 weights.
    """

    def __init__(self, C_out, kernel_size=3, stride=1, padding=2, dilation=2,
                 affine=True, norm_act=None, **kwargs):
        super().__init__(C_out, stride, affine, **kwargs)
        if padding != dilation * (kernel_size - 1) // 2:
            raise ValueError(
                f"DilConv padding {padding} does not keep the size: expected "
                f"dilation * (kernel_size - 1) / 2 = {dilation * (kernel_size - 1) // 2}.")
        self.kernel_size = kernel_size
        self.padding = padding
        self.dilation = dilation
        self.norm_act = resolve_norm_act(norm_act)
        self.op = ReLUSepConvBN(C_out, kernel_size, stride, padding, dilation, affine,
                                self.norm_act)

    def build(self, input_shape):
        self.op.build(input_shape)

    def call(self, x, training=None):
        return self.op(x, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size, padding=self.padding,
                      dilation=self.dilation, **norm_act_config(self.norm_act))
        return config


@_register
class SepConv(_DartsOp):
    """Separable convolution applied twice, as in the reference.

    ReLU, depthwise (stride), 1x1 to the input channels, BN, then ReLU, depthwise,
    1x1 to `C_out`, BN.
    """

    def __init__(self, C_out, kernel_size=3, stride=1, padding=1, affine=True,
                 norm_act=None, **kwargs):
        super().__init__(C_out, stride, affine, **kwargs)
        if padding != (kernel_size - 1) // 2:
            raise ValueError(
                f"SepConv padding {padding} does not keep the size: expected "
                f"(kernel_size - 1) / 2 = {(kernel_size - 1) // 2}.")
        self.kernel_size = kernel_size
        self.padding = padding
        self.first = None
        self.norm_act = resolve_norm_act(norm_act)
        self.second = ReLUSepConvBN(C_out, kernel_size, 1, padding, 1, affine, self.norm_act)

    def build(self, input_shape):
        # The first half keeps the input's channel count, which is known only now.
        self.first = ReLUSepConvBN(
            input_shape[-1], self.kernel_size, self.stride, self.padding, 1, self.affine,
            self.norm_act)
        self.first.build(input_shape)
        self.second.build(self.first.compute_output_shape(input_shape))

    def call(self, x, training=None):
        return self.second(self.first(x, training=training), training=training)

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size, padding=self.padding,
                      **norm_act_config(self.norm_act))
        return config


@_register
class Identity(keras.layers.Layer):
    """Returns its input (`skip_connect` at stride 1)."""

    def call(self, x):
        return x

    def compute_output_shape(self, input_shape):
        return input_shape


@_register
class Zero(_DartsOp):
    """The `none` op: zeros, subsampled by `stride`. Only the supernet uses it."""

    def __init__(self, C_out=None, stride=1, affine=True, **kwargs):
        # Zero has no weights; C_out is kept only so that every op takes the same
        # arguments. The output has the input's channels, as in the reference.
        keras.layers.Layer.__init__(self, **kwargs)
        _check_stride(stride)
        self.C_out = C_out
        self.stride = stride
        self.affine = affine

    def call(self, x):
        if self.stride > 1:
            x = x[:, ::self.stride, ::self.stride, :]
        return K.zeros_like(x)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, _strided(height, self.stride), _strided(width, self.stride),
                channels)


@_register
class FactorizedReduce(_Slotted, _DartsOp):
    """Halves the resolution with two offset 1x1 stride-2 convolutions.

    ReLU; one 1x1 conv sees even pixels, the other the odd ones (input shifted by one);
    each gives `C_out / 2` channels; concatenated and batch-normalized. Used for
    `skip_connect` at stride 2 and for the older input of a cell after a reduction cell.
    """

    def __init__(self, C_out, stride=2, affine=True, norm_act=None, **kwargs):
        super().__init__(C_out, stride, affine, **kwargs)
        if stride != 2:
            raise ValueError(f"FactorizedReduce always has stride 2, got {stride!r}.")
        if C_out % 2:
            raise ValueError(
                f"FactorizedReduce needs an even number of output channels, got {C_out}.")
        self.conv_1 = keras.layers.Conv2D(
            C_out // 2, 1, strides=2, use_bias=False, data_format="channels_last")
        self.conv_2 = keras.layers.Conv2D(
            C_out // 2, 1, strides=2, use_bias=False, data_format="channels_last")
        self._init_slot(norm_act, affine)

    def build(self, input_shape):
        self.conv_1.build(input_shape)
        self.conv_2.build(input_shape)
        self.bn.build(self.compute_output_shape(input_shape))

    def call(self, x, training=None):
        x = self._open(x)
        # x[1:, 1:] as in the reference; the zero row/column at the end keeps odd
        # sizes working (the reference fails on them) and is never read for even ones.
        shifted = K.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
        out = K.concatenate([self.conv_1(x), self.conv_2(shifted)], axis=-1)
        return self.bn(out, training=training)

    def get_config(self):
        config = super().get_config()
        config.pop("stride")
        config.update(norm_act_config(self.norm_act))
        return config


@_register
class Conv7x1x1x7(_Slotted, _DartsOp):
    """`conv_7x1_1x7`: ReLU, a 1x7 then a 7x1 convolution (no bias), batch norm.

    The factorized 7x7 of AmoebaNet's reduction cell, as in the reference: the
    stride applies along the width in the first convolution and along the height
    in the second; padding 3 on the convolved side.
    """

    def __init__(self, C_out, stride=1, affine=True, norm_act=None, **kwargs):
        super().__init__(C_out, stride, affine, **kwargs)
        self.pad_width = keras.layers.ZeroPadding2D(((0, 0), (3, 3)))
        self.conv_1x7 = keras.layers.Conv2D(
            C_out, (1, 7), strides=(1, stride), padding="valid", use_bias=False,
            data_format="channels_last")
        self.pad_height = keras.layers.ZeroPadding2D(((3, 3), (0, 0)))
        self.conv_7x1 = keras.layers.Conv2D(
            C_out, (7, 1), strides=(stride, 1), padding="valid", use_bias=False,
            data_format="channels_last")
        self._init_slot(norm_act, affine)

    def build(self, input_shape):
        shape = self.pad_width.compute_output_shape(input_shape)
        self.conv_1x7.build(shape)
        shape = self.pad_height.compute_output_shape(self.conv_1x7.compute_output_shape(shape))
        self.conv_7x1.build(shape)
        self.bn.build(self.conv_7x1.compute_output_shape(shape))

    def call(self, x, training=None):
        x = self.conv_1x7(self.pad_width(self._open(x)))
        x = self.conv_7x1(self.pad_height(x))
        return self.bn(x, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(norm_act_config(self.norm_act))
        return config


@_register
class Pool(_DartsOp):
    """3x3 max or average pooling with PyTorch's symmetric padding of 1.

    Max pooling never picks the padding; average pooling divides by the number of
    real pixels in each window (`count_include_pad=False`).
    """

    def __init__(self, C_out=None, stride=1, affine=True, kind="max", pool_size=3,
                 **kwargs):
        keras.layers.Layer.__init__(self, **kwargs)
        _check_stride(stride)
        if kind not in ("max", "avg"):
            raise ValueError(f"Pool kind must be 'max' or 'avg', got {kind!r}.")
        self.C_out = C_out
        self.stride = stride
        self.affine = affine
        self.kind = kind
        self.pool_size = pool_size

    def call(self, x):
        padding = (self.pool_size - 1) // 2
        paddings = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
        window, strides = (self.pool_size, self.pool_size), (self.stride, self.stride)
        if self.kind == "max":
            # Padding with -inf never wins a window, as in PyTorch.
            padded = K.pad(x, paddings, constant_values=float("-inf"))
            return K.max_pool(padded, window, strides, padding="valid",
                              data_format="channels_last")
        summed = K.average_pool(K.pad(x, paddings), window, strides, padding="valid",
                                data_format="channels_last")
        ones = K.ones_like(x[:1, :, :, :1])
        counts = K.average_pool(K.pad(ones, paddings), window, strides, padding="valid",
                                data_format="channels_last")
        return summed / counts

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, _strided(height, self.stride), _strided(width, self.stride),
                channels)

    def get_config(self):
        config = keras.layers.Layer.get_config(self)
        config.update(C_out=self.C_out, stride=self.stride, affine=self.affine,
                      kind=self.kind, pool_size=self.pool_size)
        return config


def _skip_connect(C, stride, affine, norm_act=None):
    return Identity() if stride == 1 else FactorizedReduce(C, affine=affine,
                                                           norm_act=norm_act)


# name -> (C, stride, affine[, norm_act]) -> layer, as the reference's OPS; weightless
# ops ignore the slot.
OPS: Dict[str, Callable[..., keras.layers.Layer]] = {
    "none": lambda C, stride, affine, norm_act=None: Zero(C, stride, affine),
    "avg_pool_3x3": lambda C, stride, affine, norm_act=None: Pool(C, stride, affine,
                                                                  kind="avg"),
    "max_pool_3x3": lambda C, stride, affine, norm_act=None: Pool(C, stride, affine,
                                                                  kind="max"),
    "skip_connect": _skip_connect,
    "sep_conv_3x3": lambda C, stride, affine, norm_act=None: SepConv(
        C, 3, stride, 1, affine=affine, norm_act=norm_act),
    "sep_conv_5x5": lambda C, stride, affine, norm_act=None: SepConv(
        C, 5, stride, 2, affine=affine, norm_act=norm_act),
    "sep_conv_7x7": lambda C, stride, affine, norm_act=None: SepConv(
        C, 7, stride, 3, affine=affine, norm_act=norm_act),
    "dil_conv_3x3": lambda C, stride, affine, norm_act=None: DilConv(
        C, 3, stride, 2, 2, affine=affine, norm_act=norm_act),
    "dil_conv_5x5": lambda C, stride, affine, norm_act=None: DilConv(
        C, 5, stride, 4, 2, affine=affine, norm_act=norm_act),
    "conv_7x1_1x7": lambda C, stride, affine, norm_act=None: Conv7x1x1x7(
        C, stride, affine=affine, norm_act=norm_act),
}

# The ops of the DARTS search space, in the reference's order ('none' first, which only
# the weight-sharing supernet uses).
SEARCH_PRIMITIVES = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)

# The ops a discrete (evaluation) cell may use: the search primitives without 'none'.
PRIMITIVES = SEARCH_PRIMITIVES[1:]


def make_op(name: str, C: int, stride: int, affine: bool = True,
            norm_act: Optional[NormActivation] = None) -> keras.layers.Layer:
    """Builds op `name` with `C` output channels and the slot value `norm_act`
    (None: `DEFAULT_NORM_ACT`); a clear error for an unknown name."""
    if name not in OPS:
        raise ValueError(f"Unknown DARTS op {name!r}; expected one of {sorted(OPS)}.")
    return OPS[name](C, stride, affine, norm_act)
