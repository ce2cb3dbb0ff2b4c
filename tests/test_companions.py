"""The exact companions (theory.companions): their means are exactly zero, at any width.

Unit tests check the conditional moments against the quadrature and the closed forms of
other modules. The validation tests simulate many small networks (N = 10, where no
expansion in 1/N holds) and assert that every companion's sample mean is within 5
standard errors of zero; a companion built with a wrong conditional variance (25% off) is
rejected by the same test (power). Each comparison is a 5-sigma test with a fixed seed:
false-failure probability 5.7e-7 per comparison, below 1e-4 for the module.
"""

import numpy as np
import pytest

from analysis.claims import REGISTRY, ExpansionClaim, measure
from analysis.sweep import open_sweep
from simulate.config import Sweep
from simulate.cpu import simulate_chunk
from simulate.depth_sweep import run
from theory import get_family, solve_eoc
from theory.companions import UnitMoments, companions, response_gains
from theory.expansion import ConfigurationTheory
from theory.products import _layer_terms

FIVE_SIGMA = 5.0


def test_unit_moments_against_the_quadrature_and_theory_products():
    """V, S, chi_1, c2 and Cu at arbitrary q from the closed forms equal the generic
    quadrature, and Cu is theory.products' within-layer covariance C (an independent
    implementation through unit_average)."""
    for name in ("crelu", "cst", "relu_tau", "st", "hardshrink"):
        sol = solve_eoc(name, 0.7, 1.0, vprime=0.6) if get_family(name).clip_param else solve_eoc(name, 0.7, 1.0)
        vmap = sol.variance_map
        q = np.array([0.4, 1.0, 2.5])
        unit = UnitMoments.at(vmap, q)
        act = vmap.activation
        mu1 = act.expect("dphi2", q, method="quadrature")
        assert unit.chi1 == pytest.approx(sol.sigma_w2 * mu1, rel=1e-10)
        assert unit.V == pytest.approx(vmap.V(q), rel=1e-12)
        assert unit.S == pytest.approx(vmap.fluctuation(q), rel=1e-10)
        assert unit.c2 == pytest.approx(act.expect("dphi4", q, method="quadrature") / mu1**2 - 1.0, rel=1e-9)
        assert unit.Cu == pytest.approx(_layer_terms(vmap, q)["C"], rel=1e-9, abs=1e-12)


def test_response_gains_are_the_linear_response_of_the_product():
    """G_j = sum_(k>j) g_k prod_(j<i<k) a_i, checked against the explicit double sum."""
    rng = np.random.default_rng(3)
    a, g = rng.uniform(0.2, 0.9, 7), rng.normal(size=7)
    explicit = [sum(g[k] * np.prod(a[j + 1:k]) for k in range(j + 1, 7)) for j in range(7)]
    assert response_gains(a, g) == pytest.approx(explicit, rel=1e-12, abs=1e-15)


def test_relu_chain_is_linear_so_the_companion_is_exact_per_network():
    """ReLU: V(q) = q (sigma_w^2 = 2), so q_cond - D1 = q* for every network (D2 = 0)."""
    sweep = Sweep(activation=("relu",), q_star=(1.0,), vprime=None, width=(7,), depth=6, samples=50, seed=1)
    cfg = sweep.configs()[0]
    x = simulate_chunk(sweep, cfg, 7, 0, 50)["q_cond"]
    x = x[np.all(x > 0, axis=1)]  # a layer with every unit off has q_cond = 0 (sigma_b = 0)
    t = ConfigurationTheory.from_solution(cfg.solution, 6)
    c = companions(t.vmap, t.a, t.b, t.g, t.g2, 7, x)
    np.testing.assert_allclose(x - c.q_cond, 1.0, rtol=1e-12)
    np.testing.assert_array_equal(c.D2, 0.0)


def _zero_mean(values: np.ndarray, what: str) -> float:
    """Assert the column means are within 5 se of zero; return the largest |z|."""
    mean = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
    z = np.where(se > 0, mean / np.where(se > 0, se, 1.0), 0.0)
    assert np.all(np.abs(z) <= FIVE_SIGMA), f"{what}: z = {z}"
    return float(np.max(np.abs(z)))


@pytest.mark.validation
@pytest.mark.parametrize(("activation", "sparsity", "vprime", "sampler"), [
    ("crelu", 0.85, 0.7, "reduced"),
    ("cst", 0.6, 0.5, "reduced"),
    ("crelu", 0.6, 0.9, "dense"),
    ("relu_tau", 0.6, None, "reduced"),
])
def test_every_companion_has_mean_zero_at_width_10(activation, sparsity, vprime, sampler):
    """N = 10, depth 8: 60,000 networks (20,000 with the dense sampler's explicit Gaussian
    weights). D1, D2, M at every layer, the log prod chi1 companion C_l and its square's
    L1^2 - Q at the last layer, and q_tilde's t and x^2 (t^2 - 2/N): every mean within 5 se
    of zero. ReLU_tau has V' = 1 (no expansion at all): the identities hold regardless."""
    width, depth = 10, 8
    n = 20_000 if sampler == "dense" else 60_000
    sweep = Sweep(activation=(activation,), sparsity=(sparsity,), q_star=(1.0,), vprime=(vprime,) if vprime else None,
                  width=(width,), depth=depth, samples=n, sampler=sampler, seed=77)
    cfg = sweep.configs()[0]
    out = simulate_chunk(sweep, cfg, width, 0, n)
    x = out["q_cond"]
    ok = np.all(np.isfinite(x) & (x > 0), axis=1)
    assert ok.mean() > 0.999
    x, chi1, q_tilde = x[ok], out["chi1"][ok], out["q_tilde"][ok]
    t = ConfigurationTheory.from_solution(cfg.solution, depth)
    c = companions(t.vmap, t.a, t.b, t.g, t.g2, width, x, chi1)
    _zero_mean(c.D1[:, 1:], "D1")
    _zero_mean(c.D2[:, 2:], "D2")
    _zero_mean(c.M[:, 1:], "M")
    _zero_mean(np.stack([c.log_prod_chi1(k) for k in range(1, depth + 1)], axis=1), "C_l")
    _zero_mean(c.log_prod_chi1_square(depth, t.a, t.g, width)[:, None], "L1^2 - Q")
    tt = q_tilde / x - 1.0
    _zero_mean(tt, "t")
    _zero_mean(x**2 * (tt**2 - 2.0 / width), "x^2 (t^2 - 2/N)")
    # power: a compensator 25% off is rejected by the same test
    wrong = c.D1[:, 1] ** 2 - 1.25 * c.P[:, 1]
    z = wrong.mean() / (wrong.std(ddof=1) / np.sqrt(len(wrong)))
    assert abs(z) > FIVE_SIGMA


@pytest.mark.validation
def test_plain_and_control_variate_estimators_agree_on_a_long_run(tmp_path):
    """CReLU s = 0.85, V' = 0.7, N = 60, depth 30, 40,000 networks: for every expansion claim
    the plain and the control-variate estimates agree within 5 (se_plain + se_cv) (their
    difference is the companion's mean), and the control variate is the more precise."""
    ds = open_sweep(run(Sweep(q_star=(1.0,), vprime=(0.7,), width=(60,), depth=30, samples=40_000, chunk=10_000, seed=31),
                        tmp_path / "long.zarr", progress=False))
    checked = 0
    for cls in REGISTRY:
        if not (issubclass(cls, ExpansionClaim) and cls.present(ds)):
            continue
        m = measure(ds, cls.name).isel(config=0, width=0)
        diff = abs(float(m.plain) - float(m.controlled))
        assert diff <= FIVE_SIGMA * (float(m.plain_se) + float(m.controlled_se)), cls.name
        assert float(m.controlled_se) < float(m.plain_se), cls.name
        checked += 1
    assert checked >= 8


def test_the_control_variate_is_not_applicable_to_orthogonal_weights(tmp_path):
    """Orthogonal rows are not independent: the identities fail, so no control variate is
    computed (NaN) and the records say why."""
    from analysis.claims import evaluate

    ds = open_sweep(run(Sweep(q_star=(1.0,), vprime=(0.5,), width=(16,), depth=6, samples=60, sampler="dense",
                              weights="orthogonal", seed=2), tmp_path / "o.zarr", progress=False))
    m = measure(ds, "q1_recursion_stationary")
    assert np.all(np.isnan(m.controlled)) and np.all(np.isfinite(m.plain))
    expansion = [c for c in evaluate(ds) if c.get("control_variate")]
    assert expansion and all("orthogonal" in c["control_variate"] for c in expansion)
