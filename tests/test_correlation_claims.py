"""The claims on the two inputs' correlation (analysis.correlation): planted outcomes, the
exact zero mean of the G00 companion, and a validation against a small simulated run."""

import math

import numpy as np
import pytest

from analysis.claims import ExpansionClaim, WidthEstimate
from analysis.correlation import (
    CORRELATION_CLAIMS,
    RhoMean,
    batch_of,
    correlation_theory,
    estimate_batch,
)
from analysis.verdicts import VERDICTS
from theory.correlation import ZETA_MAX
from theory.expansion import RHO_MAX, ConfigurationTheory

#: the verdicts an estimate can draw (not applicable is decided before any estimate)
OUTCOMES = tuple(v for v in VERDICTS if v != "not applicable")
RNG_SEED = 2026



def test_claims_follow_the_registry_contract(theory):
    """Name, statement, label, needs (q_cond, rho), judged layers, an expansion with null 0,
    next order not derived, and a regime that is theory.correlation's zeta <= ZETA_MAX."""
    for cls in CORRELATION_CLAIMS:
        assert issubclass(cls, ExpansionClaim) and cls.statement and cls.label
        assert cls.needs == ("q_cond", "rho") and cls.layers == "judged"
        claims = cls.instances(theory)
        assert [c.layer for c in claims] == theory.judged_layers
        for claim in claims:
            claim.rho0 = 0.5
            exp = claim.expansion(theory)
            assert exp.null == 0.0 and not exp.next_derived
            zeta = correlation_theory(theory, 0.5).expansion.zeta
            for width in (100, 1000, 10_000, 100_000):
                z = float(zeta(width)[claim.layer - 1])
                if abs(z - ZETA_MAX) > 1e-6 and (theory.chain_background / width) <= RHO_MAX:
                    assert exp.in_regime(width) == (z <= ZETA_MAX), (claim.name, claim.layer, width, z)


def _estimates(exp, outcome, rng):
    n = exp.min_width()
    widths = [n, 2 * n, 4 * n] if outcome != "outside regime" else [max(2, n // 8), max(3, n // 4)]
    se = exp.gap / (1.0 if outcome == "inconclusive" else 40.0)
    offset = 0.5 * exp.gap if outcome == "fails" else 0.0
    out = []
    for width in widths:
        value = exp.at(width) + offset + se * rng.standard_normal()
        out.append(WidthEstimate(width, value, se, math.nan, math.nan, 1000))
    return out


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("cls", CORRELATION_CLAIMS, ids=lambda c: c.name)
def test_planted_outcomes(theory, cls, outcome):
    """As tests/test_claims_registry.py: holds (at the prediction, 40 se from the null;
    another verdict with probability 1.7e-6), fails (half the effect off, 20 se: below
    1e-20), inconclusive (an effect of 1 se: 3.3e-5), outside regime (deterministic); at
    both judged layers, with the control variate absent (NaN, as rho_variance reports it)."""
    for claim in cls.instances(theory):
        claim.rho0 = 0.5
        _, result, _ = claim.verdict(theory, _estimates(claim.expansion(theory), outcome, np.random.default_rng(RNG_SEED)))
        assert result.name == outcome, (cls.name, claim.layer, outcome, result.reason)


def test_theory_is_cached_per_rho0(theory):
    a, b = correlation_theory(theory, 0.5), correlation_theory(theory, 0.5)
    assert a is b and correlation_theory(theory, 0.3) is not a
    assert float(a.rho_inf[0]) == 0.5 and float(correlation_theory(theory, 0.3).rho_inf[0]) == pytest.approx(0.3, abs=1e-15)


@pytest.fixture(scope="module")
def simulated():
    """CReLU s = 0.85, q* = 1, V' = 0.7, N = 300, depth 10, rho0 = 0.5, two inputs, 30000
    networks, seed 7 (about 6 s on two cores)."""
    from simulate.config import Sweep
    from simulate.cpu import simulate_chunk

    sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=(300,), depth=10, samples=30_000, inputs=2, rho0=0.5, seed=7)
    config = sweep.configs()[0]
    theory = ConfigurationTheory.from_solution(config.solution, sweep.depth)
    return theory, batch_of(theory, 300, simulate_chunk(sweep, config, 300, 0, sweep.samples))


@pytest.mark.validation
def test_g00_companion_has_mean_zero(simulated):
    """C_l (and C_l^2 - Q_l) are martingale sums: exactly mean zero at any width. Checked
    within 5 se at layers 2..10 (18 comparisons; false failure 1.0e-5)."""
    theory, batch = simulated
    for layer in range(2, 11):
        claim = RhoMean(layer)
        c, c2 = claim.companion(batch)
        for x in (c, c2):
            assert abs(x.mean()) <= 5 * x.std() / math.sqrt(x.size), (layer, x.mean(), x.std())


@pytest.mark.validation
def test_rho_claims_hold_on_a_simulated_run(simulated):
    """At N = 300 layers 2 and 3 are in the regime (zeta <= 0.3): both claims hold through
    the registry's verdict (within 5 se, and resolved from the null by more than 5 se:
    the mean's shift is 0.67 and 0.65 at se ~0.07, 9 se, the variance's 100 se away).
    Another verdict: the four 5-sigma agreements 2.3e-6, the mean's resolution (a
    4-sigma excursion) 2 x 3.2e-5; in all 7e-5. Layer 10 (zeta = 0.4) is outside the regime."""
    theory, batch = simulated
    for cls in CORRELATION_CLAIMS:
        for layer in (2, 3):
            claim = cls(layer, 0.5)
            est = estimate_batch(claim, batch)
            _, result, _ = claim.verdict(theory, [est])
            assert result.name == "holds", (cls.name, layer, est, result.reason)
        claim = cls(10, 0.5)
        assert claim.verdict(theory, [estimate_batch(claim, batch)])[1].name == "outside regime"
    # rho0 read from the data when not given
    claim = RhoMean(3)
    claim.features(batch)
    assert claim.rho0 == pytest.approx(0.5, abs=1e-15)


def test_report_section_of_a_two_input_store(tmp_path):
    """The section has a heading, a table per judged layer and width, a figure that exists,
    and the take-over table; a one-input store gets none."""
    from analysis.figures.correlation import correlation_section
    from analysis.sweep import open_sweep
    from simulate.config import Sweep
    from simulate.depth_sweep import run

    two = open_sweep(run(Sweep(q_star=(1.0,), vprime=(0.7,), width=(100, 300), depth=12, samples=300, inputs=2, rho0=0.3),
                         str(tmp_path / "two.zarr"), progress=False))
    blocks = correlation_section(two, None, tmp_path / "out")
    kinds = [k for k, _ in blocks]
    assert kinds[0] == "h2" and kinds.count("table") == 2 and "figure" in kinds
    header, rows = blocks[2][1]
    assert len(rows) == 2 * 2 and "N Var rho" in header  # 2 widths x judged layers (10, 12)
    assert blocks[kinds.index("figure")][1][0].exists()
    assert "rho0 = 0.3" in blocks[1][1]
    one = open_sweep(run(Sweep(q_star=(1.0,), vprime=(0.7,), width=(50,), depth=5, samples=20),
                         str(tmp_path / "one.zarr"), progress=False))
    assert correlation_section(one, None, tmp_path / "out1") == []


def test_claims_evaluate_through_a_context(tmp_path):
    """Through the registry's own path (Context, evaluate) with rho0 from the store's attrs,
    given batches that carry rho (analysis.features.batches must read it: see docs/correlation.md)."""
    from analysis.claims import Context
    from analysis.features import FeatureMoments
    from analysis.sweep import open_sweep, theories_of
    from simulate.config import Sweep
    from simulate.depth_sweep import run

    ds = open_sweep(run(Sweep(q_star=(1.0,), vprime=(0.7,), width=(100, 300), depth=10, samples=400, inputs=2, rho0=0.3),
                        str(tmp_path / "s.zarr"), progress=False))
    theory = theories_of(ds)[0]
    for cls in CORRELATION_CLAIMS:
        claim = cls.instances(theory)[0]
        ctx = Context(ds, [0], theory, "C1")
        stats = []
        for wi, width in enumerate(ds.width.values.astype(int)):
            sub = ds[["q_cond", "rho"]].isel(config=0, width=wi)
            batch = batch_of(theory, width, {k: np.asarray(sub[k].values) for k in ("q_cond", "rho")})
            stats.append(FeatureMoments.of(claim.features(batch)))
        ctx.stats = {claim.feature_key: stats}
        ctx.excluded = [0, 0]
        rec = claim.evaluate(ctx).as_dict()
        assert rec["rho0"] == 0.3 and rec["claim"] == cls.name and rec["verdict"] in OUTCOMES
        assert "control_variate" in rec
