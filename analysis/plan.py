"""``python -m analysis.plan``: the widths and network counts that resolve each claim.

For every claim of :mod:`analysis.claims` the theory gives its prediction ``P``, its null
and its next order ``c`` (:class:`analysis.expansions.ClaimTheory`). A width
is in the claim's regime when ``|c|/(N |P - null|) <= 0.1``
(:class:`analysis.verdicts.Expansion`); the number of networks that resolves it is the
one whose 5 standard errors are half the effect, ``5 se <= |P - null| / 2``, so that a
measurement at the prediction is 10 se from the null and one at the null fails. The
standard error per network comes from the theory (Gaussian approximations, stated in
:meth:`analysis.expansions.ClaimTheory.sd`); a report's measured standard errors supersede it.

The cost is that of the reduced sampler on this project's 2-core CPU machine,
``N L n / RATE + STARTUP`` seconds per configuration (``RATE`` measured with the default
sweep, docs/benchmarks.md), times :data:`BACKWARD_COST` for the claims that need
``--backward``.

Example
-------
>>> from analysis.plan import plan
>>> rows = plan("crelu", 0.85, 1.0, 0.9, depth=100)
>>> [r.claim for r in rows][:2]
['q1_recursion', 'r_recursion']
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

from analysis.expansions import ClaimTheory
from analysis.verdicts import SIGMAS
from theory import EoCError, EoCSolution, solve_eoc

#: neuron-layer samples per second of a whole depth_sweep run on the 2-core machine
RATE = 2.0e8
#: seconds of start-up (imports, compilation from cache, store creation)
STARTUP = 4.0
#: run time with ``--backward`` over without (the default sweep: 108 s against 39 s, 2026-11-25)
BACKWARD_COST = 2.8
#: fewest networks a plan proposes (variances and their standard errors need them)
MIN_NETWORKS = 200
#: narrowest width a plan proposes: below it the fourth cumulants that the plan's standard
#: errors neglect are not small
MIN_WIDTH = 30
#: the claims a plan covers (the stability claims need V' = 1 families; see analysis.claims)
PLANNED = ("q1_recursion", "r_recursion", "q_tilde_variance", "q1_recursion_stationary", "nlo_bound", "log_prod_chi1_drift",
           "log_prod_chi1_variance")
#: the claims that need the back-propagated norm (``--backward`` stores)
BACKWARD = ("back_norm2_mean", "back_norm2_variance")


@dataclass(frozen=True)
class Requirement:
    """What resolves one claim: a width in its regime and a number of networks."""

    claim: str
    width: int
    networks: int
    seconds: float
    rho: float

    def command(self, activation: str, sparsity: float, q_star: float, vprime: float, depth: int) -> str:
        return (f"python -m simulate.depth_sweep --activation {activation} --sparsity {sparsity:g} --qstar {q_star:g} "
                f"--vprime {vprime:.6g} --width {self.width} --depth {depth} --samples {self.networks} "
                + ("--backward " if self.claim in BACKWARD else "")
                + f"--out data/settle_{activation}_s{sparsity:g}_q{q_star:g}_v{vprime:.3g}_{self.claim}.zarr")


def round_up(x: float, digits: int = 2) -> int:
    """``x`` rounded up to ``digits`` significant digits."""
    if x <= 1:
        return 1
    scale = 10 ** max(0, math.floor(math.log10(x)) - digits + 1)
    return int(math.ceil(x / scale) * scale)


def cost_seconds(width: int, depth: int, networks: int, backward: bool = False) -> float:
    return width * depth * networks / RATE * (BACKWARD_COST if backward else 1.0) + STARTUP


def requirement(theory: ClaimTheory, claim: str, layer: int | None = None) -> Requirement:
    """The smallest width in the regime of ``claim`` and the networks that resolve it there."""
    exp = theory.expansion(claim, layer)
    width = round_up(max(exp.min_width(), MIN_WIDTH))
    sd = theory.sd(claim, width, layer)
    networks = max(MIN_NETWORKS, math.ceil((2.0 * SIGMAS * sd / exp.gap) ** 2)) if exp.gap > 0 else MIN_NETWORKS
    return Requirement(claim, width, networks, cost_seconds(width, theory.depth, networks, claim in BACKWARD), exp.rho(width))


def plan(activation: str, sparsity: float, q_star: float, vprime: float | None = None, m: float | None = None,
         depth: int = 100) -> list[Requirement]:
    """One :class:`Requirement` per claim of :data:`PLANNED` and :data:`BACKWARD` for one configuration."""
    sol = solve_eoc(activation, sparsity, q_star, vprime=vprime, m=m)
    if not float(sol.vprime) < 1.0:
        raise EoCError(f"{activation} has V'(q*) = {float(sol.vprime):.4g}: the expansion claims need V'(q*) < 1")
    theory = ClaimTheory.from_solution(sol, depth)
    return [requirement(theory, claim) for claim in PLANNED + BACKWARD]


def auto_widths(solutions: list[EoCSolution], depth: int, backward: bool = False) -> tuple[int, ...]:
    """``--width auto``: ``(N, 2N, 4N)`` with ``N`` the largest regime width over the
    configurations (with ``V' < 1``) and the claims of :data:`PLANNED` (and
    :data:`BACKWARD` for a ``--backward`` sweep), so every claim has three widths in its
    regime for the ``a + b/N`` fit."""
    claims = PLANNED + (BACKWARD if backward else ())
    widths = [requirement(ClaimTheory.from_solution(sol, depth), claim).width
              for sol in solutions if float(sol.vprime) < 1.0 for claim in claims]
    if not widths:
        raise EoCError("--width auto needs a configuration with V'(q*) < 1 (no claim has a regime at V' = 1)")
    n = max(widths)
    return (n, 2 * n, 4 * n)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.plan", description=__doc__.splitlines()[0])
    parser.add_argument("--activation", default="crelu", help="activation family (default crelu)")
    parser.add_argument("--sparsity", nargs="+", type=float, default=[0.85], help="target sparsities s (default 0.85)")
    parser.add_argument("--qstar", nargs="+", type=float, default=[1.0],
                        help="fixed-point variances q* (default 1; at fixed s and V' the plan scales with q*)")
    parser.add_argument("--vprime", nargs="+", type=float, help="target V'(q*) (default 0.5 0.7 0.9)")
    parser.add_argument("--m", nargs="+", type=float, help="clipping values m instead of --vprime")
    parser.add_argument("--depth", type=int, default=100, help="number of layers L (default 100)")
    parser.add_argument("--budget", type=float, help="seconds available: mark the claims that fit")
    args = parser.parse_args(argv)
    targets = [(None, m) for m in args.m] if args.m else [(v, None) for v in (args.vprime or [0.5, 0.7, 0.9])]
    try:
        if args.depth < 3:
            raise EoCError(f"--depth must be >= 3, got {args.depth}")
        configs = [(s, q, v, m, plan(args.activation, s, q, v, m, args.depth))
                   for s in args.sparsity for q in args.qstar for v, m in targets]
    except EoCError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{'claim':<24} {'width':>7} {'networks':>9} {'rho':>6} {'est. s':>8}   (per configuration; rho = next order / effect)")
    for s, q, v, m, rows in configs:
        sol = solve_eoc(args.activation, s, q, vprime=v, m=m)
        print(f"\n{args.activation} s={s:g} q*={q:g} V'={float(sol.vprime):.4g} depth={args.depth}")
        for r in rows:
            mark = "" if args.budget is None else ("  fits" if r.seconds <= args.budget else "  over budget")
            print(f"  {r.claim:<22} {r.width:>7} {r.networks:>9} {r.rho:>6.3f} {r.seconds:>8.1f}{mark}")
            print(f"    {r.command(args.activation, s, q, float(sol.vprime), args.depth)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
