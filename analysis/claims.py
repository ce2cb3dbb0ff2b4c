"""The papers' claims, one class each, evaluated on a depth-sweep store with verdicts that can fail.

The registry, in the manner of scipy.stats' one class per family: every claim is a
subclass of :class:`Claim` that owns its statement, its statistic and the estimators of
it (the plain one and, where an exact identity gives one, the control variate of
:mod:`theory.companions`), its prediction, next order, null and regime (a method of
:class:`theory.expansion.ConfigurationTheory`), its figure's axis label and, through its
estimators, the standard deviation per network that plans a run (:mod:`analysis.plan`).
:data:`REGISTRY` lists them; :func:`evaluate` runs all of them on a store.

The subclass contract of :class:`ExpansionClaim` (the claims ``Y_N -> P + c/N``):

* ``name``, ``statement``, ``label`` (what the figure's y-axis shows), ``needs`` (the
  recorded observables), ``layers`` (``"judged"``: early and last layer; ``"last"``;
  ``"stationary"``: averaged per network over the layers where ``q~{1}`` has converged);
* :meth:`ExpansionClaim.expansion`: the claim's :class:`theory.expansion.Expansion`;
* :meth:`ExpansionClaim.features`: per-network features of a batch (an array
  ``(networks, F)``), from which :meth:`ExpansionClaim.plain` and
  :meth:`ExpansionClaim.controlled` compute the width-scaled estimate from the features'
  means (standard errors by the delta method, :mod:`analysis.features`);
* optionally ``streamed``: the observable and moment whose streaming summary (``--keep``
  stores) gives the plain estimate over every network.

Both estimators are reported per width, with the variance reduction; the verdict uses the
one with the smaller standard error (the control variate wherever the store's weights are
Gaussian: its mean is exact by :mod:`theory.companions`, for orthogonal weights it is not
applicable). Verdict rules: :mod:`analysis.verdicts`.

Independent evidence. The random streams are keyed by (seed, width, sample), so the
configurations that differ only in ``q*`` at fixed (family, ``s``, ``V'(q*)``) are the
same networks scaled by ``sqrt(q*)`` (scale covariance): each such class is one piece
of evidence, evaluated once at its smallest ``q*`` and reported with
``equivalent_q_star``. That the classes are exact copies is a check of the engine
(``kind = "engine check"``), reported apart from the papers' claims.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from analysis.estimators import growth, moments
from analysis.features import FeatureMoments, NetworkBatch, batches, delta_method, gaussian_reason
from analysis.verdicts import (
    Growth,
    Limit,
    Verdict,
    agreement,
    combine,
    identity,
    instability_verdict,
    stability_verdict,
    upper_bound,
)
from theory import get_family
from theory.expansion import RELAXATION_LENGTHS, ConfigurationTheory, Expansion
from theory.products import SOURCES, stable_fraction

ESCAPE_FACTOR = 10.0
#: the band of arXiv Definition 2.1 made quantitative: prod chi1 in [1/K, K]
STABLE_K = 10.0


@dataclass
class Record:
    """One judged claim: a row of ``claims.json``.

    Made by a claim's :meth:`Claim.evaluate` (and by the engine checks); :meth:`as_dict`
    gives the row, with ``extra`` merged in and non-finite floats as None (JSON null).

    Parameters
    ----------
    claim : str
        The claim's registered name (:data:`REGISTRY`).
    statement : str
        What the claim says.
    config : dict
        The configuration judged: ``activation``, ``sparsity``, ``q_star``, ``vprime`` and
        ``m`` (None: no clipping).
    layer : int or None
        The layer ``l`` (1-based) the claim is judged at; None for claims over all layers.
    prediction : float
        The theory's prediction.
    measurement : float
        The measured value (NaN: not evaluated).
    uncertainty : float
        The measurement's standard error.
    method : str
        How the measurement was obtained (estimator, widths, networks).
    verdict : str
        One of :data:`analysis.verdicts.VERDICTS`.
    reason : str
        Why that verdict.
    kind : str, default "claim"
        ``"claim"`` (a claim of the papers) or ``"engine check"`` (a check of the
        simulation engine, reported apart).
    config_id : str, default ""
        The short name of the configuration's scale class in a report (``"C1"``, ...).
    null : float or None, default None
        What the measurement would be without the effect claimed.
    next_order_budget : float or None, default None
        The theory's next order at the widths used (a disagreement within it is not a
        failure).
    widths_used : list of int, default []
        The widths in the regime that entered the verdict.
    regime_width : int or None, default None
        The narrowest width at which the claim is in its regime.
    command : str or None, default None
        The command that would settle an open claim (:class:`analysis.plan.Settle`).
    command_seconds : float or None, default None
        That command's estimated run time in seconds.
    equivalent_q_star : list of float, default []
        The ``q*`` of the configurations in the same scale class (the same networks scaled
        by ``sqrt(q*)``; module docstring), all judged by this record.
    extra : dict, default {}
        Further fields of the row (per-width estimates, the figure's label, ...).

    Examples
    --------
    >>> rec = Record("q1_recursion", "N (E q_cond - q^(l)) -> q~{1}^(l) (arXiv eq. 13)", {"activation": "crelu"}, 10,
    ...              0.25, 0.26, float("nan"), "weighted mean", "inconclusive", "no finite standard error",
    ...              extra={"row": "q1_recursion (l = 10)"})
    >>> row = rec.as_dict()
    >>> row["measurement"], row["uncertainty"], row["row"], row["kind"]
    (0.26, None, 'q1_recursion (l = 10)', 'claim')
    """

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
        """The row of ``claims.json``: the fields, with ``extra`` merged in and non-finite
        floats as None (JSON null).

        Returns
        -------
        dict
            Every field but ``extra`` by name, then the entries of ``extra``.

        Examples
        --------
        >>> rec = Record("nlo_bound", "|q~{1}| <= bound (Theorem 2.1)", {"activation": "crelu"}, None, 0.3,
        ...              float("inf"), 0.01, "weighted mean", "fails", "diverged", extra={"label": "$q_1$"})
        >>> row = rec.as_dict()
        >>> row["measurement"], row["prediction"], row["label"], "extra" in row
        (None, 0.3, '$q_1$', False)
        """
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


def config_id(k: int) -> str:
    """The short name of the ``k``-th scale class (1-based) in a report."""
    return f"C{k}"


@dataclass
class Context:
    """One scale class of a store: its representative configuration, its theory (solved
    once), and the per-width feature moments of every claim (filled by :func:`collect`)."""

    ds: xr.Dataset
    members: list[int]
    theory: ConfigurationTheory
    config_id: str
    stats: dict = field(default_factory=dict)
    excluded: list[int] = field(default_factory=list)

    @property
    def ci(self) -> int:
        return self.members[0]

    @property
    def widths(self) -> np.ndarray:
        return self.ds.width.values.astype(int)

    @property
    def depth(self) -> int:
        return self.ds.sizes["layer"]

    @property
    def config(self) -> dict:
        return config_label(self.ds, self.ci)

    @property
    def q_stars(self) -> list[float]:
        return [float(self.ds.q_star[c]) for c in self.members]

    @property
    def samples(self) -> int:
        return int(self.ds.attrs.get("samples", self.ds.sizes["sample"]))

    def not_applicable(self) -> str | None:
        """Why the expansion claims do not apply (None: they do)."""
        reason = gaussian_reason(self.ds)
        if reason:
            return f"the 1/N theory is {reason}"
        if not self.theory.vprime < 1.0:
            return "V'(q*) = 1: no stable fixed point to expand about"
        return None

    def record(self, claim: "Claim", prediction, measurement, se, method, result: Verdict, **kw) -> Record:
        rec = Record(claim.name, claim.statement, self.config, claim.layer, float(prediction), float(measurement),
                     float(se), method, result.name, result.reason, kind=claim.kind, config_id=self.config_id,
                     equivalent_q_star=self.q_stars, **kw)
        rec.extra.update({"row": claim.row_label, "label": claim.label})
        return rec


class Claim:
    """Base of the registry: one claim of the papers (or one check of the engine).

    Subclasses set ``name``, ``statement``, ``label`` and ``needs`` and implement
    :meth:`evaluate`; :meth:`instances` gives one instance per judged layer for per-layer
    claims.

    The class variables a subclass sets:

    * ``name``: the registered name (:func:`get_claim`); ``statement``: what it says;
      ``label``: what its figure's y-axis shows;
    * ``kind``: ``"claim"`` (a claim of the papers) or ``"engine check"``;
    * ``needs``: the recorded observables it reads (:meth:`present`); ``backward``: it
      needs ``--backward`` stores;
    * ``layers``: ``"judged"`` (early and last layer), ``"last"`` or ``"stationary"``
      (averaged per network over the layers where ``q~{1}`` has converged).

    Parameters
    ----------
    layer : int, optional
        The layer ``l`` (1-based) the instance is judged at (:meth:`instances` gives the
        claim's own).

    Examples
    --------
    >>> cls = get_claim("q1_recursion")
    >>> issubclass(cls, Claim), cls.layers, cls.needs
    (True, 'judged', ('q_cond',))
    >>> claim = cls(10)
    >>> claim.row_label, claim.key
    ('q1_recursion (l = 10)', ('q1_recursion', 10))
    """

    name: ClassVar[str]
    statement: ClassVar[str]
    label: ClassVar[str] = ""
    kind: ClassVar[str] = "claim"
    needs: ClassVar[tuple[str, ...]] = ("q_cond",)
    backward: ClassVar[bool] = False
    layers: ClassVar[str] = "last"

    def __init__(self, layer: int | None = None):
        self.layer = layer

    @classmethod
    def instances(cls, theory: ConfigurationTheory) -> list["Claim"]:
        """The claim's instances for one configuration: one per judged layer
        (``layers = "judged"``), one at the first stationary layer (``"stationary"``), or one
        at the last layer (``"last"``).

        Parameters
        ----------
        theory : theory.expansion.ConfigurationTheory
            The configuration's finite-width theory at the store's depth.

        Returns
        -------
        list of Claim
            The instances, in increasing layer.

        Examples
        --------
        >>> from simulate import Sweep
        >>> config = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=100).configs()[0]
        >>> theory = ConfigurationTheory.from_solution(config.solution, 100)
        >>> [claim.row_label for claim in get_claim("q1_recursion").instances(theory)]
        ['q1_recursion (l = 10)', 'q1_recursion (l = 100)']
        >>> [claim.layer for claim in get_claim("stable_fraction").instances(theory)]
        [100]
        """
        if cls.layers == "judged":
            return [cls(layer) for layer in theory.judged_layers]
        if cls.layers == "stationary":
            return [cls(int(theory.stationary_layers.start) + 1)]
        return [cls(theory.depth)]

    @classmethod
    def present(cls, ds: xr.Dataset) -> bool:
        """The store records what the claim needs.

        Parameters
        ----------
        ds : xarray.Dataset
            The store (any mapping of its recorded observables).

        Returns
        -------
        bool
            Every name in ``needs`` is a variable of ``ds``.

        Examples
        --------
        A store without ``chi1`` judges the claims on ``q_cond`` alone:

        >>> ds = xr.Dataset({"q_cond": (("sample", "layer"), np.ones((8, 4)))})
        >>> get_claim("q1_recursion").present(ds), get_claim("stable_fraction").present(ds)
        (True, False)
        """
        return all(name in ds for name in cls.needs)

    @property
    def row_label(self) -> str:
        """The claim's row in the verdict matrix (with the layer where a claim has several)."""
        return f"{self.name} (l = {self.layer})" if self.layers == "judged" else self.name

    @property
    def key(self) -> tuple:
        return (self.name, self.layer)

    def evaluate(self, ctx: Context) -> Record:
        """The claim judged on one scale class of a store (each subclass implements it).

        Parameters
        ----------
        ctx : Context
            The scale class, its theory and the feature moments of the claim (filled by
            :func:`collect`).

        Returns
        -------
        Record
            The verdict with its prediction, measurement, uncertainty and reason.

        Raises
        ------
        NotImplementedError
            On :class:`Claim` itself.

        Examples
        --------
        At width 20 the recursion for ``q~{1}`` is outside its regime (which the record names):

        >>> import tempfile
        >>> from analysis.sweep import open_sweep, theories_of
        >>> from simulate import Sweep, run
        >>> ds = open_sweep(run(Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8),
        ...                     tempfile.mkdtemp() + "/s.zarr", progress=False))
        >>> ctx = contexts(ds, theories_of(ds))[0]
        >>> claim = get_claim("q1_recursion").instances(ctx.theory)[-1]
        >>> collect(ctx, [claim])
        >>> rec = claim.evaluate(ctx)
        >>> rec.claim, rec.layer, rec.verdict, rec.regime_width
        ('q1_recursion', 4, 'outside regime', 203)
        """
        raise NotImplementedError


@dataclass(frozen=True)
class WidthEstimate:
    """Both estimators of a claim's statistic at one width; ``value, se`` are the ones used."""

    width: int
    plain: float
    plain_se: float
    controlled: float
    controlled_se: float
    networks: int

    @property
    def use_controlled(self) -> bool:
        return np.isfinite(self.controlled_se) and not self.controlled_se > self.plain_se

    @property
    def value(self) -> float:
        return self.controlled if self.use_controlled else self.plain

    @property
    def se(self) -> float:
        return self.controlled_se if self.use_controlled else self.plain_se

    @property
    def reduction(self) -> float:
        """Variance of the plain estimator over that of the control variate."""
        return (self.plain_se / self.controlled_se) ** 2 if self.controlled_se > 0 else math.nan


class ExpansionClaim(Claim):
    """A claim ``Y_N -> P + c/N`` (module docstring: the subclass contract)."""

    streamed: ClassVar[tuple[str, str] | None] = None

    def expansion(self, theory: ConfigurationTheory) -> Expansion:
        raise NotImplementedError

    def features(self, batch: NetworkBatch) -> np.ndarray:
        raise NotImplementedError

    def plain(self, m: np.ndarray, n: int, width: int) -> float:
        raise NotImplementedError

    def controlled(self, m: np.ndarray, n: int, width: int) -> float:
        raise NotImplementedError

    @property
    def feature_key(self) -> tuple:
        """Claims that read the same features share them (the bound and its claim)."""
        return self.key

    def estimate_from(self, fm: FeatureMoments, width: int, controlled: bool) -> WidthEstimate:
        """Both estimators from the feature moments at ``width`` (``controlled``: the
        companions apply, i.e. Gaussian weights)."""
        plain = delta_method(lambda m, n: self.plain(m, n, width), fm)
        cv = delta_method(lambda m, n: self.controlled(m, n, width), fm) if controlled else (math.nan, math.nan)
        return WidthEstimate(width, *plain, *cv, fm.count)

    def estimate(self, ctx: Context, wi: int) -> WidthEstimate:
        """Both estimators at width ``wi`` of the store (the plain one over every network of a
        ``--keep`` store from its streaming summary)."""
        est = self.estimate_from(ctx.stats[self.feature_key][wi], int(ctx.widths[wi]), gaussian_reason(ctx.ds) is None)
        if self.streamed and f"{self.streamed[0]}_moments" in ctx.ds:
            plain, plain_se = self._from_stream(ctx, wi)
            est = WidthEstimate(est.width, plain, plain_se, est.controlled, est.controlled_se, est.networks)
        return est

    def _from_stream(self, ctx: Context, wi: int) -> tuple[float, float]:
        """The plain estimate over every network of a ``--keep`` store (its streaming summary)."""
        name, moment = self.streamed
        m = moments(ctx.ds.isel(config=[ctx.ci], width=[wi]), name).isel(config=0, width=0).sel(layer=self.layer)
        width = float(ctx.widths[wi])
        center = self.center(ctx.theory)
        if moment == "mean":
            return width * (float(m["mean"]) - center), width * float(m["sem"])
        n, s2 = float(m["count"]), float(m["var"])
        m4 = (float(m["kurtosis"]) + 3.0) * (s2 * (n - 1) / n) ** 2
        return width * s2, width * math.sqrt(max(m4 - (n - 3) / (n - 1) * s2**2, 0.0) / n)

    def center(self, theory: ConfigurationTheory) -> float:
        """The infinite-width value the statistic is measured from (means) or about (variances)."""
        return float(theory.q[self.layer - 1])

    def judge(self, limit: Limit, exp: Expansion, theory: ConfigurationTheory) -> Verdict:
        return agreement(limit.value, limit.se, exp.prediction, exp.null, limit.budget)

    def series(self, theory: ConfigurationTheory, estimates: list[WidthEstimate]) -> dict[str, np.ndarray]:
        """The per-width values judged (``value, se``) and the plain ones (``plain, plain_se``)."""
        return {"value": np.array([e.value for e in estimates]), "se": np.array([e.se for e in estimates]),
                "plain": np.array([e.plain for e in estimates]), "plain_se": np.array([e.plain_se for e in estimates])}

    def verdict(self, theory: ConfigurationTheory, estimates: list[WidthEstimate]) -> tuple[Limit, Verdict, Expansion]:
        """The verdict from per-width estimates (what the planted-outcome battery exercises)."""
        exp = self.expansion(theory)
        s = self.series(theory, estimates)
        limit = combine([e.width for e in estimates], s["value"], s["se"], exp)
        return limit, limit.verdict or self.judge(limit, exp, theory), exp

    def reported(self, limit: Limit, exp: Expansion, theory: ConfigurationTheory) -> tuple[float, float]:
        """``(prediction, measurement)`` as recorded."""
        return exp.prediction, limit.value

    def evaluate(self, ctx: Context) -> Record:
        exp = self.expansion(ctx.theory)
        reason = ctx.not_applicable()
        if reason:
            rec = ctx.record(self, exp.prediction, math.nan, math.nan, "not evaluated", Verdict("not applicable", reason),
                             null=exp.null)
            return self._note_companions(rec, ctx)
        estimates = [self.estimate(ctx, wi) for wi in range(len(ctx.widths))]
        limit, result, _ = self.verdict(ctx.theory, estimates)
        prediction, measured = self.reported(limit, exp, ctx.theory)
        rec = ctx.record(self, prediction, measured, limit.se, limit.method, result, null=exp.null,
                         next_order_budget=limit.budget, widths_used=list(limit.widths), regime_width=exp.min_width())
        s = self.series(ctx.theory, estimates)
        rec.extra["per_width"] = [
            {"width": e.width, "value": float(s["value"][i]), "se": float(s["se"][i]), "in_regime": bool(exp.in_regime(e.width)),
             "estimator": "control variate" if e.use_controlled else "plain", "plain": float(s["plain"][i]),
             "plain_se": float(s["plain_se"][i]), "variance_reduction": float(e.reduction), "networks": e.networks,
             "excluded": int(ctx.excluded[i])}
            for i, e in enumerate(estimates)]
        rec.extra["next_coefficient"] = float(exp.next)
        rec.extra["next_derived"] = bool(exp.next_derived)
        rec.extra["expansion_prediction"] = float(exp.prediction)
        rec.extra["label"] = self.label
        used = [e for e in estimates if e.width in limit.widths]
        rec.extra["estimator"] = ("control variate (theory.companions)" if used and all(e.use_controlled for e in used)
                                  else "plain" if used else "-")
        plain = combine([e.width for e in estimates], s["plain"], s["plain_se"], exp)
        rec.extra["plain_measurement"] = plain.value
        rec.extra["plain_uncertainty"] = plain.se
        rec.extra["variance_reduction"] = (plain.se / limit.se) ** 2 if limit.se and np.isfinite(plain.se) else math.nan
        return self._note_companions(rec, ctx)

    @staticmethod
    def _note_companions(rec: Record, ctx: Context) -> Record:
        """Say in the record why the control variate is not applicable, where it is not."""
        reason = gaussian_reason(ctx.ds)
        if reason:
            rec.extra["control_variate"] = f"not applicable: the companions are {reason}"
        return rec


# -- the claims on q_cond --------------------------------------------------------------------
class _MeanOfQCond(ExpansionClaim):
    """``N (E q_cond - q)``: plain, and with the companion ``D1 + D2`` subtracted."""

    label = r"$N\,(\mathrm{E}\,q_{cond} - q^{(l)})$"

    @staticmethod
    def _columns(batch: NetworkBatch) -> tuple[np.ndarray, np.ndarray]:
        """``(x - q, x - q - D1 - D2)`` per network and layer."""
        x = batch.arrays["q_cond"] - batch.theory.q
        return x, x - batch.companions.q_cond

    def plain(self, m, n, width):
        return width * m[0]

    def controlled(self, m, n, width):
        return width * m[1]


class Q1Recursion(_MeanOfQCond):
    name = "q1_recursion"
    statement = "N (E q_cond - q^(l)) -> q~{1}^(l) (arXiv eq. 13)"
    layers = "judged"
    streamed = ("q_cond", "mean")

    def expansion(self, theory):
        return theory.q1_recursion(self.layer)

    def features(self, batch):
        raw, cv = self._columns(batch)
        i = self.layer - 1
        return np.stack([raw[:, i], cv[:, i]], axis=1)


class Q1Stationary(_MeanOfQCond):
    name = "q1_recursion_stationary"
    statement = ("N (E q_cond - q*) -> q~{1} at the fixed point (per-network mean over the layers where the recursion "
                 "has converged)")
    layers = "stationary"
    label = r"$N\,(\mathrm{E}\,\bar q_{cond} - q^*)$"

    def expansion(self, theory):
        return theory.q1_stationary()

    def features(self, batch):
        raw, cv = self._columns(batch)
        st = batch.theory.stationary_layers
        return np.stack([raw[:, st].mean(axis=1), cv[:, st].mean(axis=1)], axis=1)


class NloBound(Q1Stationary):
    name = "nlo_bound"
    statement = "|N (E q_cond - q*)| <= Theorem 2.1 bound (hypothesis 0 < V'(q*) < 1; layer-averaged)"
    label = r"$|N\,(\mathrm{E}\,\bar q_{cond} - q^*)|$"

    @property
    def feature_key(self):
        return (Q1Stationary.name, self.layer)

    def judge(self, limit, exp, theory):
        return upper_bound(abs(limit.value), limit.se, theory.bound, limit.budget)

    def reported(self, limit, exp, theory):
        return theory.bound, abs(limit.value)


class RRecursion(ExpansionClaim):
    name = "r_recursion"
    statement = "N Var(q_cond^(l)) -> r^(l) (arXiv eq. 12)"
    label = r"$N\,\mathrm{Var}\,q_{cond}$"
    layers = "judged"
    streamed = ("q_cond", "var")

    def expansion(self, theory):
        return theory.r_recursion(self.layer)

    def features(self, batch):
        i = self.layer - 1
        d = batch.arrays["q_cond"][:, i] - batch.theory.q[i]
        return np.stack([d, d * d, batch.companions.M[:, i]], axis=1)

    @staticmethod
    def _variance(m, n):
        return n / (n - 1) * (m[1] - m[0] ** 2)

    def plain(self, m, n, width):
        return width * self._variance(m, n)

    def controlled(self, m, n, width):
        return width * (self._variance(m, n) - m[2])


class QTildeVariance(RRecursion):
    name = "q_tilde_variance"
    statement = "N Var(q_tilde^(l)) -> r^(l) + 2 (q^(l))^2"
    label = r"$N\,\mathrm{Var}\,\tilde q$"
    needs = ("q_cond", "q_tilde")
    streamed = ("q_tilde", "var")

    def expansion(self, theory):
        return theory.q_tilde_variance(self.layer)

    def features(self, batch):
        """``(q_cond - q, its square, M, q_tilde - q, its square, q_cond^2)``: the control
        variate is ``Var q_cond + 2 E q_cond^2 / N`` (:mod:`theory.companions`, Rao-Blackwell)."""
        i = self.layer - 1
        e = batch.arrays["q_tilde"][:, i] - batch.theory.q[i]
        x2 = batch.arrays["q_cond"][:, i] ** 2
        return np.concatenate([super().features(batch), np.stack([e, e * e, x2], axis=1)], axis=1)

    def plain(self, m, n, width):
        return width * n / (n - 1) * (m[4] - m[3] ** 2)

    def controlled(self, m, n, width):
        return width * (self._variance(m, n) - m[2]) + 2.0 * m[5]


# -- the claims on log prod chi1 and the back-propagated norm -----------------------------------
class LogProdChi1Drift(ExpansionClaim):
    name = "log_prod_chi1_drift"
    statement = ("N (E log prod chi1 - sum log chi_1(q^(l))) -> sum coef^(l) over depth L: the O(L/N) drift "
                 "(theory.log_chi1_drift)")
    label = r"$N\,(\mathrm{E}\log\prod\chi_1 - \sum\log\chi_1(q))$"
    needs = ("q_cond", "chi1")
    streamed = ("log_prod_chi1", "mean")

    def expansion(self, theory):
        return theory.log_prod_chi1_drift(self.layer)

    def center(self, theory):
        return float(theory.products.lead[self.layer - 1])

    def statistic(self, batch: NetworkBatch) -> np.ndarray:
        return batch.log_prod_chi1[:, self.layer - 1]

    def companion(self, batch: NetworkBatch) -> np.ndarray:
        return batch.companions.log_prod_chi1(self.layer)

    def features(self, batch):
        """``(X A, A, C)``: the statistic on the networks where it is finite (``A``), and the
        companion over every network (module docstring of :mod:`theory.companions`)."""
        x = self.statistic(batch) - self.center(batch.theory)
        alive = np.isfinite(x)
        return np.stack([np.where(alive, x, 0.0), alive.astype(float), self.companion(batch)], axis=1)

    def plain(self, m, n, width):
        return width * m[0] / m[1]

    def controlled(self, m, n, width):
        return width * (m[0] - m[2]) / m[1]


class LogProdChi1Variance(ExpansionClaim):
    name = "log_prod_chi1_variance"
    statement = "N Var log prod chi1 -> sampling + propagated + covariance over depth L (theory.products)"
    label = r"$N\,\mathrm{Var}\log\prod\chi_1$"
    needs = ("q_cond", "chi1")
    streamed = ("log_prod_chi1", "var")

    def expansion(self, theory):
        return theory.log_prod_chi1_variance(self.layer)

    def statistic(self, batch):
        return batch.log_prod_chi1[:, self.layer - 1] - batch.theory.products.lead[self.layer - 1]

    def companion(self, batch):
        t = batch.theory
        return batch.companions.log_prod_chi1_square(self.layer, t.a, t.g, batch.width)

    def features(self, batch):
        """``(X A, X^2 A, A, L1^2 - Q)``: the sample variance over the survivors, minus the
        companion of the second moment averaged over every network."""
        x = self.statistic(batch)
        alive = np.isfinite(x)
        x = np.where(alive, x, 0.0)
        return np.stack([x, x * x, alive.astype(float), self.companion(batch)], axis=1)

    @staticmethod
    def _variance(m, n):
        alive = m[2] * n
        return alive / (alive - 1.0) * (m[1] / m[2] - (m[0] / m[2]) ** 2)

    def plain(self, m, n, width):
        return width * self._variance(m, n)

    def controlled(self, m, n, width):
        return width * (self._variance(m, n) - m[3] / m[2])

    def evaluate(self, ctx):
        rec = super().evaluate(ctx)
        rec.extra["sources"] = {name: float(getattr(ctx.theory.products, name)[-1]) for name in SOURCES}
        return rec


class BackNorm2Mean(LogProdChi1Drift):
    name = "back_norm2_mean"
    statement = ("N (E log |delta^(1)|^2 - sum_(l<L) log chi_1) -> forward drift + gradient noise + conditioning "
                 "(theory.products)")
    label = r"$N\,(\mathrm{E}\log|\delta^{(1)}|^2 - \sum_{l<L}\log\chi_1)$"
    needs = ("q_cond", "chi1", "back_norm2")
    backward = True
    streamed = ("log_back_norm2", "mean")

    @classmethod
    def instances(cls, theory):
        return [cls(1)]

    def expansion(self, theory):
        return theory.back_norm2_mean()

    def center(self, theory):
        return float(theory.back.lead)

    def statistic(self, batch):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(batch.arrays["back_norm2"][:, 0])

    def companion(self, batch):
        """The forward product's companion over layers ``1..L-1``: the gradient's own noise has none."""
        return batch.companions.log_prod_chi1(batch.theory.depth - 1)

    def evaluate(self, ctx):
        rec = super().evaluate(ctx)
        back = ctx.theory.back
        rec.extra["terms"] = {"forward": back.forward_drift, "gradient": back.gradient_drift, "conditioning": back.conditioning}
        rec.extra["next_order_note"] = ("next order: forward and gradient noise derived; the conditioning term's "
                                        "estimated as its value times max(|q~{2}/q~{1}|, |r2/r|)")
        return rec


class BackNorm2Variance(LogProdChi1Variance):
    name = "back_norm2_variance"
    statement = "N Var log |delta^(1)|^2 -> N Var log prod_(l<L) chi1 + 2 sum_(l<L) (1 + c2) (theory.products)"
    label = r"$N\,\mathrm{Var}\log|\delta^{(1)}|^2$"
    needs = ("q_cond", "chi1", "back_norm2")
    backward = True
    streamed = ("log_back_norm2", "var")

    @classmethod
    def instances(cls, theory):
        return [cls(1)]

    def expansion(self, theory):
        return theory.back_norm2_variance()

    def statistic(self, batch):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(batch.arrays["back_norm2"][:, 0]) - batch.theory.back.lead

    def companion(self, batch):
        t = batch.theory
        return batch.companions.log_prod_chi1_square(t.depth - 1, t.a, t.g, batch.width)

    def evaluate(self, ctx):
        rec = ExpansionClaim.evaluate(self, ctx)
        back = ctx.theory.back
        rec.extra["terms"] = {**back.forward, "gradient": back.gradient_var}
        return rec


# -- the next order, as a claim of its own ------------------------------------------------------
class NextOrder(ExpansionClaim):
    """``N (Y_N - P) -> c``: the suite's own next order (:mod:`theory.next_order`) against the
    measured deviation from ``O(1/N)``, for a claim whose next order is derived (judged at
    the parent's last layer, with the parent's estimators)."""

    parent: ClassVar[type[ExpansionClaim]]

    def __init__(self, layer=None):
        super().__init__(layer)
        self._parent = self.parent(layer)

    @classmethod
    def instances(cls, theory):
        return [cls(cls.parent.instances(theory)[-1].layer)]

    @property
    def feature_key(self):
        return self._parent.feature_key

    def expansion(self, theory):
        return self._parent.expansion(theory).next_order_claim()

    def features(self, batch):
        return self._parent.features(batch)

    def estimate_from(self, fm, width, controlled):
        return self._parent.estimate_from(fm, width, controlled)

    def estimate(self, ctx, wi):
        return self._parent.estimate(ctx, wi)

    def series(self, theory, estimates):
        p = self._parent.expansion(theory).prediction
        n = np.array([e.width for e in estimates], float)
        s = self._parent.series(theory, estimates)
        return {"value": n * (s["value"] - p), "se": n * s["se"], "plain": n * (s["plain"] - p), "plain_se": n * s["plain_se"]}

    def evaluate(self, ctx):
        rec = super().evaluate(ctx)
        rec.extra["parent_prediction"] = float(self._parent.expansion(ctx.theory).prediction)
        return rec


def _next_order_of(parent: type[ExpansionClaim], name: str, label: str) -> type[NextOrder]:
    statement = (f"N (Y_N - P) -> the next-order coefficient c of {parent.name} (theory.next_order; this suite's "
                 "derivation, in neither paper)")
    return type(f"NextOrder_{parent.__name__}", (NextOrder,), {
        "parent": parent, "name": name, "statement": statement, "label": label, "needs": parent.needs,
        "layers": "last", "streamed": None, "__doc__": statement})


Q2NextOrder = _next_order_of(Q1Stationary, "q2_next_order", r"$N\,(N\,(\mathrm{E}\,\bar q_{cond} - q^*) - \tilde q^{\{1\}})$")
R2NextOrder = _next_order_of(RRecursion, "r2_next_order", r"$N\,(N\,\mathrm{Var}\,q_{cond} - r)$")
DriftNextOrder = _next_order_of(LogProdChi1Drift, "log_prod_chi1_drift_next_order", r"$N\,(Y_N - \sum \mathrm{coef})$")
VarianceNextOrder = _next_order_of(LogProdChi1Variance, "log_prod_chi1_variance_next_order",
                                   r"$N\,(N\,\mathrm{Var}\log\prod\chi_1 - V_1)$")


# -- claims judged their own way --------------------------------------------------------------
class StableFraction(Claim):
    """Definition 2.1 made quantitative: the fraction of networks with ``prod chi1`` in
    ``[1/K, K]`` at layer ``L``, per width in the regime of both the mean and the variance
    of ``log prod chi1``, against the log-normal prediction with their next orders; the
    budget is the order after them (:mod:`theory.expansion`)."""

    name = "stable_fraction"
    statement = (f"fraction of networks with prod chi1 in [1/{STABLE_K:g}, {STABLE_K:g}] at depth L -> the log-normal "
                 "prediction from theory.products (arXiv Definition 2.1 made quantitative)")
    label = "fraction with prod chi1 in [1/10, 10]"
    needs = ("q_cond", "chi1")

    def features(self, batch: NetworkBatch) -> np.ndarray:
        x = np.nan_to_num(batch.log_prod_chi1[:, self.layer - 1], nan=np.inf, neginf=np.inf)
        return (np.abs(x) <= math.log(STABLE_K)).astype(float)[:, None]

    @property
    def feature_key(self):
        return self.key

    def predicted(self, theory: ConfigurationTheory, width: int) -> tuple[float, float]:
        """The log-normal fraction at ``width`` with the next orders, and the budget."""
        prod = theory.products
        mean = prod.mean(width)[-1] + prod.mean_coef2[-1] / width**2
        var = prod.var(width)[-1] + prod.var_coef2[-1] / width**2
        lead = float(stable_fraction(prod.mean(width)[-1], prod.var(width)[-1], STABLE_K))
        with_next = float(stable_fraction(mean, var, STABLE_K))
        rho = max(e.rho(width) for e in theory.fraction_regime())
        return with_next, abs(with_next - lead) * rho / (1.0 - rho)

    @staticmethod
    def null(theory: ConfigurationTheory) -> float:
        """What the fraction would be without the spread: 1 when ``|E log prod chi1| <= log K``."""
        return float(abs(theory.products.lead[-1]) <= math.log(STABLE_K))

    def verdict(self, theory: ConfigurationTheory, measured: list[tuple[int, float, float]]) -> tuple[Verdict, list[dict]]:
        """The verdict from ``(width, fraction, se)`` per width: judged at every width in the
        regime, reported at the last that fails, else the last that holds, else the last one
        (what the planted-outcome battery exercises)."""
        rows = []
        for width, frac, se in measured:
            if not theory.fraction_in_regime(width):
                continue
            predicted, budget = self.predicted(theory, width)
            rows.append({"width": int(width), "value": frac, "se": se, "predicted": predicted, "budget": budget,
                         "verdict": agreement(frac, se, predicted, self.null(theory), budget), "in_regime": True})
        if not rows:
            regimes = theory.fraction_regime()
            widest = max(w for w, _, _ in measured)
            exp = max(regimes, key=lambda e: (widest < e.floor, e.rho(widest)))
            return Verdict("outside regime", exp.outside_reason(widest)), []
        pick = ([r for r in rows if r["verdict"].name == "fails"] or [r for r in rows if r["verdict"].name == "holds"]
                or rows)[-1]
        return pick["verdict"], rows

    def evaluate(self, ctx):
        theory, null = ctx.theory, self.null(ctx.theory)
        reason = ctx.not_applicable()
        if reason:
            return ctx.record(self, math.nan, math.nan, math.nan, "not evaluated", Verdict("not applicable", reason), null=null)
        regime_width = max(e.min_width() for e in theory.fraction_regime())
        measured = []
        for wi, n in enumerate(ctx.widths):
            fm = ctx.stats[self.feature_key][wi]
            frac = float(fm.mean[0]) if fm.count else math.nan
            measured.append((int(n), frac, math.sqrt(max(frac * (1.0 - frac), 1.0 / fm.count) / fm.count) if fm.count else math.nan))
        result, rows = self.verdict(theory, measured)
        if not rows:
            return ctx.record(self, math.nan, math.nan, math.nan, "no width in the regime", result, null=null,
                              regime_width=regime_width)
        pick = next(r for r in reversed(rows) if r["verdict"] is result)
        count = ctx.stats[self.feature_key][list(ctx.widths).index(pick["width"])].count
        rec = ctx.record(self, pick["predicted"], pick["value"], pick["se"],
                         f"fraction of {count} networks at N = {pick['width']} (judged at every width in the regime: "
                         f"{[r['width'] for r in rows]})", result, null=null, next_order_budget=pick["budget"],
                         widths_used=[r["width"] for r in rows], regime_width=regime_width)
        rec.extra["per_width"] = [{**r, "verdict": r["verdict"].name} for r in rows]
        return rec


class Stability(Claim):
    """A ``V' = 1`` family (ReLU_tau, ST, ...) is unstable (escapes, or a spread that grows
    with depth, beyond the clipped family's at the same width and depth); a clipped family is
    stable: no resolved escape, and the spread of ``log q_cond`` saturates, judged at the
    widest width only in its regime: ``L/2`` beyond :data:`theory.expansion.RELAXATION_LENGTHS`
    relaxation lengths ``1/(1 - V'^2)``, and the finite-width prediction of
    ``Var log q_cond^(L) / Var log q_cond^(L/2)`` (:meth:`theory.expansion.ConfigurationTheory.log_q_cond_variance`)
    with its order left out below :data:`theory.expansion.RHO_MAX`."""

    name = "stability"
    statement = "stable at the EoC: the spread of log q_cond saturates with depth and no escape is resolved"
    label = "Var log q_cond^(L) / Var log q_cond^(L/2)"

    def saturation(self, theory: ConfigurationTheory, width: int) -> tuple[float, float, str | None]:
        """The predicted growth from ``L/2`` to ``L`` at ``width``, its budget, and why it
        cannot be judged there (None: it can)."""
        depth = theory.depth
        half = max(2, depth // 2)
        end, mid = theory.log_q_cond_variance(depth), theory.log_q_cond_variance(half)
        predicted = end.at(width) / mid.at(width)
        budget = predicted * (end.budget(width) / end.at(width) + mid.budget(width) / mid.at(width))
        relax = RELAXATION_LENGTHS * theory.relaxation_length
        if half < relax:
            return predicted, budget, (f"layer L/2 = {half} is within {RELAXATION_LENGTHS:g} relaxation lengths "
                                       f"1/(1 - V'^2) = {theory.relaxation_length:.3g} of the input: the spread has not "
                                       f"saturated there; depth L >= {2 * math.ceil(relax)} qualifies")
        for exp in (end, mid):
            if not exp.in_regime(width):
                return predicted, budget, f"the spread's growth: {exp.outside_reason(width)}"
        return predicted, budget, None

    def verdict(self, theory: ConfigurationTheory, own: Growth, width: int) -> tuple[Verdict, float, float]:
        """The verdict of a stable (``V' < 1``) family from its measured :class:`Growth` at
        ``width``, with the predicted growth and its budget (what the battery exercises)."""
        half = max(2, theory.depth // 2)
        predicted, budget, outside = self.saturation(theory, width)
        return stability_verdict(own, predicted, (theory.depth - 1) / (half - 1), budget, outside), predicted, budget

    def evaluate(self, ctx):
        ds, ci, depth = ctx.ds, ctx.ci, ctx.depth
        wi = int(np.argmax(ctx.widths))
        width = int(ctx.widths[wi])
        half = max(2, depth // 2)
        own = growth(ds, ci, wi, ESCAPE_FACTOR)
        unstable_growth = (depth - 1) / (half - 1)
        budget, regime_width = None, None
        if not ctx.theory.vprime < 1.0:
            reference, ref_name = self._stable_reference(ctx, wi)
            result = instability_verdict(own, reference, unstable_growth)
            predicted = unstable_growth
            statement = (f"unstable at the EoC: networks escape [q*/{ESCAPE_FACTOR:g}, {ESCAPE_FACTOR:g} q*] or the spread "
                         f"of log q_cond grows with depth, beyond {ref_name}")
        else:
            result, predicted, budget = self.verdict(ctx.theory, own, width)
            statement = self.statement
            regime_width = max(ctx.theory.log_q_cond_variance(depth).min_width(),
                               ctx.theory.log_q_cond_variance(half).min_width())
        rec = ctx.record(self, predicted, own.growth, own.growth_se,
                         f"Var log q_cond at layer L over layer L/2 = {half}, {own.networks} networks at N = {width}", result,
                         next_order_budget=budget, regime_width=regime_width,
                         extra={"escaped": own.escaped, "escaped_se": own.escaped_se, "width": width})
        rec.statement = statement
        return rec

    def _stable_reference(self, ctx, wi) -> tuple[Growth, str]:
        ds = ctx.ds
        target = get_family(ctx.config["activation"]).clipped_family
        for cj in range(ds.sizes["config"]):
            if (str(ds.activation[cj].values) == target and float(ds.sparsity_target[cj]) == ctx.config["sparsity"]
                    and float(ds.vprime[cj]) < 1.0):
                return growth(ds, cj, wi, ESCAPE_FACTOR), f"{target} at the same width and depth"
        return Growth(0.0, 0.0, 1.0, 0.0, 0), "a saturated spread (no clipped family in the store)"


from analysis.correlation import CORRELATION_CLAIMS  # noqa: E402 - they subclass ExpansionClaim, defined above

#: every claim, in report order: the papers', the suite's own next order, and the correlation
#: of two inputs (``--inputs 2`` stores, :mod:`analysis.correlation`)
REGISTRY: tuple[type[Claim], ...] = (
    Q1Recursion, RRecursion, QTildeVariance, Q1Stationary, NloBound, Stability, LogProdChi1Drift,
    LogProdChi1Variance, StableFraction, BackNorm2Mean, BackNorm2Variance,
    Q2NextOrder, R2NextOrder, DriftNextOrder, VarianceNextOrder, *CORRELATION_CLAIMS,
)


def claims_for(ds: xr.Dataset, theory: ConfigurationTheory) -> list[Claim]:
    """The registered claims a store can evaluate, one instance per judged layer."""
    return [claim for cls in REGISTRY if cls.present(ds) for claim in cls.instances(theory)]


def collect(ctx: Context, claims: list[Claim]) -> None:
    """One pass over the stored networks of the class, per width: every claim's feature
    moments, merged over batches (bounded memory)."""
    readers = {}
    for claim in claims:
        if hasattr(claim, "features") and claim.feature_key not in readers:
            readers[claim.feature_key] = claim
    ctx.stats = {key: [] for key in readers}
    ctx.excluded = []
    for wi in range(len(ctx.widths)):
        acc = {key: FeatureMoments(0, np.zeros(0), np.zeros((0, 0))) for key in readers}
        excluded = 0
        for batch in batches(ctx.ds, ctx.ci, wi, ctx.theory):
            excluded += batch.excluded
            if not len(batch.arrays["q_cond"]):
                continue
            for key, claim in readers.items():
                acc[key] = acc[key].merge(FeatureMoments.of(claim.features(batch)))
        for key in readers:
            ctx.stats[key].append(acc[key])
        ctx.excluded.append(excluded)


def get_claim(name: str) -> type[Claim]:
    """The registered claim called ``name``.

    Parameters
    ----------
    name : str
        A claim's ``name`` (:data:`REGISTRY`).

    Returns
    -------
    type
        The :class:`Claim` subclass.

    Raises
    ------
    ValueError
        No registered claim has that name (the message lists those that do).

    Examples
    --------
    >>> get_claim("q1_recursion").statement
    'N (E q_cond - q^(l)) -> q~{1}^(l) (arXiv eq. 13)'
    >>> get_claim("q1")
    Traceback (most recent call last):
        ...
    ValueError: unknown claim 'q1'; registered: [...]
    """
    for cls in REGISTRY:
        if cls.name == name:
            return cls
    raise ValueError(f"unknown claim {name!r}; registered: {[c.name for c in REGISTRY]}")


def measure(ds: xr.Dataset, name: str, layer: int | None = None,
            theories: dict[int, ConfigurationTheory] | None = None) -> xr.Dataset:
    """Both estimators of an expansion claim's statistic for every configuration and width.

    Parameters
    ----------
    ds
        A store opened by :func:`analysis.sweep.open_sweep`.
    name, layer
        The claim (:data:`REGISTRY`) and any layer (default: the claim's last; the
        stationary claims have theirs).
    theories
        The configurations' theories (default: those ``open_sweep`` attached).

    Returns
    -------
    xarray.Dataset
        On ``(config, width)``: ``plain``, ``plain_se``, ``controlled``, ``controlled_se``
        (the control variate; NaN where the companions do not apply), ``value``, ``se``
        (the one the verdict uses), ``networks``, and ``predicted`` (``P + c/N``) and
        ``in_regime`` from the claim's expansion.

    Examples
    --------
    >>> import tempfile
    >>> from analysis.sweep import open_sweep
    >>> from simulate import Sweep, run
    >>> ds = open_sweep(run(Sweep(q_star=(1.0,), vprime=(0.5,), width=(50,), depth=10, samples=200),
    ...                     tempfile.mkdtemp() + "/s.zarr", progress=False))
    >>> m = measure(ds, "q1_recursion_stationary")
    >>> bool(m.controlled_se < m.plain_se / 10)
    True
    """
    from analysis.sweep import theories_of

    theories = theories or theories_of(ds)
    cls = get_claim(name)
    fields = ("plain", "plain_se", "controlled", "controlled_se", "value", "se", "networks", "predicted", "in_regime")
    out = {f: np.full((ds.sizes["config"], ds.sizes["width"]), np.nan) for f in fields}
    for ci, theory in theories.items():
        claim = cls(layer) if layer and cls.layers != "stationary" else cls.instances(theory)[-1]
        if not isinstance(claim, ExpansionClaim):
            raise ValueError(f"{name} is not an expansion claim")
        ctx = Context(ds, [ci], theory, config_id(ci + 1))
        collect(ctx, [claim])
        exp = claim.expansion(theory)
        for wi in range(ds.sizes["width"]):
            e = claim.estimate(ctx, wi)
            s = claim.series(theory, [e])
            row = {"plain": s["plain"][0], "plain_se": s["plain_se"][0], "value": s["value"][0], "se": s["se"][0],
                   "controlled": e.controlled, "controlled_se": e.controlled_se, "networks": e.networks,
                   "predicted": exp.at(e.width), "in_regime": float(exp.in_regime(e.width))}
            if isinstance(claim, NextOrder):
                row["controlled"] = e.width * (e.controlled - claim._parent.expansion(theory).prediction)
                row["controlled_se"] = e.width * e.controlled_se
            for f in fields:
                out[f][ci, wi] = row[f]
    return xr.Dataset({f: (("config", "width"), v) for f, v in out.items()},
                      coords={"config": ds.config.values, "width": ds.width.values}, attrs={"claim": name})


def _scale_covariance_checks(ds: xr.Dataset, classes) -> list[Record]:
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
        check = identity(worst, 1e-9)
        out.append(Record(
            "scale_covariance", "q_tilde/q* is the same across q* at fixed activation, s, V'(q*) (exact identity of the engine)",
            config_label(ds, members[0]), None, 0.0, worst, 1e-12, "largest relative difference over networks, widths and layers",
            check.name, check.reason, kind="engine check", config_id=config_id(k),
            equivalent_q_star=[float(ds.q_star[m]) for m in members]))
    return out


def contexts(ds: xr.Dataset, theories: dict[int, ConfigurationTheory]) -> list[Context]:
    """One :class:`Context` per scale class, with the theory of its representative."""
    return [Context(ds, members, theories[members[0]], config_id(k)) for k, members in enumerate(scale_classes(ds), start=1)]


def evaluate(ds: xr.Dataset, theories: dict[int, ConfigurationTheory] | None = None, progress: bool = False,
             settle=None) -> list[dict]:
    """All claims on a store, as dicts (``claims.json``).

    Parameters
    ----------
    ds
        The store, opened by :func:`analysis.sweep.open_sweep`.
    theories
        The :class:`theory.expansion.ConfigurationTheory` of each configuration index
        (default: from ``ds.attrs["theories"]`` as attached by ``open_sweep``).
    progress
        A progress bar over the scale classes.
    settle
        ``settle(record, claim, ctx)``: adds the command that would settle an open claim
        (:func:`analysis.plan.settle`).

    Returns
    -------
    list of dict
        One record per claim and scale class, then the engine checks.

    Examples
    --------
    At width 20 the recursion for ``q~{1}`` is outside its regime (which the record names):

    >>> import tempfile
    >>> from analysis.sweep import open_sweep
    >>> from simulate import Sweep, run
    >>> ds = open_sweep(run(Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8),
    ...                     tempfile.mkdtemp() + "/s.zarr", progress=False))
    >>> records = evaluate(ds)
    >>> first = records[0]
    >>> first["claim"], first["layer"], first["verdict"], first["regime_width"]
    ('q1_recursion', 4, 'outside regime', 203)
    """
    from analysis.sweep import theories_of

    theories = theories or theories_of(ds)
    records: list[Record] = []
    for ctx in tqdm(contexts(ds, theories), desc="claims", unit="configuration", disable=not progress):
        claims = claims_for(ds, ctx.theory)
        collect(ctx, claims if ctx.not_applicable() is None else [])
        for claim in claims:
            rec = claim.evaluate(ctx)
            if settle is not None and rec.verdict in ("inconclusive", "outside regime"):
                settle(rec, claim, ctx)
            records.append(rec)
    records += _scale_covariance_checks(ds, scale_classes(ds))
    return [r.as_dict() for r in records]
