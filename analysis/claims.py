"""The papers' claims, evaluated on a depth-sweep store, each with a verdict that can fail.

Every claim is a :class:`Claim` record (``claims.json`` holds their dicts): the claim's
name and statement, the configuration, the layer, the prediction, the measurement, its
standard error, how it was measured, the verdict and its reason, and what a researcher
needs to act on it: the null, the next-order budget, the widths used, the narrowest width
in the regime, and (beside every ``inconclusive`` and ``outside regime`` verdict) the
command that would settle it with its estimated cost.

The rules are in :mod:`analysis.verdicts`; each claim's theory (prediction, null, next
order) in :mod:`analysis.expansions`:

* ``q1_recursion`` (layers 10 and ``L``), ``q1_recursion_stationary``, ``nlo_bound``
  (Theorem 2.1, an inequality), ``r_recursion``, ``q_tilde_variance``,
  ``log_prod_chi1_drift``: judged only at widths in their regime, extrapolated in
  ``1/N`` where two or more widths qualify;
* ``log_prod_chi1_variance`` and, in ``--backward`` stores, ``back_norm2_mean`` and
  ``back_norm2_variance`` (the distribution of :mod:`theory.products`), judged like the
  expansion claims above;
* ``stable_fraction``: arXiv Definition 2.1 made quantitative, the fraction of networks
  with ``prod chi1`` in ``[1/10, 10]`` against the log-normal prediction, at every width
  where both the mean and the variance of ``log prod chi1`` are in their regime;
* ``stability``: a ``V' = 1`` family (ReLU_tau, ST, ...) is unstable (escapes, or a
  spread that grows with depth, beyond the clipped family's at the same width and
  depth); a clipped family is stable (the spread saturates, no resolved escape).

Independent evidence. The random streams are keyed by (seed, width, sample), so the
configurations that differ only in ``q*`` at fixed (family, ``s``, ``V'(q*)``) are the
same networks scaled by ``sqrt(q*)`` (scale covariance): each such class is one piece
of evidence, evaluated once at its smallest ``q*`` and reported with
``equivalent_q_star``. That the classes are exact copies is a check of the engine
(``kind = "engine check"``), reported apart from the papers' claims.

Applicability is decided when a claim is built: the expansion claims need
``V'(q*) < 1`` and Gaussian weights (the store's ``weights``); otherwise they are
``not applicable``, with the reason.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from analysis.estimators import (
    growth,
    log_prod_chi1,
    moments,
    nlo_coefficient,
    scaled_variance,
    stationary_nlo,
    width_scaled_variance,
)
from analysis.expansions import MAX_DEAD, ClaimTheory
from analysis.plan import requirement
from analysis.sweep import solution_of
from theory import get_family
from theory.products import SOURCES, stable_fraction
from analysis.verdicts import (
    Expansion,
    Growth,
    Verdict,
    agreement,
    identity,
    in_regime_limit,
    instability_verdict,
    stability_verdict,
    upper_bound,
)

ESCAPE_FACTOR = 10.0
#: the band of arXiv Definition 2.1 made quantitative: prod chi1 in [1/K, K]
STABLE_K = 10.0
#: networks read per width for the Definition 2.1 fraction (memory stays bounded)
MAX_FRACTION_SAMPLES = 100_000


@dataclass
class Claim:
    claim: str
    statement: str
    config: dict
    layer: int | None
    prediction: float
    measurement: float
    uncertainty: float
    method: str
    verdict: str
    reason: str
    kind: str = "claim"
    config_id: str = ""
    null: float | None = None
    next_order_budget: float | None = None
    widths_used: list[int] = field(default_factory=list)
    regime_width: int | None = None
    command: str | None = None
    command_seconds: float | None = None
    equivalent_q_star: list[float] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        record = asdict(self)
        record.update(record.pop("extra"))
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


def tally(claims: list[dict]) -> Counter:
    """Verdict counts over the papers' claims (engine checks left out)."""
    return Counter(c["verdict"] for c in claims if c.get("kind", "claim") == "claim")


def config_label(ds, ci) -> dict:
    c = ds.isel(config=ci)
    return {
        "activation": str(c.activation.values),
        "sparsity": float(c.sparsity_target),
        "q_star": float(c.q_star),
        "vprime": float(c.vprime),
        "m": float(c.m) if np.isfinite(c.m) else None,
    }


def scale_classes(ds: xr.Dataset) -> list[list[int]]:
    """Config indices grouped by (family, ``s``, ``V'(q*)``), smallest ``q*`` first."""
    keys: dict[tuple, list[int]] = {}
    for ci in range(ds.sizes["config"]):
        key = (str(ds.activation[ci].values), round(float(ds.sparsity_target[ci]), 12), round(float(ds.vprime[ci]), 9))
        keys.setdefault(key, []).append(ci)
    return [sorted(members, key=lambda c: float(ds.q_star[c])) for members in keys.values()]


def not_applicable_reason(ds: xr.Dataset, ci: int) -> str | None:
    """Why the expansion claims do not apply to configuration ``ci`` (None: they do)."""
    if ds.attrs.get("weights", "gaussian") != "gaussian":
        return f"the 1/N theory is derived for Gaussian weights; this store has {ds.attrs['weights']} weights"
    if not float(ds.vprime[ci]) < 1.0:
        return "V'(q*) = 1: no stable fixed point to expand about"
    return None


class _Builder:
    """Builds the claims of one scale class (``members``, representative first)."""

    def __init__(self, ds, members, estimates, config_id: str = ""):
        self.ds, self.ci = ds, members[0]
        self.config = config_label(ds, self.ci)
        self.config_id = config_id
        self._stats: dict[str, xr.Dataset] = {}
        self.depth = ds.sizes["layer"]
        self.widths = ds.width.values.astype(int)
        self.estimates = estimates
        self.q_stars = [float(ds.q_star[c]) for c in members]
        self.theory = ClaimTheory.from_solution(solution_of(ds, self.ci), self.depth)

    def record(self, name, statement, layer, prediction, measurement, se, method, result: Verdict, **kw) -> Claim:
        return Claim(name, statement, self.config, layer, float(prediction), float(measurement), float(se), method,
                     result.name, result.reason, config_id=self.config_id, equivalent_q_star=self.q_stars, **kw)

    def settle(self, claim: Claim, name: str, layer: int | None) -> Claim:
        if claim.verdict in ("inconclusive", "outside regime"):
            req = requirement(self.theory, name, layer)
            c = self.config
            claim.command = req.command(c["activation"], c["sparsity"], c["q_star"], c["vprime"], self.depth)
            claim.command_seconds = round(req.seconds, 1)
        return claim

    def expansion_claim(self, name, statement, layer, exp: Expansion, values, ses, bound=None) -> Claim:
        reason = not_applicable_reason(self.ds, self.ci)
        if reason:
            return self.record(name, statement, layer, exp.prediction if bound is None else bound, math.nan, math.nan,
                               "not evaluated", Verdict("not applicable", reason))
        limit = in_regime_limit(self.widths, values, ses, exp)
        if bound is None:
            result = limit.verdict or agreement(limit.value, limit.se, exp.prediction, exp.null, limit.budget)
            prediction, measured = exp.prediction, limit.value
        else:
            result = limit.verdict or upper_bound(abs(limit.value), limit.se, bound, limit.budget)
            prediction, measured = bound, abs(limit.value)
        claim = self.record(name, statement, layer, prediction, measured, limit.se, limit.method, result,
                            null=exp.null, next_order_budget=limit.budget, widths_used=list(limit.widths),
                            regime_width=exp.min_width())
        # what the per-claim figure draws: every width's estimate and the theory's 1/N curve
        claim.extra["per_width"] = [
            {"width": int(n), "value": float(v), "se": float(e), "in_regime": bool(exp.in_regime(n))}
            for n, v, e in zip(self.widths, values, ses)]
        claim.extra["next_coefficient"] = float(exp.next)
        claim.extra["expansion_prediction"] = float(exp.prediction)
        return self.settle(claim, name, layer)

    def per_layer(self) -> list[Claim]:
        out = []
        nlo, var_c, var_t = self.estimates
        for layer in sorted({min(self.depth, 10), self.depth}):
            def series(est):
                e = est.isel(config=self.ci).sel(layer=layer)
                return e.value.values, e.se.values
            out.append(self.expansion_claim(
                "q1_recursion", "N (E q_cond - q^(l)) -> q~{1}^(l) (arXiv eq. 13)", layer,
                self.theory.expansion("q1_recursion", layer), *series(nlo)))
            out.append(self.expansion_claim(
                "r_recursion", "N Var(q_cond^(l)) -> r^(l) (arXiv eq. 12)", layer,
                self.theory.expansion("r_recursion", layer), *series(var_c)))
            out.append(self.expansion_claim(
                "q_tilde_variance", "N Var(q_tilde^(l)) -> r^(l) + 2 (q^(l))^2", layer,
                self.theory.expansion("q_tilde_variance", layer), *series(var_t)))
        return out

    def stationary(self) -> list[Claim]:
        if not_applicable_reason(self.ds, self.ci) is None:
            est = stationary_nlo(self.ds, self.ci)
            values, ses, start = est.value.values, est.se.values, est.attrs["start_layer"]
        else:
            values = ses = np.full(self.widths.size, np.nan)
            start = None
        exp = self.theory.expansion("q1_recursion_stationary")
        stationary = self.expansion_claim(
            "q1_recursion_stationary",
            "N (E q_cond - q*) -> q~{1} at the fixed point (per-network mean over the layers where the recursion has converged)",
            start, exp, values, ses)
        bound = self.expansion_claim(
            "nlo_bound", "|N (E q_cond - q*)| <= Theorem 2.1 bound (hypothesis 0 < V'(q*) < 1; layer-averaged)",
            start, exp, values, ses, bound=float(self.ds.bound[self.ci]))
        return [stationary, bound]

    def _alive(self, count) -> np.ndarray:
        """Widths at which at most :data:`analysis.expansions.MAX_DEAD` of the networks passed
        no gradient at some layer (elsewhere the survivors' moments are biased)."""
        total = int(self.ds.attrs.get("samples", self.ds.sizes["sample"]))
        return np.asarray(count) >= (1.0 - MAX_DEAD) * total

    def _moments(self, name: str, layer: int) -> xr.Dataset:
        """Statistics of ``name`` at ``layer`` for this class: one pass over the store per
        observable, shared by every claim that reads it."""
        if name not in self._stats:
            self._stats[name] = moments(self.ds.isel(config=[self.ci]), name).isel(config=0)
        return self._stats[name].sel(layer=layer)

    def drift(self) -> Claim:
        """``N (E log prod_{k<=L} chi1 - sum log chi_1(q^(k))) -> sum coef^(k)``."""
        m = self._moments("log_prod_chi1", self.depth)
        lead = float(self.theory.products.lead[-1])
        alive = self._alive(m["count"].values)
        values = np.where(alive, self.widths * (m["mean"].values - lead), np.nan)
        ses = np.where(alive, self.widths * m["sem"].values, np.nan)
        claim = self.expansion_claim(
            "log_prod_chi1_drift",
            "N (E log prod chi1 - sum log chi_1(q^(l))) -> sum coef^(l) over depth L: the O(L/N) drift (theory.log_chi1_drift)",
            self.depth, self.theory.expansion("log_prod_chi1_drift"), values, ses)
        total = int(self.ds.attrs.get("samples", self.ds.sizes["sample"]))
        claim.extra["networks_with_a_dead_layer"] = [int(total - c) for c in m["count"].values]
        return claim

    def _scaled_variance(self, name: str, layer: int) -> tuple[np.ndarray, np.ndarray]:
        m = self._moments(name, layer)
        alive = self._alive(m["count"].values)
        est = width_scaled_variance(m, self.ds.width)
        return np.where(alive, est.value.values, np.nan), np.where(alive, est.se.values, np.nan)

    def products(self) -> list[Claim]:
        """The distribution of ``log prod chi1`` (and, in ``--backward`` stores, of the
        back-propagated norm) against :mod:`theory.products`."""
        prod = self.theory.products
        variance = self.expansion_claim(
            "log_prod_chi1_variance",
            "N Var log prod chi1 -> sampling + propagated + covariance over depth L (theory.products)",
            self.depth, self.theory.expansion("log_prod_chi1_variance"), *self._scaled_variance("log_prod_chi1", self.depth))
        variance.extra["sources"] = {name: float(getattr(prod, name)[-1]) for name in SOURCES}
        out = [variance, self.stable_fraction()]
        if "back_norm2" not in self.ds:
            return out
        back = self.theory.back
        m = self._moments("log_back_norm2", 1)
        alive = self._alive(m["count"].values)
        mean = self.expansion_claim(
            "back_norm2_mean",
            "N (E log |delta^(1)|^2 - sum_(l<L) log chi_1) -> forward drift + gradient noise + conditioning "
            "(theory.products)",
            1, self.theory.expansion("back_norm2_mean"),
            np.where(alive, self.widths * (m["mean"].values - back.lead), np.nan),
            np.where(alive, self.widths * m["sem"].values, np.nan))
        mean.extra["terms"] = {"forward": back.forward_drift, "gradient": back.gradient_drift, "conditioning": back.conditioning}
        mean.extra["next_order_note"] = ("next order: forward and gradient noise derived; the conditioning term's "
                                         "estimated as its value times max(|q~{2}/q~{1}|, |r2/r|)")
        var = self.expansion_claim(
            "back_norm2_variance",
            "N Var log |delta^(1)|^2 -> N Var log prod_(l<L) chi1 + 2 sum_(l<L) (1 + c2) (theory.products)",
            1, self.theory.expansion("back_norm2_variance"), *self._scaled_variance("log_back_norm2", 1))
        var.extra["terms"] = {**back.forward, "gradient": back.gradient_var}
        return out + [mean, var]

    def stable_fraction(self) -> Claim:
        """Definition 2.1 made quantitative: the fraction of networks with ``prod chi1`` in
        ``[1/K, K]`` at layer ``L``, per width in the regime of both the mean and the
        variance of ``log prod chi1``, against the log-normal prediction; the budget is
        the change of the predicted fraction under both next orders."""
        prod, name = self.theory.products, "stable_fraction"
        statement = (f"fraction of networks with prod chi1 in [1/{STABLE_K:g}, {STABLE_K:g}] at depth L -> the log-normal "
                     "prediction from theory.products (arXiv Definition 2.1 made quantitative)")
        reason = not_applicable_reason(self.ds, self.ci)
        null = float(abs(prod.lead[-1]) <= math.log(STABLE_K))
        if reason or "chi1" not in self.ds:
            why = reason or "the store has no per-network chi1"
            return self.record(name, statement, self.depth, math.nan, math.nan, math.nan, "not evaluated",
                               Verdict("not applicable", why), null=null)
        regimes = self.theory.fraction_regime()
        in_regime = [n for n in self.widths if self.theory.fraction_in_regime(n)]
        if not in_regime:
            widest = int(self.widths.max())
            exp = max(regimes, key=lambda e: (widest < e.floor, e.rho(widest)))
            claim = self.record(name, statement, self.depth, math.nan, math.nan, math.nan, "no width in the regime",
                                Verdict("outside regime", exp.outside_reason(widest)), null=null,
                                regime_width=max(e.min_width() for e in regimes))
            return self.settle(claim, "log_prod_chi1_variance", None)
        rows = []
        for n in in_regime:
            wi = int(np.flatnonzero(self.widths == n)[0])
            sub = self.ds.isel(config=self.ci, width=wi, sample=slice(0, MAX_FRACTION_SAMPLES))
            x = log_prod_chi1(sub).sel(layer=self.depth).values
            count = x.size
            frac = float(np.mean(np.abs(np.nan_to_num(x, nan=np.inf)) <= math.log(STABLE_K)))
            se = math.sqrt(max(frac * (1.0 - frac), 1.0 / count) / count)
            mean, var = float(prod.mean(n)[-1]), float(prod.var(n)[-1])
            predicted = float(stable_fraction(mean, var, STABLE_K))
            shifted = float(stable_fraction(mean + prod.mean_coef2[-1] / n**2, var + prod.var_coef2[-1] / n**2, STABLE_K))
            rho = max(e.rho(n) for e in regimes)
            budget = abs(shifted - predicted) / (1.0 - rho)
            rows.append((n, frac, se, predicted, budget, agreement(frac, se, predicted, null, budget), count))
        failing = [r for r in rows if r[5].name == "fails"]
        holding = [r for r in rows if r[5].name == "holds"]
        n, frac, se, predicted, budget, result, count = (failing or holding or rows)[-1]
        claim = self.record(name, statement, self.depth, predicted, frac, se,
                            f"fraction of {count} networks at N = {n} (judged at every width in the regime: "
                            f"{[int(r[0]) for r in rows]})", result, null=null, next_order_budget=budget,
                            widths_used=[int(r[0]) for r in rows], regime_width=max(e.min_width() for e in regimes))
        claim.extra["per_width"] = [{"width": int(r[0]), "measured": r[1], "se": r[2], "predicted": r[3], "verdict": r[5].name}
                                    for r in rows]
        return claim

    def stability(self) -> Claim:
        """One record per class at the widest width (see :mod:`analysis.verdicts` for the rules)."""
        ds, ci = self.ds, self.ci
        wi = int(np.argmax(self.widths))
        half = max(2, self.depth // 2)
        own = growth(ds, ci, wi, ESCAPE_FACTOR)
        unstable_growth = (self.depth - 1) / (half - 1)
        if not float(ds.vprime[ci]) < 1.0:
            reference, ref_name = self._stable_reference(self.config["activation"], wi)
            result = instability_verdict(own, reference, unstable_growth)
            predicted = unstable_growth
            statement = f"unstable at the EoC: networks escape [q*/{ESCAPE_FACTOR:g}, {ESCAPE_FACTOR:g} q*] or the spread of log q_cond grows with depth, beyond {ref_name}"
        else:
            predicted = float(self.theory.r[-1] / self.theory.r[half - 1])
            result = stability_verdict(own, predicted, unstable_growth)
            statement = "stable at the EoC: the spread of log q_cond saturates with depth and no escape is resolved"
        return self.record("stability", statement, self.depth, predicted, own.growth, own.growth_se,
                           f"Var log q_cond at layer L over layer L/2 = {half}, {own.networks} networks at N = {self.widths[wi]}",
                           result, extra={"escaped": own.escaped, "escaped_se": own.escaped_se, "width": int(self.widths[wi])})

    def _stable_reference(self, act, wi) -> tuple[Growth, str]:
        ds = self.ds
        target = get_family(act).clipped_family
        for cj in range(ds.sizes["config"]):
            if (str(ds.activation[cj].values) == target and float(ds.sparsity_target[cj]) == self.config["sparsity"]
                    and float(ds.vprime[cj]) < 1.0):
                return growth(ds, cj, wi, ESCAPE_FACTOR), f"{target} at the same width and depth"
        return Growth(0.0, 0.0, 1.0, 0.0, 0), "a saturated spread (no clipped family in the store)"


def _scale_covariance_checks(ds: xr.Dataset, classes) -> list[Claim]:
    """SPEC.md: a q* = c network is the q* = 1 network times sqrt(c), draw for draw."""
    out = []
    if "q_tilde" not in ds:
        return out
    for k, members in enumerate(classes, start=1):
        if len(members) < 2:
            continue
        ref = ds.q_tilde.isel(config=members[0]) / ds.q_star[members[0]]
        worst = 0.0
        for ci in members[1:]:
            other = ds.q_tilde.isel(config=ci) / ds.q_star[ci]
            rel = (abs(other - ref) / abs(ref)).where(np.isfinite(ref) & np.isfinite(other))
            worst = max(worst, float(rel.max().compute()))  # lazy: bounded memory
        c = config_label(ds, members[0])
        check = identity(worst, 1e-9)
        out.append(Claim(
            "scale_covariance", "q_tilde/q* is the same across q* at fixed activation, s, V'(q*) (exact identity of the engine)",
            c, None, 0.0, worst, 1e-12, "largest relative difference over networks, widths and layers",
            check.name, check.reason, kind="engine check", config_id=config_id(k),
            equivalent_q_star=[float(ds.q_star[m]) for m in members]))
    return out


def config_id(k: int) -> str:
    """The short name of the ``k``-th scale class (1-based) in a report."""
    return f"C{k}"


def evaluate(ds: xr.Dataset, progress: bool = False) -> list[dict]:
    """All claims on the store opened by :func:`analysis.sweep.open_sweep`, as dicts;
    ``progress`` shows a bar over the configurations (long stores)."""
    estimates = (nlo_coefficient(ds), scaled_variance(ds, "q_cond"), scaled_variance(ds, "q_tilde"))
    classes = scale_classes(ds)
    claims: list[Claim] = []
    for k, members in enumerate(tqdm(classes, desc="claims", unit="configuration", disable=not progress), start=1):
        b = _Builder(ds, members, estimates, config_id(k))
        claims += b.per_layer()
        if "q_cond" in ds:
            claims += b.stationary()
            claims.append(b.stability())
        claims.append(b.drift())
        claims += b.products()
    claims += _scale_covariance_checks(ds, classes)
    return [c.as_dict() for c in claims]
