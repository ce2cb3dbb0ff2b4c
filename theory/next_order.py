"""The next order of the finite-width expansion: the ``O(1/N^2)`` coefficients.

The papers stop at ``O(1/N)`` (:mod:`theory.finite_width`). Their next order is what
decides at which width an ``O(1/N)`` claim can be tested at all, so it is derived here
(this suite's own derivation; it is not in either paper).

Setting (equal widths ``N``, Gaussian weights). Given ``q_cond^(l) = x``, the next
conditional variance ``q_cond^(l+1) = sigma_b^2 + (sigma_w^2/N) sum_j phi(sqrt(x) z_j)^2``
is a mean of ``N`` i.i.d. terms, so ``q_cond`` is an exact scalar Markov chain with
conditional mean ``V(x)``, variance ``S(x)/N`` and third cumulant ``T(x)/N^2``:

    S(x) = sigma_w^4 (<phi^4>_x - <phi^2>_x^2)                        (the r source, eq. 12)
    T(x) = sigma_w^6 (<phi^6>_x - 3 <phi^4>_x <phi^2>_x + 2 <phi^2>_x^3)

Write ``q_cond^(l) = q^(l) + delta`` about the trajectory ``q^(l+1) = V(q^(l))`` and
expand ``V(q + delta) = V + a delta + b delta^2/2 + c delta^3/6 + d delta^4/24`` with
``a, b, c, d = V', V'', V''', V''''`` at ``q^(l)``. With the cumulants of ``delta``

    E delta = q~{1}/N + q~{2}/N^2,   Var delta = r/N + r2/N^2,   kappa_3(delta) = K/N^2,

the laws of total expectation, variance and cumulance, keeping every ``O(N^-2)`` term
(``E delta^3 = (K + 3 q~{1} r)/N^2``, ``E delta^4 = 3 r^2/N^2``), give

    q~{2}' = a q~{2} + (b/2)(r2 + q~{1}^2) + (c/6)(K + 3 q~{1} r) + (d/8) r^2
    r2'    = a^2 r2 + a b (K + 2 q~{1} r) + (b^2/2 + a c) r^2 + S' q~{1} + S'' r / 2
    K'     = a^3 K + 3 a^2 b r^2 + 3 a S' r + T

(primes on the left: layer ``l + 1``; on ``S``: ``d/dq``), all zero at layer 1 (exactly
Gaussian). For ReLU (``V`` linear, ``S = 5 q^2`` at ``sigma_w^2 = 2``) these are exact:
``Var q^(l) = q*^2 ((1 + 5/N)^(l-1) - 1)`` gives ``r2 = 25 q*^2 (l-1)(l-2)/2`` (tested).

The layer's empirical second moment ``q_tilde = q_cond chi^2_N / N`` then has
``N Var q_tilde = r + 2 q^2 + (r2 + 4 q q~{1} + 2 r) / N + O(N^-2)``.

``log chi1``: given ``q_cond = x``, ``chi1 = sigma_w^2/N sum_i phi'(h_i)^2`` is a mean of
``N`` i.i.d. terms with relative cumulants ``c2 = <phi'^4>/<phi'^2>^2 - 1`` and
``c3 = kappa_3(phi'^2)/<phi'^2>^3``, so ``E[log chi1 | x] = g0 + g1/N + g2/N^2`` with
``g0 = log chi_1(x)``, ``g1 = -c2/2``, ``g2 = c3/3 - 3 c2^2/4`` (for CReLU ``phi'^2`` is
an indicator and these are the moments of a binomial count of active units). Averaging
over ``delta`` gives the ``1/N^2`` coefficient

    coef2 = g0' q~{2} + g0''/2 (r2 + q~{1}^2) + g0'''/6 (K + 3 q~{1} r) + g0'''' r^2 / 8
            + g1' q~{1} + g1'' r / 2 + g2,

whose ``1/N`` partner is :func:`theory.log_chi1_drift`'s ``coef``.

Every coefficient is exactly scale covariant: at fixed ``s`` and ``V'(q*)``, ``q~{2}``,
``r2`` and ``K`` scale as ``q*``, ``q*^2``, ``q*^3``, and ``coef2`` not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.finite_width import nlo_recursion
from theory.maps import VarianceMap
from theory.quadrature import gaussian_expect


def unit_average(vmap: VarianceMap, f, q, dq: int = 0) -> np.ndarray:
    """``d^dq/dq^dq <f(h, phi(h), phi'(h))>_q``, ``h ~ N(0, q)``, ``dq <= 4``: one unit's
    Gaussian average and its ``q``-derivatives by the kink-splitting quadrature
    (:mod:`theory.quadrature`; ``f`` is a NumPy expression of its three arguments)."""
    act = vmap.activation
    q = np.asarray(q, float)
    if q.ndim and q.shape[0] > 1 and np.all(q == q[:1]) and all(np.ndim(v) < q.ndim for v in act.params.values()):
        # a fixed-point trajectory: every layer has the same average (computed once)
        return np.broadcast_to(unit_average(vmap, f, q[:1], dq), q.shape).copy()
    (avg,) = gaussian_expect(
        [lambda x, **p: f(x, act._phi(x, **p), act._dphi(x, **p))], act.kinks, params=act.params, std=np.sqrt(q), hermite=dq
    )
    return avg / (2.0 * q) ** dq


def phi_power(k: int):
    """``phi^k`` as a :func:`unit_average` integrand."""
    return lambda x, f, d: f**k


def dphi_power(k: int):
    """``phi'^k`` as a :func:`unit_average` integrand."""
    return lambda x, f, d: d**k


@dataclass(frozen=True)
class NextOrder:
    """The ``O(1/N)`` and ``O(1/N^2)`` coefficients along a trajectory (arrays over layers).

    ``q1, r``: the papers' recursions (eqs. 12-13). ``q2``: coefficient of ``1/N^2`` in
    ``E q_cond - q``; ``r2``: of ``1/N^2`` in ``Var q_cond``; ``kappa3``: ``N^2`` times the
    third cumulant of ``q_cond``; ``q_tilde_r2``: coefficient of ``1/N`` in
    ``N Var q_tilde - (r + 2 q^2)``.
    """

    q: np.ndarray
    q1: np.ndarray
    r: np.ndarray
    q2: np.ndarray
    r2: np.ndarray
    kappa3: np.ndarray

    @property
    def q_tilde_r2(self) -> np.ndarray:
        return self.r2 + 4.0 * self.q * self.q1 + 2.0 * self.r


@dataclass(frozen=True)
class ChainCoefficients:
    """The Taylor coefficients of the ``q_cond`` chain at each ``q`` (module docstring):
    ``a, b, c, d = V', V'', V''', V''''``; ``s1, s2 = S', S''``; ``t = T``."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    t: np.ndarray


def chain_coefficients(vmap: VarianceMap, q) -> ChainCoefficients:
    """:class:`ChainCoefficients` at every ``q``."""
    q = np.asarray(q, float)
    w2 = vmap.sigma_w2
    dv = [w2 * unit_average(vmap, phi_power(2), q, k) for k in range(1, 5)]
    p2, p4, p6 = (unit_average(vmap, phi_power(k), q) for k in (2, 4, 6))
    dp2, ddp2 = (unit_average(vmap, phi_power(2), q, k) for k in (1, 2))
    dp4, ddp4 = (unit_average(vmap, phi_power(4), q, k) for k in (1, 2))
    s1 = w2**2 * (dp4 - 2.0 * p2 * dp2)
    s2 = w2**2 * (ddp4 - 2.0 * dp2**2 - 2.0 * p2 * ddp2)
    t = w2**3 * (p6 - 3.0 * p4 * p2 + 2.0 * p2**3)
    return ChainCoefficients(*dv, s1, s2, t)


def next_order_recursion(vmap: VarianceMap, q: np.ndarray) -> NextOrder:
    """The ``O(1/N^2)`` recursions (module docstring) along ``q = q^(1..L)``."""
    q = np.asarray(q, float)
    r, q1 = nlo_recursion(vmap, q)
    ch = chain_coefficients(vmap, q)
    a, b, c, d, s1, s2, t = ch.a, ch.b, ch.c, ch.d, ch.s1, ch.s2, ch.t
    q2, r2, k3 = (np.zeros_like(r) for _ in range(3))
    for i in range(1, q.shape[0]):
        j = i - 1
        q2[i] = a[j] * q2[j] + 0.5 * b[j] * (r2[j] + q1[j] ** 2) + c[j] / 6.0 * (k3[j] + 3.0 * q1[j] * r[j]) + d[j] / 8.0 * r[j] ** 2
        r2[i] = (
            a[j] ** 2 * r2[j]
            + a[j] * b[j] * (k3[j] + 2.0 * q1[j] * r[j])
            + (0.5 * b[j] ** 2 + a[j] * c[j]) * r[j] ** 2
            + s1[j] * q1[j]
            + 0.5 * s2[j] * r[j]
        )
        k3[i] = a[j] ** 3 * k3[j] + 3.0 * a[j] ** 2 * b[j] * r[j] ** 2 + 3.0 * a[j] * s1[j] * r[j] + t[j]
    return NextOrder(q=q, q1=q1, r=r, q2=q2, r2=r2, kappa3=k3)


@dataclass(frozen=True)
class LogChi1Law:
    """The law of ``log chi1`` given ``q_cond = q`` (module docstring), arrays over layers.

    ``dlog``: ``d^k/dq^k log chi_1(q)`` for ``k = 1..4``; ``c2``, ``c3``: the relative
    second and third cumulants of ``phi'^2`` (``E[log chi1 | q] = log chi_1 - c2/(2N) +
    (c3/3 - 3 c2^2/4)/N^2``); ``dc2``: ``c2'`` and ``c2''``.
    """

    dlog: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    c2: np.ndarray
    dc2: tuple[np.ndarray, np.ndarray]
    c3: np.ndarray


def log_chi1_law(vmap: VarianceMap, q: np.ndarray) -> LogChi1Law:
    """:class:`LogChi1Law` at every ``q`` of the trajectory."""
    q = np.asarray(q, float)
    b2 = [unit_average(vmap, dphi_power(2), q, k) for k in range(5)]  # <phi'^2> and 4 derivatives
    u = [b2[k] / b2[0] for k in range(5)]
    dlog = (
        u[1],
        u[2] - u[1] ** 2,
        u[3] - 3.0 * u[1] * u[2] + 2.0 * u[1] ** 3,
        u[4] - 4.0 * u[1] * u[3] - 3.0 * u[2] ** 2 + 12.0 * u[1] ** 2 * u[2] - 6.0 * u[1] ** 4,
    )
    a4 = [unit_average(vmap, dphi_power(4), q, k) for k in range(3)]
    dc2 = (
        a4[1] / b2[0] ** 2 - 2.0 * a4[0] * b2[1] / b2[0] ** 3,
        a4[2] / b2[0] ** 2 - 4.0 * a4[1] * b2[1] / b2[0] ** 3 - 2.0 * a4[0] * b2[2] / b2[0] ** 3
        + 6.0 * a4[0] * b2[1] ** 2 / b2[0] ** 4,
    )
    a6 = unit_average(vmap, dphi_power(6), q)
    c3 = (a6 - 3.0 * a4[0] * b2[0] + 2.0 * b2[0] ** 3) / b2[0] ** 3
    return LogChi1Law(dlog, a4[0] / b2[0] ** 2 - 1.0, dc2, c3)


def log_chi1_next_order(vmap: VarianceMap, q: np.ndarray) -> np.ndarray:
    """``coef2^(l)``: the coefficient of ``1/N^2`` in ``E log chi1^(l)`` (module docstring)."""
    q = np.asarray(q, float)
    nxt = next_order_recursion(vmap, q)
    law = log_chi1_law(vmap, q)
    g0, dc2 = law.dlog, law.dc2
    g2 = law.c3 / 3.0 - 0.75 * law.c2**2
    q1, r, q2, r2, k3 = nxt.q1, nxt.r, nxt.q2, nxt.r2, nxt.kappa3
    return (
        g0[0] * q2
        + 0.5 * g0[1] * (r2 + q1**2)
        + g0[2] / 6.0 * (k3 + 3.0 * q1 * r)
        + g0[3] / 8.0 * r**2
        - 0.5 * dc2[0] * q1
        - 0.25 * dc2[1] * r
        + g2
    )


def dead_gradient_probability(vmap: VarianceMap, q) -> np.ndarray:
    """``P(phi'(sqrt(q) z) = 0)``: a layer of ``N`` units passes no gradient
    (``chi1 = 0``, ``log chi1 = -inf``) with probability ``P^N``, which no order of the
    ``1/N`` expansion sees; it bounds the widths where ``E log chi1`` can be expanded."""
    act = vmap.activation
    q = np.asarray(q, float)
    (p,) = gaussian_expect(
        [lambda x, **p: (act._dphi(x, **p) == 0.0).astype(float)], act.kinks, params=act.params, std=np.sqrt(q)
    )
    return p
