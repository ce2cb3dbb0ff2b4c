"""Benchmark of the analysis: ``python -m analysis.bench``.

Builds depth-sweep stores of the requested sizes (``--sizes-gb``; raw per-network data,
one CReLU configuration, widths 30 and 60, depth 100) under ``--dir`` unless they are
there already, then runs ``python -m analysis.report`` on each in a fresh process and
prints the store's size on disk, the wall time and the report's peak resident memory,
side by side: the peak must not grow with the store (everything is a chunked Dask
reduction; percentiles use the first 1e5 networks).
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from theory.cli import UsageError, fail, parse

BYTES_PER_NETWORK = 4 * 100 * 8  # q_tilde, q_cond, chi1, sparsity over 100 layers


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def make_store(path: Path, size_gb: float) -> None:
    from simulate.config import Sweep
    from simulate.depth_sweep import run

    samples = int(size_gb * 1e9 / BYTES_PER_NETWORK / 2)
    sweep = Sweep(activation=("crelu",), sparsity=(0.85,), q_star=(1.0,), vprime=(0.7,), width=(30, 60), depth=100,
                  samples=samples, chunk=20_000, seed=0)
    run(sweep, path, progress=True)


def measure_report(store: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of the report in a child process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "analysis.report", str(store), "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak


@dataclass(frozen=True)
class BenchOptions:
    """The options of ``python -m analysis.bench``.

    Parameters
    ----------
    sizes_gb : tuple of float
        Sizes on disk of the stores whose report is timed, in GB.
    dir : Path
        Folder of the stores and reports (a store already there is reused).
    """

    sizes_gb: tuple[float, ...] = (0.5, 10.0)
    dir: Path = Path("data/bench")

    def __post_init__(self):
        if not all(size > 0 for size in self.sizes_gb):
            raise UsageError(f"--sizes-gb must be positive, got {self.sizes_gb}")


def main(argv=None) -> int:
    try:
        args = parse(BenchOptions, argv, prog="python -m analysis.bench", description=__doc__.splitlines()[0])
    except UsageError as err:
        return fail(err)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores")
    print(f"{'store':<28} {'on disk (GB)':>12} {'report (s)':>11} {'peak RSS (MiB)':>15}")
    for size in sorted(args.sizes_gb):
        store = args.dir / f"store_{size:g}GB.zarr"
        if not store.exists():
            make_store(store, size)
        # RUSAGE_CHILDREN is a running maximum: measure each size in its own process
        code = (
            "import sys; from pathlib import Path; from analysis.bench import measure_report; "
            f"s, p = measure_report(Path({str(store)!r}), Path({str(args.dir / ('report_' + format(size, 'g')))!r})); print(s, p)"
        )
        seconds, peak = map(float, subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split())
        print(f"{store.name:<28} {_du(store) / 1e9:>12.2f} {seconds:>11.1f} {peak:>15.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
