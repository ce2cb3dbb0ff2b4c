"""CPU reference of the sparse GEMV kernel (arXiv 2602.05779, App. F), in NumPy + Numba.

Same layout (``W^T``, n x m, in the packed weight format) and the same
compaction semantics as the CUDA kernel: an input is *active* iff
``x_j != 0`` (so ``-0.0`` is skipped and NaN is kept), active indices are
taken in ascending order, and only their rows of ``W^T`` are read and
accumulated in float32.  Inactive columns of W are never read, so a NaN or
Inf there does not reach ``y`` (unlike ``W @ x``, where ``0 * inf = nan``).
The summation order is sequential over the active rows; the kernel splits it
over warps and blocks, so the two agree to float32 rounding, not bitwise.
"""
from functools import cache

import numba
import numpy as np

from gpu.layout import PackedWeights, bf16_bits_to_float32, check_vectors


@numba.njit(cache=True)
def _compact(x, idx, vals, counts):
    for b in range(x.shape[0]):
        k = 0
        for j in range(x.shape[1]):
            v = x[b, j]
            if v != 0.0:
                idx[b, k] = j
                vals[b, k] = v
                k += 1
        counts[b] = k
        for r in range(k, x.shape[1]):
            idx[b, r] = -1
            vals[b, r] = 0.0


def compact_active(x: np.ndarray):
    """Active inputs of each vector of ``x`` (B, n), float32, C-contiguous.

    Returns ``(idx, vals, counts)``: ``idx[b, :counts[b]]`` are the ascending
    indices ``j`` with ``x[b, j] != 0`` (int32), ``vals`` their values
    (float32); entries past ``counts[b]`` are ``-1`` and ``0``.
    """
    if getattr(x, "ndim", None) != 2:
        raise ValueError(f"x must be a 2-D (B, n) array, got shape {getattr(x, 'shape', None)}")
    check_vectors(x, x.shape[1], np.ndarray)
    idx = np.empty(x.shape, dtype=np.int32)
    vals = np.empty(x.shape, dtype=np.float32)
    counts = np.empty(x.shape[0], dtype=np.int32)
    _compact(x, idx, vals, counts)
    return idx, vals, counts


@numba.njit(cache=True)
def _accumulate_f32(wt, idx, vals, counts, y):
    for b in range(y.shape[0]):
        for i in range(y.shape[1]):
            y[b, i] = 0.0
        for r in range(counts[b]):
            row = wt[idx[b, r]]
            v = vals[b, r]
            for i in range(y.shape[1]):
                y[b, i] += v * row[i]


@numba.njit(cache=True)
def _accumulate_bits(wt_bits, table, idx, vals, counts, y):
    for b in range(y.shape[0]):
        for i in range(y.shape[1]):
            y[b, i] = 0.0
        for r in range(counts[b]):
            row = wt_bits[idx[b, r]]
            v = vals[b, r]
            for i in range(y.shape[1]):
                y[b, i] += v * table[row[i]]


@cache
def _decode_table(weight_dtype: str) -> np.ndarray:
    """float32 value of every 16-bit pattern of ``weight_dtype`` (65 536 entries)."""
    bits = np.arange(1 << 16, dtype=np.uint16)
    if weight_dtype == "float16":
        return bits.view(np.float16).astype(np.float32)
    return bf16_bits_to_float32(bits)


def sparse_gemv_reference(weights: PackedWeights, x: np.ndarray) -> np.ndarray:
    """``y = W x`` reading only the active rows of ``W^T``; float32 result.

    ``weights`` is a NumPy-backed :class:`~gpu.layout.PackedWeights`; ``x`` is
    (n,) or (B, n) float32, C-contiguous, each vector with its own zero
    pattern.  Returns (m,) or (B, m).
    """
    if not isinstance(weights, PackedWeights) or not isinstance(weights.wt, np.ndarray):
        raise TypeError("weights must be a NumPy-backed PackedWeights (see gpu.pack_weights)")
    batch = check_vectors(x, weights.n, np.ndarray)
    idx, vals, counts = compact_active(x.reshape(batch, weights.n))
    y = np.empty((batch, weights.m), dtype=np.float32)
    if weights.weight_dtype == "float32":
        _accumulate_f32(weights.wt, idx, vals, counts, y)
    else:
        table = _decode_table(weights.weight_dtype)
        _accumulate_bits(weights.wt.view(np.uint16), table, idx, vals, counts, y)
    return y if x.ndim == 2 else y[0]
