"""Optional CuPy import: ``import gpu`` works without CuPy; the GPU path says why it cannot run."""
import importlib

import numpy as np


class GpuUnavailableError(RuntimeError):
    """CuPy is not installed, or it cannot see a CUDA device."""


def optional_cupy():
    """The ``cupy`` module, or ``None`` when it is not installed."""
    try:
        return importlib.import_module("cupy")
    except ImportError:
        return None


def require_cupy():
    """The ``cupy`` module with at least one visible CUDA device, else :class:`GpuUnavailableError`."""
    cupy = optional_cupy()
    if cupy is None:
        raise GpuUnavailableError(
            "the GPU sparse GEMV needs CuPy: install the 'gpu' extra "
            "(pip install 'eoc-sparse[gpu]', i.e. cupy-cuda12x) on a machine with an NVIDIA GPU; "
            "gpu.sparse_gemv_reference is the CPU implementation"
        )
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken: CuPy raises its own runtime error
        raise GpuUnavailableError(f"CuPy is installed but no CUDA device is usable: {exc}") from exc
    if count < 1:
        raise GpuUnavailableError("CuPy is installed but no CUDA device is visible")
    return cupy


def array_module(a):
    """``numpy`` for NumPy arrays, ``cupy`` for CuPy arrays (without importing CuPy otherwise)."""
    if isinstance(a, np.ndarray):
        return np
    cupy = optional_cupy()
    if cupy is not None and isinstance(a, cupy.ndarray):
        return cupy
    raise TypeError(f"expected a NumPy or CuPy array, got {type(a).__name__}")
