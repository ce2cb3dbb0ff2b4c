"""Optional CuPy import, shared by every GPU path of the project (the sparse GEMV here,
the simulation backend in :mod:`simulate.gpu`): importing works without CuPy, and a GPU
call that cannot run says why and what to use instead."""
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


def gpu_available() -> bool:
    """Whether CuPy is installed and sees at least one CUDA device (never raises)."""
    cupy = optional_cupy()
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver, or a driver too old for the runtime
        return False


def require_cupy(
    what: str = "the GPU sparse GEMV",
    fallback: str = "gpu.sparse_gemv_reference is the CPU implementation",
):
    """The ``cupy`` module with at least one visible CUDA device, else
    :class:`GpuUnavailableError` naming ``what`` needs it and the CPU ``fallback``."""
    cupy = optional_cupy()
    if cupy is None:
        raise GpuUnavailableError(
            f"{what} needs CuPy: install the 'gpu' extra (pip install 'eoc-sparse[gpu]', i.e. "
            f"cupy-cuda13x, for CUDA 13) on a machine with an NVIDIA GPU; {fallback}"
        )
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken: CuPy raises its own runtime error
        raise GpuUnavailableError(f"CuPy is installed but no CUDA device is usable ({exc}); {fallback}") from exc
    if count < 1:
        raise GpuUnavailableError(f"CuPy is installed but no CUDA device is visible; {fallback}")
    return cupy


def array_module(a):
    """``numpy`` for NumPy arrays, ``cupy`` for CuPy arrays (without importing CuPy otherwise)."""
    if isinstance(a, np.ndarray):
        return np
    cupy = optional_cupy()
    if cupy is not None and isinstance(a, cupy.ndarray):
        return cupy
    raise TypeError(f"expected a NumPy or CuPy array, got {type(a).__name__}")
