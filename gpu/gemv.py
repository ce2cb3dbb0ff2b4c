"""``y = W x`` on the GPU with CuPy: the fused sparse kernel, dense cuBLAS, and the dispatcher.

arXiv 2602.05779, App. F / Table 3: activations that are exactly zero near
the origin let the GEMV skip the columns of W whose input is zero.  The
kernel (``gpu/cuda/sparse_gemv.cu``, described in ``gpu/cuda_source.py``)
compacts the active inputs on the device and reads only their rows of
``W^T``; :mod:`gpu.dispatch` decides when that beats dense cuBLAS.
"""
import numpy as np

from gpu.backend import require_cupy
from gpu.checks import check_out, check_vectors
from gpu.cuda_module import load_module
from gpu.cuda_source import BLOCK_THREADS, SOURCE_PATH, compile_options, kernel_name
from gpu.device import device_model
from gpu.dispatch import choose_path
from gpu.launch import launch_config
from gpu.layout import (
    MAX_LOAD_BYTES,
    STORAGE_DTYPES,
    PackedWeights,
    check_dense_weights,
    pack_weights,
)


def _module(cupy):
    """The compiled kernels on the current device (:func:`gpu.cuda_module.load_module`:
    compiled once per device by NVRTC through CuPy, binaries also cached on disk by CuPy)."""
    return load_module(SOURCE_PATH, options=compile_options(), cupy=cupy)


def _to_device(cupy, w, weight_dtype):
    if not isinstance(w, PackedWeights):
        check_dense_weights(w, weight_dtype or "float32")  # before copying W to the device
        return pack_weights(cupy.asarray(w), weight_dtype or "float32")
    if weight_dtype is not None and weight_dtype != w.weight_dtype:
        raise ValueError(f"weights are packed as {w.weight_dtype}, not {weight_dtype}")
    wt = cupy.asarray(w.wt)
    if wt.ndim != 2 or wt.dtype != STORAGE_DTYPES[w.weight_dtype]:
        raise TypeError(
            f"packed {w.weight_dtype} weights must be a 2-D {np.dtype(STORAGE_DTYPES[w.weight_dtype])} "
            f"array, got {wt.dtype} with shape {wt.shape}"
        )
    if not wt.flags.c_contiguous or wt.data.ptr % MAX_LOAD_BYTES:
        raise ValueError("packed weights must be C-contiguous and 16-byte aligned (use pack_weights)")
    return PackedWeights(wt, w.weight_dtype)


class SparseGemv:
    """``y = W x`` for a fixed W on the GPU, with x (n,) or (B, n) float32 holding exact zeros.

    ``w`` is the dense (m, n) weight matrix (NumPy or CuPy, any float dtype)
    or a :class:`~gpu.layout.PackedWeights`; it is stored on the current
    device as ``W^T`` in ``weight_dtype`` ("float32" by default, "float16" or
    "bfloat16").  ``sparsity`` is the expected fraction of zeros in x; the
    dispatcher uses it to choose a path without reading x back.  Without it
    (here or per call) every dispatched call counts the zeros of x, which
    synchronises the stream.

    Calling the object dispatches; :meth:`sparse` and :meth:`dense` force a
    path.  Only float32 weights have a dense path (CuPy has no cuBLAS GEMV
    mixing 16-bit weights with float32 x and y), so 16-bit weights always
    take the sparse kernel, which at s = 0 reads all of W once, as dense does.

    The kernel's split-K workspace belongs to the object: do not run one
    object concurrently on two streams.
    """

    def __init__(self, w, *, weight_dtype: str | None = None, sparsity: float | None = None):
        cupy = require_cupy()
        if sparsity is not None and not 0.0 <= sparsity <= 1.0:
            raise ValueError(f"sparsity must lie in [0, 1], got {sparsity}")
        self.weights = _to_device(cupy, w, weight_dtype)
        n, m = self.weights.n, self.weights.m
        self.sparsity = sparsity
        self._cupy = cupy
        self._device_id = self.weights.wt.device.id
        self._model = device_model(self._device_id)
        self._kernel = _module(cupy).get_function(kernel_name(self.weights.weight_dtype, self.weights.vec))
        # Validates the shape against the grid limits (which also keep n, m within int32) now.
        self._configs = {1: launch_config(m, n, 1, self.weights.vec, self._model.sm_count)}
        self._paths: dict[tuple[int, float], str] = {}
        self._tickets = cupy.zeros(0, dtype=cupy.uint32)
        self._partial = cupy.zeros(1, dtype=cupy.float32)

    def __call__(self, x, out=None, *, sparsity: float | None = None):
        """Dispatched ``y = W x``: the sparse kernel where the cost model predicts a gain, else dense."""
        batch = self._check(x)
        path = self._path(x, batch, sparsity)
        out = self._output(batch, x.ndim, out)
        if path == "sparse":
            self._launch(x, out, batch)
        else:
            self._cupy.matmul(x, self.weights.wt, out=out)
        return out

    def sparse(self, x, out=None):
        """``y = W x`` with the fused sparse kernel, whatever the sparsity."""
        batch = self._check(x)
        out = self._output(batch, x.ndim, out)
        self._launch(x, out, batch)
        return out

    def dense(self, x, out=None):
        """``y = W x`` with dense cuBLAS on the stored ``W^T`` (float32 weights only)."""
        if self.weights.weight_dtype != "float32":
            raise ValueError(
                f"no dense path for {self.weights.weight_dtype} weights: use sparse() or call the object"
            )
        batch = self._check(x)
        out = self._output(batch, x.ndim, out)
        self._cupy.matmul(x, self.weights.wt, out=out)
        return out

    def path(self, x, *, sparsity: float | None = None) -> str:
        """The path ("sparse" or "dense") a dispatched call on ``x`` takes."""
        return self._path(x, self._check(x), sparsity)

    def _check(self, x) -> int:
        batch = check_vectors(x, self.weights.n, self._cupy.ndarray)
        if x.data.device_id != self._device_id or self._cupy.cuda.runtime.getDevice() != self._device_id:
            raise ValueError(
                f"x and the current device must be the weights' device {self._device_id}"
            )
        return batch

    def _output(self, batch: int, ndim: int, out):
        shape = (self.weights.m,) if ndim == 1 else (batch, self.weights.m)
        if out is None:
            return self._cupy.empty(shape, dtype=self._cupy.float32)
        check_out(out, shape, self._cupy.ndarray)
        return out

    def _path(self, x, batch: int, sparsity: float | None) -> str:
        if sparsity is not None and not 0.0 <= sparsity <= 1.0:
            raise ValueError(f"sparsity must lie in [0, 1], got {sparsity}")
        if self.weights.weight_dtype != "float32":
            return "sparse"
        if sparsity is None:
            sparsity = self.sparsity
        if sparsity is None:  # measured: synchronises, and is not worth caching
            return self._decide(batch, 1.0 - int(self._cupy.count_nonzero(x)) / x.size)
        key = (batch, sparsity)
        if key not in self._paths:
            self._paths[key] = self._decide(batch, 1.0 - sparsity)
        return self._paths[key]

    def _decide(self, batch: int, active_fraction: float) -> str:
        w = self.weights
        return choose_path(w.m, w.n, batch, active_fraction, w.vec, self._model).path

    def _launch(self, x, out, batch: int) -> None:
        cfg = self._configs.get(batch)
        if cfg is None:
            w = self.weights
            cfg = launch_config(w.m, w.n, batch, w.vec, self._model.sm_count)
            self._configs[batch] = cfg
        if self._tickets.size < cfg.ticket_size:
            self._tickets = self._cupy.zeros(cfg.ticket_size, dtype=self._cupy.uint32)
        if self._partial.size < cfg.partial_size:
            self._partial = self._cupy.empty(cfg.partial_size, dtype=self._cupy.float32)
        # writes out (y) and, with ksplit > 1, the workspace self._partial and self._tickets
        self._kernel(
            cfg.grid,
            (BLOCK_THREADS,),
            (
                self.weights.wt,
                x,
                out,
                self._partial,
                self._tickets,
                np.int32(self.weights.n),
                np.int32(self.weights.m),
                np.int32(cfg.slice),
            ),
        )
