"""Dense-or-sparse decision for ``y = W x`` on the GPU (arXiv 2602.05779, App. F, Table 3).

Table 3 of the paper shows a sparse kernel losing to dense GEMV at s = 0.5
for most shapes: skipping inactive rows only pays when the bytes skipped
outweigh the kernel's fixed costs.  The public call therefore predicts both
times with a small roofline model and takes the sparse kernel only when it
is predicted clearly faster, so it is never slower than dense cuBLAS by
design (the bench checks that on the device).

Model, for float32 weights (``W_bytes = 4 m n``), ``B`` vectors, active
fraction ``a = n_active / n`` and DRAM bandwidth ``bw``::

    t_dense  = DENSE_FIXED_S + W_bytes / (DENSE_BW_EFFICIENCY * bw)
    t_sparse = SPARSE_FIXED_S + max(
        u * W_bytes / (SPARSE_BW_EFFICIENCY * bw),                    # DRAM
        B * (a * W_bytes + 4 * tiles * n) / (SPARSE_BW_EFFICIENCY * L2_BW_RATIO * bw),  # L2
    )

with ``u = 1 - (1 - a)^B`` the expected fraction of rows active in at least
one of the B vectors (independent patterns: the kernel runs the B vectors of
one tile side by side, so a row shared by several vectors comes from DRAM
once and from L2 after that) and ``tiles = ceil(m / (32 vec))`` (every tile
block re-reads its slice of x).  The sparse path is taken iff
``t_sparse <= SPARSE_MARGIN * t_dense``.  Dense GEMM time is modelled as
memory-bound for every B; at B ~ 64 it is partly compute-bound, so the model
then errs towards dense, which is the safe side.

The constants are first estimates for an H100 with CuPy, not measurements,
and are to be tuned on a GPU with ``python -m gpu.bench --out PATH``: its rows
hold the measured and the predicted dense and sparse times of every cell,
and the measured bandwidth fractions.
"""
from dataclasses import dataclass
from math import ceil

# Fixed costs are per call as back-to-back calls see them: the larger of the
# host-side cost (Python, CuPy dispatch, launch) and the GPU's launch latency.
# For small W they decide the path alone (Table 3's n = 100 and 300 shapes).
#: Fixed cost of one dense ``cupy.matmul`` (cuBLAS GEMV/GEMM) call, seconds.
DENSE_FIXED_S = 10.0e-6
#: Fixed cost of one fused sparse kernel call (checks, RawKernel launch, compaction, split-K), seconds.
SPARSE_FIXED_S = 7.0e-6
#: Fraction of peak DRAM bandwidth that dense cuBLAS GEMV reaches.
DENSE_BW_EFFICIENCY = 0.85
#: Fraction of peak DRAM bandwidth that the row-gathering sparse kernel reaches.
SPARSE_BW_EFFICIENCY = 0.70
#: L2 bandwidth as a multiple of DRAM bandwidth.
L2_BW_RATIO = 2.5
#: The sparse path must be predicted at least this much faster (t_sparse <= margin * t_dense).
SPARSE_MARGIN = 0.9

FLOAT32_BYTES = 4


@dataclass(frozen=True)
class DeviceModel:
    """What the cost model needs to know about the GPU."""

    dram_bytes_per_s: float
    sm_count: int


@dataclass(frozen=True)
class Decision:
    """Chosen path and the predicted times behind it."""

    path: str  # "sparse" or "dense"
    t_dense_s: float
    t_sparse_s: float


def choose_path(
    m: int, n: int, batch: int, active_fraction: float, vec: int, device: DeviceModel
) -> Decision:
    """Apply the model in the module docstring to float32 weights (m x n), ``batch`` vectors."""
    if not 0.0 <= active_fraction <= 1.0:
        raise ValueError(f"active_fraction must lie in [0, 1], got {active_fraction}")
    if min(m, n, batch, vec) < 1:
        raise ValueError("m, n, batch and vec must all be >= 1")
    w_bytes = FLOAT32_BYTES * m * n
    bw = device.dram_bytes_per_s
    tiles = ceil(m / (32 * vec))
    union = 1.0 - (1.0 - active_fraction) ** batch
    t_dense = DENSE_FIXED_S + w_bytes / (DENSE_BW_EFFICIENCY * bw)
    t_dram = union * w_bytes / (SPARSE_BW_EFFICIENCY * bw)
    l2_bytes = batch * (active_fraction * w_bytes + FLOAT32_BYTES * tiles * n)
    t_l2 = l2_bytes / (SPARSE_BW_EFFICIENCY * L2_BW_RATIO * bw)
    t_sparse = SPARSE_FIXED_S + max(t_dram, t_l2)
    path = "sparse" if t_sparse <= SPARSE_MARGIN * t_dense else "dense"
    return Decision(path, t_dense, t_sparse)
