"""``python -m gpu.bench``: sparse GEMV against dense, beside arXiv 2602.05779 Table 3.

On a CUDA device with CuPy: every Table 3 shape, large shapes (n up to
16384, s up to 0.95) and batched shapes; for each, dense / sparse /
dispatched / gather-then-dense times, speed-ups, achieved bandwidth as a
fraction of the device-to-device copy bandwidth, NVML energy fraction, the
published Table 3 values, and which targets are met:

* ``table3``: dispatched speed-up >= the published speed-up of the cell;
* ``traffic``: at n >= 4096, sparse speed-up >= 0.85 / (1 - s);
* ``dispatch>=1``: the dispatched call is never slower than dense (3 % noise);
* ``correct``: every path agrees with dense to 1e-4 of (|W| |x|)_i.

Without CuPy or a device it says so and times the CPU reference (Numba)
against NumPy dense instead, then exits 0.
"""
import datetime
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from gpu.backend import GpuUnavailableError, require_cupy
from theory.cli import UsageError, fail, parse
from gpu.bench.table3 import published

DEFAULT_REPS = {"gpu": (200, 30), "cpu": (20, 5)}  # (full, --quick)


def _fmt(value, width: int, digits: int) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def _targets_text(row) -> str:
    return " ".join(f"{k}:{'ok' if v else 'MISS'}" for k, v in row["targets"].items())


def _gpu_line(row) -> str:
    pub = published(row["m"], row["n"], row["s"]) if row["batch"] == 1 else None
    return (
        f"{row['section']:<8}{row['m']:>6}{row['n']:>7}{row['batch']:>4}{row['s']:>6.2f}"
        f"{row['dense_us']:>10.2f}{row['sparse_us']:>10.2f}{row['speedup']:>8.2f}"
        f"{row['dispatch_speedup']:>8.2f} {row['path']:<7}{row['gather_speedup']:>8.2f}"
        f"{row['bw_sparse']:>7.2f}{row['bw_dense']:>7.2f}{_fmt(row['energy_fraction'], 8, 3)}"
        f"{_fmt(pub and pub[0], 7, 3)}{_fmt(pub and pub[1], 7, 3)}  {_targets_text(row)}"
    )


GPU_HEADER = (
    f"{'section':<8}{'m':>6}{'n':>7}{'B':>4}{'s':>6}{'dense_us':>10}{'sparse_us':>10}"
    f"{'x_sp':>8}{'x_disp':>8} {'path':<7}{'x_gath':>8}{'bw_sp':>7}{'bw_dn':>7}{'E_frac':>8}"
    f"{'pub_x':>7}{'pub_E':>7}  targets"
)
GPU_LEGEND = (
    "x_sp, x_disp, x_gath: dense time / time of the sparse kernel, the dispatched call and "
    "gather-then-dense; bw_sp, bw_dn: achieved bandwidth / measured D2D copy bandwidth; "
    "E_frac: sparse / dense energy per call (NVML); pub_x, pub_E: arXiv 2602.05779 Table 3"
)


def _cpu_line(row) -> str:
    pub = published(row["m"], row["n"], row["s"])
    return (
        f"{row['section']:<8}{row['m']:>6}{row['n']:>7}{row['s']:>6.2f}"
        f"{row['dense_us']:>12.1f}{row['sparse_us']:>12.1f}{row['speedup']:>9.3f}"
        f"{_fmt(pub and pub[0], 12, 3)}{row['max_rel_err']:>10.1e}"
    )


CPU_HEADER = (
    f"{'section':<8}{'m':>6}{'n':>7}{'s':>6}{'numpy_us':>12}{'numba_us':>12}{'speedup':>9}"
    f"{'pub_gpu_x':>12}{'rel_err':>10}"
)
CPU_LEGEND = (
    "speedup: NumPy dense time / Numba reference time (2-D BLAS on all cores vs one thread); "
    "pub_gpu_x: published GPU speed-up (Table 3), for context only"
)


def summarize(rows) -> dict:
    """Target name -> [met, applicable] over all rows."""
    counts: dict[str, list[int]] = {}
    for row in rows:
        for name, met in row["targets"].items():
            c = counts.setdefault(name, [0, 0])
            c[0] += bool(met)
            c[1] += 1
    return counts


@dataclass(frozen=True)
class BenchOptions:
    """The options of ``python -m gpu.bench``.

    Parameters
    ----------
    quick : bool
        Fewer shapes, repetitions and energy time.
    repeats : int or None
        Timed repetitions per cell (default: GPU 200/30, CPU 20/5).
    out : Path or None
        Also write the results as JSON to this file.
    """

    quick: bool = False
    repeats: int | None = None
    out: Path | None = None

    def __post_init__(self):
        if self.repeats is not None and self.repeats < 1:
            raise UsageError(f"--repeats must be >= 1, got {self.repeats}")


def main(argv=None) -> int:
    try:
        args = parse(BenchOptions, argv, prog="python -m gpu.bench", description=__doc__.splitlines()[0])
    except UsageError as err:
        return fail(err)
    try:
        cupy = require_cupy()
    except GpuUnavailableError as exc:
        print(f"GPU benchmark not run: {exc}")
        print("Running the CPU reference timing instead (Numba reference vs NumPy dense W @ x).\n")
        cupy = None
    mode = "cpu" if cupy is None else "gpu"
    reps = args.repeats or DEFAULT_REPS[mode][args.quick]
    legend, header, line = (
        (CPU_LEGEND, CPU_HEADER, _cpu_line) if cupy is None else (GPU_LEGEND, GPU_HEADER, _gpu_line)
    )
    print(legend)
    print(header, flush=True)

    def progress(row):
        print(line(row), flush=True)

    if cupy is None:
        from gpu.bench.cpu import run_cpu

        result = run_cpu(quick=args.quick, reps=reps, progress=progress)
    else:
        from gpu.bench.gpu import run_gpu

        result = run_gpu(cupy, quick=args.quick, reps=reps, progress=progress)
    result["date"] = datetime.datetime.now().isoformat(timespec="seconds")
    result["options"] = {"quick": args.quick, "reps": reps}
    result["summary"] = summarize(result["rows"])

    print(f"\nmode: {mode}; " + "; ".join(f"{k}: {v}" for k, v in result["machine"].items()))
    print(f"reps per cell: {reps}{' (quick)' if args.quick else ''}")
    for name, (met, total) in result["summary"].items():
        print(f"target {name}: met in {met}/{total} cells")
    if cupy is None:
        print("GPU targets (table3, traffic, dispatch>=1) not evaluated: no GPU.")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
