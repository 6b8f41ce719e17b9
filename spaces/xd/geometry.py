"""Where a convolution reads and writes, one spatial axis at a time.

An XD-operation computes a circular convolution of length `size` (a power of
two for K-matrices) and crops it. `AxisPlan` says how: how much to wrap the
input around (circular padding that cannot be done natively), where the kernel
taps land in the length-`size` filter (`offset`), and which outputs to keep.

For output t (before striding) the plan computes
`y[t] = sum_j w[j] * x[(t + j * dilation - offset) mod size]`, with `x` the
(wrapped) input zero-filled on the right up to `size`; it keeps
`y[0 : (out - 1) * stride + 1 : stride]`. Zero padding ('same') is the offset
plus the zero fill, never an explicit left pad.

Example::

    plan = plan_axis(16, kernel=3, dilation=1, stride=1, padding="same")
    plan.size, plan.offset, plan.out      # (17, 1, 16); power_of_two=True: size 32
"""

import dataclasses
import math
from typing import Tuple

import numpy as np

PADDINGS = ("valid", "same", "circular")


@dataclasses.dataclass(frozen=True)
class AxisPlan:
    """How one spatial axis of a convolution maps onto a circular convolution.

    Attributes:
      length: input length along the axis.
      kernel: kernel size; dilation, stride: as in Keras.
      wrap: periodic padding (left, right) applied before the transform.
      offset: index shift of the kernel taps in the circular filter.
      size: length of the circular convolution (transform size).
      out: output length along the axis.
    """

    length: int
    kernel: int
    dilation: int
    stride: int
    wrap: Tuple[int, int]
    offset: int
    size: int
    out: int

    @property
    def span(self) -> int:
        """Extent of the dilated kernel."""
        return self.dilation * (self.kernel - 1) + 1

    def kernel_positions(self) -> np.ndarray:
        """Index in the length-`size` filter of each kernel tap j = 0..kernel-1."""
        return (self.offset - self.dilation * np.arange(self.kernel)) % self.size


def is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def next_power_of_two(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(n)))


def padding_amounts(length: int, kernel: int, dilation: int, stride: int,
                    padding: str) -> Tuple[int, int, int]:
    """(left, right, out) of a Keras convolution with this padding.

    'same' follows TensorFlow/XLA (total = max((out-1)*stride + span - length, 0),
    left = total // 2); 'circular' pads span - 1 periodically, left =
    (span - 1) // 2, independent of the stride, and keeps ceil(length / stride)
    outputs (see `CircularConv1D`).
    """
    span = dilation * (kernel - 1) + 1
    if padding == "valid":
        if length < span:
            raise ValueError(
                f"A 'valid' convolution with kernel {kernel} and dilation {dilation} "
                f"(span {span}) needs an input of length >= {span}, got {length}.")
        return 0, 0, (length - span) // stride + 1
    if padding == "same":
        out = -(-length // stride)
        total = max((out - 1) * stride + span - length, 0)
        return total // 2, total - total // 2, out
    if padding == "circular":
        left = (span - 1) // 2
        right = span - 1 - left
        if max(left, right) > length:
            raise ValueError(
                f"Circular padding of {left, right} (kernel {kernel}, dilation {dilation}) "
                f"would wrap an input of length {length} more than once; expected "
                f"dilation * (kernel - 1) <= 2 * length.")
        return left, right, (length - 1) // stride + 1
    raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}.")


def plan_axis(length: int, kernel: int, dilation: int = 1, stride: int = 1,
              padding: str = "valid", power_of_two: bool = False) -> AxisPlan:
    """The circular convolution that computes one axis of a Keras convolution.

    Args:
      length, kernel, dilation, stride: of the convolution along this axis.
      padding: 'valid', 'same' (zeros, as Keras) or 'circular' (periodic).
      power_of_two: round the transform size up to a power of two (K-matrices).
    """
    for name, value in (("length", length), ("kernel", kernel), ("dilation", dilation),
                        ("stride", stride)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    left, right, out = padding_amounts(length, kernel, dilation, stride, padding)
    span = dilation * (kernel - 1) + 1
    if padding == "circular" and span <= length and (
            not power_of_two or is_power_of_two(length)):
        # Periodic padding is what a length-`length` circular convolution does anyway.
        return AxisPlan(length, kernel, dilation, stride, wrap=(0, 0), offset=left,
                        size=length, out=out)
    if padding == "circular":
        wrap, offset, wrapped = (left, right), 0, length + left + right
    else:
        wrap, offset, wrapped = (0, 0), left, length
    # Taps reach back `offset` before index 0 (they must land in the zero fill after
    # the input) and forward to (out-1)*stride + span - 1 - offset (no wrap-around).
    minimal = max(wrapped + offset, (out - 1) * stride + span - offset, span)
    size = next_power_of_two(minimal) if power_of_two else minimal
    return AxisPlan(length, kernel, dilation, stride, wrap=wrap, offset=offset,
                    size=size, out=out)
