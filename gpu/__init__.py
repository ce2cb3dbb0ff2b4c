"""Sparse GEMV for activations with exact zeros (arXiv 2602.05779, App. F / Table 3).

CPU (NumPy + Numba): :func:`pack_weights`, :func:`compact_active`,
:func:`sparse_gemv_reference`.  GPU (optional CuPy): :class:`SparseGemv`, with
the dense-or-sparse rule in :func:`choose_path`.  ``python -m gpu.bench``
benchmarks both.  CuPy is imported only when the GPU path is used.
"""
from gpu.backend import GpuUnavailableError
from gpu.dispatch import Decision, DeviceModel, choose_path
from gpu.gemv import SparseGemv
from gpu.layout import WEIGHT_DTYPES, PackedWeights, pack_weights
from gpu.reference import compact_active, sparse_gemv_reference

__all__ = [
    "WEIGHT_DTYPES",
    "Decision",
    "DeviceModel",
    "GpuUnavailableError",
    "PackedWeights",
    "SparseGemv",
    "choose_path",
    "compact_active",
    "pack_weights",
    "sparse_gemv_reference",
]
