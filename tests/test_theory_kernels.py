"""Gaussian averages: closed forms against the generic quadrature and against Monte Carlo."""

import numpy as np
import pytest

from theory import get_activation
from theory.activations import KINDS

CLOSED = {
    "relu": {},
    "relu_tau": {"tau": 0.7},
    "st": {"tau": 0.7},
    "crelu": {"tau": 0.7, "m": 1.3},
    "cst": {"tau": 0.7, "m": 1.3},
}
GENERIC = {
    "hardshrink": {"tau": 0.8},
    "chardshrink": {"tau": 0.8, "m": 2.0},
    "sawtooth": {"tau": 0.5, "m": 1.2},
}
Q_GRID = np.geomspace(0.05, 6.0, 23)


@pytest.mark.parametrize("name", CLOSED)
@pytest.mark.parametrize("kind", KINDS)
def test_closed_form_averages_match_quadrature_to_1e10(name, kind):
    act = get_activation(name, **CLOSED[name])
    exact = act.expect(kind, Q_GRID)
    numeric = act.expect(kind, Q_GRID, method="quadrature")
    np.testing.assert_allclose(exact, numeric, rtol=1e-10, atol=0)


@pytest.mark.parametrize("name", CLOSED)
@pytest.mark.parametrize(("kind", "dq"), [("phi2", 1), ("phi2", 2), ("dphi2", 1)])
def test_closed_form_q_derivatives_match_quadrature(name, kind, dq):
    """V', V'' and chi_1' (arXiv eqs. 7, 8, 16 for CReLU) against the Hermite-weighted
    quadrature. These change sign, so the tolerance is 1e-10 of the size of the terms."""
    act = get_activation(name, **CLOSED[name])
    exact = act.expect(kind, Q_GRID, dq=dq)
    numeric = act.expect(kind, Q_GRID, dq=dq, method="quadrature")
    scale = act.expect(kind, Q_GRID) / Q_GRID**dq
    np.testing.assert_array_less(np.abs(exact - numeric), 1e-10 * scale)


@pytest.mark.parametrize("name", CLOSED)
def test_closed_form_derivatives_match_finite_differences(name):
    act = get_activation(name, **CLOSED[name])
    q, h = 1.3, 1e-4
    for kind in ("phi2", "dphi2"):
        f = lambda x: act.expect(kind, x)  # noqa: E731
        fd1 = (f(q + h) - f(q - h)) / (2 * h)
        assert act.expect(kind, q, dq=1) == pytest.approx(fd1, rel=1e-6, abs=1e-9)
    fd2 = (act.expect("phi2", q + h) - 2 * act.expect("phi2", q) + act.expect("phi2", q - h)) / h**2
    assert act.expect("phi2", q, dq=2) == pytest.approx(fd2, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("name", list(CLOSED) + list(GENERIC))
def test_every_kernel_against_monte_carlo(name):
    """5-sigma test of each Gaussian average against 2e6 Gaussian samples (fixed seed).
    False-failure probability per comparison 5.7e-7, for the whole test < 1e-5."""
    act = get_activation(name, **{**CLOSED, **GENERIC}[name])
    q = 1.7
    x = np.sqrt(q) * np.random.default_rng(12345).standard_normal(2_000_000)
    samples = {
        "phi2": act.phi(x) ** 2,
        "phi4": act.phi(x) ** 4,
        "dphi2": act.dphi(x) ** 2,
        "dphi4": act.dphi(x) ** 4,
    }
    for kind, values in samples.items():
        se = values.std(ddof=1) / np.sqrt(values.size)
        assert abs(values.mean() - act.expect(kind, q)) < 5 * se + 1e-15, kind
    zero = (act.phi(x) == 0).astype(float)
    assert abs(zero.mean() - act.sparsity(q)) < 5 * zero.std() / np.sqrt(zero.size)


def test_correlation_map_against_monte_carlo():
    """R(rho) (arXiv eq. 4) for CReLU at the EoC, 5 sigma, 2e6 pairs; P(false failure) < 2e-6."""
    from theory import solve_eoc

    sol = solve_eoc("crelu", 0.85, 1.5, vprime=0.7)
    vmap = sol.variance_map
    rng = np.random.default_rng(7)
    z1, z2 = rng.standard_normal((2, 2_000_000))
    for rho in (0.0, 0.5, 0.9):
        u1 = np.sqrt(1.5) * z1
        u2 = np.sqrt(1.5) * (rho * z1 + np.sqrt(1 - rho**2) * z2)
        values = (sol.sigma_w2 * sol.activation.phi(u1) * sol.activation.phi(u2) + sol.sigma_b2) / 1.5
        se = values.std(ddof=1) / np.sqrt(values.size)
        assert abs(values.mean() - vmap.R(rho, 1.5)) < 5 * se
    assert vmap.R(1.0, 1.5) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("name", list(CLOSED) + list(GENERIC))
def test_tau_for_sparsity_inverts_sparsity(name):
    cls = get_activation(name, **{**CLOSED, **GENERIC}[name]).__class__
    params = {k: v for k, v in {**CLOSED, **GENERIC}[name].items() if k != "tau"}
    for q in (0.3, 1.0, 2.5):
        s = 0.5 if name == "relu" else 0.8
        tau = cls.tau_for_sparsity(s, q, **params)
        act = cls(tau=tau, **params)
        assert act.sparsity(q) == pytest.approx(s, abs=1e-12)
        assert act.sparsity(q, method="quadrature") == pytest.approx(s, abs=1e-12)


def test_ten_layer_variance_map_is_exact():
    """neural-tangents' Gauss-Hermite (degree 40) nonlinearity is off by 4e-3 on this map;
    the closed form and the kink-splitting quadrature agree to 1e-10 through 10 layers."""
    from theory import VarianceMap, solve_eoc

    sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    act = sol.activation
    q_exact = q_numeric = 1.8
    for _ in range(10):
        q_exact = sol.sigma_w2 * act.expect("phi2", q_exact) + sol.sigma_b2
        q_numeric = sol.sigma_w2 * act.expect("phi2", q_numeric, method="quadrature") + sol.sigma_b2
    assert q_exact == pytest.approx(q_numeric, rel=1e-10)
    assert VarianceMap(act, sol.sigma_w2, sol.sigma_b2).trajectory(1.8, 11)[-1] == pytest.approx(q_exact, rel=1e-14)


def test_bad_expect_arguments():
    act = get_activation("crelu", tau=1.0, m=1.0)
    with pytest.raises(ValueError, match="kind"):
        act.expect("phi3", 1.0)
    with pytest.raises(ValueError, match="positive"):
        act.expect("phi2", -1.0)
    with pytest.raises(TypeError, match="missing"):
        get_activation("crelu", tau=1.0)
    with pytest.raises(ValueError, match="unknown activation"):
        get_activation("gelu")


@pytest.mark.parametrize("name", ["relu_tau", "st", "crelu", "cst", "sawtooth"])
def test_contraction_closed_form_matches_the_difference(name):
    """<phi'^2> - d<phi^2>/dq (1 - V' at the EoC over sigma_w^2): the closed forms
    (CReLU: c phi(b), arXiv eq. 40; ReLU_tau: 0) against the quadrature difference."""
    act = get_activation(name, **{**CLOSED, **GENERIC}[name])
    closed = act.contraction(Q_GRID)
    difference = act.expect("dphi2", Q_GRID, method="quadrature") - act.expect("phi2", Q_GRID, dq=1, method="quadrature")
    scale = act.expect("dphi2", Q_GRID)
    np.testing.assert_array_less(np.abs(closed - difference), 1e-9 * np.abs(closed) + 1e-12 * scale)


def test_bound_stays_finite_where_vprime_rounds_to_one():
    """At q* = 0.05, m = 3 (arXiv Fig. 3's left edge) 1 - V' ~ 1e-43: the bound comes from
    the closed-form contraction, not from 1 - V' (which is 0 in floating point)."""
    from theory import solve_eoc

    sol = solve_eoc("crelu", 0.85, 0.05, m=3.0)
    assert sol.vprime == 1.0
    assert np.isfinite(sol.bound) and sol.bound > 1e80
