"""The distribution of log prod chi1 and of the back-propagated norm (theory.products)
against exact results derived independently."""

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import special, stats

from theory import get_activation, solve_eoc
from theory.maps import VarianceMap
from theory.next_order import unit_average
from theory.products import (
    SOURCES,
    back_norm2_moments,
    fixed_point_sources,
    log_prod_chi1_moments,
    products_record,
    stable_fraction,
)

RELU = VarianceMap(get_activation("relu"), 2.0, 0.0)


@pytest.mark.parametrize("depth", [2, 10, 100])
def test_relu_back_norm_is_hanin_nica(depth):
    """Hanin & Nica (2019): for ReLU at sigma_w^2 = 2 the log squared norm of a vector
    pushed through L - 1 layers is Gaussian with variance 5 (L-1)/N and mean half of it,
    negated, at O(1/N)."""
    back = back_norm2_moments(RELU, np.full(depth, 1.3))
    assert back.var_coef == pytest.approx(5.0 * (depth - 1), rel=1e-12)
    assert back.mean_coef == pytest.approx(-2.5 * (depth - 1), rel=1e-12)
    assert back.conditioning == pytest.approx(0.0, abs=1e-10)


def _binomial_expect(f, n, p):
    k = np.arange(1, n + 1)
    return np.sum(stats.binom.pmf(k, n, p) * f(k))


def test_relu_log_chi1_variance_is_the_binomial_series():
    """For ReLU chi1 = (2/N) k with k ~ Binomial(N, 1/2) independently per layer, so
    N Var log prod chi1 = L N Var log k = L (1 + (5/2)/N + O(N^-2)) (c2 = 1, c3 = 0):
    checked against the exact binomial sum."""
    depth, n = 7, 4000
    fwd = log_prod_chi1_moments(RELU, np.full(depth, 1.0))
    assert fwd.var_coef[-1] == pytest.approx(depth, rel=1e-12)
    assert fwd.var_coef2[-1] == pytest.approx(2.5 * depth, rel=1e-10)
    mean = _binomial_expect(np.log, n, 0.5)
    var = _binomial_expect(lambda k: np.log(k) ** 2, n, 0.5) - mean**2
    assert n * (n * var - 1.0) == pytest.approx(2.5, abs=0.01)


@pytest.mark.parametrize("p", [0.15, 0.5])
def test_gradient_noise_is_the_exact_chi_square_law(p):
    """For phi'^2 an indicator with P(1) = p, one backward step's own noise is
    log(chi^2_B / B) with B ~ Binomial(N, p): E = psi(B/2) + log(2/B) and
    Var = psi'(B/2) exactly given B. The binomial average of each, against the
    gradient-noise terms of theory.products to O(1/N^2). A ReLU_tau layer has this
    law (phi' = 1 above tau) at every q; its sparsity is 1 - p."""
    sol = solve_eoc("relu_tau", 1.0 - p, 1.0)
    vmap = sol.variance_map
    back = back_norm2_moments(vmap, np.full(2, 1.0))
    fwd = log_prod_chi1_moments(vmap, np.full(1, 1.0))
    n = 20000
    exact_var = _binomial_expect(lambda k: special.polygamma(1, k / 2), n, p)
    exact_mean = _binomial_expect(lambda k: special.digamma(k / 2) + np.log(2 / k), n, p)
    gradient_var2 = back.var_coef2 - fwd.var_coef2[-1]
    gradient_mean2 = back.mean_coef2 - fwd.mean_coef2[-1]
    assert n * exact_var == pytest.approx(back.gradient_var + gradient_var2 / n, rel=2e-6)
    assert n * exact_mean == pytest.approx(back.gradient_drift + gradient_mean2 / n, rel=2e-6)


@pytest.mark.parametrize("activation,vprime", [("crelu", 0.5), ("crelu", 0.9), ("cst", 0.7)])
def test_recursion_matches_the_fixed_point_closed_form(activation, vprime):
    """The forward recursion (Cov(X, delta) carried along the chain) against the closed
    sums over G_k = g (1 - p^(L-k))/(1 - p) at the fixed point: two routes."""
    sol = solve_eoc(activation, 0.85, 1.0, vprime=vprime)
    depth = 60
    fwd = log_prod_chi1_moments(sol.variance_map, np.full(depth, 1.0))
    closed = fixed_point_sources(sol.variance_map, 1.0, depth)
    for name in SOURCES:
        assert getattr(fwd, name)[-1] == pytest.approx(closed[name], rel=1e-9)


@pytest.mark.parametrize("activation", ["crelu", "cst"])
def test_stein_identity_behind_the_conditioning_recursion(activation):
    """sigma_w^2 <h phi phi'>_q = q V'(q) (Stein's lemma on phi^2/2): why the conditioning
    term relaxes with V'(q*)^2 per layer."""
    sol = solve_eoc(activation, 0.8, 1.0, vprime=0.7)
    vmap = sol.variance_map
    for q in (0.5, 1.0, 2.0):
        hfd = unit_average(vmap, lambda x, f, d: x * f * d, q)
        assert float(sol.sigma_w2 * hfd) == pytest.approx(q * float(vmap.dV(q)), rel=1e-10)


def test_products_are_scale_covariant():
    """At fixed s and V'(q*) nothing but q* changes with q*."""
    one = products_record(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 500, 50)
    other = products_record(solve_eoc("crelu", 0.85, 3.7, vprime=0.7), 500, 50)
    for key, value in one.items():
        if key != "q_star" and isinstance(value, float):
            assert other[key] == pytest.approx(value, rel=1e-8, abs=1e-12), key


def test_stable_fraction_is_a_gaussian_band():
    assert float(stable_fraction(0.0, 1e-12)) == pytest.approx(1.0)
    assert float(stable_fraction(0.0, 1.0, 10.0)) == pytest.approx(2 * stats.norm.cdf(np.log(10.0)) - 1)
    assert float(stable_fraction(5.0, 0.0)) == 0.0


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "theory", "products", *args], capture_output=True, text=True)


def test_cli_json_holds_every_term():
    out = _cli("--activation", "crelu", "--sparsity", "0.85", "--qstar", "2", "--vprime", "0.7",
               "--width", "300", "--depth", "40", "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    for key in ("log_prod_chi1_mean", "log_prod_chi1_var", "log_back_norm2_mean", "log_back_norm2_var"):
        assert np.isfinite(record[key])
    assert record["log_prod_chi1_var"] == pytest.approx(sum(record[f"log_prod_chi1_var_{s}"] for s in SOURCES))
    back_terms = [record[f"log_back_norm2_var_{s}"] for s in SOURCES] + [record["log_back_norm2_var_gradient"]]
    assert record["log_back_norm2_var"] == pytest.approx(sum(back_terms))


@pytest.mark.parametrize("bad", [["--width", "1", "--depth", "10"], ["--width", "100", "--depth", "1"],
                                 ["--width", "100", "--depth", "10", "--sparsity", "1.5"]])
def test_cli_bad_input_is_one_line(bad):
    args = ["--activation", "crelu", "--sparsity", "0.85", "--vprime", "0.7", *bad]
    out = _cli(*args)
    assert out.returncode == 2
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error:")
