"""CPU fallback of ``python -m gpu.bench``: Numba reference against NumPy dense ``W @ x``.

Runs where CuPy or a GPU is missing, on the Table 3 shapes of arXiv
2602.05779 (App. F) and one large shape.  The reference is single-threaded
and NumPy's BLAS uses every core (set OPENBLAS_NUM_THREADS=1 for one), and
a last-level cache larger than ``ROTATION_BYTES`` holds the rotated copies,
so these figures describe the reference code, not the GPU kernel or memory
traffic; the published GPU values are printed only for context.
"""
import os
import platform

import numpy as np

from gpu.bench.table3 import table3_cells
from gpu.bench.timing import cpu_median_per_call, rotation_copies, rounded_inner
from gpu.layout import pack_weights
from gpu.reference import sparse_gemv_reference

WARMUP = 3
MIN_INNER = 4
#: The active rows of one cell's copies together cover this many bytes.
ROTATION_BYTES = 64 << 20
MAX_COPIES = 16
#: Host memory the copies of one cell may occupy (W plus its packed W^T, per copy).
ROTATION_BUDGET_BYTES = 1 << 30
MAX_REL_ERR = 1e-4
SEED = 20260205


def cpu_cells(quick: bool):
    """(section, m, n, B, s) of every measured cell."""
    cells = [("table3", m, n, 1, s) for m, n, s in table3_cells()]
    large_s = (0.5, 0.9, 0.95) if quick else (0.5, 0.8, 0.9, 0.95)
    return cells + [("large", 4096, 4096, 1, s) for s in large_s]


def _measure(section, m, n, batch, s, reps):
    w_bytes = 4 * m * n
    copies = rotation_copies(
        int((1.0 - s) * w_bytes), 2 * w_bytes, cover_bytes=ROTATION_BYTES,
        max_copies=MAX_COPIES, budget_bytes=ROTATION_BUDGET_BYTES,
    )
    rng = np.random.default_rng([SEED, m, n, batch])
    n_zero = round(s * n)
    data = []
    for _ in range(copies):
        w = rng.standard_normal((m, n), dtype=np.float32)
        x = rng.uniform(0.1, 1.0, n).astype(np.float32) * rng.choice(np.float32([-1, 1]), n)
        x[rng.permutation(n)[:n_zero]] = 0.0
        data.append((w, pack_weights(w), x))
    y = np.empty(m, dtype=np.float32)

    def dense(i):
        w, _, x = data[i % copies]
        np.matmul(w, x, out=y)

    def reference(i):
        _, packed, x = data[i % copies]
        sparse_gemv_reference(packed, x)

    w0, packed0, x0 = data[0]
    scale = np.abs(w0) @ np.abs(x0)
    err = float(np.max(np.abs(sparse_gemv_reference(packed0, x0) - w0 @ x0) / (scale + 1e-30)))
    inner = rounded_inner(copies, MIN_INNER)
    t_dense = cpu_median_per_call(dense, reps=reps, inner=inner, warmup=WARMUP)
    t_ref = cpu_median_per_call(reference, reps=reps, inner=inner, warmup=WARMUP)
    return {
        "section": section, "m": m, "n": n, "batch": batch, "s": s, "copies": copies,
        "dense_us": 1e6 * t_dense, "sparse_us": 1e6 * t_ref, "speedup": t_dense / t_ref,
        "max_rel_err": err, "targets": {"correct": err <= MAX_REL_ERR},
    }


def run_cpu(*, quick: bool, reps: int, progress) -> dict:
    """Measure every cell of :func:`cpu_cells`; ``progress(row)`` is called after each."""
    tiny = pack_weights(np.ones((3, 2), dtype=np.float32))
    sparse_gemv_reference(tiny, np.ones(2, dtype=np.float32))  # compile before timing
    machine = {
        "device": f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), no GPU",
        "numpy": np.__version__,
    }
    rows = []
    for cell in cpu_cells(quick):
        row = _measure(*cell, reps)
        rows.append(row)
        progress(row)
    return {"mode": "cpu", "machine": machine, "rows": rows}
