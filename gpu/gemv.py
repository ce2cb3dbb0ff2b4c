"""``y = W x`` on the GPU with CuPy: the fused sparse kernel, dense cuBLAS, and the dispatcher.

arXiv 2602.05779, App. F / Table 3: activations that are exactly zero near the origin let
the GEMV skip the columns of W whose input is zero. The kernel text is
``gpu/cuda/sparse_gemv.cu`` (package data, loaded by :mod:`gpu.cuda_module`);
:mod:`gpu.dispatch` decides when it beats dense cuBLAS. This module holds what the host
side knows about the kernel (its constants, names and launch geometry, pure Python) and
:class:`SparseGemv`, which imports CuPy only when constructed.

The kernel computes ``y[b] = W x[b]`` from the transposed weight layout ``W^T`` (n x m,
row-major; :mod:`gpu.layout`), so the weights of one input ``j`` form the contiguous row
``W^T[j, :]`` and an inactive input (``x[b, j] == 0``) costs no weight traffic at all.

Grid ``(B, ksplit, tiles)``, one block of ``BLOCK_THREADS`` threads each:

1. *Compaction.*  The block loads its slice ``[k*slice, (k+1)*slice)`` of ``x[b]``
   (``slice <= CHUNK``, guaranteed by :func:`launch_config`; each thread issues its
   ``CHUNK / BLOCK_THREADS`` loads at once) and writes the indices and values of the
   non-zero entries, in ascending index order, to shared memory (warp ballots plus a
   per-block prefix over the warp counts).
2. *Accumulation.*  Warp ``w`` takes the compacted rows ``w, w + W, ...`` (``W`` warps,
   unrolled by four) and lane ``l`` reads ``VEC`` consecutive weights
   ``W^T[j, tile*32*VEC + l*VEC :][:VEC]`` with a single 16/8/4/2-byte load; a warp
   therefore reads a contiguous, aligned ``32*VEC``-element segment of the row.
   Accumulation is in float32 for every weight format.
3. *Reduction.*  The warps' partial sums are added in warp order in shared memory. With
   ``ksplit == 1`` the block writes ``y``; otherwise it writes its partial tile to a
   workspace and the last of the ``ksplit`` blocks of the same ``(b, tile)`` (found with an
   atomic ticket, which it resets to 0) adds the partials in order ``k = 0 .. ksplit-1``
   and writes ``y``. Every summation order is fixed, so results are bitwise reproducible.

Every element ``y[b, i]`` with ``i < m`` is written exactly once per launch. Weight
formats: float32, float16 and bfloat16 (16-bit formats are passed as their raw bits and
decoded in registers, so no CUDA half/bfloat16 header is needed). ``VEC`` must divide
``m`` so that every segment is aligned. The block size, chunk and launch bounds reach the
kernel as ``-D`` options (:func:`compile_options`), and :data:`VECTOR_WIDTHS` must list
exactly the kernels that the file instantiates (``SPARSE_GEMV_KERNEL(...)``).

A block covers one column tile of ``32 * vec`` outputs and one slice of the inputs for one
vector; the inputs are split into ``ksplit`` slices when the tiles and vectors alone would
leave the GPU idle (few outputs, many inputs: e.g. the m = n/2 shapes of Table 3) or when
n exceeds one compaction pass.
"""
from dataclasses import dataclass
from functools import cache
from math import ceil
from pathlib import Path

import numpy as np

from gpu.backend import require_cupy
from gpu.cuda_module import load_module
from gpu.dispatch import DeviceModel, choose_path
from gpu.layout import (
    MAX_LOAD_BYTES,
    STORAGE_DTYPES,
    PackedWeights,
    check_dense_weights,
    check_out,
    check_vectors,
    pack_weights,
)

#: the kernel text (package data)
SOURCE_PATH = Path(__file__).resolve().parent / "cuda" / "sparse_gemv.cu"
#: Threads per block (eight warps).
BLOCK_THREADS = 256
#: Largest input slice of one block, compacted into shared memory in one pass
#: (a multiple of BLOCK_THREADS).
CHUNK = 2048
#: Resident blocks per SM the kernel is compiled for (``__launch_bounds__``): caps
#: registers at 64 per thread, which the nvcc check shows is spill-free for every variant.
MIN_BLOCKS_PER_SM = 4
#: Kernel tag of each weight format, and the vector widths compiled for it.
FORMAT_TAGS = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}
VECTOR_WIDTHS = {"float32": (4, 2, 1), "float16": (8, 4, 2, 1), "bfloat16": (8, 4, 2, 1)}
#: Smallest input slice worth a block of its own (one compaction round).
MIN_SLICE = BLOCK_THREADS
#: Slices are rounded up to this many inputs so that reads of x stay aligned.
SLICE_ALIGN = 32
#: CUDA's limit on gridDim.y and gridDim.z.
MAX_GRID_YZ = 65535


def kernel_name(weight_dtype: str, vec: int) -> str:
    """Name of the ``extern "C"`` kernel for ``weight_dtype`` loaded ``vec`` elements at a time."""
    if vec not in VECTOR_WIDTHS[weight_dtype]:
        raise ValueError(f"no {weight_dtype} kernel with vector width {vec}")
    return f"sparse_gemv_{FORMAT_TAGS[weight_dtype]}_v{vec}"


def all_kernel_names() -> list[str]:
    """Every kernel that ``sparse_gemv.cu`` defines."""
    return [kernel_name(d, v) for d, widths in VECTOR_WIDTHS.items() for v in widths]


def compile_options() -> tuple[str, ...]:
    """Preprocessor definitions the source needs (NVRTC and nvcc accept them alike)."""
    return (
        f"-DSG_BLOCK={BLOCK_THREADS}",
        f"-DSG_CHUNK={CHUNK}",
        f"-DSG_MIN_BLOCKS={MIN_BLOCKS_PER_SM}",
    )


@dataclass(frozen=True)
class LaunchConfig:
    """Grid ``(batch, ksplit, tiles)`` of ``BLOCK_THREADS``-thread blocks."""

    batch: int
    tiles: int
    tile_width: int
    ksplit: int
    slice: int

    @property
    def grid(self) -> tuple[int, int, int]:
        return (self.batch, self.ksplit, self.tiles)

    @property
    def partial_size(self) -> int:
        """float32 workspace entries for the split-K partial tiles (0 when ksplit == 1)."""
        if self.ksplit == 1:
            return 0
        return self.batch * self.tiles * self.ksplit * self.tile_width

    @property
    def ticket_size(self) -> int:
        """uint32 tickets, one per (vector, tile)."""
        return self.batch * self.tiles


def launch_config(m: int, n: int, batch: int, vec: int, sm_count: int) -> LaunchConfig:
    """Choose tiles and the k-split so that at least ``MIN_BLOCKS_PER_SM * sm_count`` blocks run.

    Every slice fits the kernel's single compaction pass (``slice <= CHUNK``)
    and is a multiple of ``SLICE_ALIGN``; when n is split, slices hold at
    least ``MIN_SLICE`` inputs; no slice is empty.
    """
    if min(m, n, batch, vec, sm_count) < 1:
        raise ValueError("m, n, batch, vec and sm_count must all be >= 1")
    tile_width = 32 * vec
    tiles = ceil(m / tile_width)
    if tiles > MAX_GRID_YZ:
        raise ValueError(f"m = {m} needs {tiles} column tiles, more than the grid allows")
    min_split = ceil(n / CHUNK)
    if min_split > MAX_GRID_YZ:
        raise ValueError(f"n = {n} needs {min_split} input slices, more than the grid allows")
    wanted = ceil(MIN_BLOCKS_PER_SM * sm_count / (tiles * batch))
    ksplit = max(min_split, min(wanted, n // MIN_SLICE, MAX_GRID_YZ))
    slice_ = ceil(ceil(n / ksplit) / SLICE_ALIGN) * SLICE_ALIGN
    return LaunchConfig(batch, tiles, tile_width, ceil(n / slice_), slice_)


@cache
def device_model(device_id: int) -> DeviceModel:
    """Peak DRAM bandwidth (double data rate x bus width) and SM count of ``device_id``,
    from CuPy's device attributes (``cudaDevAttr*`` by name)."""
    attributes = require_cupy().cuda.Device(device_id).attributes
    return DeviceModel(
        dram_bytes_per_s=2.0 * 1e3 * attributes["MemoryClockRate"] * attributes["GlobalMemoryBusWidth"] / 8,
        sm_count=attributes["MultiProcessorCount"],
    )


def _module(cupy):
    """The compiled kernels on the current device (:func:`gpu.cuda_module.load_module`)."""
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
