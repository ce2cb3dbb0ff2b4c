"""``python -m analysis.plan``: the widths and network counts that resolve each claim.

For every expansion claim of the registry (:data:`analysis.claims.REGISTRY`) the theory
gives its prediction ``P``, its null, its next order and its regime
(:class:`theory.expansion.Expansion`). The plan takes the narrowest round width in the
regime and the number of networks whose 5 standard errors are half the effect,
``5 se <= |P - null| / 2``, so that a measurement at the prediction is 10 se from the null
and one at the null fails.

The standard deviation per network is **measured**, with the estimator the verdict uses:
a pilot of :data:`PILOT` networks of the configuration is simulated at that width (the
reduced sampler, a fixed seed, in memory), and the claim's own features and estimators
(the control variate of :mod:`theory.companions` and the plain one) give it. So the plan
is what the report would see, not a Gaussian approximation.

The cost is that of the reduced sampler on this project's 2-core CPU machine,
``N L n / RATE + STARTUP`` seconds per configuration (``RATE`` measured with the default
sweep, docs/benchmarks.md), times :data:`BACKWARD_COST` for the claims that need
``--backward``.

Example
-------
>>> from theory import solve_eoc
>>> from analysis.plan import plan
>>> rows = plan(solve_eoc("crelu", 0.85, 1.0, vprime=0.9), depth=20, pilot=100)
>>> rows[0].claim, rows[0].width >= 30
('q1_recursion (l = 10)', True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.claims import REGISTRY, ExpansionClaim, LogProdChi1Variance, NextOrder, Stability, StableFraction
from analysis.features import FeatureMoments, NetworkBatch
from analysis.verdicts import SIGMAS
from simulate.config import MIN_WIDTH, NetworkConfig, Sweep, round_up
from simulate.cpu import simulate_chunk
from theory import EoCError, EoCSolution
from theory.cli import UsageError, fail, parse
from theory.grid import Grid, GridError, require_shape
from theory.expansion import RELAXATION_LENGTHS, ConfigurationTheory

#: neuron-layer samples per second of a whole depth_sweep run on the 2-core machine
RATE = 2.0e8
#: seconds of start-up (imports, compilation from cache, store creation)
STARTUP = 4.0
#: run time with ``--backward`` over without (the default sweep: 108 s against 39 s, 2026-11-25)
BACKWARD_COST = 2.8
#: fewest networks a plan proposes (variances and their standard errors need them)
MIN_NETWORKS = 200
#: networks of the pilot that measures each claim's standard deviation per network
PILOT = 400
#: the pilot's seed (a plan depends on nothing else)
PILOT_SEED = 20261128
#: a plan resolves an effect when 5 standard errors are at most this fraction of it
RESOLUTION = 2.0


@dataclass(frozen=True)
class Requirement:
    """What resolves one claim: a width in its regime and a number of networks.

    ``sd``, ``plain_sd``: the standard deviation per network of the estimate with the
    estimator used and with the plain one (measured by the pilot); ``networks_plain``: what
    the plain estimator would need.
    """

    claim: str
    width: int
    networks: int
    seconds: float
    left_out: float
    sd: float
    plain_sd: float
    networks_plain: int
    backward: bool

    def sweep(self, sol: EoCSolution, depth: int) -> Sweep:
        """The depth sweep that settles the claim."""
        vprime = float(sol.vprime)
        return Sweep(activation=(sol.activation_name,), sparsity=(float(sol.sparsity),), q_star=(float(sol.q_star),),
                     vprime=(round(vprime, 6),), width=(self.width,), depth=depth, samples=self.networks,
                     backward=self.backward)

    def command(self, sol: EoCSolution, depth: int) -> str:
        """``python -m simulate.depth_sweep ...`` with an ``--out`` named by the simulation
        itself: two plans that simulate the same networks share it, two that differ never do."""
        sweep = self.sweep(sol, depth)
        return "python -m simulate.depth_sweep " + " ".join(sweep.to_argv()) + f" --out {sweep.default_out()}"


def cost_seconds(width: int, depth: int, networks: int, backward: bool = False) -> float:
    return width * depth * networks / RATE * (BACKWARD_COST if backward else 1.0) + STARTUP


class Pilots:
    """Pilot networks per (configuration, width, backward), simulated once."""

    def __init__(self, networks: int = PILOT):
        self.networks = networks
        self._cache: dict[tuple, NetworkBatch] = {}

    def batch(self, theory: ConfigurationTheory, width: int, backward: bool) -> NetworkBatch:
        sol = theory.solution
        key = (sol.activation_name, float(sol.sparsity), float(sol.q_star), float(sol.vprime), width, theory.depth, backward)
        if key not in self._cache:
            sweep = Sweep(activation=(sol.activation_name,), sparsity=(float(sol.sparsity),), q_star=(float(sol.q_star),),
                          vprime=(float(sol.vprime),), width=(width,), depth=theory.depth, samples=self.networks,
                          seed=PILOT_SEED, backward=backward)
            config = NetworkConfig(sol.activation_name, float(sol.sparsity), float(sol.q_star), float(sol.vprime), None, sol)
            out = simulate_chunk(sweep, config, width, 0, self.networks)
            x = out["q_cond"]
            ok = np.all(np.isfinite(x) & (x > 0), axis=1)
            arrays = {k: out[k][ok] for k in ("q_cond", "chi1", "q_tilde", "back_norm2") if k in out}
            self._cache[key] = NetworkBatch(theory, width, arrays, int((~ok).sum()))
        return self._cache[key]


def requirement(claim: ExpansionClaim, theory: ConfigurationTheory, pilots: Pilots, width: int | None = None,
                resolution: float = RESOLUTION) -> Requirement:
    """The networks that resolve ``claim`` at ``width`` (default: the narrowest round width in
    its regime), ``5 se <= effect / resolution``, sized with the standard deviation per network
    that the pilot measures."""
    exp = claim.expansion(theory)
    width = width or round_up(max(exp.min_width(), MIN_WIDTH))
    batch = pilots.batch(theory, width, claim.backward)
    fm = FeatureMoments.of(claim.features(batch))
    est = claim.estimate_from(fm, width, controlled=True)
    scale = width if isinstance(claim, NextOrder) else 1.0
    root_n = math.sqrt(max(fm.count, 1))
    sd, plain_sd = scale * est.se * root_n, scale * est.plain_se * root_n

    def needed(s: float) -> int:
        if not (exp.gap > 0 and math.isfinite(s)):
            return MIN_NETWORKS
        return max(MIN_NETWORKS, math.ceil((resolution * SIGMAS * s / exp.gap) ** 2))

    networks = needed(sd)
    return Requirement(claim.row_label, width, networks, cost_seconds(width, theory.depth, networks, claim.backward),
                       exp.left_out(width), sd, plain_sd, needed(plain_sd), claim.backward)


def planned(theory: ConfigurationTheory, backward: bool = True) -> list[ExpansionClaim]:
    """The expansion claims of one input a plan covers (the others are judged their own way;
    the two-input claims of :mod:`analysis.correlation` need a two-input pilot, not planned),
    bar those with no layer to measure at this depth (the stationary ones in a network too
    shallow to have a stationary stretch: their prediction is not a number)."""
    return [claim for cls in REGISTRY if issubclass(cls, ExpansionClaim) and (backward or not cls.backward)
            and "rho" not in cls.needs for claim in cls.instances(theory)
            if math.isfinite(claim.expansion(theory).gap)]


def plan(solution: EoCSolution, depth: int = 100, pilot: int = PILOT, backward: bool = True, width: int | None = None,
         resolution: float = RESOLUTION) -> list[Requirement]:
    """One :class:`Requirement` per planned claim of one configuration.

    Parameters
    ----------
    solution : EoCSolution
        The configuration, solved at the EoC (:func:`theory.solve_eoc`, or
        :meth:`theory.grid.Grid.configs`).
    depth : int
        Number of layers ``L``.
    pilot : int
        Pilot networks per width (they measure each claim's standard deviation per network).
    backward : bool
        Also plan the claims that need ``--backward``.
    width : int or None
        Plan at this width (default: each claim's narrowest round width in its regime).
    resolution : float
        Resolve each effect to ``5 se <= effect / resolution``.

    Returns
    -------
    list of Requirement
        In the order of :func:`planned`.

    Raises
    ------
    theory.EoCError
        When ``V'(q*) >= 1``: no expansion claim has a regime there.

    Examples
    --------
    >>> from theory import solve_eoc
    >>> rows = plan(solve_eoc("crelu", 0.85, 1.0, vprime=0.9), depth=20, pilot=100)
    >>> rows[0].claim, rows[0].width >= 30
    ('q1_recursion (l = 10)', True)
    """
    if not float(solution.vprime) < 1.0:
        raise EoCError(f"{solution.activation_name} has V'(q*) = {float(solution.vprime):.4g}: "
                       "the expansion claims need V'(q*) < 1")
    theory = ConfigurationTheory.from_solution(solution, depth)
    pilots = Pilots(pilot)
    return [requirement(claim, theory, pilots, width, resolution) for claim in planned(theory, backward)]


class Settle:
    """Adds to an open claim's record the command that would settle it and its cost
    (:func:`analysis.claims.evaluate`'s ``settle``): the requirement of the claim itself, or
    for the Definition 2.1 fraction that of the variance of ``log prod chi1`` it rests on."""

    def __init__(self, pilot: int = PILOT):
        self.pilots = Pilots(pilot)

    def __call__(self, record, claim, ctx) -> None:
        if isinstance(claim, Stability) and not ctx.not_applicable():
            self._stability(record, ctx)
            return
        if isinstance(claim, StableFraction):
            claim = LogProdChi1Variance(claim.layer)
        if not isinstance(claim, ExpansionClaim) or ctx.not_applicable() or "rho" in claim.needs:
            return
        req = requirement(claim, ctx.theory, self.pilots)
        record.command = req.command(ctx.theory.solution, ctx.depth)
        record.command_seconds = round(req.seconds, 1)

    @staticmethod
    def _stability(record, ctx) -> None:
        """Saturation needs ``L/2`` past :data:`theory.expansion.RELAXATION_LENGTHS` relaxation
        lengths and a width in the regime of the spread's growth: the store's networks at the
        depth and width that give both."""
        theory = ctx.theory
        depth = max(ctx.depth, 2 * math.ceil(RELAXATION_LENGTHS * theory.relaxation_length))
        deep = ConfigurationTheory.from_solution(theory.solution, depth)
        half = max(2, depth // 2)
        width = round_up(max(deep.log_q_cond_variance(depth).min_width(), deep.log_q_cond_variance(half).min_width(),
                             int(ctx.widths.max()), MIN_WIDTH))
        req = Requirement("stability", width, max(MIN_NETWORKS, ctx.samples), cost_seconds(width, depth, max(MIN_NETWORKS, ctx.samples)),
                          math.nan, math.nan, math.nan, max(MIN_NETWORKS, ctx.samples), False)
        record.command = req.command(theory.solution, depth)
        record.command_seconds = round(req.seconds, 1)


@dataclass(frozen=True, kw_only=True)
class PlanOptions(Grid):
    """The options of ``python -m analysis.plan``: the configurations, and what to plan.

    Parameters
    ----------
    depth : int
        Number of layers L (>= 2).
    width : int or None
        Plan at this width (default: each claim's narrowest width in its regime).
    pilot : int
        Pilot networks per configuration and width.
    resolution : float
        Resolve each effect to 5 se <= effect / RESOLUTION.
    budget : float or None
        Seconds available: mark the claims that fit.
    """

    depth: int = 100
    width: int | None = None
    pilot: int = PILOT
    resolution: float = RESOLUTION
    budget: float | None = None

    def __post_init__(self):
        super().__post_init__()
        require_shape(width=self.width, depth=self.depth)
        if self.pilot < 2 or not self.resolution > 0:
            raise GridError(f"--pilot must be >= 2 and --resolution > 0, got {self.pilot} and {self.resolution:g}")


def main(argv=None) -> int:
    try:
        args = parse(PlanOptions, argv, prog="python -m analysis.plan", description=__doc__.splitlines()[0])
        configs = [(c, plan(c.solution, args.depth, args.pilot, width=args.width, resolution=args.resolution))
                   for c in args.configs()]
    except (UsageError, EoCError) as err:
        return fail(err)
    print(f"{'claim':<36} {'width':>7} {'networks':>9} {'plain':>11} {'left out':>9} {'est. s':>8}"
          "   (per configuration; networks: with the control variate; plain: with the plain estimator; "
          "left out: the order after, relative to the effect; > 0.1 is outside the regime)")
    for c, rows in configs:
        sol = c.solution
        print(f"\n{c.activation} s={c.sparsity:g} q*={c.q_star:g} V'={float(sol.vprime):.4g} depth={args.depth}")
        for r in rows:
            mark = "" if args.budget is None else ("  fits" if r.seconds <= args.budget else "  over budget")
            print(f"  {r.claim:<34} {r.width:>7} {r.networks:>9} {r.networks_plain:>11} {r.left_out:>9.3f} {r.seconds:>8.1f}{mark}")
            print(f"    {r.command(sol, args.depth)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
