"""Finite-width recursions, their closed forms at the fixed point, Theorem 2.1, fixed points."""

import numpy as np
import pytest

from theory import jacobian_moments, nlo_recursion, q1_fixed_point, r_fixed_point, solve_eoc

CONFIGS = [("crelu", 0.85, 1.0, 0.7), ("crelu", 0.8, 3.0, 0.5), ("cst", 0.7, 2.0, 0.9), ("crelu", 0.9, 1.0, 0.3)]


@pytest.mark.parametrize("config", CONFIGS)
def test_recursion_matches_closed_forms_to_1e12(config):
    name, s, q_star, vprime = config
    sol = solve_eoc(name, s, q_star, vprime=vprime)
    layers = np.arange(1, 201)
    r, q1 = nlo_recursion(sol.variance_map, np.full(layers.size, q_star))
    np.testing.assert_allclose(r, r_fixed_point(sol, layers), rtol=1e-12, atol=1e-12 * np.abs(r).max())
    np.testing.assert_allclose(q1, q1_fixed_point(sol, layers), rtol=1e-12, atol=1e-12 * np.abs(q1).max())


def test_printed_eq60_is_off_by_one_layer():
    """arXiv eq. (60) gives q~{1}^(3) = D V''(1+V'^2)/2; the recursion gives D V''/2."""
    sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    p, d = sol.vprime, sol.fluctuation
    _, q1 = nlo_recursion(sol.variance_map, np.full(3, 1.0))
    printed = 0.5 * d * sol.vsecond / (1 - p**2) * (1 - p) * (1 - p**4) / (1 - p)
    assert q1[2] == pytest.approx(0.5 * d * sol.vsecond, rel=1e-13)
    assert abs(printed - q1[2]) > 0.4 * abs(q1[2])


@pytest.mark.parametrize("config", CONFIGS)
def test_theorem_bound_holds_and_is_the_limit(config):
    name, s, q_star, vprime = config
    sol = solve_eoc(name, s, q_star, vprime=vprime)
    _, q1 = nlo_recursion(sol.variance_map, np.full(2000, q_star))
    assert np.all(np.abs(q1[2:]) <= sol.bound * (1 + 1e-12))
    assert abs(q1[-1]) == pytest.approx(sol.bound, rel=1e-10)


def test_recursion_along_a_trajectory_away_from_the_fixed_point():
    """From q^(1) != q*, the recursion uses V', V'' at each q^(l); compare with a direct
    second-order propagation: Var and mean shift of V(q) for q ~ q^(l) + noise."""
    sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    vmap = sol.variance_map
    q = vmap.trajectory(2.0, 30)
    r, q1 = nlo_recursion(vmap, q)
    assert r[0] == 0 and q1[0] == 0
    assert r[1] == pytest.approx(vmap.fluctuation(2.0), rel=1e-14)
    assert q1[2] == pytest.approx(0.5 * vmap.d2V(q[1]) * r[1], rel=1e-14)
    assert r[3] == pytest.approx(vmap.dV(q[2]) ** 2 * r[2] + vmap.fluctuation(q[2]), rel=1e-14)


def test_bound_is_nan_outside_its_hypothesis():
    assert np.isnan(solve_eoc("relu_tau", 0.7, 1.0).bound)


def test_bifurcation_of_arxiv_fig2_is_found():
    """arXiv Fig. 2: CReLU, q* = 1, s = 0.85: m = 1.2 ... 1.8 have one fixed point; at m = 2.0
    an unstable one and a second stable one near q = 3.5 appear."""
    for m in (1.2, 1.4, 1.6, 1.8):
        points = solve_eoc("crelu", 0.85, 1.0, m=m).variance_map.fixed_points(1e-2, 20)
        assert [round(p.q, 9) for p in points] == [1.0]
    points = solve_eoc("crelu", 0.85, 1.0, m=2.0).variance_map.fixed_points(1e-2, 20)
    assert len(points) == 3
    assert points[0].stable and not points[1].stable and points[2].stable
    assert 3.3 < points[2].q < 3.7


def test_bifurcation_of_iclr_fig4b_is_found():
    """ICLR Fig. 4(b): CST, s = 0.85, q* = 1, V'(q*) = 0.9 has an unstable and a second
    stable fixed point beyond q*; V'(q*) = 0.8 does not."""
    assert len(solve_eoc("cst", 0.85, 1.0, vprime=0.8).variance_map.fixed_points(1e-2, 20)) == 1
    points = solve_eoc("cst", 0.85, 1.0, vprime=0.9).variance_map.fixed_points(1e-2, 20)
    assert [p.stable for p in points] == [True, False, True]


def test_jacobian_moments():
    sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    moments = jacobian_moments(sol, 100)
    assert moments["m1"] == pytest.approx(1.0, rel=1e-12)
    # crelu has phi' in {0, 1}: mu_2 = mu_1, so sigma_JJ^T = L (1/mu_1 - 1 + 1) at the EoC
    assert moments["sigma_JJT"] == pytest.approx(100 * (1 / sol.mu1), rel=1e-12)
