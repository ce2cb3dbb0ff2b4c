"""Sparse GEMV for activations with exact zeros (arXiv 2602.05779, App. F / Table 3), and
the CUDA plumbing shared by every GPU path of the project.

Modules, one job each:

* :mod:`gpu.backend`: the optional CuPy import and the device check (imports no CuPy);
* :mod:`gpu.cuda_module`: the one loader of the project's ``.cu`` files (NVRTC through CuPy);
* :mod:`gpu.layout`: the ``W^T`` weight layout, bfloat16 bits and the array checks;
* :mod:`gpu.reference`: the CPU reference (NumPy + Numba);
* :mod:`gpu.dispatch`: the dense-or-sparse cost model;
* :mod:`gpu.gemv`: the kernel's launch geometry and :class:`~gpu.gemv.SparseGemv` (CuPy);
* :mod:`gpu.bench` (``python -m gpu.bench``): the Table 3 benchmark harness;
* :mod:`gpu.device_check` (``python -m gpu.device_check``): every CUDA path of the suite
  measured in one call on a lent device.

The public names below are imported on first use (PEP 562), so that ``import gpu.backend``
(what a CPU run needs to decide that it is one) loads nothing else.
"""
import lazy_loader

#: submodule -> the public names it defines, imported on first use
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "backend": ["GpuUnavailableError"],
        "dispatch": ["Decision", "DeviceModel", "choose_path"],
        "gemv": ["SparseGemv"],
        "layout": ["PackedWeights", "WEIGHT_DTYPES", "pack_weights"],
        "reference": ["compact_active", "sparse_gemv_reference"],
    },
)
