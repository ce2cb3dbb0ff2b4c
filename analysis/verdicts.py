"""The rules that turn a measurement into a verdict, stated once.

Verdicts
--------
``holds``
    The measurement agrees with the prediction within 5 standard errors **and** is
    resolved from the null the claim is about: ``|m - null| > 5 se``. The null is what
    the measurement would be if the claimed effect were absent (zero for the
    ``O(1/N)`` coefficients ``q~{1}`` and ``r``; the Gaussian part ``2 q^2`` for
    ``N Var q_tilde``; the infinite-width value for ``log prod chi1``). A measurement
    that cannot be told from the null confirms nothing.
``fails``
    It disagrees by more than ``5 se + budget``, where ``budget`` is the theory's own
    next order at the widths used (:class:`Expansion`): a disagreement the next order
    can explain is not a failure of the claim.
``inconclusive``
    Anything else, with the reason: not resolved from the null, within the next-order
    budget, or an extrapolation whose widths do not follow ``a + b/N`` even after the
    error is inflated.
``outside regime``
    No simulated width has the next order below :data:`RHO_MAX` of the effect tested;
    the record names the width that would qualify.
``not applicable``
    The claim's hypothesis fails for the store (``V'(q*) = 1`` for expansions about a
    stable fixed point; orthogonal weights for theory derived for Gaussian weights).

The regime
----------
Every claim compares a width-scaled estimate ``Y_N`` with ``P + c/N`` (:class:`theory.expansion.Expansion`:
the prediction, its next order where it is derived, and the regime, which is set by the
order left out). Only widths in the regime enter a verdict. Each such width gives an
estimate of ``P``, ``Y_N - c/N`` (or ``Y_N`` where ``c`` is not derived); they are combined by
their inverse-variance weighted mean, with the weighted budget of the order left out
(:func:`combine`). Widths that disagree beyond their standard errors and budgets make the
claim ``inconclusive``.

Inequalities and identities have their own rules (:func:`upper_bound`,
:func:`identity`); stability and instability are judged by :func:`stability_verdict`
and :func:`instability_verdict`, each of which gives ``fails`` on its negation.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from theory.expansion import Expansion

SIGMAS = 5.0
#: two-sided tail of a 5-sigma Gaussian test: the false-failure probability per comparison
FALSE_ALARM = 2.0 * stats.norm.sf(SIGMAS)
VERDICTS = ("holds", "fails", "inconclusive", "outside regime", "not applicable")


@dataclass(frozen=True)
class Verdict:
    """A verdict on a claim, with its reason (the verdicts: module docstring).

    Parameters
    ----------
    name : str
        One of :data:`VERDICTS`: ``"holds"``, ``"fails"``, ``"inconclusive"``,
        ``"outside regime"`` or ``"not applicable"``.
    reason : str
        Why, in one line (what a report prints beside the verdict).

    Raises
    ------
    ValueError
        ``name`` is not one of :data:`VERDICTS`.

    Examples
    --------
    >>> Verdict("holds", "within 0.2 se of the prediction")
    Verdict(name='holds', reason='within 0.2 se of the prediction')
    >>> Verdict("maybe", "")
    Traceback (most recent call last):
        ...
    ValueError: unknown verdict 'maybe'
    """

    name: str
    reason: str

    def __post_init__(self):
        if self.name not in VERDICTS:
            raise ValueError(f"unknown verdict {self.name!r}")


def agreement(measured: float, se: float, predicted: float, null: float = 0.0, budget: float = 0.0) -> Verdict:
    """``holds`` / ``fails`` / ``inconclusive`` for an equality claim (module docstring).

    ``fails`` when ``|measured - predicted| > 5 se + budget``; ``inconclusive`` when it is
    beyond 5 se but within the budget, or when the measurement is not resolved from the
    null (``|measured - null| <= 5 se``), or not finite; ``holds`` otherwise.

    Parameters
    ----------
    measured : float
        The measurement (an estimate of the prediction ``P``).
    se : float
        Its standard error.
    predicted : float
        The prediction.
    null : float, default 0.0
        What the measurement would be without the effect claimed.
    budget : float, default 0.0
        The theory's own next order at the widths used: a disagreement within it is not a
        failure.

    Returns
    -------
    Verdict
        ``holds``, ``fails`` or ``inconclusive``, with the reason.

    Examples
    --------
    >>> agreement(1.02, 0.01, 1.0)
    Verdict(name='holds', reason='within 2.0 se of the prediction, 102.0 se from the null')
    >>> agreement(1.2, 0.01, 1.0).name, agreement(1.2, 0.01, 1.0, budget=0.3).name
    ('fails', 'inconclusive')
    >>> agreement(0.03, 0.01, 0.01).reason
    'not resolved from the null 0 (5 se = 0.05)'
    """
    if not (np.isfinite(measured) and np.isfinite(se) and np.isfinite(predicted)):
        return Verdict("inconclusive", "no finite measurement")
    off = abs(measured - predicted)
    if off > SIGMAS * se + budget:
        return Verdict("fails", f"off by {off / se:.1f} se, beyond 5 se + the next-order budget {budget:.3g}")
    if off > SIGMAS * se:
        return Verdict("inconclusive", f"off by {off / se:.1f} se, within the next-order budget {budget:.3g}")
    if abs(measured - null) <= SIGMAS * se:
        return Verdict("inconclusive", f"not resolved from the null {null:.4g} (5 se = {SIGMAS * se:.3g})")
    return Verdict("holds", f"within {off / se:.1f} se of the prediction, {abs(measured - null) / se:.1f} se from the null")


def verdict(measured: float, se: float, predicted: float, null: float = 0.0, budget: float = 0.0) -> str:
    """The name of :func:`agreement`'s verdict."""
    return agreement(measured, se, predicted, null, budget).name


def upper_bound(measured_abs: float, se: float, bound: float, budget: float = 0.0) -> Verdict:
    """``|x| <= bound``: fails when violated beyond ``5 se + budget``; holds when not violated
    beyond 5 se and the test has the power to see a violation of the bound's own size
    (``5 se < bound``).

    Parameters
    ----------
    measured_abs : float
        The measured ``|x|``.
    se : float
        Its standard error.
    bound : float
        The bound on ``|x|``.
    budget : float, default 0.0
        The theory's own next order at the widths used: a violation within it is
        ``inconclusive``, not a failure.

    Returns
    -------
    Verdict
        ``holds``, ``fails`` or ``inconclusive`` (violated within the budget, no power, or
        no finite measurement), with the reason.

    Examples
    --------
    >>> upper_bound(0.12, 0.01, 0.2)
    Verdict(name='holds', reason='below the bound + 5 se; 5 se = 0.05 < bound 0.2')
    >>> upper_bound(0.5, 0.01, 0.2).name, upper_bound(0.3, 0.01, 0.2, budget=0.1).name
    ('fails', 'inconclusive')
    >>> upper_bound(0.1, 0.05, 0.2).reason
    '5 se = 0.25 is not below the bound 0.2: no power'
    """
    if not (np.isfinite(measured_abs) and np.isfinite(se) and np.isfinite(bound)):
        return Verdict("inconclusive", "no finite bound or measurement")
    excess = measured_abs - bound
    if excess > SIGMAS * se + budget:
        return Verdict("fails", f"exceeds the bound by {excess / se:.1f} se, beyond the next-order budget {budget:.3g}")
    if excess > SIGMAS * se:
        return Verdict("inconclusive", f"exceeds the bound by {excess / se:.1f} se, within the next-order budget")
    if SIGMAS * se >= bound:
        return Verdict("inconclusive", f"5 se = {SIGMAS * se:.3g} is not below the bound {bound:.4g}: no power")
    return Verdict("holds", f"below the bound + 5 se; 5 se = {SIGMAS * se:.3g} < bound {bound:.4g}")


def identity(deviation: float, tolerance: float) -> Verdict:
    """An exact identity: holds to rounding (``deviation <= tolerance``) or fails."""
    if np.isfinite(deviation) and deviation <= tolerance:
        return Verdict("holds", f"largest deviation {deviation:.2g} <= {tolerance:g}")
    return Verdict("fails", f"largest deviation {deviation:.3g} > {tolerance:g}")


@dataclass(frozen=True)
class Limit:
    """The in-regime estimate a verdict is made from: the value (an estimate of ``P``), its
    standard error, the budget of the order left out, the widths used and how it was
    obtained; ``verdict`` is set when the combination itself decides (``outside regime``, or
    widths that disagree)."""

    value: float
    se: float
    budget: float
    widths: tuple[int, ...]
    method: str
    chi2_dof: float = math.nan
    verdict: Verdict | None = None


def combine(widths, values, ses, expansion: Expansion) -> Limit:
    """The estimate a verdict is made from, using only widths in the regime (module docstring).

    None in the regime: ``outside regime``. Otherwise the inverse-variance weighted mean of
    ``Y_N - (expansion.at(N) - P)`` over the widths in the regime, with the weighted budget;
    widths whose values disagree beyond their standard errors and budgets (chi-square
    improbable at 5 sigma, ``p < FALSE_ALARM``) make it ``inconclusive``.

    Parameters
    ----------
    widths : array_like of int
        The widths ``N`` measured.
    values, ses : array_like of float
        The width-scaled estimates ``Y_N`` at those widths and their standard errors
        (non-finite ones, and ``se <= 0``, are left out).
    expansion : theory.expansion.Expansion
        The claim's expansion ``P + c/N``: its prediction, next order and regime.

    Returns
    -------
    Limit
        The in-regime estimate of ``P`` (``value``, ``se``), the weighted ``budget`` of the
        order left out, the ``widths`` used and the ``method``; its ``verdict`` is set
        (``outside regime`` or ``inconclusive``) when the combination itself decides, else
        None.

    Examples
    --------
    >>> e = Expansion(prediction=1.0, null=0.0, next=2.0)
    >>> limit = combine([100, 1000], [1.02, 1.002], [0.01, 0.001], e)
    >>> round(limit.value, 4), limit.widths
    (1.0, (100, 1000))
    >>> limit.verdict is None
    True

    No width in the regime:

    >>> combine([10], [1.5], [0.01], Expansion(prediction=1.0, null=0.0, next=50.0)).verdict.name
    'outside regime'
    """
    widths = np.asarray(widths, int)
    values, ses = np.asarray(values, float), np.asarray(ses, float)
    regime = np.array([expansion.in_regime(n) for n in widths], bool)
    ok = np.isfinite(values) & np.isfinite(ses) & (ses > 0) & regime
    used = widths[ok]
    if not regime.any():
        return Limit(math.nan, math.nan, math.nan, (), "no width in the regime",
                     verdict=Verdict("outside regime", expansion.outside_reason(int(widths.max()))))
    if used.size == 0:
        return Limit(math.nan, math.nan, math.nan, (), "no finite measurement in the regime",
                     verdict=Verdict("inconclusive", f"no finite measurement at the widths in the regime {list(map(int, widths[regime]))}"))
    shift = np.array([expansion.at(n) - expansion.prediction for n in used])
    z, se = values[ok] - shift, ses[ok]
    budgets = np.array([expansion.budget(n) for n in used])
    w = 1.0 / se**2
    value = float(np.sum(w * z) / w.sum())
    budget = float(np.sum(w * budgets) / w.sum())
    corrected = "Y_N - c/N" if expansion.next_derived else "Y_N"
    if used.size == 1:
        method = f"{corrected} at N = {int(used[0])} (the only width in the regime)"
    else:
        method = f"weighted mean of {corrected} over N = {list(map(int, used))}"
    limit = Limit(value, float(1.0 / np.sqrt(w.sum())), budget, tuple(map(int, used)), method)
    dof = used.size - 1
    if dof:
        chi2 = float(np.sum((z - value) ** 2 / (se**2 + budgets**2)))
        limit = dataclasses.replace(limit, chi2_dof=chi2 / dof)
        if stats.chi2.sf(chi2, dof) < FALSE_ALARM:
            return dataclasses.replace(limit, verdict=Verdict(
                "inconclusive", f"the widths disagree beyond their standard errors and budgets: chi2/dof = {chi2 / dof:.3g} "
                                f"with {dof} dof"))
    return limit


@dataclass(frozen=True)
class Growth:
    """Depth-growth statistics of one configuration at one width: the fraction of networks
    that left ``[q*/K, K q*]`` by layer ``L`` (``escaped``) and the ratio of the spread of
    ``log q_cond`` at layer ``L`` to that at ``L/2`` (``growth``), with standard errors."""

    escaped: float
    escaped_se: float
    growth: float
    growth_se: float
    networks: int


def _difference(a: float, b: float, se_a: float, se_b: float) -> tuple[float, float]:
    return a - b, math.hypot(se_a, se_b)


def instability_verdict(unclipped: Growth, reference: Growth, growth_unstable: float) -> Verdict:
    """The claim "unstable at the EoC" (a ``V' = 1`` map): its variance grows with depth or
    networks escape, more than in the stable ``reference`` at the same width and depth.
    Holds when the escape fraction or the growth exceeds the reference's by 5 se; fails
    when both agree with the reference within 5 se and the growth test had the power to
    see half of the growth a ``V' = 1`` map predicts (``growth_unstable``)."""
    de, se_e = _difference(unclipped.escaped, reference.escaped, unclipped.escaped_se, reference.escaped_se)
    dg, se_g = _difference(unclipped.growth, reference.growth, unclipped.growth_se, reference.growth_se)
    if de > SIGMAS * se_e:
        return Verdict("holds", f"{unclipped.escaped:.3g} of networks escaped against {reference.escaped:.3g} ({de / se_e:.1f} se)")
    if dg > SIGMAS * se_g:
        return Verdict("holds", f"spread grows x{unclipped.growth:.3g} from L/2 to L against x{reference.growth:.3g} ({dg / se_g:.1f} se)")
    if abs(de) <= SIGMAS * se_e and abs(dg) <= SIGMAS * se_g and SIGMAS * se_g <= 0.5 * (growth_unstable - reference.growth):
        return Verdict("fails", f"no more escape or growth than the stable reference (growth x{unclipped.growth:.3g} "
                                f"+- {unclipped.growth_se:.2g}; a V' = 1 map predicts x{growth_unstable:.3g})")
    return Verdict("inconclusive", "neither resolved from the stable reference nor precise enough to rule instability out")


def stability_verdict(clipped: Growth, growth_stable: float, growth_unstable: float, budget: float = 0.0,
                      outside: str | None = None) -> Verdict:
    """The claim "stable at the EoC": the spread saturates (growth consistent with the
    finite-width prediction ``growth_stable`` of ``Var log q_cond^(L) / Var log q_cond^(L/2)``)
    and escapes are not resolved from zero. Fails when escapes are resolved at 5 se, or
    growth beyond ``growth_stable`` by more than 5 se + ``budget`` (the order left out); holds
    when neither is and the growth test could have seen half of a ``V' = 1`` map's growth.
    Saturation is judged only in its regime: ``outside`` says why it is not (then, with no
    resolved escape, the claim is ``outside regime``)."""
    if clipped.escaped > SIGMAS * clipped.escaped_se:
        return Verdict("fails", f"{clipped.escaped:.3g} of networks escaped ({clipped.escaped / clipped.escaped_se:.1f} se)")
    if outside:
        return Verdict("outside regime", outside)
    dg = clipped.growth - growth_stable
    if dg > SIGMAS * clipped.growth_se + budget:
        return Verdict("fails", f"spread grows x{clipped.growth:.3g} from L/2 to L against x{growth_stable:.3g} ({dg / clipped.growth_se:.1f} se)")
    if SIGMAS * clipped.growth_se <= 0.5 * (growth_unstable - growth_stable):
        return Verdict("holds", f"spread saturates (x{clipped.growth:.3g} +- {clipped.growth_se:.2g} from L/2 to L; "
                                f"a V' = 1 map: x{growth_unstable:.3g}); no resolved escape")
    return Verdict("inconclusive", "growth not measured precisely enough to tell saturation from a V' = 1 map")
