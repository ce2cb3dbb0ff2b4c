"""EoC solver, the identities of SPEC.md, scale covariance, published tables, bad inputs."""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _reference as reference
from theory import EoCError, get_activation, solve_eoc
from theory.tables import TABLES, compare_table


@pytest.mark.parametrize("family", ["relu_tau", "st", "crelu", "cst"])
def test_the_independent_reference_agrees_with_direct_quadrature(family):
    """Guards ``tests/_reference.py`` itself: its partial-moment sums for <phi^2>, <phi^4>
    and <phi'^2> equal mpmath quadrature of phi written as SPEC.md defines it
    (min/max/sign), split at the kinks."""
    import mpmath as mp

    tau, m = mp.mpf("0.7"), mp.mpf("1.3")
    crelu = lambda x: min(max(x - tau, 0), m)  # noqa: E731
    phi = {"relu_tau": lambda x: max(x - tau, 0), "st": lambda x: mp.sign(x) * max(abs(x) - tau, 0),
           "crelu": crelu, "cst": lambda x: mp.sign(x) * crelu(abs(x))}[family]
    slope = {"relu_tau": lambda x: x > tau, "st": lambda x: abs(x) > tau, "crelu": lambda x: tau < x < tau + m,
             "cst": lambda x: tau < abs(x) < tau + m}[family]
    clip = m if family in ("crelu", "cst") else None
    with mp.workdps(30):
        for q in (mp.mpf("0.3"), mp.mpf(2)):
            rq = mp.sqrt(q)
            kinks = [-mp.inf, *sorted({k / rq for k in (-tau - m, -tau, tau, tau + m)}), mp.inf]
            for power, f in ((2, phi), (4, phi), (2, lambda x: 1 if slope(x) else 0)):
                direct = mp.quad(lambda z: f(rq * z) ** power * mp.npdf(z), kinks)
                ours = reference.gauss_average(family, q, tau, clip, power, derivative=f is not phi)
                assert abs(ours - direct) <= mp.mpf(10) ** -25 * (1 + abs(direct)), (family, q, power)


def test_cst_is_twice_crelu_at_equal_sigma_w2():
    """ICLR 2024 App. E / arXiv eqs. 35-36: V'_CST = 2 V'_CReLU, chi_1,CST = 2 chi_1,CReLU
    (and the same for chi_1') for the same (tau, m, sigma_w^2), checked by quadrature."""
    q = np.geomspace(0.1, 5, 17)
    crelu = get_activation("crelu", tau=0.9, m=1.4)
    cst = get_activation("cst", tau=0.9, m=1.4)
    for kind, dq in [("phi2", 1), ("dphi2", 0), ("dphi2", 1), ("phi2", 2)]:
        np.testing.assert_allclose(
            cst.expect(kind, q, dq=dq, method="quadrature"),
            2 * crelu.expect(kind, q, dq=dq, method="quadrature"),
            rtol=1e-10,
            atol=1e-13,
        )


def test_chi1_against_vprime_for_crelu():
    """arXiv eqs. (40)-(41): chi_1 = V' + sigma_w^2 m phi(b)/sqrt(q), and
    chi_1' = V'' + sigma_w^2 m/sqrt(2 pi q) e^{-b^2/2} ((tau+m)^2/(2q^2) - 1/(2q))."""
    tau, m, sw2 = 0.8, 1.5, 3.0
    act = get_activation("crelu", tau=tau, m=m)
    q = np.geomspace(0.2, 4, 11)
    gauss = np.exp(-((tau + m) ** 2) / (2 * q)) / np.sqrt(2 * np.pi * q)
    chi1 = sw2 * act.expect("dphi2", q, method="quadrature")
    vprime = sw2 * act.expect("phi2", q, dq=1, method="quadrature")
    np.testing.assert_allclose(chi1, vprime + sw2 * m * gauss, rtol=1e-10)
    chi1p = sw2 * act.expect("dphi2", q, dq=1, method="quadrature")
    vsec = sw2 * act.expect("phi2", q, dq=2, method="quadrature")
    correction = sw2 * m * gauss * ((tau + m) ** 2 / (2 * q**2) - 1 / (2 * q))
    np.testing.assert_allclose(chi1p, vsec + correction, rtol=1e-9, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["relu_tau", "st"]),
    s=st.floats(0.51, 0.99),
    q_star=st.floats(0.05, 10.0),
)
def test_unclipped_families_are_unstable_at_the_eoc(name, s, q_star):
    """ICLR 2024 App. B, Table 1: V'(q*) = chi_1 = 1 and V''(q*) > 0 for every tau > 0.

    The references are independent of ``theory``: ``tests/_reference.py`` builds tau,
    sigma_w^2 and sigma_b^2 from SPEC.md's recipe and evaluates V, chi_1 and (numerically
    differentiated) V', V'' in mpmath from the activation's definition. The solver's
    parameters are put into those independent maps, so a wrong tau, sigma_w^2 or sigma_b^2
    breaks V(q*) = q*, chi_1 = 1 or V' = 1 there."""
    sol = solve_eoc(name, s, q_star)
    ref = reference.eoc(name, s, q_star)
    assert sol.tau > 0
    for key in ("tau", "sigma_w2", "sigma_b2"):
        assert float(getattr(sol, key)) == pytest.approx(float(getattr(ref, key)), rel=1e-10, abs=1e-12), key
    at_solver = reference.Reference(name, q_star, sol.tau, None, sol.sigma_w2, sol.sigma_b2)
    assert float(at_solver.V(q_star)) == pytest.approx(q_star, rel=1e-10)
    assert float(at_solver.chi1(q_star)) == pytest.approx(1.0, abs=1e-10)
    assert float(at_solver.dV(q_star)) == pytest.approx(1.0, abs=1e-10)
    assert sol.vprime == pytest.approx(1.0, abs=1e-12) and sol.chi1 == pytest.approx(1.0, abs=1e-12)
    assert sol.vsecond > 0
    assert sol.vsecond == pytest.approx(float(ref.dV(q_star, 2)), rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(["crelu", "cst"]),
    s=st.floats(0.55, 0.95),
    vprime=st.floats(0.2, 0.95),
    c=st.floats(0.1, 8.0),
)
def test_scale_covariance(name, s, vprime, c):
    """SPEC.md: at fixed s and V'(q*), m/sqrt(q*), sigma_w^2, V'(q*), q* V''(q*),
    q* chi_1'(q*) and bound/q* do not depend on q*."""
    one = solve_eoc(name, s, 1.0, vprime=vprime)
    scaled = solve_eoc(name, s, c, vprime=vprime)
    rel = dict(rel=1e-9, abs=1e-12)
    assert scaled.m / np.sqrt(c) == pytest.approx(one.m, **rel)
    assert scaled.tau / np.sqrt(c) == pytest.approx(one.tau, **rel)
    assert scaled.sigma_w2 == pytest.approx(one.sigma_w2, **rel)
    assert scaled.sigma_b2 / c == pytest.approx(one.sigma_b2, **rel)
    assert scaled.vprime == pytest.approx(one.vprime, **rel)
    assert c * scaled.vsecond == pytest.approx(one.vsecond, **rel)
    assert c * scaled.chi1_prime == pytest.approx(one.chi1_prime, **rel)
    assert scaled.bound / c == pytest.approx(one.bound, **rel)


def test_eoc_conditions_hold():
    """CReLU, s = 0.85, q* = 2, V'(q*) = 0.7 against ``tests/_reference.py`` (mpmath, from
    the definition of CReLU and SPEC.md's recipe, m by its own root finding; no code from
    ``theory``): the solver's tau, m, sigma_w^2, sigma_b^2; then the solver's parameters in
    the independent maps give V(q*) = q*, chi_1(q*) = 1, V'(q*) = 0.7 and sparsity 0.85; and
    the variance map the solution carries agrees with the independent one away from q*."""
    sol = solve_eoc("crelu", 0.85, 2.0, vprime=0.7)
    ref = reference.eoc("crelu", 0.85, 2.0, vprime=0.7)
    for key in ("tau", "m", "sigma_w2", "sigma_b2"):
        assert float(getattr(sol, key)) == pytest.approx(float(getattr(ref, key)), rel=1e-12), key
    at_solver = reference.Reference("crelu", 2.0, sol.tau, sol.m, sol.sigma_w2, sol.sigma_b2)
    assert float(at_solver.V(2.0)) == pytest.approx(2.0, rel=1e-13)
    assert float(at_solver.chi1(2.0)) == pytest.approx(1.0, rel=1e-13)
    assert float(at_solver.dV(2.0)) == pytest.approx(0.7, rel=1e-12)
    assert float(at_solver.sparsity(2.0)) == pytest.approx(0.85, rel=1e-13)
    assert sol.activation.sparsity(2.0) == pytest.approx(0.85, rel=1e-13)
    vmap = sol.variance_map
    for q in (0.3, 1.0, 2.0, 4.5):
        assert vmap.V(q) == pytest.approx(float(ref.V(q)), rel=1e-12), q
        assert vmap.dV(q) == pytest.approx(float(ref.dV(q)), rel=1e-10), q
        assert vmap.chi1(q) == pytest.approx(float(ref.chi1(q)), rel=1e-12), q
    again = solve_eoc("crelu", 0.85, 2.0, m=float(ref.m))  # the independent m gives the target back
    assert again.vprime == pytest.approx(0.7, rel=1e-12)


def test_vectorised_solution_matches_scalar_solutions():
    q = np.array([0.5, 1.0, 3.0])
    vec = solve_eoc("cst", 0.8, q, vprime=0.7)
    for i, qi in enumerate(q):
        assert vec.m[i] == pytest.approx(solve_eoc("cst", 0.8, qi, vprime=0.7).m, rel=1e-12)


# Table 2 of arXiv 2602.05779, row s = 0.9, V' = 0.7, q* = 2 prints "0.12 1.50": m and
# V'' swapped (Table 1 prints m = 1.50 for the same initialisation).
KNOWN_M_TYPOS = {("arxiv2026_table2", 0.9, 0.7, 2.0)}


@pytest.mark.parametrize("table", TABLES)
def test_published_m_and_tau_reproduced_to_their_rounding(table):
    checked = 0
    for row in compare_table(table):
        for cell in row.cells:
            if cell.column not in ("m", "tau"):
                continue
            key = (table, row.sparsity, row.vprime, row.q_star)
            if key in KNOWN_M_TYPOS:
                assert not cell.agrees
                continue
            assert cell.agrees, (table, row, cell)
            checked += 1
    assert checked > 0


def test_published_vsecond_disagreements_are_reported():
    """arXiv Table 1 prints, at s = 0.9, half the exact V''(q*) (0.12 for 0.237); the table
    command must flag it rather than agree."""
    rows = {(r.sparsity, r.vprime, r.q_star): r for r in compare_table("arxiv2026_table1")}
    cell = next(c for c in rows[(0.9, 0.7, 1.0)].cells if c.column == "vsecond")
    assert cell.published == "0.12" and not cell.agrees
    assert cell.computed == pytest.approx(2 * 0.1187, abs=2e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(activation="crelu", sparsity=0.85, q_star=1.0, vprime=1.2), r"reachable range of V'\(q\*\) over m is \("),
        (dict(activation="crelu", sparsity=1.0, q_star=1.0, vprime=0.7), r"sparsity s must lie in \(0, 1\)"),
        (dict(activation="crelu", sparsity=-0.1, q_star=1.0, vprime=0.7), r"sparsity s must lie in \(0, 1\)"),
        (dict(activation="crelu", sparsity=0.85, q_star=0.0, vprime=0.7), r"q\* must be positive"),
        (dict(activation="crelu", sparsity=0.85, q_star=-2.0, m=1.0), r"q\* must be positive"),
        (dict(activation="relu_tau", sparsity=0.3, q_star=1.0), r"sigma_b\^2 = .* < 0.*s >= 0.5"),
        (dict(activation="crelu", sparsity=0.85, q_star=1.0), "exactly one of vprime"),
        (dict(activation="crelu", sparsity=0.85, q_star=1.0, vprime=0.7, m=1.0), "exactly one of vprime"),
        (dict(activation="relu_tau", sparsity=0.7, q_star=1.0, m=1.0), "no clipping parameter"),
        (dict(activation="st", sparsity=0.7, q_star=1.0, vprime=0.7), r"V'\(q\*\) = 1 at the EoC"),
        (dict(activation="crelu", sparsity=0.85, q_star=1.0, m=-1.0), "m must be positive"),
        (dict(activation="hardshrink", sparsity=0.7, q_star=1.0, vprime=0.3), r"V'\(q\*\) = 0.371242 at the EoC"),
        (dict(activation="relu", sparsity=0.7, q_star=1.0), r"relu has sparsity 0.5 at every q\*"),
    ],
)
def test_bad_inputs_raise_documented_errors(kwargs, match):
    with pytest.raises(EoCError, match=match):
        solve_eoc(**kwargs)


def test_cli_json_contract():
    out = subprocess.run(
        [sys.executable, "-m", "theory", "eoc", "--activation", "crelu", "--sparsity", "0.85", "--qstar", "1", "--vprime", "0.7", "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    record = json.loads(out)
    for key in ("tau", "m", "sigma_w2", "sigma_b2", "vprime", "vsecond", "chi1_prime", "bound"):
        assert isinstance(record[key], float), key
    assert record["m"] == pytest.approx(1.17, abs=0.005)


def test_cli_families_without_a_clipping_parameter():
    """HardShrink has no m, and its V'(q*) at the EoC is not 1: the CLI says both."""
    out = subprocess.run([sys.executable, "-m", "theory", "eoc", "--activation", "hardshrink", "--sparsity", "0.7"],
                         check=True, capture_output=True, text=True).stdout
    assert "n/a (no clipping parameter)" in out and "0.3712422527" in out
    assert solve_eoc("hardshrink", 0.7, 1.0, vprime=0.3712422527).vprime == pytest.approx(0.3712422527)


def test_cli_reports_unreachable_target():
    proc = subprocess.run(
        [sys.executable, "-m", "theory", "eoc", "--activation", "cst", "--sparsity", "0.85", "--m", "1", "--vprime", "0.5"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "exactly one of --vprime or --m" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "theory", "eoc", "--activation", "crelu", "--sparsity", "0.85", "--vprime", "1.5"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "reachable range" in proc.stderr
