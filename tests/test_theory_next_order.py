"""The O(1/N^2) theory (theory.next_order) against exact results derived independently."""

import numpy as np
import pytest
from scipy import stats

from theory import get_activation, solve_eoc
from theory.maps import VarianceMap
from theory.next_order import log_chi1_next_order, next_order_recursion, phi_power, unit_average


def test_relu_is_exact():
    """ReLU at sigma_w^2 = 2, sigma_b = 0: q^(l) = q* prod X_k with X = (2/N) chi^2-like of
    mean 1, Var X = 5/N, kappa_3(X) = 44/N^2 (E relu^6 = 15/2), so Var q^(l) =
    q*^2 ((1 + 5/N)^n - 1) and kappa_3 = q*^3 ((1 + 15/N + 44/N^2)^n - 3 (1 + 5/N)^n + 2),
    n = l - 1: r2 = 25 q*^2 n(n-1)/2, K = q*^3 (44 n + 150 n(n-1)/2), q~{2} = 0."""
    q_star = 1.7
    nxt = next_order_recursion(VarianceMap(get_activation("relu"), 2.0, 0.0), np.full(12, q_star))
    n = np.arange(12)
    np.testing.assert_allclose(nxt.r, 5 * q_star**2 * n, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nxt.r2, 25 * q_star**2 * n * (n - 1) / 2, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(nxt.kappa3, q_star**3 * (44 * n + 150 * n * (n - 1) / 2), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(nxt.q2, 0.0, atol=1e-10)


def test_relu_log_chi1_is_the_binomial_series():
    """For ReLU chi1 = (2/N) k, k ~ Binomial(N, 1/2), whatever q: the exact
    E log(2k/N) = -1/(2N) - (3/4)/N^2 + O(N^-3) (c2 = 1, c3 = 0). Checked against the
    binomial sum itself at N = 4000 (P(k = 0) = 2^-4000 is nothing)."""
    coef2 = log_chi1_next_order(VarianceMap(get_activation("relu"), 2.0, 0.0), np.full(5, 1.0))
    np.testing.assert_allclose(coef2, -0.75, rtol=1e-10)
    n = 4000
    k = np.arange(1, n + 1)
    exact = np.sum(stats.binom.pmf(k, n, 0.5) * np.log(2 * k / n))
    assert n**2 * (exact + 1 / (2 * n)) == pytest.approx(-0.75, abs=2e-3)


@pytest.mark.parametrize("dq", [3, 4])
def test_high_q_derivatives_match_differences_of_the_closed_form(dq):
    """V''' and V'''' by Hermite quadrature against central differences of CReLU's closed
    form V'' (an independent path)."""
    sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    act, h = sol.activation, 1e-3
    f = lambda q: act.expect("phi2", q, dq=2)  # noqa: E731
    fd = (f(1 + h) - f(1 - h)) / (2 * h) if dq == 3 else (f(1 + h) - 2 * f(1.0) + f(1 - h)) / h**2
    assert float(unit_average(sol.variance_map, phi_power(2), 1.0, dq)) == pytest.approx(float(fd), rel=1e-4)


def test_next_order_is_scale_covariant():
    """At fixed s and V'(q*): q~{2}, r2, K scale as q*, q*^2, q*^3; coef2 is invariant."""
    one, c = solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 2.5
    other = solve_eoc("crelu", 0.85, c, vprime=0.7)
    a = next_order_recursion(one.variance_map, np.full(30, 1.0))
    b = next_order_recursion(other.variance_map, np.full(30, c))
    np.testing.assert_allclose(b.q2, c * a.q2, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(b.r2, c**2 * a.r2, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(b.kappa3, c**3 * a.kappa3, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(log_chi1_next_order(other.variance_map, np.full(30, c)),
                               log_chi1_next_order(one.variance_map, np.full(30, 1.0)), rtol=1e-8)
