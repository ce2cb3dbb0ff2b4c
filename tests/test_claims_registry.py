"""The claim registry (analysis.claims) and its one planted-outcome battery.

Every registered claim is given synthetic measurements with a planted outcome, through its
own verdict path (:meth:`ExpansionClaim.verdict`, :meth:`StableFraction.verdict`,
:meth:`Stability.verdict`): ``holds`` (measurements at the prediction, 40 se from the
null), ``fails`` (half the effect off: 20 se, beyond 5 se and every budget),
``inconclusive`` (an effect of one standard error) and ``outside regime`` (widths below
the regime). Noise is drawn with a fixed seed; for each planted outcome the probability
of another verdict is stated beside it (at most 3.3e-5: a 4-sigma excursion).
"""

import math

import numpy as np
import pytest

from analysis.claims import (
    REGISTRY,
    Claim,
    ExpansionClaim,
    NextOrder,
    NloBound,
    Stability,
    StableFraction,
    WidthEstimate,
)
from analysis.verdicts import FALSE_ALARM, VERDICTS, Growth, agreement, combine, upper_bound, verdict
from theory import solve_eoc
from theory.expansion import ORDER_GROWTH, RHO_MAX, ConfigurationTheory, Expansion

#: the verdicts an estimate can draw (not applicable is decided before any estimate)
OUTCOMES = tuple(v for v in VERDICTS if v != "not applicable")
RNG_SEED = 2026



def test_every_claim_owns_its_parts(theory):
    """Name, statement, figure label and (for expansion claims) an expansion from the theory;
    names are unique; the planner's claims and --width auto's expansions are the same."""
    names = [cls.name for cls in REGISTRY]
    assert len(names) == len(set(names))
    for cls in REGISTRY:
        assert issubclass(cls, Claim) and cls.statement and cls.label, cls
        for claim in cls.instances(theory):
            if isinstance(claim, ExpansionClaim):
                assert isinstance(claim.expansion(theory), Expansion)
    expansions = theory.expansions(backward=True)
    from_registry = [c.expansion(theory) for cls in REGISTRY if issubclass(cls, ExpansionClaim) and not issubclass(cls, NextOrder)
                     and cls is not NloBound and "rho" not in cls.needs for c in cls.instances(theory)]
    assert sorted(e.prediction for e in from_registry) == sorted(e.prediction for e in expansions)


def _widths(exp: Expansion, inside: bool) -> list[int]:
    n = exp.min_width()
    return [n, 2 * n, 4 * n] if inside else [max(2, n // 8), max(3, n // 4)]


def _estimates(claim: ExpansionClaim, theory, outcome: str, rng) -> list[WidthEstimate]:
    """Synthetic per-width estimates of the claim's statistic (the parent's for a next-order
    claim) planting ``outcome``."""
    exp = claim.expansion(theory)
    widths = _widths(exp, outcome != "outside regime")
    gap = exp.gap
    se_judged = gap / (1.0 if outcome == "inconclusive" else 40.0)
    offset = 0.5 * gap if outcome == "fails" else 0.0
    out = []
    for n in widths:
        judged = exp.at(n) + offset + se_judged * rng.standard_normal()
        if isinstance(claim, NloBound) and outcome == "fails":
            judged = math.copysign(1.5 * theory.bound, exp.prediction) + se_judged * rng.standard_normal()
        value, se = judged, se_judged
        if isinstance(claim, NextOrder):  # the claim judges N (Y_N - P): plant Y_N
            parent = claim._parent.expansion(theory)
            value, se = parent.prediction + judged / n, se_judged / n
        out.append(WidthEstimate(n, value, se, value, se, 1000))
    return out


def _expansion_cases():
    return [(cls, outcome) for cls in REGISTRY if issubclass(cls, ExpansionClaim) for outcome in OUTCOMES]


@pytest.mark.validation
@pytest.mark.parametrize(("cls", "outcome"), _expansion_cases(), ids=lambda x: getattr(x, "name", x))
def test_planted_outcomes_of_every_expansion_claim(theory, cls, outcome):
    """Probability of another verdict: holds 1.7e-6 (three 5-sigma comparisons), fails
    below 1e-20 (20 se off against a threshold of at most 5 se + a budget of 4.5 se),
    inconclusive 3.3e-5 (the effect is 1 se: resolving it needs a 4-sigma excursion),
    outside regime 0 (deterministic)."""
    claim = cls.instances(theory)[-1]
    expected = "holds" if (outcome == "inconclusive" and isinstance(claim, NloBound)) else outcome
    estimates = _estimates(claim, theory, outcome, np.random.default_rng(RNG_SEED))
    if isinstance(claim, NloBound) and outcome == "inconclusive":
        # an inequality has no null to resolve: one se = the effect means no power
        expected = "inconclusive" if 5 * estimates[0].se >= theory.bound else "holds"
    _, result, _ = claim.verdict(theory, estimates)
    assert result.name == expected, (cls.name, outcome, result.reason)


@pytest.mark.validation
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_planted_outcomes_of_the_stable_fraction(theory, outcome):
    """The fraction at widths in the regime (N >= 30 c2 units and both moments' regimes):
    planted at the log-normal prediction with se 0.004 (holds, wrong with probability
    1.7e-6), 0.2 above it (fails, 50 se), with se equal to its distance from the null
    (inconclusive, wrong with probability 3.3e-5), and below the floor (outside regime)."""
    claim = StableFraction(theory.depth)
    rng = np.random.default_rng(RNG_SEED)
    floor = max(e.min_width() for e in theory.fraction_regime())
    widths = [floor, 2 * floor, 4 * floor] if outcome != "outside regime" else [floor // 4, floor // 2]
    measured = []
    for n in widths:
        predicted, _ = claim.predicted(theory, n) if outcome != "outside regime" else (0.5, 0.0)
        se = abs(claim.null(theory) - predicted) if outcome == "inconclusive" else 0.004
        measured.append((n, predicted + (0.2 if outcome == "fails" else 0.0) + se * rng.standard_normal(), se))
    result, _ = claim.verdict(theory, measured)
    assert result.name == outcome, result.reason


@pytest.mark.validation
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_planted_outcomes_of_stability(outcome):
    """V' = 0.7, depth 100 (well past 5 relaxation lengths) at N = 6000 (in the regime):
    growth planted at the prediction with se 0.02 (holds: resolution 5 se = 0.1 < half the
    V' = 1 growth; wrong with probability 5.7e-7), at the prediction + 1 (fails, 50 se),
    with se 0.5 (inconclusive: no power); at depth 12 (outside regime: L/2 within 5
    relaxation lengths)."""
    depth = 12 if outcome == "outside regime" else 100
    theory = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), depth)
    claim = Stability(depth)
    predicted, _, _ = claim.saturation(theory, 6000)
    rng = np.random.default_rng(RNG_SEED)
    se = 0.5 if outcome == "inconclusive" else 0.02
    grown = predicted + (1.0 if outcome == "fails" else 0.0) + se * rng.standard_normal()
    result, _, _ = claim.verdict(theory, Growth(0.0, 1e-4, grown, se, 4000), 6000)
    assert result.name == outcome, result.reason
    assert claim.verdict(theory, Growth(0.3, 0.01, predicted, se, 4000), 6000)[0].name == "fails"  # escapes


def test_the_old_false_stability_failure_is_outside_the_regime():
    """CReLU s = 0.85, V' = 0.9, widths 400 and 1600, depth 30 (issue 22): the spread has not
    relaxed by L/2 = 15 (5 relaxation lengths are 26 layers), so saturation is not judged."""
    theory = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.9), 30)
    result, _, _ = Stability(30).verdict(theory, Growth(0.0, 1e-4, 1.16, 0.026, 20000), 1600)
    assert result.name == "outside regime" and "relaxation" in result.reason


# -- the rules ------------------------------------------------------------------------------
def test_agreement_rule_at_its_boundaries():
    """holds needs agreement within 5 se AND resolution from the null; fails needs more
    than 5 se plus the next-order budget; a measurement that cannot be told from the null
    confirms nothing."""
    assert verdict(0.0, 0.2, 1.0) == "inconclusive"  # 0 +- 0.2 cannot confirm 1 (nor refute it)
    assert verdict(0.196, 0.069, 0.376) == "inconclusive"  # 2.8 se from zero
    # se = 0.125 so that 5 se = 0.625 is exact in binary and the boundaries are exact
    assert verdict(1.0, 0.125, 1.625) == "holds"  # exactly 5 se off, 8 se from the null
    assert verdict(1.0, 0.125, 1.626) == "fails"
    assert verdict(1.0, 0.125, 1.75, budget=0.125) == "inconclusive"  # within the budget
    assert verdict(1.0, 0.125, 1.751, budget=0.125) == "fails"
    assert verdict(0.625, 0.125, 0.5) == "inconclusive"  # exactly 5 se from the null: not resolved
    assert verdict(0.626, 0.125, 0.5) == "holds"
    assert verdict(5.5, 0.125, 5.0, null=5.0) == "inconclusive"  # a nonzero null (q_tilde: 2 q^2)
    assert upper_bound(1.625, 0.125, 1.0).name == "holds"  # exactly 5 se over: noise
    assert upper_bound(1.7, 0.125, 1.0, budget=0.125).name == "inconclusive"  # within the budget
    assert upper_bound(1.751, 0.125, 1.0, budget=0.125).name == "fails"
    assert upper_bound(0.9, 0.125, 1.0).name == "holds"
    assert upper_bound(0.9, 0.2, 1.0).name == "inconclusive"  # 5 se = the bound: no power
    assert agreement(float("nan"), 1.0, 1.0).name == "inconclusive"


def test_the_regime_rule_with_a_derived_next_order():
    """P = 1, c = 10, background 0: the order left out at N is ORDER_GROWTH (c/N)^2, so the
    narrowest width in the regime solves ORDER_GROWTH (10/N)^2 = RHO_MAX; without the next
    order derived it is c/N = RHO_MAX; a background beta adds (beta/N)^2 <= RHO_MAX."""
    derived = Expansion(1.0, 0.0, 10.0)
    n = derived.min_width()
    assert n == math.ceil(10.0 * math.sqrt(ORDER_GROWTH / RHO_MAX))
    assert derived.in_regime(n) and not derived.in_regime(n - 1)
    assert Expansion(1.0, 0.0, 10.0, next_derived=False).min_width() == 100
    assert Expansion(1.0, 0.0, 10.0, background=1000.0).min_width() == math.ceil(1000.0 / math.sqrt(RHO_MAX))
    assert derived.at(20) == pytest.approx(1.5) and Expansion(1.0, 0.0, 10.0, next_derived=False).at(20) == 1.0


def test_combine_removes_the_next_order_and_weights_the_widths():
    """Y_N = 2 + 30/N exactly: every width gives 2 after removing c/N, whatever its se."""
    widths = np.array([200, 400, 800])
    exp = Expansion(2.0, 0.0, 30.0)
    limit = combine(widths, 2.0 + 30.0 / widths, np.array([0.01, 0.02, 0.04]), exp)
    assert limit.verdict is None and limit.value == pytest.approx(2.0) and limit.widths == (200, 400, 800)
    assert limit.se == pytest.approx(1.0 / math.sqrt(1 / 0.01**2 + 1 / 0.02**2 + 1 / 0.04**2))


def test_widths_that_disagree_are_inconclusive():
    """A planted jump of 50 se between widths (chi-square p-value far below 5.7e-7)."""
    widths = np.array([1000, 2000, 4000, 8000])
    values = np.array([1.0, 1.0, 1.5, 1.0])
    limit = combine(widths, values, np.full(4, 0.01), Expansion(1.0, 0.0, 1.0))
    assert limit.verdict is not None and limit.verdict.name == "inconclusive"
    assert "disagree" in limit.verdict.reason and FALSE_ALARM == pytest.approx(5.7e-7, rel=0.01)
