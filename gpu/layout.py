"""Weight layout for the sparse GEMV: W stored transposed (arXiv 2602.05779, App. F), and
the input checks that the CPU reference and the GPU kernel share, run before any work.

``y = W x`` needs only the columns ``W[:, j]`` with ``x_j != 0``.  Storing
``W^T`` (n x m, row-major) makes each such column one contiguous row, so the
kernel reads exactly the active rows with wide, coalesced loads.

Weight formats: ``"float32"``, ``"float16"`` and ``"bfloat16"``.  NumPy and
CuPy have no bfloat16 dtype, so bfloat16 weights are held as their raw
``uint16`` bit patterns (round-to-nearest-even from float32, NaN kept quiet).
Everything here works on NumPy and CuPy arrays alike.
"""
from dataclasses import dataclass

import numpy as np

from gpu.backend import array_module

WEIGHT_DTYPES = ("float32", "float16", "bfloat16")
#: Array dtype that holds each weight format.
STORAGE_DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": np.uint16}
#: Widest load the kernel issues, in bytes (float4 / uint4).
MAX_LOAD_BYTES = 16


def float32_to_bf16_bits(a):
    """Round float32 values to bfloat16 (nearest even) and return the bits as uint16."""
    xp = array_module(a)
    u = xp.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = (u + (((u >> 16) & 1) + 0x7FFF)) >> 16
    quiet_nan = (u >> 16) | 0x0040
    return xp.where(xp.isnan(u.view(np.float32)), quiet_nan, rounded).astype(np.uint16)


def bf16_bits_to_float32(bits):
    """Exact float32 values of bfloat16 bit patterns (uint16)."""
    xp = array_module(bits)
    return (xp.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


def vector_width(m: int, weight_dtype: str) -> int:
    """Elements per load: the widest power of two <= 16 bytes that divides ``m``.

    Rows of ``W^T`` start at multiples of ``m`` elements, so a width that
    divides ``m`` keeps every load aligned without padding the layout.
    """
    width = MAX_LOAD_BYTES // np.dtype(STORAGE_DTYPES[weight_dtype]).itemsize
    while m % width:
        width //= 2
    return width


@dataclass(frozen=True)
class PackedWeights:
    """``W^T`` (n x m, C-contiguous) in one weight format; build with :func:`pack_weights`."""

    wt: object
    weight_dtype: str

    @property
    def n(self) -> int:
        """Number of inputs (columns of W)."""
        return self.wt.shape[0]

    @property
    def m(self) -> int:
        """Number of outputs (rows of W)."""
        return self.wt.shape[1]

    @property
    def vec(self) -> int:
        """Elements per vector load in the kernel (see :func:`vector_width`)."""
        return vector_width(self.m, self.weight_dtype)

    def decoded(self):
        """``W^T`` as float32 (exact for every format)."""
        if self.weight_dtype == "bfloat16":
            return bf16_bits_to_float32(self.wt)
        return self.wt.astype(np.float32)


def check_dense_weights(w, weight_dtype: str) -> None:
    """Validate a dense (m, n) floating weight matrix and the requested weight format."""
    if weight_dtype not in WEIGHT_DTYPES:
        raise ValueError(f"weight_dtype must be one of {WEIGHT_DTYPES}, got {weight_dtype!r}")
    if getattr(w, "ndim", None) != 2:
        raise ValueError(f"w must be a 2-D (m, n) array, got shape {getattr(w, 'shape', None)}")
    if w.dtype.kind != "f":
        raise TypeError(f"w must be a floating array, got dtype {w.dtype}")
    if min(w.shape) < 1:
        raise ValueError(f"w must have m >= 1 rows and n >= 1 columns, got shape {w.shape}")


def pack_weights(w, weight_dtype: str = "float32") -> PackedWeights:
    """Store the dense weight matrix ``w`` (m x n, floating) as ``W^T`` in ``weight_dtype``.

    Works for NumPy and CuPy input; the result lives on the same side.  Any
    memory layout of ``w`` is accepted (it is copied).
    """
    check_dense_weights(w, weight_dtype)
    xp = array_module(w)
    wt32 = xp.ascontiguousarray(w.T, dtype=np.float32)
    if weight_dtype == "bfloat16":
        return PackedWeights(float32_to_bf16_bits(wt32), weight_dtype)
    return PackedWeights(wt32.astype(STORAGE_DTYPES[weight_dtype]), weight_dtype)


def _type_name(t) -> str:
    return f"{t.__module__.split('.')[0]}.{t.__name__}"


def check_vectors(x, n: int, array_type) -> int:
    """Validate ``x`` (n,) or (B, n), float32, C-contiguous, of ``array_type``; return B.

    A 1-D ``x`` is one vector (B = 1).  Raises TypeError for the wrong array
    type or dtype and ValueError for a wrong shape or memory layout.
    """
    if not isinstance(x, array_type):
        raise TypeError(f"x must be a {_type_name(array_type)}, got {_type_name(type(x))}")
    if x.dtype != np.float32:
        raise TypeError(f"x must be float32, got {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"x must have shape (n,) or (B, n), got {x.shape}")
    if x.shape[-1] != n:
        raise ValueError(f"x has {x.shape[-1]} entries per vector but W has n = {n} columns")
    batch = 1 if x.ndim == 1 else x.shape[0]
    if batch < 1:
        raise ValueError("x must hold at least one vector")
    if not x.flags.c_contiguous:
        raise ValueError("x must be C-contiguous (use ascontiguousarray)")
    return batch


def check_out(out, shape: tuple, array_type) -> None:
    """Validate a caller-supplied output: ``array_type``, float32, ``shape``, C-contiguous."""
    if not isinstance(out, array_type):
        raise TypeError(f"out must be a {_type_name(array_type)}, got {_type_name(type(out))}")
    if out.dtype != np.float32:
        raise TypeError(f"out must be float32, got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
