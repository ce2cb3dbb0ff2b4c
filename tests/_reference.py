"""Independent references for the exact infinite-width theory (no code from ``theory/``).

Each activation is written from its definition (SPEC.md, "Activations") as linear pieces
``phi(x) = c0 + c1 x`` on ``lo < x < hi``. A Gaussian average ``<f>_q = E f(sqrt(q) z)`` of a
power of ``phi`` or ``phi'`` is then a sum of partial moments
``M_k(a, b) = int_a^b z^k n(z) dz``, from ``M_0 = Phi(b) - Phi(a)``,
``M_1 = n(a) - n(b)`` and ``M_k = (k - 1) M_(k-2) + a^(k-1) n(a) - b^(k-1) n(b)``
(integration by parts), all in mpmath. Derivatives in ``q`` are numerical
(:func:`mpmath.diff`, which raises the working precision itself), so no closed form of
the papers (eqs. 7, 8, 15, 16) and no identity of the suite (Price/Stein) is used.
The EoC follows SPEC.md's recipe: ``tau`` from ``s`` (``Phi^-1(s)`` or ``erfinv(s)``),
``m`` by bracketed root finding (brentq, then secant) on this module's ``V'(q*)``,
``sigma_w^2 = 1 / <phi'^2>_q*`` and ``sigma_b^2 = q* - sigma_w^2 <phi^2>_q*``.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath as mp
from scipy.optimize import brentq

#: working precision (decimal digits) of every reference value; far above double's 16, so
#: that ``1 - V'(q*)`` keeps its digits where it is below 1e-40 (arXiv Fig. 3 at small q*)
DPS = 80


def pieces(family: str, tau, m=None):
    """``[(lo, hi, c0, c1)]``: ``phi(x) = c0 + c1 x`` on ``(lo, hi)``, zero elsewhere."""
    inf = mp.inf
    if family == "relu_tau":
        return [(tau, inf, -tau, 1)]
    if family == "st":
        return [(-inf, -tau, tau, 1), (tau, inf, -tau, 1)]
    if family == "crelu":
        return [(tau, tau + m, -tau, 1), (tau + m, inf, m, 0)]
    if family == "cst":
        return [(-inf, -tau - m, -m, 0), (-tau - m, -tau, tau, 1), (tau, tau + m, -tau, 1), (tau + m, inf, m, 0)]
    raise ValueError(family)


def _partial_moments(a, b, kmax):
    """``[M_0 .. M_kmax]`` of the standard normal over ``(a, b)`` (either end may be infinite)."""

    def n_term(x, k):  # x^k n(x), zero at +-inf
        return mp.mpf(0) if mp.isinf(x) else x**k * mp.npdf(x)

    out = [mp.ncdf(b) - mp.ncdf(a), n_term(a, 0) - n_term(b, 0)]
    for k in range(2, kmax + 1):
        out.append((k - 1) * out[k - 2] + n_term(a, k - 1) - n_term(b, k - 1))
    return out[: kmax + 1]


def gauss_average(family: str, q, tau, m=None, power: int = 2, derivative: bool = False):
    """``<phi^power>_q`` (or ``<phi'^power>_q`` with ``derivative``) for ``family(tau, m)``."""
    q = mp.mpf(q)
    rq = mp.sqrt(q)
    total = mp.mpf(0)
    for lo, hi, c0, c1 in pieces(family, mp.mpf(tau), None if m is None else mp.mpf(m)):
        if derivative:
            total += mp.mpf(c1) ** power * (mp.ncdf(hi / rq) - mp.ncdf(lo / rq))
            continue
        moments = _partial_moments(lo / rq, hi / rq, power)
        # (c0 + c1 sqrt(q) z)^power = sum_k binom(power, k) c0^(power-k) (c1 sqrt q)^k z^k
        total += mp.fsum(mp.binomial(power, k) * mp.mpf(c0) ** (power - k) * (c1 * rq) ** k * moments[k]
                         for k in range(power + 1))
    return total


def tau_for_sparsity(family: str, s, q):
    """SPEC.md: ``tau = sqrt(q) Phi^-1(s)`` (ReLU_tau, CReLU), ``sqrt(2 q) erfinv(s)`` (ST, CST)."""
    s, q = mp.mpf(s), mp.mpf(q)
    if family in ("relu_tau", "crelu"):
        return mp.sqrt(2 * q) * mp.erfinv(2 * s - 1)
    return mp.sqrt(2 * q) * mp.erfinv(s)


def _precise(method):
    """Evaluate ``method`` at :data:`DPS` digits at least (more inside :func:`mpmath.diff`)."""

    def wrapped(*args, **kwargs):
        with mp.workdps(max(mp.mp.dps, DPS)):
            return method(*args, **kwargs)

    wrapped.__name__, wrapped.__doc__ = method.__name__, method.__doc__
    return wrapped


@dataclass
class Reference:
    """An EoC initialisation and its maps, all in mpmath at :data:`DPS` digits."""

    family: str
    q_star: mp.mpf
    tau: mp.mpf
    m: mp.mpf | None
    sigma_w2: mp.mpf
    sigma_b2: mp.mpf

    @_precise
    def phi2(self, q):
        return gauss_average(self.family, q, self.tau, self.m, 2)

    @_precise
    def phi4(self, q):
        return gauss_average(self.family, q, self.tau, self.m, 4)

    @_precise
    def V(self, q):
        return self.sigma_w2 * self.phi2(q) + self.sigma_b2

    @_precise
    def chi1(self, q):
        return self.sigma_w2 * gauss_average(self.family, q, self.tau, self.m, 2, derivative=True)

    @_precise
    def dV(self, q, n: int = 1):
        return mp.diff(self.V, mp.mpf(q), n)

    @_precise
    def dchi1(self, q):
        return mp.diff(self.chi1, mp.mpf(q))

    @_precise
    def sparsity(self, q):
        """``P(phi(sqrt(q) z) = 0)``: the Gaussian mass of the pieces' complement."""
        rq = mp.sqrt(mp.mpf(q))
        active = sum(mp.ncdf(hi / rq) - mp.ncdf(lo / rq) for lo, hi, _, _ in pieces(self.family, self.tau, self.m))
        return 1 - active

    @_precise
    def bound(self):
        """Theorem 2.1 (arXiv eq. 14) at ``q*``, written out here from SPEC.md."""
        q = self.q_star
        _, vp, vs = mp.diffs(self.V, q, 2)
        return (self.sigma_w2**2 * abs(vs) * abs(self.phi4(q) - self.phi2(q) ** 2)
                / (2 * (1 - vp) ** 2 * (1 + vp)))


def eoc(family: str, s, q_star, m=None, vprime=None) -> Reference:
    """The EoC initialisation of ``family`` at sparsity ``s`` and ``q*`` (``m`` given, found
    from ``vprime`` by bracketed root finding, or absent for unclipped families)."""
    with mp.workdps(DPS):
        q_star = mp.mpf(q_star)
        tau = tau_for_sparsity(family, s, q_star)

        def build(m_):
            sw2 = 1 / gauss_average(family, q_star, tau, m_, 2, derivative=True)
            sb2 = q_star - sw2 * gauss_average(family, q_star, tau, m_, 2)
            return Reference(family, q_star, tau, m_, sw2, sb2)

        if vprime is not None:
            target = mp.mpf(vprime)
            rq = mp.sqrt(q_star)

            def miss(m_):
                return build(mp.mpf(m_)).dV(q_star) - target

            # V'(q*) goes from 0 (m -> 0) to 1 (m -> inf): bisect a bracket (scipy's brentq),
            # then polish to the working precision by secant steps
            m0 = brentq(lambda m_: float(miss(m_)), float(rq) * 0.01, float(rq) * 20, xtol=1e-13, rtol=1e-13)
            m = mp.findroot(miss, mp.mpf(m0), solver="secant", tol=mp.mpf(10) ** (-DPS + 20))
        return build(None if m is None else mp.mpf(m))
