"""Benchmark of the theory package: ``python -m theory.bench``.

* the heat maps of arXiv 2602.05779 Figs. 2-4 (``V''(q*)``, the Theorem 2.1 bound,
  ``chi_1'(q*)``) on a 300 x 300 grid of ``q* in [0.05, 3]`` and ``m in [0.5, 4]`` at
  ``s in {0.8, 0.85, 0.9}``, each a vectorised closed-form EoC solve;
* the generic quadrature's throughput (Gaussian averages per second) against the
  closed forms on the same activation.

Timings are medians of repeated runs (``--repeats``).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass

import numpy as np

from theory import get_activation, solve_eoc
from theory.cli import UsageError, fail, parse


def _median_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def heat_map(sparsity: float, n: int = 300):
    """``V''``, bound and ``chi_1'`` over the Figs. 2-4 grid (``q*`` along columns)."""
    q_star = np.linspace(0.05, 3.0, n)[None, :]
    m = np.linspace(0.5, 4.0, n)[:, None]
    sol = solve_eoc("crelu", sparsity, q_star, m=m)
    return sol.vsecond, sol.bound, sol.chi1_prime


@dataclass(frozen=True)
class BenchOptions:
    """The options of ``python -m theory.bench``.

    Parameters
    ----------
    repeats : int
        Timed runs per measurement (medians reported).
    grid : int
        Points per side of the heat maps' (m, q*) grid.
    """

    repeats: int = 7
    grid: int = 300

    def __post_init__(self):
        if self.repeats < 1 or self.grid < 2:
            raise UsageError(f"--repeats must be >= 1 and --grid >= 2, got {self.repeats} and {self.grid}")


def main(argv=None) -> int:
    try:
        args = parse(BenchOptions, argv, prog="python -m theory.bench", description=__doc__.splitlines()[0])
    except UsageError as err:
        return fail(err)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}")
    print(f"heat maps, {args.grid} x {args.grid} grid (median of {args.repeats}):")
    for s in (0.8, 0.85, 0.9):
        seconds = _median_seconds(lambda: heat_map(s, args.grid), args.repeats)
        print(f"  s = {s:<5} V'', bound, chi_1' together: {seconds * 1e3:8.1f} ms")

    act = get_activation("crelu", tau=1.0, m=1.2)
    q = np.geomspace(0.05, 3.0, 20_000)
    closed = _median_seconds(lambda: act.expect("phi2", q), args.repeats)
    numeric = _median_seconds(lambda: act.expect("phi2", q, method="quadrature"), max(3, args.repeats // 2))
    print(f"Gaussian averages <phi^2>_q for {q.size} values of q (CReLU):")
    print(f"  closed form          {q.size / closed:12.3e} per s")
    print(f"  generic quadrature   {q.size / numeric:12.3e} per s   (closed form is {numeric / closed:.0f}x faster)")
    err = np.max(np.abs(act.expect("phi2", q, method="quadrature") / act.expect("phi2", q) - 1))
    print(f"  max relative difference quadrature vs closed form: {err:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
