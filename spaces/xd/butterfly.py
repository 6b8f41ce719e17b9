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

How it runs (`apply_leading`): never factor by factor (log n passes of small
ops). With n = n2 * n1, a block's factors of stride < n1 form n2 dense n1 x n1
blocks and the rest n1 dense n2 x n2 matrices; since a butterfly has one path
from each input to each output, every entry is a product of one twiddle entry
per factor, gathered at once. Small K-matrices (n <= DENSE_MAX_SIZE) are then
materialized as the outer product of the two and applied as one GEMM; larger
ones as the two batched matmuls, O(n (n1 + n2)) per column, on the transformed
axis leading so that the columns are contiguous.

Example::

    tw = dft_twiddle(8, inverse=False)                   # (1, 3, 4, 2, 2, 2)
    re, im = butterfly_multiply(x, None, tw, axis=-1, increasing=False)
    # re + 1j * im == np.fft.fft(x)[bit_reversal(8)]
"""

import functools
import math
from typing import Optional, Tuple

from keras import ops
import numpy as np


# Up to this size a K-matrix block is materialized and applied as one dense matmul
# (measured with benchmarks/xd_layer.py: above it the two stages are faster).
DENSE_MAX_SIZE = 128


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
    axis = axis % len(re.shape)
    if axis:
        re = ops.moveaxis(re, axis, 0)
        im = None if im is None else ops.moveaxis(im, axis, 0)
    re, im = apply_leading(re, im, twiddle, increasing, real_output)
    if axis:
        re = ops.moveaxis(re, 0, axis)
        im = None if im is None else ops.moveaxis(im, 0, axis)
    return re, im


def apply_leading(re, im: Optional[object], twiddle, increasing: bool,
                  real_output: bool = False) -> Tuple[object, object]:
    """The K-matrix applied along axis 0 of (re, im): `Y[i, ...] = sum_j K[i, j] X[j, ...]`.

    Axis 0 leading and the rest flattened into columns makes every step a plain
    (batched) matmul on contiguous memory, with no transposes of the data but
    the one per two-stage block below. Up to `DENSE_MAX_SIZE` each block is
    materialized (an O(n^2) outer product of its two stage matrices) and applied
    as one GEMM; above, as its two stages (O(n (n1 + n2)) per column).
    """
    n = re.shape[0]
    levels = log2_exact(n)
    depth = twiddle.shape[0]
    if tuple(twiddle.shape) != (depth, levels, n // 2, 2, 2, 2):
        raise ValueError(f"Twiddle of shape {tuple(twiddle.shape)} does not fit size {n}; "
                         f"expected ({depth}, {levels}, {n // 2}, 2, 2, 2).")
    shape = [-1 if d is None else d for d in re.shape]
    re = ops.reshape(re, (n, -1))
    im = None if im is None else ops.reshape(im, (n, -1))
    tw_re, tw_im = twiddle[..., 0], twiddle[..., 1]
    dense = n <= DENSE_MAX_SIZE
    for block in range(depth):
        up = block_increasing(increasing, block)
        stages = [_stage_matrices(tw_re[block], tw_im[block], n, levels, within, up)
                  for within in ((True, False) if up else (False, True))]
        last_block = block == depth - 1
        if dense:
            matrix = _dense_block(stages, up, n)
            re, im = complex_matmul(matrix, (re, im), real_output and last_block)
            continue
        for i, (within, matrix) in enumerate(zip((up, not up), stages)):
            real = real_output and last_block and i == 1
            re, im = _apply_stage(matrix, re, im, n, levels, within, real)
    re = ops.reshape(re, shape)
    return re, None if im is None else ops.reshape(im, shape)


def complex_matmul(a, b, real_output: bool = False):
    """`a @ b` for complex (re, im) pairs (either im may be None), by separate real
    matmuls: no operand or result is concatenated or sliced (a copy of the
    largest tensors, which costs more than the matmuls save).

    real_output: only the real part is computed (im comes back None).
    """
    (a_re, a_im), (b_re, b_im) = a, b
    if a_im is None and b_im is None:
        return ops.matmul(a_re, b_re), None
    if b_im is None or a_im is None:
        imag = ops.matmul(a_im, b_re) if b_im is None else ops.matmul(a_re, b_im)
        return ops.matmul(a_re, b_re), None if real_output else imag
    re = ops.matmul(a_re, b_re) - ops.matmul(a_im, b_im)
    if real_output:
        return re, None
    return re, ops.matmul(a_re, b_im) + ops.matmul(a_im, b_re)


def _split(levels):
    n1 = 1 << (levels // 2)
    return n1, (1 << levels) // n1


def _stage_matrices(tw_re, tw_im, n, levels, within, up):
    """The matrices of one block's factors of stride < n1 (`within`) or >= n1.

    With n = n2 * n1 (n1 = 2^(levels // 2)) and index i = a * n1 + b, factors of
    stride < n1 mix only within each contiguous block a: together a
    block-diagonal matrix, W[a, out, in] (n2 blocks of n1 x n1); factors of
    stride >= n1 mix only across blocks at fixed b: A[b, out, in] (n1 matrices
    of n2 x n2). A butterfly has exactly one path from each input to each
    output it reaches, so every entry is the product of one twiddle entry per
    factor: one gather (indices from `_path_index`) and a product over the
    factors, a few ops whatever n is. Returns (re, im).
    """
    index = _path_index(n, within, up)
    if not index.shape[0]:  # n = 2 has no factor of stride < n1 = 1: the identity.
        ones = np.ones(index.shape[1:], "float32")
        return ops.convert_to_tensor(ones), ops.convert_to_tensor(0 * ones)
    index = ops.convert_to_tensor(index)
    entries_re = ops.take(ops.reshape(tw_re, (-1,)), index)
    entries_im = ops.take(ops.reshape(tw_im, (-1,)), index)
    re, im = entries_re[0], entries_im[0]
    for step in range(1, index.shape[0]):
        e_re, e_im = entries_re[step], entries_im[step]
        re, im = re * e_re - im * e_im, re * e_im + im * e_re
    return re, im


@functools.lru_cache(maxsize=None)
def _path_index(n: int, within: bool, up: bool) -> np.ndarray:
    """Flat indices into a block's (log n, n/2, 2, 2) twiddle along every path of a stage.

    Shape (factors, *matrix): within (n2, n1, n1) = [a, out b, in b], across
    (n1, n2, n2) = [b, out a, in a]. Factor `k` (log stride s, applied k-th)
    maps bit s of the position from the input's to the output's value; the
    position it sees has the output's bits for the factors already applied
    and the input's for the rest.
    """
    levels = log2_exact(n)
    n1, n2 = _split(levels)
    split = levels // 2
    log_strides = list(range(split)) if within else list(range(split, levels))
    if not up:
        log_strides.reverse()
    if within:
        a, o, b = np.meshgrid(np.arange(n2), np.arange(n1), np.arange(n1), indexing="ij")
        position_in, position_out = a * n1 + b, a * n1 + o
    else:
        b, c, a = np.meshgrid(np.arange(n1), np.arange(n2), np.arange(n2), indexing="ij")
        position_in, position_out = a * n1 + b, c * n1 + b
    index, done = [], 0
    for log_stride in log_strides:
        stride = 1 << log_stride
        seen = (position_out & done) | (position_in & ~done)
        j = (seen >> log_stride) & 1
        i = (position_out >> log_stride) & 1
        pair = (seen >> (log_stride + 1)) * stride + (seen & (stride - 1))
        level = log_stride if up else levels - 1 - log_stride
        index.append(((level * (n // 2) + pair) * 2 + i) * 2 + j)
        done |= stride
    if not index:
        return np.zeros((0,) + position_in.shape, np.int32)
    return np.stack(index).astype(np.int32)


def _dense_block(stages, up, n):
    """The (n, n) matrix [out, in] of one block from its two stage matrices.

    Entry [(c, o), (a, b)] is a single product: increasing blocks run W then
    A, so it is A[o, c, a] W[a, o, b]; decreasing blocks run A then W, so it is
    A[b, c, a] W[c, o, b].
    """
    if up:
        (w_re, w_im), (a_re, a_im) = stages
        w = [ops.expand_dims(ops.transpose(t, (1, 0, 2)), 0) for t in (w_re, w_im)]  # [1,o,a,b]
        a = [ops.expand_dims(ops.transpose(t, (1, 0, 2)), 3) for t in (a_re, a_im)]  # [c,o,a,1]
    else:
        (a_re, a_im), (w_re, w_im) = stages
        w = [ops.expand_dims(t, 2) for t in (w_re, w_im)]                              # [c,o,1,b]
        a = [ops.expand_dims(ops.transpose(t, (1, 2, 0)), 1) for t in (a_re, a_im)]  # [c,1,a,b]
    re = w[0] * a[0] - w[1] * a[1]
    im = w[0] * a[1] + w[1] * a[0]
    return ops.reshape(re, (n, n)), ops.reshape(im, (n, n))


def _apply_stage(matrix, re, im, n, levels, within, real_output):
    """One stage on (n, columns): W[a] @ X[a] (within) or A[b] @ X[:, b] (across)."""
    n1, n2 = _split(levels)
    x = [None if t is None else ops.reshape(t, (n2, n1, -1)) for t in (re, im)]
    if not within:
        x = [None if t is None else ops.transpose(t, (1, 0, 2)) for t in x]
    y_re, y_im = complex_matmul(matrix, x, real_output)
    if not within:
        y_re = ops.transpose(y_re, (1, 0, 2))
        y_im = None if y_im is None else ops.transpose(y_im, (1, 0, 2))
    return (ops.reshape(y_re, (n, -1)), None if y_im is None else ops.reshape(y_im, (n, -1)))
