"""The bound-validation suite: ``pytest -m validation``.

Small depth sweeps (CI-sized) run through the whole pipeline (simulate -> store ->
analysis.open_sweep -> estimators -> claims) and assert each claim of the papers for
configurations where the theory applies: every claim's next order
(theory.next_order) is below 0.1 of its effect at the widths used. Every comparison is a
5-sigma test with a fixed seed: false-failure probability 5.7e-7 per comparison, below
1e-4 for the whole suite. The verdict rules (analysis.verdicts) are tested at their
boundaries and on synthetic data that plants each outcome; the stability rules are
applied to their negations; the next order is checked against simulation where it
matters.
"""

import json

import numpy as np
import pytest
import xarray as xr

from analysis.claims import evaluate, tally
from analysis.estimators import (
    divergence_curve,
    extrapolate,
    growth,
    moments,
    nlo_coefficient,
    scaled_variance,
    stationary_nlo,
)
from analysis.expansions import ClaimTheory
from analysis.plan import PLANNED
from analysis.report import build
from analysis.sweep import open_sweep, solution_of
from analysis.verdicts import (
    FALSE_ALARM,
    Expansion,
    Growth,
    agreement,
    in_regime_limit,
    instability_verdict,
    stability_verdict,
    upper_bound,
    verdict,
)
from simulate.config import Sweep
from simulate.depth_sweep import run

pytestmark = pytest.mark.validation

FIVE_SIGMA = 5.0
# (activation, s, V'(q*)) whose claims are all in their regime at N = 80 (tested below)
APPLIES = [("crelu", 0.6, 0.3), ("cst", 0.6, 0.5)]


@pytest.fixture(scope="module")
def sweep_ds(tmp_path_factory):
    """CReLU and CST at q* in {1, 2}, widths 40 and 80, depth 40, 16000 networks."""
    path = tmp_path_factory.mktemp("validation") / "sweep.zarr"
    for act, s, v in APPLIES:
        run(Sweep(activation=(act,), sparsity=(s,), q_star=(1.0, 2.0), vprime=(v,), width=(40, 80), depth=40,
                  samples=16000, chunk=4000, seed=2024), path.with_name(f"{act}.zarr"), progress=False)
    return {act: open_sweep(path.with_name(f"{act}.zarr")) for act, _, _ in APPLIES}


def _assert_agrees(measured, se, predicted, what):
    assert abs(measured - predicted) <= FIVE_SIGMA * se, f"{what}: {measured:.4g} +- {se:.3g} vs {predicted:.4g}"


@pytest.mark.parametrize("act", [a for a, _, _ in APPLIES])
def test_theory_applies_here(sweep_ds, act):
    """Every planned claim is in its regime at the wider width (the variance of log prod
    chi1 needs N >= 50; the others are in it at both), and none of them fails."""
    ds = sweep_ds[act]
    for ci in range(ds.sizes["config"]):
        theory = ClaimTheory.from_solution(solution_of(ds, ci), ds.sizes["layer"])
        assert all(theory.expansion(claim).in_regime(int(ds.width.max())) for claim in PLANNED)
    claims = evaluate(ds)
    # the Definition 2.1 fraction needs N >= 30 c2 units per layer for its log-normal law
    # (84 for CReLU here): it may be outside its regime at N = 80, and must say why
    assert all("units carry the gradient" in c["reason"] for c in claims
               if c["claim"] == "stable_fraction" and c["verdict"] == "outside regime")
    assert not [c for c in claims if c["verdict"] == "fails" or (c["verdict"] == "outside regime" and c["claim"] != "stable_fraction")]
    # the per-layer q~{1} needs far more networks than the layer-averaged one (analysis.plan).
    # The layer-averaged q~{1} and the bound are judged from the a + b/N fit through N = 40
    # and 80, whose standard error is 3x one width's: its 5 s.e. is about |q~{1}| here, so
    # they may stay unresolved (each width alone is resolved: test_q1_recursion_at_the_fixed_point).
    # At N = 80, 16000 networks resolve the next order of Var log prod chi1 (tested with that
    # order in test_log_prod_chi1_variance), so those claims may stay within its budget.
    for c in claims:
        if c["kind"] != "claim" or c["claim"] == "q1_recursion":
            continue
        if c["claim"] in ("q1_recursion_stationary", "nlo_bound") and c["verdict"] == "inconclusive":
            assert "not resolved" in c["reason"] or "no power" in c["reason"], c
        elif c["claim"] == "stable_fraction" and c["verdict"] == "outside regime":
            continue
        elif c["claim"] in ("log_prod_chi1_variance", "stable_fraction") and c["verdict"] == "inconclusive":
            assert "within the next-order budget" in c["reason"]
        else:
            assert c["verdict"] == "holds", c


@pytest.mark.parametrize("act", [a for a, _, _ in APPLIES])
def test_q1_recursion_at_the_fixed_point(sweep_ds, act):
    """N (E q_cond - q*) -> q~{1}, per width, and resolved: 5 se < |q~{1}|."""
    ds = sweep_ds[act]
    for ci in range(ds.sizes["config"]):
        est = stationary_nlo(ds, ci)
        predicted = est.attrs["prediction"]
        for wi in range(ds.sizes["width"]):
            value, se = float(est.value[wi]), float(est.se[wi])
            assert FIVE_SIGMA * se < abs(predicted)
            _assert_agrees(value, se, predicted, f"{act} config {ci} N={int(ds.width[wi])}")


@pytest.mark.parametrize("act", [a for a, _, _ in APPLIES])
def test_q1_recursion_along_depth(sweep_ds, act):
    """Layer by layer (2..L), N (E q_cond - q^(l)) against the recursion, per width."""
    ds = sweep_ds[act]
    est = nlo_coefficient(ds)
    for layer in (2, 3, 5, 10, 40):
        for ci in range(ds.sizes["config"]):
            for wi in range(ds.sizes["width"]):
                sel = dict(config=ci, width=wi)
                _assert_agrees(float(est.value.isel(**sel).sel(layer=layer)), float(est.se.isel(**sel).sel(layer=layer)),
                               float(ds.q1_theory.isel(config=ci).sel(layer=layer)), f"{act} l={layer}")


@pytest.mark.parametrize("act", [a for a, _, _ in APPLIES])
def test_r_recursion_and_q_tilde_variance(sweep_ds, act):
    """N Var(q_cond^(l)) -> r^(l) and N Var(q_tilde^(l)) -> r^(l) + 2 (q^(l))^2."""
    ds = sweep_ds[act]
    var_c, var_t = scaled_variance(ds, "q_cond"), scaled_variance(ds, "q_tilde")
    for layer in (2, 4, 10, 40):
        for ci in range(ds.sizes["config"]):
            for wi in range(ds.sizes["width"]):
                sel = dict(config=ci, width=wi)
                r = float(ds.r_theory.isel(config=ci).sel(layer=layer))
                q = float(ds.q_theory.isel(config=ci).sel(layer=layer))
                _assert_agrees(float(var_c.value.isel(**sel).sel(layer=layer)), float(var_c.se.isel(**sel).sel(layer=layer)), r, "N Var q_cond")
                _assert_agrees(float(var_t.value.isel(**sel).sel(layer=layer)), float(var_t.se.isel(**sel).sel(layer=layer)), r + 2 * q * q, "N Var q_tilde")


@pytest.mark.parametrize("act", [a for a, _, _ in APPLIES])
def test_theorem_bound(sweep_ds, act):
    """|q~{1}^(l)| <= bound (Theorem 2.1). The bound is the limit of |q~{1}^(l)| (the
    recursion converges to it), so the test is that no width violates it by more than
    5 se, and that it is resolved (5 se below the bound)."""
    ds = sweep_ds[act]
    for ci in range(ds.sizes["config"]):
        est = stationary_nlo(ds, ci)
        bound = float(ds.bound[ci])
        assert est.attrs["prediction"] == pytest.approx(-bound, rel=0.02) or est.attrs["prediction"] == pytest.approx(bound, rel=0.02)
        for wi in range(ds.sizes["width"]):
            assert abs(float(est.value[wi])) - FIVE_SIGMA * float(est.se[wi]) <= bound
            assert FIVE_SIGMA * float(est.se[wi]) < bound


@pytest.mark.parametrize("act", [a for a, _, _ in APPLIES])
def test_log_prod_chi1_drift(sweep_ds, act):
    """N E log prod_{k<=l} chi1 -> sum_{k<=l} coef^(k) at the fixed point (an O(L/N) drift).
    The next order, O(L/N^2) (third and fourth cumulants of each chi1), is visible at
    N = 40 at this precision, so N E log prod chi1 is extrapolated in 1/N across widths.
    Networks with a dead layer (chi1 = 0) are left out; they are fewer than 1e-3 of all,
    a bias far below the standard error."""
    ds = sweep_ds[act]
    m = moments(ds, "log_prod_chi1")
    assert float(m["count"].min()) > (1 - 1e-3) * ds.sizes["sample"]
    width = ds.width.astype(float)
    limit = extrapolate(xr.Dataset({"value": width * m["mean"], "se": width * m["sem"]}))
    for ci in range(ds.sizes["config"]):
        for layer in (1, 10, 40):
            predicted = float(ds.log_chi1_coef.isel(config=ci).sel(layer=slice(1, layer)).sum())
            sel = dict(config=ci, layer=layer)
            _assert_agrees(float(limit.value.sel(**sel)), float(limit.se.sel(**sel)), predicted, f"N log prod chi1 l={layer}")
        assert FIVE_SIGMA * float(limit.se.sel(config=ci, layer=40)) < abs(predicted)  # resolved over depth


@pytest.mark.parametrize("act", [a for a, _, _ in APPLIES])
def test_log_prod_chi1_variance(sweep_ds, act):
    """N Var log prod_{k<=l} chi1 -> sampling + propagated + covariance (theory.products)
    with its derived next order V2/N, per width and depth, resolved from zero. Sample
    variances of 16000 networks; false-failure probability 5.7e-7 per comparison."""
    ds = sweep_ds[act]
    var = scaled_variance(ds, "log_prod_chi1")
    for ci in range(ds.sizes["config"]):
        prod = ClaimTheory.from_solution(solution_of(ds, ci), ds.sizes["layer"]).products
        for wi, n in enumerate(ds.width.values):
            for layer in (5, 20, 40):
                e = var.isel(config=ci, width=wi).sel(layer=layer)
                predicted = prod.var_coef[layer - 1] + prod.var_coef2[layer - 1] / n
                _assert_agrees(float(e.value), float(e.se), predicted, f"{act} N Var log prod chi1 N={n} l={layer}")
            assert FIVE_SIGMA * float(e.se) < predicted


def test_variance_of_log_prod_chi1_at_the_papers_mechanism(tmp_path):
    """CReLU s = 0.85, V' = 0.9, N = 4000, L = 100: the propagated term (the papers'
    AR(1) mechanism) is 84% of N Var log prod chi1 = 22731; with the derived next order
    the prediction is 24933. 4000 networks, fixed seed; false-failure probability 5.7e-7."""
    ds = open_sweep(run(Sweep(activation=("crelu",), sparsity=(0.85,), q_star=(1.0,), vprime=(0.9,), width=(4000,),
                              depth=100, samples=4000, seed=9), tmp_path / "p.zarr", progress=False))
    prod = ClaimTheory.from_solution(solution_of(ds, 0), 100).products
    assert prod.propagated[-1] / prod.var_coef[-1] == pytest.approx(0.844, abs=0.001)
    e = scaled_variance(ds, "log_prod_chi1").isel(config=0, width=0).sel(layer=100)
    _assert_agrees(float(e.value), float(e.se), prod.var_coef[-1] + prod.var_coef2[-1] / 4000, "N Var log prod chi1")


def _back_norm(tmp_path, act, s, vprime, width, depth, samples):
    ds = open_sweep(run(Sweep(activation=(act,), sparsity=(s,), q_star=(1.0,), vprime=vprime, width=(width,), depth=depth,
                              samples=samples, backward=True, seed=12), tmp_path / f"{act}.zarr", progress=False))
    back = ClaimTheory.from_solution(solution_of(ds, 0), depth).back
    m = moments(ds, "log_back_norm2").isel(config=0, width=0).sel(layer=1)
    var = scaled_variance(ds, "log_back_norm2").isel(config=0, width=0).sel(layer=1)
    return back, (width * (float(m["mean"]) - back.lead), width * float(m["sem"])), (float(var.value), float(var.se))


def test_back_propagated_norm_is_hanin_nica_for_relu(tmp_path):
    """ReLU, N = 300, L = 50: log |delta^(1)|^2 has N Var = 5 (L-1) and N E = -5 (L-1)/2
    (Hanin & Nica 2019), each with its next order. 4000 networks, fixed seed;
    false-failure probability 5.7e-7 per comparison."""
    back, (mean, mean_se), (var, var_se) = _back_norm(tmp_path, "relu", 0.5, None, 300, 50, 4000)
    assert back.mean_coef == pytest.approx(-2.5 * 49) and back.var_coef == pytest.approx(5 * 49)
    _assert_agrees(mean, mean_se, back.mean_coef + back.mean_coef2 / 300, "N E log |delta|^2")
    _assert_agrees(var, var_se, back.var_coef + back.var_coef2 / 300, "N Var log |delta|^2")


def test_back_propagated_norm_of_crelu(tmp_path):
    """CReLU s = 0.85, V' = 0.5, N = 1000, L = 100: the back-propagated norm's mean has
    the forward drift, the gradient's own noise -(1 + c2) per layer and the conditioning
    of the weights on the forward pass (+161 of -1181); its variance adds 2 (1 + c2) per
    layer to prod chi1's. 8000 networks, fixed seed; false-failure probability 5.7e-7
    per comparison. Without the conditioning term the mean would be 6 se off."""
    back, (mean, mean_se), (var, var_se) = _back_norm(tmp_path, "crelu", 0.85, (0.5,), 1000, 100, 8000)
    predicted = back.mean_coef + back.mean_coef2 / 1000
    _assert_agrees(mean, mean_se, predicted, "N E log |delta|^2")
    assert abs(mean - (predicted - back.conditioning)) > FIVE_SIGMA * mean_se
    _assert_agrees(var, var_se, back.var_coef + back.var_coef2 / 1000, "N Var log |delta|^2")


def test_scale_covariance_is_an_engine_check_and_copies_count_once(sweep_ds):
    """q* = 1 and 2 are the same networks: one claim each (with both q*), and the identity
    is reported as a check of the engine, outside the tally."""
    for ds in sweep_ds.values():
        claims = evaluate(ds)
        checks = [c for c in claims if c["claim"] == "scale_covariance"]
        assert checks and all(c["verdict"] == "holds" and c["kind"] == "engine check" for c in checks)
        papers = [c for c in claims if c["kind"] == "claim"]
        assert all(c["equivalent_q_star"] == [1.0, 2.0] for c in papers)
        assert sum(tally(claims).values()) == len(papers)


def test_unclipped_families_are_unstable_and_clipped_ones_stable(tmp_path):
    """ReLU_tau and ST at the EoC drift above q* (a sign test: more than half of the
    networks end above q*, by 5 se of a fair coin; networks escape [q*/10, 10 q*]);
    CReLU and CST at V'(q*) = 0.5 do not escape. Each stability rule is then applied to
    its negation and must fail. Every decision is a 5-sigma comparison with a fixed seed
    (false-failure probability 5.7e-7 each, below 1e-5 for this test)."""
    # 2000 networks each: ReLU_tau ends above q* in about 63% of networks (measured on 4000),
    # 6.7 se above the 5-se threshold of a fair coin; the saturation test needs the growth
    # to 0.1 (5 se below half a V' = 1 map's)
    kw = dict(q_star=(1.0,), width=(50,), depth=200, samples=2000, seed=8)
    unstable = open_sweep(run(Sweep(activation=("relu_tau", "st"), sparsity=(0.6,), vprime=None, **kw), tmp_path / "u.zarr", progress=False))
    stable = open_sweep(run(Sweep(activation=("crelu", "cst"), sparsity=(0.6,), vprime=(0.5,), **kw),
                            tmp_path / "s.zarr", progress=False))
    above = (unstable.q_cond.isel(width=0).sel(layer=200) > 1.0).mean("sample").values
    assert np.all(above > 0.5 + FIVE_SIGMA * np.sqrt(0.25 / unstable.sizes["sample"]))
    assert np.all(divergence_curve(unstable).isel(width=0).sel(layer=200) > 0.05)
    assert np.all(divergence_curve(stable).isel(width=0).sel(layer=200) == 0)
    verdicts = {c["config"]["activation"]: c["verdict"] for c in evaluate(unstable) + evaluate(stable) if c["claim"] == "stability"}
    assert verdicts == {"relu_tau": "holds", "st": "holds", "crelu": "holds", "cst": "holds"}
    # each rule applied to its negation must say so
    unstable_growth = (200 - 1) / (100 - 1)
    for ci in range(2):
        clipped, unclipped = growth(stable, ci, 0), growth(unstable, ci, 0)
        assert instability_verdict(clipped, clipped, unstable_growth).name == "fails"
        assert instability_verdict(clipped, Growth(0.0, 0.0, 1.0, 0.0, 0), unstable_growth).name == "fails"
        assert stability_verdict(unclipped, 1.0, unstable_growth).name == "fails"


def test_the_old_instability_rule_is_gone(tmp_path):
    """A stable CReLU network at V' = 0.9, N = 100 has E q_cond^(L) above q* (a finite-width
    drift, no escape): the stability claim holds and the instability rule, applied to it
    against itself, fails."""
    ds = open_sweep(run(Sweep(activation=("crelu",), sparsity=(0.85,), q_star=(1.0,), vprime=(0.9,), width=(100,), depth=100,
                              samples=1000, seed=3), tmp_path / "c.zarr", progress=False))
    assert float(ds.q_cond.isel(config=0, width=0).sel(layer=100).mean()) > 1.0
    (claim,) = [c for c in evaluate(ds) if c["claim"] == "stability"]
    assert claim["verdict"] == "holds"
    own = growth(ds, 0, 0)
    assert instability_verdict(own, own, 99 / 49).name == "fails"


def _planted(a, b, widths=(50, 100, 200, 400, 800), samples=4000, seed=0):
    """Synthetic store: q_cond = q* + (a + b/N)/N + Gaussian noise of variance r/N."""
    rng = np.random.default_rng(seed)
    r, q_star, depth = 2.0, 1.0, 3
    data = np.stack([q_star + (a + b / n) / n + np.sqrt(r / n) * rng.standard_normal((samples, depth)) for n in widths])
    ds = xr.Dataset(
        {"q_cond": (("config", "width", "sample", "layer"), data[None])},
        coords={"config": [0], "width": list(widths), "sample": np.arange(samples), "layer": [1, 2, 3], "q_star": ("config", [q_star])},
    )
    ds["q_theory"] = (("config", "layer"), np.full((1, depth), q_star))
    return ds, r


def test_estimators_recover_a_planted_correction():
    """The 1/N fit recovers a planted a (and b) within 5 se, its residual chi^2/dof is
    ~1 (0.1 < chi2 < 5 for 3 dof at the 99.9% level), and N Var recovers r."""
    ds, r = _planted(a=0.7, b=-30.0)
    limit = extrapolate(nlo_coefficient(ds)).isel(config=0)
    for layer in (1, 2, 3):
        _assert_agrees(float(limit.value.sel(layer=layer)), float(limit.se.sel(layer=layer)), 0.7, "planted a")
        assert 0.01 < float(limit.chi2_dof.sel(layer=layer)) < 6.0
    var = scaled_variance(ds, "q_cond")
    for wi in range(ds.sizes["width"]):
        _assert_agrees(float(var.value.isel(config=0, width=wi, layer=0)), float(var.se.isel(config=0, width=wi, layer=0)), r, "planted r")


def test_verdicts_have_power():
    """A planted a = 3 is declared 'fails' against a prediction of 0.2 and 'holds' against 3."""
    ds, _ = _planted(a=3.0, b=0.0, samples=20000)
    limit = extrapolate(nlo_coefficient(ds)).isel(config=0).sel(layer=2)
    assert verdict(float(limit.value), float(limit.se), 3.0) == "holds"
    assert verdict(float(limit.value), float(limit.se), 0.2) == "fails"
    assert verdict(0.0, 1.0, 0.1) == "inconclusive"


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


@pytest.mark.parametrize(
    ("prediction", "null", "next_coefficient", "expected"),
    [
        (2.0, 0.0, 30.0, "holds"),  # in the regime at N >= 150, resolved from 0, at the prediction
        (1.6, 0.0, 30.0, "fails"),  # planted a = 2 against 1.6: about 20 se off, budget 0.014
        (2.0, 1.99, 0.0, "inconclusive"),  # an effect of 0.01 cannot be told from its null
        (2.0, 0.0, 3000.0, "outside regime"),  # next order / effect = 1.9 at the widest N = 800
    ],
)
def test_planted_outcomes(prediction, null, next_coefficient, expected):
    """Synthetic estimates Y_N = 2 + 30/N + noise (se 0.01 at every width) through the
    regime selection and the rules. Power: the planted differences are 40 se (fails) and
    200 se (resolved); each outcome is wrong with probability below 5.7e-7."""
    rng = np.random.default_rng(11)
    widths = np.array([50, 100, 200, 400, 800])
    se = np.full(widths.size, 0.01)
    values = 2.0 + 30.0 / widths + se * rng.standard_normal(widths.size)
    exp = Expansion(prediction, null, next_coefficient)
    limit = in_regime_limit(widths, values, se, exp)
    result = limit.verdict or agreement(limit.value, limit.se, exp.prediction, exp.null, limit.budget)
    assert result.name == expected, result.reason
    if expected == "outside regime":
        assert "N >= 15000" in result.reason


def test_a_fit_that_stays_inconsistent_is_inconclusive():
    """Widths that do not follow a + b/N (+ c/N^2) even with the error inflated are not
    judged: a planted jump of 50 se between two widths (chi2 p-value far below 5.7e-7)."""
    widths = np.array([100, 200, 400, 800])
    values = np.array([1.0, 1.0, 1.5, 1.0])
    limit = in_regime_limit(widths, values, np.full(4, 0.01), Expansion(1.0, 0.0, 1.0))
    assert limit.verdict is not None and limit.verdict.name == "inconclusive"
    assert "do not follow" in limit.verdict.reason and FALSE_ALARM == pytest.approx(5.7e-7, rel=0.01)


def test_next_order_predicts_the_finite_width_deviation(tmp_path):
    """At V'(q*) = 0.9 the O(1/N) recursion is not enough at N = 3000 (next order / effect
    = 0.19): N Var q_cond^(100) lies r2/N = 4.06 above r, which 16000 networks resolve
    (expected 10 se; asserted: more than 5 se). With the derived next order r + r2/N it
    agrees within 5 se plus the order after it (estimated as rho^2 r). False-failure
    probability below 1e-6 (fixed seed)."""
    ds = open_sweep(run(Sweep(activation=("crelu",), sparsity=(0.85,), q_star=(1.0,), vprime=(0.9,), width=(3000,), depth=100,
                              samples=16000, seed=5), tmp_path / "n.zarr", progress=False))
    var = scaled_variance(ds, "q_cond").isel(config=0, width=0).sel(layer=100)
    value, se = float(var.value), float(var.se)
    r, r2 = float(ds.r_theory.isel(config=0, layer=-1)), float(ds.r2_theory.isel(config=0, layer=-1))
    rho = r2 / (3000 * r)
    assert abs(value - (r + r2 / 3000)) <= FIVE_SIGMA * se + rho**2 * r
    assert value - r > FIVE_SIGMA * se  # the deviation from the papers' order is resolved
    (claim,) = [c for c in evaluate(ds) if c["claim"] == "r_recursion" and c["layer"] == 100]
    assert claim["verdict"] == "outside regime" and "N >= 5644" in claim["reason"]


def test_report_writes_everything(tmp_path):
    store = run(Sweep(activation=("crelu",), sparsity=(0.8,), q_star=(1.0, 2.0), vprime=(0.5,), width=(30, 60), depth=12,
                      samples=300, seed=1, backward=True), tmp_path / "r.zarr", progress=False)
    counts = build(store, tmp_path / "report")
    claims = json.loads((tmp_path / "report" / "claims.json").read_text())
    assert len(claims) == counts["claims"] + counts["checks"] and counts["claims"] >= 10
    for c in claims:
        assert {"claim", "statement", "config", "layer", "prediction", "measurement", "uncertainty", "method", "verdict",
                "reason", "next_order_budget", "widths_used"} <= set(c)
        assert c["verdict"] in ("holds", "fails", "inconclusive", "outside regime", "not applicable")
        assert (c["command"] is not None) == (c["verdict"] in ("inconclusive", "outside regime"))
    html = (tmp_path / "report" / "report.html").read_text()
    assert "data:image/png;base64," in html and "<table>" in html
    assert (tmp_path / "report" / "report.md").read_text().startswith("# Does the finite-width theory hold?")
    for name in ("nlo_vs_layer", "stability_diagram_crelu", "variance_shares_crelu", "gradient_vs_product"):
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 10_000, name
    assert "D = log |delta^(1)|^2 - log prod_(l&lt;L) chi1" in html
    assert {"log_prod_chi1_variance", "stable_fraction", "back_norm2_mean", "back_norm2_variance"} <= {c["claim"] for c in claims}


def test_gaussian_weight_claims_are_not_applicable_to_orthogonal_stores(tmp_path):
    """The 1/N theory is derived for Gaussian weights: on an orthogonal-weight store every
    expansion claim says 'not applicable' (with the reason); the stability claim remains."""
    ds = open_sweep(run(Sweep(activation=("crelu",), sparsity=(0.8,), q_star=(1.0,), vprime=(0.5,), width=(16,), depth=6,
                              samples=60, sampler="dense", weights="orthogonal", seed=2), tmp_path / "o.zarr", progress=False))
    claims = evaluate(ds)
    expansion = [c for c in claims if c["claim"] not in ("stability", "scale_covariance")]
    assert expansion and all(c["verdict"] == "not applicable" and "orthogonal" in c["reason"] for c in expansion)
    assert [c["verdict"] for c in claims if c["claim"] == "stability"] != ["not applicable"]


def test_plan_command_line(capsys):
    """python -m analysis.plan prints a width, a network count and a runnable command per
    claim; the widths it proposes are in each claim's regime; bad input is one line."""
    from analysis.plan import main as plan_main

    assert plan_main(["--vprime", "0.9", "--budget", "60"]) == 0
    out = capsys.readouterr().out
    assert "r_recursion" in out and "python -m simulate.depth_sweep" in out and "--width 5700" in out
    assert plan_main(["--vprime", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
