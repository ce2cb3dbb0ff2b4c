"""The fused sparse GEMV kernel (arXiv 2602.05779, App. F): its design, the host-side
constants and kernel names. The kernel text is ``gpu/cuda/sparse_gemv.cu`` (package data),
read by :mod:`gpu.cuda_module`; the block size, chunk and launch bounds below reach it as
``-D`` options (:func:`compile_options`), and ``VECTOR_WIDTHS`` must list exactly the
kernels that the file instantiates (``SPARSE_GEMV_KERNEL(...)``).

The kernel computes ``y[b] = W x[b]`` from the transposed weight layout
``W^T`` (n x m, row-major), so the weights of one input ``j`` form the
contiguous row ``W^T[j, :]`` and an inactive input (``x[b, j] == 0``) costs
no weight traffic at all.

Grid ``(B, ksplit, tiles)``, one block of ``BLOCK_THREADS`` threads each:

1. *Compaction.*  The block loads its slice ``[k*slice, (k+1)*slice)`` of
   ``x[b]`` (``slice <= CHUNK``, guaranteed by :mod:`gpu.launch`; each thread
   issues its ``CHUNK / BLOCK_THREADS`` loads at once) and writes the indices
   and values of the non-zero entries, in ascending index order, to shared
   memory (warp ballots plus a per-block prefix over the warp counts).
2. *Accumulation.*  Warp ``w`` takes the compacted rows ``w, w + W, ...``
   (``W`` warps, unrolled by four) and lane ``l`` reads ``VEC`` consecutive
   weights ``W^T[j, tile*32*VEC + l*VEC :][:VEC]`` with a single 16/8/4/2-byte
   load; a warp therefore reads a contiguous, aligned ``32*VEC``-element
   segment of the row.  Accumulation is in float32 for every weight format.
3. *Reduction.*  The warps' partial sums are added in warp order in shared
   memory.  With ``ksplit == 1`` the block writes ``y``; otherwise it writes
   its partial tile to a workspace and the last of the ``ksplit`` blocks of
   the same ``(b, tile)`` (found with an atomic ticket, which it resets to 0)
   adds the partials in order ``k = 0 .. ksplit-1`` and writes ``y``.
   Every summation order is fixed, so results are bitwise reproducible.

Every element ``y[b, i]`` with ``i < m`` is written exactly once per launch.
Weight formats: float32, float16 and bfloat16 (16-bit formats are passed as
their raw bits and decoded in registers, so no CUDA half/bfloat16 header is
needed).  ``VEC`` must divide ``m`` so that every segment is aligned.
"""

from pathlib import Path

from gpu.cuda_module import assemble

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


def kernel_name(weight_dtype: str, vec: int) -> str:
    """Name of the ``extern "C"`` kernel for ``weight_dtype`` loaded ``vec`` elements at a time."""
    if vec not in VECTOR_WIDTHS[weight_dtype]:
        raise ValueError(f"no {weight_dtype} kernel with vector width {vec}")
    return f"sparse_gemv_{FORMAT_TAGS[weight_dtype]}_v{vec}"


def all_kernel_names() -> list[str]:
    """Every kernel defined in :data:`CUDA_SOURCE`."""
    return [kernel_name(d, v) for d, widths in VECTOR_WIDTHS.items() for v in widths]


def compile_options() -> tuple[str, ...]:
    """Preprocessor definitions the source needs (NVRTC and nvcc accept them alike)."""
    return (
        f"-DSG_BLOCK={BLOCK_THREADS}",
        f"-DSG_CHUNK={CHUNK}",
        f"-DSG_MIN_BLOCKS={MIN_BLOCKS_PER_SM}",
    )


#: the kernel text (package data)
SOURCE_PATH = Path(__file__).resolve().parent / "cuda" / "sparse_gemv.cu"


def cuda_source() -> str:
    """The kernel source as NVRTC compiles it with :func:`compile_options` (no generated
    defines: every host value comes as ``-D``)."""
    return assemble(SOURCE_PATH)


#: the assembled kernel source (:func:`cuda_source`)
CUDA_SOURCE = cuda_source()
