"""Circularly padded convolutions: `CircularConv1D` and `CircularConv2D`.

Keras has no circular padding. These are `Conv1D` / `Conv2D` that pad the input
periodically by span - 1 (left (span - 1) // 2, the rest right, span =
dilation * (kernel - 1) + 1) and then convolve 'valid': the output has
ceil(length / stride) entries per axis, as 'same' has, and for odd spans it is
PyTorch's `padding_mode='circular'` with padding (span - 1) / 2. They are
ordinary Keras layers (weights, `get_config`, `.keras` files) that
`XD.from_conv` turns into XD-operations, exactly.

Example::

    conv = CircularConv1D(64, 17, use_bias=False)     # the XD paper's PDE backbone
    y = conv(keras.random.normal((2, 256, 64)))         # (2, 256, 64)
"""

from typing import Sequence, Tuple

import keras
from keras import ops

from symbolic_automl.spaces.xd import geometry


def periodic_pad(x, pads: Sequence[Tuple[int, int]], first_axis: int):
    """Pads axes first_axis, first_axis + 1, ... of `x` periodically by `pads`."""
    for i, (left, right) in enumerate(pads):
        axis = first_axis + i
        n = x.shape[axis]
        if max(left, right) > n:
            raise ValueError(f"Cannot wrap {left, right} around an axis of length {n}.")
        parts = []
        if left:
            parts.append(_slice(x, axis, n - left, n))
        parts.append(x)
        if right:
            parts.append(_slice(x, axis, 0, right))
        if len(parts) > 1:
            x = ops.concatenate(parts, axis=axis)
    return x


def _slice(x, axis, start, stop):
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(start, stop)
    return x[tuple(index)]


class _CircularMixin:
    """Periodic padding before a 'valid' Keras convolution (channels_last only)."""

    def _check_circular(self, padding, data_format):
        if padding != "circular":
            raise ValueError(f"{type(self).__name__} pads circularly; got padding={padding!r} "
                             "(use keras.layers.Conv*D for 'valid' or 'same').")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__} supports data_format='channels_last' "
                             f"only, got {data_format!r}.")

    def circular_pads(self, spatial_shape):
        pads = []
        for n, k, d in zip(spatial_shape, self.kernel_size, self.dilation_rate):
            left, right, _ = geometry.padding_amounts(n, k, d, 1, "circular")
            pads.append((left, right))
        return pads

    def call(self, inputs):
        pads = self.circular_pads(inputs.shape[1:-1])
        return super().call(periodic_pad(inputs, pads, first_axis=1))

    def compute_output_shape(self, input_shape):
        spatial = list(input_shape[1:-1])
        padded = [None if n is None else n + sum(p) for n, p in
                  zip(spatial, self.circular_pads([n or 1 for n in spatial]))]
        return super().compute_output_shape((input_shape[0], *padded, input_shape[-1]))

    def get_config(self):
        config = super().get_config()
        config["padding"] = "circular"
        return config


@keras.saving.register_keras_serializable(package="symbolic_automl.xd")
class CircularConv1D(_CircularMixin, keras.layers.Conv1D):
    """`keras.layers.Conv1D` with periodic padding (output length ceil(n / stride))."""

    def __init__(self, filters, kernel_size, strides=1, padding="circular", data_format=None,
                 dilation_rate=1, groups=1, **kwargs):
        self._check_circular(padding, data_format)
        super().__init__(filters, kernel_size, strides=strides, padding="valid",
                         data_format="channels_last", dilation_rate=dilation_rate,
                         groups=groups, **kwargs)


@keras.saving.register_keras_serializable(package="symbolic_automl.xd")
class CircularConv2D(_CircularMixin, keras.layers.Conv2D):
    """`keras.layers.Conv2D` with periodic padding (output ceil(n / stride) per axis)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="circular",
                 data_format=None, dilation_rate=(1, 1), groups=1, **kwargs):
        self._check_circular(padding, data_format)
        super().__init__(filters, kernel_size, strides=strides, padding="valid",
                         data_format="channels_last", dilation_rate=dilation_rate,
                         groups=groups, **kwargs)
