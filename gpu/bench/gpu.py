"""GPU measurements of ``python -m gpu.bench`` (arXiv 2602.05779, App. F, Table 3).

For each cell (m, n, B, s): dense cuBLAS (``W @ x`` on row-major W, the
paper's baseline), the fused sparse kernel, the dispatched call, and the
gather-then-dense baseline ``W[:, idx] @ x[idx]`` (index search included),
each timed with CUDA events (``cupyx.profiler.benchmark``) after warm-up as
the median of many repetitions, rotating through independent W/x copies
whose active rows alone cover the L2 cache several times (up to a copy and
memory cap, so the smallest Table 3 shapes still fit in L2).  Also the achieved bandwidth
as a fraction of the measured device-to-device copy bandwidth, and the
energy fraction (sparse / dense energy per call) from NVML's total-energy
counter.
"""
import numpy as np

from gpu.bench.energy import EnergyMeter
from gpu.bench.table3 import (
    DISPATCH_TOLERANCE,
    LARGE_N,
    published,
    table3_cells,
    traffic_target,
)
from gpu.bench.timing import copy_bandwidth, gpu_median_per_call, rotation_copies, rounded_inner
from gpu.dispatch import choose_path
from gpu.gemv import SparseGemv, device_model

WARMUP = 20
#: Calls per timed repetition (rounded up to whole rotations of the copies).
MIN_INNER = 20
#: The active rows of one cell's copies together cover this many L2 caches.
ROTATION_L2_MULTIPLE = 4
MAX_COPIES = 32
#: Device memory the copies of one cell may occupy (W row-major plus W^T, per copy).
ROTATION_BUDGET_BYTES = 16 << 30
#: Bytes copied to measure the device-to-device bandwidth (full, quick).
COPY_BYTES = (1 << 30, 1 << 28)
#: Seconds of repeated calls per energy reading (full, quick).
ENERGY_WINDOW_S = (1.0, 0.25)
#: Largest error of any path against dense, relative to (|W| |x|)_i.
MAX_REL_ERR = 1e-4
SEED = 20260205


def gpu_cells(quick: bool):
    """(section, m, n, B, s) of every measured cell: Table 3, large shapes, batched."""
    cells = [("table3", m, n, 1, s) for m, n, s in table3_cells()]
    large_n = (4096, 16384) if quick else (4096, 8192, 16384)
    ratios = (1.0,) if quick else (0.5, 1.0, 2.0)
    large_s = (0.5, 0.9, 0.95) if quick else (0.5, 0.8, 0.9, 0.95)
    cells += [("large", int(r * n), n, 1, s) for n in large_n for r in ratios for s in large_s]
    batches = (8, 64) if quick else (4, 16, 64)
    batch_s = (0.95,) if quick else (0.8, 0.95)
    cells += [("batched", 4096, 4096, b, s) for b in batches for s in batch_s]
    return cells


def _inputs(cupy, m, n, batch, s, copies, seed):
    """``copies`` pairs (W row-major (m, n), x) with exactly round(s n) zeros per vector."""
    rs = cupy.random.RandomState(seed)
    n_zero = round(s * n)
    pairs = []
    for _ in range(copies):
        w = rs.standard_normal((m, n), dtype=cupy.float32)
        sign = cupy.where(rs.random_sample((batch, n)) < 0.5, -1.0, 1.0).astype(cupy.float32)
        x = rs.uniform(0.1, 1.0, (batch, n), dtype=cupy.float32) * sign
        ranks = cupy.argsort(cupy.argsort(rs.random_sample((batch, n)), axis=1), axis=1)
        x[ranks < n_zero] = 0.0
        pairs.append((w, x if batch > 1 else x.reshape(n)))
    return pairs


def _max_rel_err(cupy, y, y_ref, w, x):
    scale = cupy.abs(x) @ cupy.abs(w).T if x.ndim == 2 else cupy.abs(w) @ cupy.abs(x)
    return float(cupy.max(cupy.abs(y - y_ref) / (scale + 1e-30)))


def _measure(cupy, ctx, section, m, n, batch, s, reps):
    w_bytes = 4 * m * n
    union = 1.0 - s**batch  # expected fraction of rows active in some vector
    copies = rotation_copies(
        int(union * w_bytes), 2 * w_bytes, cover_bytes=ROTATION_L2_MULTIPLE * ctx["l2_bytes"],
        max_copies=MAX_COPIES, budget_bytes=ROTATION_BUDGET_BYTES,
    )
    pairs = _inputs(cupy, m, n, batch, s, copies, SEED + m + 7 * n + batch)
    plans = [SparseGemv(w, sparsity=s) for w, _ in pairs]
    y = cupy.empty((batch, m) if batch > 1 else (m,), dtype=cupy.float32)

    def dense(i):
        w, x = pairs[i % copies]
        if batch == 1:
            cupy.matmul(w, x, out=y)
        else:
            cupy.matmul(x, w.T, out=y)

    def sparse(i):
        plans[i % copies].sparse(pairs[i % copies][1], out=y)

    def dispatched(i):
        plans[i % copies](pairs[i % copies][1], out=y)

    def gather(i):
        w, x = pairs[i % copies]
        if batch == 1:
            idx = cupy.flatnonzero(x)
            cupy.matmul(w[:, idx], x[idx], out=y)
        else:
            idx = cupy.flatnonzero(cupy.any(x != 0, axis=0))
            cupy.matmul(x[:, idx], w[:, idx].T, out=y)

    fns = {"dense": dense, "sparse": sparse, "dispatch": dispatched, "gather": gather}
    w0, x0 = pairs[0]
    errors = {}
    dense(0)
    y_dense = y.copy()
    for name in ("sparse", "dispatch", "gather"):
        y.fill(float("nan"))
        fns[name](0)
        errors[name] = _max_rel_err(cupy, y, y_dense, w0, x0)

    inner = rounded_inner(copies, MIN_INNER)
    t = {k: gpu_median_per_call(f, reps=reps, inner=inner, warmup=WARMUP) for k, f in fns.items()}
    energy_fraction = None
    meter = ctx["meter"]
    if meter.available:
        sync = cupy.cuda.get_current_stream().synchronize
        e_dense = meter.joules_per_call(dense, sync, ctx["energy_window_s"])
        e_sparse = meter.joules_per_call(sparse, sync, ctx["energy_window_s"])
        energy_fraction = e_sparse / e_dense

    x2 = x0.reshape(batch, n)
    active_rows = int(cupy.count_nonzero(cupy.any(x2 != 0, axis=0)))
    io_bytes = 4 * batch * (n + m)
    sparse_bytes = 4 * active_rows * m + io_bytes
    decision = choose_path(m, n, batch, 1.0 - s, plans[0].weights.vec, ctx["model"])
    row = {
        "section": section, "m": m, "n": n, "batch": batch, "s": s, "copies": copies,
        "dense_us": 1e6 * t["dense"], "sparse_us": 1e6 * t["sparse"],
        "dispatch_us": 1e6 * t["dispatch"], "gather_us": 1e6 * t["gather"],
        "speedup": t["dense"] / t["sparse"], "dispatch_speedup": t["dense"] / t["dispatch"],
        "gather_speedup": t["dense"] / t["gather"], "path": plans[0].path(x0),
        "predicted_dense_us": 1e6 * decision.t_dense_s, "predicted_sparse_us": 1e6 * decision.t_sparse_s,
        "bw_sparse": sparse_bytes / t["sparse"] / ctx["copy_bw"],
        "bw_dense": (w_bytes + io_bytes) / t["dense"] / ctx["copy_bw"],
        "energy_fraction": energy_fraction,
        "max_rel_err": float(np.max(list(errors.values()))),  # NaN (unwritten output) propagates
    }
    del pairs, plans, fns
    cupy.get_default_memory_pool().free_all_blocks()
    return row


def targets(row) -> dict:
    """Target name -> met, for the targets that apply to the row."""
    met = {"dispatch>=1": row["dispatch_speedup"] >= 1.0 - DISPATCH_TOLERANCE,
           "correct": row["max_rel_err"] <= MAX_REL_ERR}
    pub = published(row["m"], row["n"], row["s"])
    if pub is not None and row["batch"] == 1:
        met["table3"] = row["dispatch_speedup"] >= pub[0]
    if row["n"] >= LARGE_N and row["batch"] == 1:
        met["traffic"] = row["speedup"] >= traffic_target(row["s"])
    return met


def run_gpu(cupy, *, quick: bool, reps: int, progress) -> dict:
    """Measure every cell of :func:`gpu_cells`; ``progress(row)`` is called after each."""
    device = cupy.cuda.Device()
    ctx = {
        "model": device_model(device.id),
        "l2_bytes": device.attributes["L2CacheSize"],
        "copy_bw": copy_bandwidth(cupy, COPY_BYTES[quick], reps=max(5, reps // 10)),
        "meter": EnergyMeter(device.pci_bus_id),
        "energy_window_s": ENERGY_WINDOW_S[quick],
    }
    name = cupy.cuda.runtime.getDeviceProperties(device.id)["name"]
    machine = {
        "device": name.decode() if isinstance(name, bytes) else str(name),
        "copy_bandwidth_GBps": ctx["copy_bw"] / 1e9,
        "peak_dram_GBps": ctx["model"].dram_bytes_per_s / 1e9,
        "l2_bytes": ctx["l2_bytes"],
        "energy": "NVML total energy" if ctx["meter"].available else f"n/a ({ctx['meter'].reason})",
    }
    rows = []
    for cell in gpu_cells(quick):
        row = _measure(cupy, ctx, *cell, reps)
        row["targets"] = targets(row)
        rows.append(row)
        progress(row)
    return {"mode": "gpu", "machine": machine, "rows": rows}
