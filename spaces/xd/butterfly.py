"""Butterfly (Kaleidoscope) matrices: products of log2(n) sparse 2x2-mixing factors.

A butterfly factor of stride s mixes entries i and i + s within each block of
2s entries by a 2x2 complex matrix; log2(n) factors of strides 1, 2, ..., n/2
(a "B" block, `increasing=True`) or n/2, ..., 1 (a "B^T" block) multiply in
O(n log n), as in HazyResearch/butterfly (`butterfly_multiply_torch`: twiddle
of shape (log n, n/2, 2, 2), factor `level` read as (n/(2s), s, 2, 2)). A
K-matrix of depth d is d blocks, alternating B and B^T.

The DFT is exactly one block: with P the bit-reversal permutation,
`F = B_dit P` (decimation in time, increasing strides), so
`F^T = F = P B_dit^T`: `B_dit^T x` is the spectrum in bit-reversed order (a
decreasing-stride block) and `conj(B_dit) / n` takes a bit-reversed spectrum
back to time. XD-operations use these three, so no permutation is ever applied:
`K diag(L w) M = F^-1 P diag(P F h) P F = F^-1 diag(F h) F`.

Complex values travel as (real, imag) pairs of real tensors: Keras variables and
both backends' gradients stay real.

Example::

    tw = dft_twiddle(8, inverse=False)                   # (1, 3, 4, 2, 2, 2)
    re, im = butterfly_multiply(x, None, tw, axis=-1, increasing=False)
    # re + 1j * im == np.fft.fft(x)[bit_reversal(8)]
"""

import math
from typing import Optional, Tuple

from keras import ops
import numpy as np


# Up to this size a K-matrix is materialized and applied as one dense matmul.
DENSE_MAX_SIZE = 512


def log2_exact(n: int) -> int:
    levels = int(round(math.log2(n))) if n > 0 else -1
    if n < 1 or (1 << levels) != n:
        raise ValueError(f"Butterfly matrices need a power-of-two size, got {n}.")
    return levels


def bit_reversal(n: int) -> np.ndarray:
    """The bit-reversal permutation of 0..n-1 (n a power of two)."""
    levels = log2_exact(n)
    index = np.arange(n)
    reversed_index = np.zeros(n, dtype=np.int64)
    for bit in range(levels):
        reversed_index |= ((index >> bit) & 1) << (levels - 1 - bit)
    return reversed_index


def _dit_factors(n: int) -> np.ndarray:
    """Complex twiddles (log n, n/2, 2, 2) of the decimation-in-time FFT block."""
    levels = log2_exact(n)
    factors = []
    for level in range(levels):
        size = 2 << level
        w = np.exp(-2j * np.pi * np.arange(size // 2) / size)
        one = np.ones_like(w)
        factor = np.stack([np.stack([one, w], -1), np.stack([one, -w], -1)], -2)
        factors.append(np.tile(factor, (n // size, 1, 1)))
    return np.stack(factors)


def identity_twiddle(n: int) -> np.ndarray:
    """Complex twiddles (log n, n/2, 2, 2) of the identity block."""
    levels = log2_exact(n)
    return np.broadcast_to(np.eye(2, dtype=complex), (levels, n // 2, 2, 2)).copy()


def dft_twiddle(n: int, inverse: bool, normalized: bool = True, depth: int = 1) -> np.ndarray:
    """Real (depth, log n, n/2, 2, 2, 2) twiddles of a K-matrix initialized to a DFT.

    inverse=False: decreasing-stride first block, time -> bit-reversed spectrum
    (`M`, and `L` with normalized=False). inverse=True: increasing-stride first
    block, bit-reversed spectrum -> time (`K`). Further blocks (depth > 1)
    alternate direction and start as the identity. The last axis is (real, imag).
    normalized: scale to the unitary DFT (each factor by 1/sqrt(2)).
    """
    if not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"K-matrix depth must be a positive integer, got {depth!r}.")
    factors = _dit_factors(n)
    if inverse:
        # conj(B_dit) / n: the 1/n spread evenly, 1/2 per level (or 1/sqrt(2) unitary).
        first = np.conj(factors) / (np.sqrt(2.0) if normalized else 2.0)
    else:
        # B_dit^T: transpose each 2x2 and apply the levels in reverse order.
        first = np.swapaxes(factors, -1, -2)[::-1]
        if normalized:
            first = first / np.sqrt(2.0)
    blocks = [first] + [identity_twiddle(n) for _ in range(depth - 1)]
    twiddle = np.stack(blocks)
    return np.stack([twiddle.real, twiddle.imag], axis=-1).astype("float32")


def block_increasing(first_increasing: bool, block: int) -> bool:
    """Stride order of block `block` of a K-matrix whose first block has `first_increasing`."""
    return first_increasing != bool(block % 2)


def butterfly_multiply(re, im: Optional[object], twiddle, axis: int,
                       increasing: bool, real_output: bool = False) -> Tuple[object, object]:
    """Applies a K-matrix along `axis` of a complex tensor given as (re, im).

    Args:
      re, im: real and imaginary parts (`im=None` for a real input), with a
        static power-of-two length along `axis` and static sizes after it.
      twiddle: (depth, log n, n/2, 2, 2, 2) real tensor, last axis (real, imag).
      axis: the axis to transform (negative counts from the end).
      increasing: stride order of the first block; later blocks alternate.
      real_output: only the real part is wanted (im comes back None).

    Returns:
      (re, im) of the result, same shape as the input.
    """
    shape = tuple(re.shape)
    axis = axis % len(shape)
    n = shape[axis]
    levels = log2_exact(n)
    depth = twiddle.shape[0]
    if tuple(twiddle.shape) != (depth, levels, n // 2, 2, 2, 2):
        raise ValueError(f"Twiddle of shape {tuple(twiddle.shape)} does not fit size {n}; "
                         f"expected ({depth}, {levels}, {n // 2}, 2, 2, 2).")
    last = len(shape) - 1
    if axis != last:
        re = ops.moveaxis(re, axis, -1)
        im = None if im is None else ops.moveaxis(im, axis, -1)
    moved_shape = [-1 if d is None else d for d in re.shape]
    x_re = ops.reshape(re, (-1, n))
    x_im = None if im is None else ops.reshape(im, (-1, n))
    if n <= DENSE_MAX_SIZE:
        # Materialize the K-matrix (its stages run on the n x n identity) and apply
        # it as one matmul: big GEMMs beat small batched ones up to moderate n.
        m_re, m_im = _apply_blocks(ops.convert_to_tensor(np.eye(n, dtype="float32")), None,
                                   twiddle, n, levels, depth, increasing)
        if x_im is None:
            x_re, x_im = ops.matmul(x_re, m_re), ops.matmul(x_re, m_im)
        elif real_output:
            x_re, x_im = ops.matmul(x_re, m_re) - ops.matmul(x_im, m_im), None
        else:
            x_re, x_im = (ops.matmul(x_re, m_re) - ops.matmul(x_im, m_im),
                          ops.matmul(x_re, m_im) + ops.matmul(x_im, m_re))
    else:
        x_re, x_im = _apply_blocks(x_re, x_im, twiddle, n, levels, depth, increasing)
    x_re = ops.reshape(x_re, moved_shape)
    if axis != last:
        x_re = ops.moveaxis(x_re, -1, axis)
    if real_output:
        return x_re, None
    x_im = ops.reshape(x_im, moved_shape)
    if axis != last:
        x_im = ops.moveaxis(x_im, -1, axis)
    return x_re, x_im


def _apply_blocks(x_re, x_im, twiddle, n, levels, depth, increasing):
    """The K-matrix on rows of (re, im) of shape (rows, n): each block in two stages."""
    tw_re, tw_im = twiddle[..., 0], twiddle[..., 1]
    for block in range(depth):
        up = block_increasing(increasing, block)
        for within in ((True, False) if up else (False, True)):
            x_re, x_im = _stage(x_re, x_im, tw_re[block], tw_im[block], n, levels, within, up)
    return x_re, x_im


def _stage(x_re, x_im, tw_re, tw_im, n, levels, within, up):
    """The factors of one block with strides < n1 (`within`) or >= n1, as matmuls.

    With n = n2 * n1 (n1 = 2^(levels // 2)) and index i = a * n1 + b, factors of
    stride < n1 mix only within each contiguous block a: together a
    block-diagonal matrix W[a] (n1 x n1); factors of stride >= n1 mix only
    across blocks at fixed b: a matrix A[b] (n2 x n2). Each is materialized by
    running its factors on tiled identities (n1 or n2 rows, cheap) and applied
    as a batched matmul: O(n (n1 + n2)) per row instead of log n passes of small
    elementwise ops.
    """
    split = levels // 2
    n1 = 1 << split
    n2 = n // n1
    log_strides = list(range(split)) if within else list(range(split, levels))
    if not log_strides:
        return x_re, x_im
    if not up:
        log_strides.reverse()
    if within:
        probe = np.tile(np.eye(n1, dtype="float32"), (1, n2))      # [r, a*n1 + b] = (r == b)
    else:
        probe = np.repeat(np.eye(n2, dtype="float32"), n1, axis=1)  # [r, a*n1 + b] = (r == a)
    m_re, m_im = ops.convert_to_tensor(probe[:, :, None]), None
    for log_stride in log_strides:
        step = log_stride if up else levels - 1 - log_stride
        m_re, m_im = _factor(m_re, m_im, tw_re[step], tw_im[step], n, 1 << log_stride, 1)
    rows = probe.shape[0]
    if within:
        # W[a, out, in]: the response at a*n1 + out to the one-hot at a*n1 + in.
        def matrix(m):
            return ops.transpose(ops.reshape(m, (rows, n2, n1)), (1, 2, 0))
        equation = "rab,aob->rao"
    else:
        # A[b, out, in]: the response at out*n1 + b to the one-hot at in*n1 + b.
        def matrix(m):
            return ops.transpose(ops.reshape(m, (rows, n2, n1)), (2, 1, 0))
        equation = "rab,bca->rcb"
    w_re, w_im = matrix(m_re), matrix(m_im)
    x_re = ops.reshape(x_re, (-1, n2, n1))

    def product(x, w):
        return ops.reshape(ops.einsum(equation, x, w), (-1, n))

    if x_im is None:
        return product(x_re, w_re), product(x_re, w_im)
    x_im = ops.reshape(x_im, (-1, n2, n1))
    return (product(x_re, w_re) - product(x_im, w_im),
            product(x_re, w_im) + product(x_im, w_re))


def _factor(x_re, x_im, t_re, t_im, n, stride, after):
    """One butterfly factor: out[g, i, t] = sum_j T[g, t, i, j] x[g, j, t].

    Broadcast products summed over j: a dozen ops per factor whatever n is.
    """
    groups = n // (2 * stride)

    def entries(t):
        # (n/2, 2, 2) = (groups, stride, i, j) -> (1, groups, i, j, stride, 1).
        t = ops.reshape(t, (groups, stride, 2, 2))
        return ops.expand_dims(ops.transpose(t, (0, 2, 3, 1)), (0, 5))

    t_re, t_im = entries(t_re), entries(t_im)
    a_re = ops.reshape(x_re, (-1, groups, 1, 2, stride, after))
    if x_im is None:
        out_re = ops.sum(t_re * a_re, axis=3)
        out_im = ops.sum(t_im * a_re, axis=3)
    else:
        a_im = ops.reshape(x_im, (-1, groups, 1, 2, stride, after))
        out_re = ops.sum(t_re * a_re - t_im * a_im, axis=3)
        out_im = ops.sum(t_re * a_im + t_im * a_re, axis=3)
    return ops.reshape(out_re, (-1, n, after)), ops.reshape(out_im, (-1, n, after))
