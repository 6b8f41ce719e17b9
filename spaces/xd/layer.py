"""The XD-operation layer: `XD(x) = Real(K diag(L w) M x)`, cropped, plus bias.

`M`, `L` and `K` act on each spatial axis (N-D is their tensor product). With
`arch='fixed'` they are plain FFTs (rfft / irfft; no architecture parameters)
and the layer is exactly a convolution computed through the frequency domain.
With `arch='butterfly'` each is a K-matrix (`butterfly.py`) of `depth` blocks
over a power-of-two length, initialized to the DFT, so the layer starts as
the same convolution and its operation is learned: architecture variables are
named `arch_{M,L,K}{axis}` and listed by `arch_variables`; the model weights
(`kernel`, `bias`) have the shapes of the convolution's, listed by
`model_variables`.

The weights `w` are a convolution kernel (taps, c_in, c_out), as in the
reference (mkhodak/relax `XD`): `L` reads them scattered into the circular
filter of the plan (`geometry.plan_axis`). Channels mix per frequency:
`Y[b, o, f] = sum_c X[b, c, f] H[c, o, f]` (depthwise: per channel).

Example::

    conv = keras.layers.Conv1D(8, 5, padding="same")
    conv.build((None, 64, 3))
    xd = XD.from_conv(conv, arch="butterfly")       # the same function, learnable
    xd(x)                                            # == conv(x) to float32 round-off
"""

from typing import Any, Optional, Sequence

import keras
from keras import ops
import numpy as np

from symbolic_automl.spaces.xd import butterfly
from symbolic_automl.spaces.xd import geometry
from symbolic_automl.spaces.xd.circular_conv import periodic_pad

ARCHS = ("fixed", "butterfly")
ARCH_PREFIX = "arch_"
# (name, inverse, normalized) of the three K-matrices, as in the reference: K and
# M unitary, L the unnormalized DFT, so K diag(L w) M is the circular convolution.
_KMATRICES = (("M", False, True), ("L", False, False), ("K", True, True))


def is_arch_variable(variable) -> bool:
    """Whether a Keras variable is an XD architecture parameter (named `arch_*`)."""
    return variable.name.startswith(ARCH_PREFIX)


def _tuple(value, rank, name):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank:
        raise ValueError(f"{name} must be an int or {rank} ints, got {value!r}.")
    return value


@keras.saving.register_keras_serializable(package="symbolic_automl.xd")
class XD(keras.layers.Layer):
    """An XD-operation over `rank` spatial axes (channels_last inputs).

    Args:
      rank: number of spatial axes (1 for sequences, 2 for images, ...).
      filters: output channels; None with `depth_multiplier` (depthwise).
      kernel_size, strides, dilation_rate: as in Keras convolutions.
      padding: 'valid', 'same' (zeros, Keras's offsets) or 'circular'.
      depth_multiplier: an int makes the operation depthwise (each input channel
        mixed with its own filters, output channels c * depth_multiplier + q).
      activation, use_bias, *_initializer, *_regularizer, *_constraint: as in
        Keras convolutions (kernel shape (*kernel_size, c_in, filters) or
        (*kernel_size, c_in, depth_multiplier)).
      arch: 'butterfly' (learnable K-matrices) or 'fixed' (FFTs, no arch params).
      depth: K-matrix depth (butterfly blocks each, alternating B and B^T).
    """

    def __init__(self, rank: int, filters: Optional[int] = None, kernel_size: Any = 1,
                 strides: Any = 1, padding: str = "valid", dilation_rate: Any = 1,
                 depth_multiplier: Optional[int] = None, activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, arch: str = "butterfly",
                 depth: int = 1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rank, (int, np.integer)) or rank < 1:
            raise ValueError(f"rank must be a positive integer, got {rank!r}.")
        if (filters is None) == (depth_multiplier is None):
            raise ValueError(
                "XD needs exactly one of filters (a full convolution) or depth_multiplier "
                f"(depthwise), got filters={filters!r}, depth_multiplier={depth_multiplier!r}.")
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}.")
        if padding not in geometry.PADDINGS:
            raise ValueError(f"padding must be one of {geometry.PADDINGS}, got {padding!r}.")
        if not isinstance(depth, (int, np.integer)) or depth < 1:
            raise ValueError(f"depth must be a positive integer, got {depth!r}.")
        self.rank = int(rank)
        self.filters = None if filters is None else int(filters)
        self.depth_multiplier = None if depth_multiplier is None else int(depth_multiplier)
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size")
        self.strides = _tuple(strides, self.rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate")
        self.padding = padding
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.arch = arch
        self.depth = int(depth)
        self.input_spec = keras.layers.InputSpec(min_ndim=self.rank + 2)
        self._initial_weights = None  # Set by from_conv; assigned once built.

    # ----------------------------------------------------------------- building
    def _plans(self, spatial):
        return [geometry.plan_axis(int(n), k, d, s, self.padding,
                                   power_of_two=self.arch == "butterfly")
                for n, k, d, s in zip(spatial, self.kernel_size, self.dilation_rate,
                                      self.strides)]

    def build(self, input_shape):
        spatial, channels = tuple(input_shape[1:-1]), input_shape[-1]
        if len(spatial) != self.rank or any(n is None for n in spatial) or channels is None:
            raise ValueError(
                f"{type(self).__name__} (rank {self.rank}) needs inputs (batch, "
                f"{self.rank} known spatial sizes, known channels); got {tuple(input_shape)}.")
        self.plans = self._plans(spatial)
        self.in_channels = int(channels)
        per_channel = self.filters if self.depth_multiplier is None else self.depth_multiplier
        self.out_channels = (self.filters if self.depth_multiplier is None
                             else self.in_channels * self.depth_multiplier)
        self.kernel = self.add_weight(
            name="kernel", shape=(*self.kernel_size, self.in_channels, per_channel),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.out_channels,), initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.twiddles = {}
        if self.arch == "butterfly":
            for name, inverse, normalized in _KMATRICES:
                for axis, plan in enumerate(self.plans):
                    value = butterfly.dft_twiddle(plan.size, inverse, normalized, self.depth)
                    self.twiddles[name, axis] = self.add_weight(
                        name=f"{ARCH_PREFIX}{name}{axis}", shape=value.shape,
                        initializer=_constant(value))
        if self._initial_weights is not None:
            for variable, value in zip(self.model_variables, self._initial_weights):
                variable.assign(value)
            self._initial_weights = None

    @property
    def arch_variables(self) -> list:
        """The architecture parameters (K-matrix twiddles); empty for arch='fixed'."""
        return [v for v in self.weights if is_arch_variable(v)]

    @property
    def model_variables(self) -> list:
        """The model weights (kernel, bias): the replaced convolution's shapes."""
        return [v for v in self.weights if not is_arch_variable(v)]

    # ------------------------------------------------------------------ forward
    # Inside `call` tensors are spatial-first, (*spatial, batch, channels): each
    # transform acts on the leading axis as one matmul over contiguous columns
    # (`butterfly.apply_leading`) and then cycles that axis behind the other
    # spatial ones, so after `rank` transforms the order is back (no data moves
    # for rank 1); the channel mixing is one batched matmul per frequency.
    def call(self, inputs):
        rank = self.rank
        x = ops.cast(inputs, "float32")
        x = ops.transpose(x, tuple(range(1, rank + 1)) + (0, rank + 1))
        if any(plan.wrap != (0, 0) for plan in self.plans):
            x = periodic_pad(x, [plan.wrap for plan in self.plans], first_axis=0)
        fill = [(0, plan.size - x.shape[i]) for i, plan in enumerate(self.plans)]
        if any(right for _, right in fill):
            x = ops.pad(x, fill + [(0, 0), (0, 0)])
        spectrum = self._forward(x)
        mixed = self._mix(spectrum, self._filter_spectrum())
        y = self._inverse(mixed)
        index = tuple(slice(0, (plan.out - 1) * plan.stride + 1, plan.stride)
                      for plan in self.plans)
        y = y[index]
        y = ops.transpose(y, (rank,) + tuple(range(rank)) + (rank + 1,))
        if self.bias is not None:
            y = y + ops.cast(self.bias, y.dtype)
        if self.activation is not None:
            y = self.activation(y)
        return ops.cast(y, self.compute_dtype)

    def _cycle(self, t):
        """Moves the leading (just transformed) axis behind the other spatial axes."""
        if t is None or self.rank == 1:
            return t
        rank = self.rank
        return ops.transpose(t, tuple(range(1, rank)) + (0,) + tuple(range(rank, len(t.shape))))

    def _filter_spectrum(self):
        """`L w`, the spectrum of the kernel in its circular filter: (freq, c_in, c_per).

        L is linear and the filter is zero off the kernel taps, so only L's columns
        at the taps matter: per axis, L applied to the tap one-hots, (freq,
        kernel), times the kernel as a matmul (not a transform of a mostly-zero
        (size, c_in, c_out) tensor).
        """
        re, im = ops.cast(self.kernel, "float32"), None
        for axis, plan in enumerate(self.plans):
            taps = np.eye(plan.size, dtype="float32")[:, plan.kernel_positions()]
            if self.arch == "fixed":
                basis = np.fft.fft(taps, axis=0)
                if axis == self.rank - 1:
                    basis = basis[:plan.size // 2 + 1]
                columns = tuple(ops.convert_to_tensor(part.astype("float32"))
                                for part in (basis.real, basis.imag))
            else:
                columns = butterfly.apply_leading(
                    ops.convert_to_tensor(taps), None, self.twiddles["L", axis],
                    increasing=False)
            rest = tuple(re.shape[1:])
            flat = [None if t is None else ops.reshape(t, (plan.kernel, -1)) for t in (re, im)]
            re, im = butterfly.complex_matmul(columns, flat)
            re, im = (self._cycle(ops.reshape(t, (-1,) + rest)) for t in (re, im))
        channels = tuple(re.shape[self.rank:])
        return tuple(ops.reshape(t, (-1,) + channels) for t in (re, im))

    def _forward(self, x):
        """Time -> frequency along the leading `rank` axes of a real tensor."""
        if self.arch == "fixed":
            return self._fixed_transform(x, inverse=False)
        re, im = x, None
        for axis in range(self.rank):
            re, im = butterfly.apply_leading(re, im, self.twiddles["M", axis], increasing=False)
            re, im = self._cycle(re), self._cycle(im)
        return re, im

    def _inverse(self, spectrum):
        """Frequency -> time (real part) along the leading `rank` axes."""
        if self.arch == "fixed":
            return self._fixed_transform(spectrum, inverse=True)
        re, im = spectrum
        for axis in range(self.rank):
            re, im = butterfly.apply_leading(
                re, im, self.twiddles["K", axis], increasing=True,
                real_output=axis == self.rank - 1)
            re, im = self._cycle(re), self._cycle(im)
        return re

    def _fixed_transform(self, x, inverse):
        """(i)rfft over the spatial axes (the FFTs act on trailing axes: moved there)."""
        rank = self.rank
        to_last = (rank, rank + 1) + tuple(range(rank))
        back = tuple(range(2, rank + 2)) + (0, 1)
        if not inverse:
            x = ops.transpose(x, to_last)
            first = len(x.shape) - rank
            re, im = ops.rfft(x)
            for axis in range(first, first + rank - 1):
                re, im = _fft_along(re, im, axis)
            return ops.transpose(re, back), ops.transpose(im, back)
        re, im = (ops.transpose(t, to_last) for t in x)
        first = len(re.shape) - rank
        for axis in range(first, first + rank - 1):
            re, im = _fft_along(re, im, axis, inverse=True)
        return ops.transpose(ops.irfft((re, im), fft_length=self.plans[-1].size), back)

    def _mix(self, spectrum, filters):
        """Per-frequency channel mixing of (*f, b, c) by (f, c, o), complex."""
        (x_re, x_im), (h_re, h_im) = spectrum, filters
        freq_shape = tuple(x_re.shape[:self.rank])
        flat = int(np.prod(freq_shape))
        x_re, x_im = (ops.reshape(t, (flat, -1, self.in_channels)) for t in (x_re, x_im))
        if self.depth_multiplier is None:
            # H (freq x c x o) is the largest tensor here (c*o per frequency against the
            # activations' batch*c): it is never copied. X is stacked instead, [x_re; x_im]
            # over the batch, so two batched matmuls give all four real products.
            batch = ops.shape(x_re)[1]
            stacked = ops.concatenate([x_re, x_im], axis=1)
            p_re, p_im = ops.matmul(stacked, h_re), ops.matmul(stacked, h_im)
            y_re = p_re[:, :batch] - p_im[:, batch:]
            y_im = p_im[:, :batch] + p_re[:, batch:]
        else:
            def product(a, b):
                out = ops.expand_dims(a, -1) * ops.expand_dims(b, 1)
                return ops.reshape(out, (flat, -1, self.out_channels))
            y_re = product(x_re, h_re) - product(x_im, h_im)
            y_im = product(x_re, h_im) + product(x_im, h_re)
        shape = freq_shape + (-1, self.out_channels)
        return ops.reshape(y_re, shape), ops.reshape(y_im, shape)

    def compute_output_shape(self, input_shape):
        out = [p.out for p in self._plans(input_shape[1:-1])]
        channels = (self.filters if self.depth_multiplier is None
                    else input_shape[-1] * self.depth_multiplier)
        return (input_shape[0], *out, channels)

    # ------------------------------------------------------------ serialization
    def get_config(self):
        config = super().get_config()
        config.update(
            rank=self.rank, filters=self.filters, kernel_size=self.kernel_size,
            strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate,
            depth_multiplier=self.depth_multiplier,
            activation=keras.activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=keras.regularizers.serialize(self.bias_regularizer),
            kernel_constraint=keras.constraints.serialize(self.kernel_constraint),
            bias_constraint=keras.constraints.serialize(self.bias_constraint),
            arch=self.arch, depth=self.depth)
        return config

    # -------------------------------------------------------------- warm start
    @classmethod
    def from_conv(cls, conv, arch: str = "butterfly", depth: int = 1,
                  input_shape: Optional[Sequence[Optional[int]]] = None) -> "XD":
        """The XD-operation computing exactly what a Keras convolution computes.

        Args:
          conv: a `keras.layers.Conv1D/2D/3D`, `DepthwiseConv1D/2D`, or a
            `CircularConv1D/2D`, built (its weights are copied) or not.
          arch, depth: of the XD-operation.
          input_shape: the conv's input shape; defaults to the shape it was
            called on, if any. Unknown: the weights are copied at first build.
        """
        from symbolic_automl.spaces.xd import conversion  # pylint: disable=g-import-not-at-top

        rank, kwargs = conversion.xd_arguments(type(conv), conv.get_config())
        target = xd_class(rank) if cls is XD else cls
        if target is XD:
            kwargs["rank"] = rank
        layer = target(arch=arch, depth=depth, **kwargs)
        if conv.built:
            layer._initial_weights = [np.asarray(w) for w in conv.get_weights()]
        if input_shape is None:
            input_shape = conversion.called_input_shape(conv)
        if input_shape is not None:
            layer.build(tuple(input_shape))
        return layer


def _constant(value: np.ndarray):
    def initializer(shape, dtype=None):
        del shape
        return ops.convert_to_tensor(value, dtype=dtype or "float32")
    return initializer


def _fft_along(re, im, axis, inverse=False):
    """Complex (i)FFT along `axis` (keras.ops.fft transforms the last axis only)."""
    last = len(re.shape) - 1
    if axis != last:
        re, im = ops.moveaxis(re, axis, -1), ops.moveaxis(im, axis, -1)
    if inverse:
        # ifft(z) = conj(fft(conj(z))) / n.
        n = re.shape[-1]
        re, im = ops.fft((re, -im))
        re, im = re / n, -im / n
    else:
        re, im = ops.fft((re, im))
    if axis != last:
        re, im = ops.moveaxis(re, -1, axis), ops.moveaxis(im, -1, axis)
    return re, im


@keras.saving.register_keras_serializable(package="symbolic_automl.xd")
class XD1D(XD):
    """`XD` over one spatial axis: the stand-in for Conv1D / DepthwiseConv1D."""

    def __init__(self, filters=None, kernel_size=1, **kwargs):
        kwargs.pop("rank", None)
        super().__init__(1, filters, kernel_size, **kwargs)


@keras.saving.register_keras_serializable(package="symbolic_automl.xd")
class XD2D(XD):
    """`XD` over two spatial axes: the stand-in for Conv2D / DepthwiseConv2D."""

    def __init__(self, filters=None, kernel_size=1, **kwargs):
        kwargs.pop("rank", None)
        super().__init__(2, filters, kernel_size, **kwargs)


def xd_class(rank: int):
    """XD1D, XD2D, or XD (with a `rank` argument) for higher ranks."""
    return {1: XD1D, 2: XD2D}.get(rank, XD)
