"""The two-input kernel map ``F``, its derivatives ``J, H`` and the covariance source ``S``.

Setting (SPEC "Two inputs"). Two inputs' pre-activations ``u = (u0, u1) ~ N(0, G)``,
``G = (G00, G01, G11)`` any 2x2 positive semi-definite matrix (the finite-width chain
leaves the diagonal ``G00 = G11``). The kernel map is

    F_ab(G) = sigma_w^2 E[phi(u_a) phi(u_b)] + sigma_b^2,

so ``F00 = V(G00)``, ``F11 = V(G11)`` (arXiv 2602.05779 eq. 3) and, at equal variances
``q``, ``F01 / q = R(rho)`` is the correlation map (arXiv eq. 4; ICLR 2024 App. B, E).

Every family of :mod:`theory.activations` is continuous and piecewise linear, so

    phi(x) = c0 + b0 x + sum_k c_k (x - t_k)_+                                   (1)

with kinks ``t_k`` and slope jumps ``c_k`` (:class:`Ramps`, read off ``phi`` and
``phi'`` and checked). Write ``s0 = sqrt(G00)``, ``s1 = sqrt(G11)``, ``rho =
G01/(s0 s1)``, ``r = sqrt(1 - rho^2)``, ``h = t/s0``, ``k = t/s1`` and ``X, Y`` standard
normals of correlation ``rho``.

Closed forms (bivariate normal through Owen's ``T``). With ``L(h, k) = P(X > h, Y > k)
= Phi_2(-h, -k; rho)`` and ``Phi_2(h, k; rho) = [Phi(h) + Phi(k)]/2 - T(h, a_h) -
T(k, a_k) - [hk < 0]/2``, ``a_h = (k - rho h)/(h r)`` (Owen 1956; ``h = 0`` or ``k = 0``
handled by their limits),

    E[(X - h)_+ (Y - k)_+] = (rho + hk) L - k phi(h) Phibar(A) - h phi(k) Phibar(B)
                             + r phi(h) phi(A),     A = (k - rho h)/r, B = (h - rho k)/r,
    E[X (Y - k)_+] = rho Phibar(k),   E[(X - h)_+] = phi(h) - h Phibar(h),

and (1) makes ``E[phi(u0) phi(u1)]`` and ``E[phi'(u0) phi'(u1)] = b0^2 + b0 sum c Phibar
+ sum_kl c_k c_l L(h_k, k_l)`` finite sums of these (for ReLU the first is Cho & Saul's
arc-cosine kernel ``s0 s1 (sin t + (pi - t) cos t)/(2 pi)``, ``cos t = rho``).

Derivatives (Price's theorem). For the Gaussian density ``d p / d G_aa = (1/2) d^2 p /
du_a^2`` and ``d p / d G01 = d^2 p / du0 du1``, so, integrating by parts,
``d E[f] / d G_aa = (1/2) E[d^2 f / du_a^2]`` and ``d E[f] / d G01 = E[d^2 f / du0 du1]``.
In the order ``(00, 01, 11)``, ``J_ab = dF_a / dG_b`` is

    J = [[V'(G00), 0, 0],
         [(w/2) E[phi''_0 phi_1], w E[phi'_0 phi'_1], (w/2) E[phi_0 phi''_1]],
         [0, 0, V'(G11)]],            w = sigma_w^2, phi_a = phi(u_a),

and the Hessian ``H_abc = d^2 F_a / dG_b dG_c`` has ``H_000 = V''(G00)``, ``H_222 =
V''(G11)``, and in its middle slice

    H_1,00 = (w/4) E[phi''''_0 phi_1],  H_1,01 = (w/2) E[phi'''_0 phi'_1],
    H_1,11 = w E[phi''_0 phi''_1],      H_1,02 = (w/4) E[phi''_0 phi''_1],   (and 0 <-> 1).

By (1) ``phi'' = sum_k c_k delta(x - t_k)``, so each is a sum over kinks of the marginal
density ``p0(t_k)`` times conditional averages of ``u1 | u0 = t``, a ``N(mu, s^2)`` with
``mu = (G01/G00) t``, ``s = s1 r``: with ``d_l = (mu - t_l)/s``,
``m0 = E[phi(u1)|t] = c0 + b0 mu + sum_l c_l s (phi(d_l) + d_l Phi(d_l))``,
``m1 = E[phi'(u1)|t] = b0 + sum_l c_l Phi(d_l)``, ``m2 = E[phi''(u1)|t] = sum_l c_l
phi(d_l)/s``, and with ``a = G01/G00`` (``p0' = -u p0/G00``, ``m0' = a m1``, ``m1' = a m2``)

    E[phi''_0 g_1]    = sum_k c_k p0(t_k) E[g(u1)|t_k]
    E[phi'''_0 phi'_1] = -sum_k c_k (p0 m1)'(t_k) = sum_k c_k p0 (t m1/G00 - a m2)
    E[phi''''_0 phi_1] = sum_k c_k (p0 m0)''(t_k)
                       = sum_k c_k p0 ((t^2/G00^2 - 1/G00) m0 - 2 a t m1/G00 + a^2 m2).

``m2 ~ 1/s``: ``H`` grows like ``(1 - rho)^(-1/2)`` at the diagonal (kinks meeting).

Accuracy in ``1 - R`` (the deficit). Near ``rho = 1`` the closed forms are differences of
``O(1)`` terms, so ``1 - R`` would keep only ``1e-16 / (1 - rho)`` of its digits. The
deficit

    Delta(G) = (F00 + F11)/2 - F01 = (sigma_w^2/2) D,   D = E[(phi(u0) - phi(u1))^2],

is an average of a non-negative quantity and is integrated directly: ``u1 = a u0 + s z``
given ``u0``, and on the linear piece ``i`` of ``phi`` (``phi_i(x) = alpha_i + beta_i x``)

    phi(u1) - phi(u0) = beta_i (a - 1) u0 + [phi_i(u0) - phi(u0)] + beta_i s z,

where ``a - 1 = ((s1 - s0) - (1 - rho) s1)/s0`` and ``phi_i(u0) - phi(u0) = sum_(k<i)
c_k min(u0 - t_k, 0) - sum_(k>=i) c_k max(u0 - t_k, 0)`` are computed without
cancellation. The inner average over ``z`` is exact (truncated normal moments
``int_lo^hi z^m phi(z) dz``); the outer one over ``u0`` is Gauss-Legendre (8 nodes) on
pieces cut at the kinks ``t_k`` and where the inner Gaussian's mean ``a u0`` crosses a
kink, ``u0 = t_l / a``, refined there on the inner scale ``s / |a|`` (``+-8`` widths in
steps of 1/2) because that scale ``-> 0`` as ``rho -> 1``; elsewhere pieces are 1/2 of
the outer standard deviation wide on ``|z0| <= 10``. Every term is a difference taken
before it is squared, so nothing cancels: against 30-digit ``mpmath`` quadrature the
relative error of ``1 - R`` is at most ``7e-16`` for ReLU, ReLU_tau, ST, CReLU and CST
at their EoC for ``1 - rho`` in ``{1e-2, 1e-4, 1e-6, 1e-8}`` (tested to ``1e-10``;
the nested quadrature ``VarianceMap.R`` used before had ``1.3e-3`` at ``1 - rho = 1e-4``
for CReLU). The deficit route is used for ``rho >= 1 - EPS_SWITCH`` and the closed form below it (where it
loses less than a digit). The correlation of ``F(G)`` is then exactly

    1 - rho' = [Delta - (sqrt F00 - sqrt F11)^2 / 2] / sqrt(F00 F11)

(no ``sigma_b^2``, no ``V(q*) - q*`` rounding), :meth:`KernelMap.correlation_gap`.

Fourth moments. ``S_(ab),(cd) = sigma_w^4 Cov(phi_a phi_b, phi_c phi_d)`` needs
``E[phi_0^k phi_1^j]``, ``k + j = 4``: the same quadrature with the inner averages
``E[phi(u1)^j | u0] = sum_i sum_m C(j, m) (alpha_i + beta_i mu)^(j-m) (beta_i s)^m T_m``
(exact), ``j <= 3``; ``<phi^4>`` and ``<phi^2>`` are the one-input closed forms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import special

from theory.activations import Activation
from theory.quadrature import gaussian_expect

#: below ``1 - rho = EPS_SWITCH`` the deficit is integrated directly (closed forms above)
EPS_SWITCH = 0.1

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
_Z_MAX = 10.0
_BULK = np.arange(-_Z_MAX, _Z_MAX + 0.25, 0.5)
_LOCAL = np.arange(-8.0, 8.0 + 0.25, 0.5)
_SQ2PI = math.sqrt(2.0 * math.pi)
_CHUNK = 32


class NotPiecewiseLinear(ValueError):
    """The activation is not continuous and piecewise linear in its kinks."""


def _pdf(x):
    return np.exp(-0.5 * np.square(x)) / _SQ2PI


def _cdf(x):
    return special.ndtr(x)


def _sf(x):
    return special.ndtr(-x)


# -- bivariate normal ---------------------------------------------------------------
def bvn_cdf(h, k, rho):
    """``Phi_2(h, k; rho) = P(X <= h, Y <= k)`` for standard normals of correlation ``|rho| < 1``.

    Owen's (1956) reduction to his ``T`` function (``scipy.special.owens_t``), with the
    limits at ``h = 0`` or ``k = 0``; vectorised.

    Parameters
    ----------
    h, k, rho
        Array-likes that broadcast together; ``-1 < rho < 1``.

    Returns
    -------
    numpy.ndarray
        The probability.

    Examples
    --------
    >>> round(float(bvn_cdf(0.0, 0.0, 0.5)), 12)   # 1/4 + arcsin(1/2)/(2 pi) = 1/3
    0.333333333333
    """
    h, k, rho = np.broadcast_arrays(*(np.asarray(v, float) for v in (h, k, rho)))
    r = np.sqrt((1.0 - rho) * (1.0 + rho))
    hz, kz = h == 0.0, k == 0.0
    hs, ks = np.where(hz, 1.0, h), np.where(kz, 1.0, k)
    t_h = special.owens_t(h, (k - rho * h) / (hs * r))
    t_k = special.owens_t(k, (h - rho * k) / (ks * r))
    general = 0.5 * (_cdf(h) + _cdf(k)) - t_h - t_k - 0.5 * (h * k < 0.0)
    out = np.where(hz & ~kz, 0.5 * _cdf(k) - t_k, general)
    out = np.where(kz & ~hz, 0.5 * _cdf(h) - t_h, out)
    return np.where(hz & kz, 0.25 + np.arcsin(rho) / (2.0 * math.pi), out)


def bvn_upper(h, k, rho):
    """``P(X > h, Y > k) = Phi_2(-h, -k; rho)``."""
    return bvn_cdf(-np.asarray(h, float), -np.asarray(k, float), rho)


def ramp_ramp(h, k, rho):
    """``E[(X - h)_+ (Y - k)_+]`` for standard normals of correlation ``|rho| < 1``
    (module docstring)."""
    h, k, rho = np.broadcast_arrays(*(np.asarray(v, float) for v in (h, k, rho)))
    r = np.sqrt((1.0 - rho) * (1.0 + rho))
    a = (k - rho * h) / r
    b = (h - rho * k) / r
    return (rho + h * k) * bvn_upper(h, k, rho) - k * _pdf(h) * _sf(a) - h * _pdf(k) * _sf(b) + r * _pdf(h) * _pdf(a)


def _truncated_moments(lo, hi, order):
    """``[int_lo^hi z^m phi(z) dz]_{m=0..order}``; infinite (or huge) bounds allowed."""
    def edge(x, n):
        inside = np.abs(x) < 60.0
        xc = np.where(inside, x, 0.0)
        return np.where(inside, xc**n * _pdf(xc), 0.0)

    t0 = np.where(lo > 0.0, _sf(lo) - _sf(hi), _cdf(hi) - _cdf(lo))
    out = [t0, edge(lo, 0) - edge(hi, 0)]
    for m in range(2, order + 1):
        out.append((m - 1) * out[m - 2] + edge(lo, m - 1) - edge(hi, m - 1))
    return out[: order + 1]


# -- the piecewise-linear form (1) ----------------------------------------------------
@dataclass(frozen=True)
class Ramps:
    """``phi(x) = c0 + b0 x + sum_k c_k (x - t_k)_+`` (module docstring, eq. 1).

    ``t``: sorted kinks, ``c``: slope jumps there; ``alpha, beta``: intercept and slope of
    the ``K + 1`` linear pieces, left to right.
    """

    t: np.ndarray
    c: np.ndarray
    c0: float
    b0: float

    @property
    def beta(self) -> np.ndarray:
        return self.b0 + np.concatenate([[0.0], np.cumsum(self.c)])

    @property
    def alpha(self) -> np.ndarray:
        return self.c0 - np.concatenate([[0.0], np.cumsum(self.c * self.t)])

    def __call__(self, x):
        x = np.asarray(x, float)
        return self.c0 + self.b0 * x + np.sum(self.c * np.maximum(x[..., None] - self.t, 0.0), axis=-1)

    @classmethod
    def from_activation(cls, act: Activation) -> Ramps:
        """Read (1) off ``phi`` and ``phi'`` and check it on a grid (scalar parameters only).

        Raises
        ------
        NotPiecewiseLinear
            When ``phi`` is not reproduced to ``1e-12`` (not piecewise linear, or not
            continuous, in its kinks).
        """
        if any(np.ndim(v) for v in act.params.values()):
            raise ValueError("the kernel map takes an activation with scalar parameters")
        t = np.unique(np.array([float(k) for k in act.kinks if np.isfinite(k)]))
        if t.size == 0:
            raise NotPiecewiseLinear(f"{act.name} has no kinks")
        gaps = np.diff(t)
        width = max(1.0, float(t[-1] - t[0]))
        mids = np.concatenate([[t[0] - width], t[:-1] + 0.5 * gaps, [t[-1] + width]])
        slopes = np.asarray(act.dphi(mids), float)
        ramps = cls(t=t, c=np.diff(slopes), c0=float(act.phi(t[0]) - slopes[0] * t[0]), b0=float(slopes[0]))
        fine = np.linspace(0.0, 1.0, 7)[1:-1]
        grid = np.concatenate([t[0] - width * np.linspace(0, 3, 7), t[-1] + width * np.linspace(0, 3, 7),
                               (t[:-1, None] + gaps[:, None] * fine).ravel(), t])
        want = np.asarray(act.phi(grid), float)
        if not np.allclose(ramps(grid), want, rtol=1e-12, atol=1e-12 * (1.0 + np.abs(want).max())):
            raise NotPiecewiseLinear(f"{act.name} is not continuous and piecewise linear in its kinks")
        return ramps


# -- the map ---------------------------------------------------------------------------
def _lead(v, like, axis=0):
    """``v`` (1-D, over kinks) reshaped to broadcast in front of ``like``'s axes (``axis``
    further leading axes of length 1 before it)."""
    return np.reshape(v, (1,) * axis + (-1,) + (1,) * np.ndim(like))


def _split(g):
    g = np.asarray(g, float)
    if g.shape[-1:] != (3,):
        raise ValueError("G is given as an array (..., 3) of (G00, G01, G11)")
    g00, g01, g11 = g[..., 0], g[..., 1], g[..., 2]
    if np.any(g00 <= 0) or np.any(g11 <= 0):
        raise ValueError("the variances G00, G11 must be positive")
    return g00, g01, g11


def gap_of(g00, g01, g11):
    """``1 - rho = 1 - G01/sqrt(G00 G11)``, exact from the floats when ``G00 == G11``."""
    g00, g01, g11 = np.broadcast_arrays(*(np.asarray(v, float) for v in (g00, g01, g11)))
    root = np.sqrt(g00 * g11)
    return np.where(g00 == g11, (g00 - g01) / g00, (root - g01) / root)


@dataclass(frozen=True)
class KernelMap:
    """The two-input kernel map of a network ``(phi, sigma_w^2, sigma_b^2)`` (module docstring).

    ``G`` is passed as an array ``(..., 3)`` of ``(G00, G01, G11)``; results broadcast over
    its leading axes. Activation parameters and variances are scalars.

    Parameters
    ----------
    activation : Activation
        The activation ``phi``, continuous and piecewise linear in its kinks (every family
        of :mod:`theory.activations`), with scalar parameters.
    sigma_w2, sigma_b2 : float
        The weight and bias variances ``sigma_w^2``, ``sigma_b^2``.

    Examples
    --------
    >>> from theory import solve_eoc
    >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))
    >>> # arc-cosine kernel at rho = 0: F01 = 2 (1/(2 pi)) = 1/pi
    >>> round(float(kmap.F([1.0, 0.0, 1.0])[1]) * math.pi, 12)
    1.0
    >>> float(kmap.one_minus_R(1e-8, 1.0))      # 1 - R(1 - eps) ~ chi_1 eps at the EoC
    9.99...e-09
    """

    activation: Activation
    sigma_w2: float
    sigma_b2: float

    @classmethod
    def from_variance_map(cls, vmap) -> KernelMap:
        """The kernel map of a :class:`theory.VarianceMap`.

        Parameters
        ----------
        vmap : VarianceMap
            A variance map with scalar ``sigma_w2``, ``sigma_b2`` and activation parameters.

        Returns
        -------
        KernelMap
            The kernel map of the same network ``(phi, sigma_w^2, sigma_b^2)``.

        Examples
        --------
        >>> from theory import VarianceMap, get_activation
        >>> vmap = VarianceMap(get_activation("relu"), 2.0, 0.0)
        >>> kmap = KernelMap.from_variance_map(vmap)
        >>> kmap.sigma_w2, kmap.sigma_b2
        (2.0, 0.0)
        >>> float(kmap.F([1.5, 0.0, 1.5])[0]) == float(vmap.V(1.5))   # F00 = V(G00)
        True
        """
        return cls(vmap.activation, float(vmap.sigma_w2), float(vmap.sigma_b2))

    @classmethod
    def from_eoc(cls, sol) -> KernelMap:
        """The kernel map of an :class:`theory.EoCSolution` (scalar).

        Parameters
        ----------
        sol : EoCSolution
            A scalar EoC solution (:func:`theory.solve_eoc`).

        Returns
        -------
        KernelMap
            The kernel map of the solution's network ``(phi, sigma_w^2, sigma_b^2)``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
        >>> kmap = KernelMap.from_eoc(sol)
        >>> kmap.sigma_w2 == sol.sigma_w2, round(float(kmap.V(sol.q_star)), 12)   # V(q*) = q*
        (True, 1.0)
        """
        return cls(sol.activation, float(sol.sigma_w2), float(sol.sigma_b2))

    @cached_property
    def ramps(self) -> Ramps:
        return Ramps.from_activation(self.activation)

    # -- one input --------------------------------------------------------------------
    def V(self, q, dq: int = 0):
        """``d^dq V / dq^dq`` (one input, :class:`theory.VarianceMap`).

        Parameters
        ----------
        q : float or array_like
            The variance ``q > 0``.
        dq : int, optional
            The order ``0, 1`` or ``2`` of the derivative; default 0.

        Returns
        -------
        numpy.ndarray
            ``V(q)``, ``V'(q)`` or ``V''(q)``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
        >>> kmap = KernelMap.from_eoc(sol)      # as the VarianceMap: V(q*) = q*, V'(q*), V''(q*)
        >>> [round(float(kmap.V(1.0, d)), 12) for d in (0, 1, 2)]
        [1.0, 0.7, 0.02291274995]
        >>> round(sol.vsecond, 12)
        0.02291274995
        """
        out = self.sigma_w2 * self.activation.expect("phi2", q, dq=dq)
        return out + self.sigma_b2 if dq == 0 else out

    # -- closed forms (per unit, without sigma_w^2) ------------------------------------------
    def cross(self, g):
        """``E[phi(u0) phi(u1)]`` by the closed form (module docstring), ``|rho| <= 1``.

        Accurate to ``~1e-16`` absolute; near ``rho = 1`` use :meth:`deficit` for
        ``1 - R``.

        Parameters
        ----------
        g : array_like
            The kernel ``G`` as ``(..., 3)``: ``(G00, G01, G11)``, ``G00, G11 > 0``.

        Returns
        -------
        numpy.ndarray
            ``E[phi(u0) phi(u1)]`` (without ``sigma_w^2``), shape ``(...)``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))   # ReLU at the EoC: sigma_w^2 = 2
        >>> # arc-cosine kernel: 1/(2 pi) at rho = 0; <phi^2>_q = q/2 at rho = 1; 0 at rho = -1
        >>> round(float(kmap.cross([1.0, 0.0, 1.0])) * 2 * math.pi, 12)
        1.0
        >>> round(float(kmap.cross([2.0, 2.0, 2.0])), 12), float(kmap.cross([2.0, -2.0, 2.0]))
        (1.0, 0.0)
        """
        g00, g01, g11 = _split(g)
        rho = g01 / np.sqrt(g00 * g11)
        return self._cross(np.sqrt(g00), np.sqrt(g11), rho)

    def _cross(self, s0, s1, rho):
        rm = self.ramps
        s0, s1, rho = np.broadcast_arrays(s0, s1, np.clip(rho, -1.0, 1.0))
        out = np.empty(s0.shape)
        degenerate = np.abs(rho) == 1.0
        if np.any(degenerate):
            def pair(x, s0_, s1_, rho_):
                return self.activation._phi(s0_ * x, **self.activation.params) * self.activation._phi(
                    rho_ * s1_ * x, **self.activation.params)
            sd, s1d, rd = s0[degenerate], s1[degenerate], rho[degenerate]
            kinks = [np.full(sd.shape, t) / sd for t in rm.t] + [rd * np.full(sd.shape, t) / s1d for t in rm.t]
            (out[degenerate],) = gaussian_expect([pair], kinks, params={"s0_": sd, "s1_": s1d, "rho_": rd})
        ok = ~degenerate
        s0, s1, rho = s0[ok], s1[ok], rho[ok]
        h = _lead(rm.t, s0) / s0
        k = _lead(rm.t, s1) / s1
        e0 = _pdf(h) - h * _sf(h)
        e1 = _pdf(k) - k * _sf(k)
        total = rm.c0**2 + rm.c0 * (s0 * (rm.c @ e0) + s1 * (rm.c @ e1)) + rm.b0**2 * s0 * s1 * rho
        total = total + rm.b0 * s0 * s1 * rho * (rm.c @ (_sf(h) + _sf(k)))
        rr = ramp_ramp(h[:, None], k[None, :], rho)
        out[ok] = total + s0 * s1 * np.einsum("i,j,ij...->...", rm.c, rm.c, rr)
        return out

    def cross_dphi(self, g):
        """``E[phi'(u0) phi'(u1)]`` (closed form, ``|rho| < 1``): ``dF01/dG01 / sigma_w^2``.

        Parameters
        ----------
        g : array_like
            The kernel ``G`` as ``(..., 3)``: ``(G00, G01, G11)``, ``G00, G11 > 0``.

        Returns
        -------
        numpy.ndarray
            ``E[phi'(u0) phi'(u1)]``, shape ``(...)``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))   # ReLU at the EoC: sigma_w^2 = 2
        >>> # ReLU: P(X > 0, Y > 0) = 1/4 + arcsin(rho)/(2 pi), 1/3 at rho = 1/2
        >>> float(kmap.cross_dphi([1.0, 0.0, 1.0])), round(float(kmap.cross_dphi([1.0, 0.5, 1.0])), 12)
        (0.25, 0.333333333333)
        """
        g00, g01, g11 = _split(g)
        s0, s1 = np.sqrt(g00), np.sqrt(g11)
        return self._cross_dphi(s0, s1, g01 / (s0 * s1))

    def _cross_dphi(self, s0, s1, rho):
        rm = self.ramps
        h = _lead(rm.t, s0) / s0
        k = _lead(rm.t, s1) / s1
        lin = rm.b0**2 + rm.b0 * (rm.c @ (_sf(h) + _sf(k)))
        return lin + np.einsum("i,j,ij...->...", rm.c, rm.c, bvn_upper(h[:, None], k[None, :], rho))

    def _dirac(self, s0, s1, rho):
        """Sums over the kinks of input 0 (module docstring): ``E[phi''_0 phi_1]``,
        ``E[phi''_0 phi''_1]``, ``E[phi'''_0 phi'_1]``, ``E[phi''''_0 phi_1]``."""
        rm = self.ramps
        r = np.sqrt((1.0 - rho) * (1.0 + rho))
        g00 = s0 * s0
        t = _lead(rm.t, s0)
        h = t / s0
        mu = rho * s1 * h
        s = s1 * r
        d = (mu[:, None] - _lead(rm.t, s0, axis=1)) / s  # (kink of input 0, kink of input 1, ...)
        m0 = rm.c0 + rm.b0 * mu + s * np.einsum("l,kl...->k...", rm.c, _pdf(d) + d * _cdf(d))
        m1 = rm.b0 + np.einsum("l,kl...->k...", rm.c, _cdf(d))
        m2 = np.einsum("l,kl...->k...", rm.c, _pdf(d)) / s
        a = rho * s1 / s0
        p0 = _lead(rm.c, s0) * _pdf(h) / s0
        return (
            np.sum(p0 * m0, axis=0),
            np.sum(p0 * m2, axis=0),
            np.sum(p0 * (t * m1 / g00 - a * m2), axis=0),
            np.sum(p0 * ((t * t / g00**2 - 1.0 / g00) * m0 - 2.0 * a * t * m1 / g00 + a * a * m2), axis=0),
        )

    # -- the deficit, by quadrature ---------------------------------------------------------
    def _outer(self, s0, a, s):
        """Gauss-Legendre nodes ``z0`` (rows, nodes) and weights times the N(0,1) density,
        cut at the kinks and refined where the inner mean ``a u0`` crosses a kink."""
        rm = self.ramps
        n = s0.size
        kz = rm.t[None, :] / s0[:, None]
        sharp = np.abs(a) * s0 > 1e-300
        a_safe = np.where(sharp, a, 1.0)
        centre = np.where(sharp[:, None], rm.t[None, :] / (a_safe * s0)[:, None], 0.0)
        width = np.where(sharp, s / (np.abs(a_safe) * s0), 0.0)
        local = centre[:, :, None] + width[:, None, None] * _LOCAL
        pts = np.concatenate([np.broadcast_to(_BULK, (n, _BULK.size)), kz, local.reshape(n, -1)], axis=1)
        pts = np.sort(np.clip(pts, -_Z_MAX, _Z_MAX), axis=1)
        left, right = pts[:, :-1, None], pts[:, 1:, None]
        half = 0.5 * (right - left)
        z = (left + half * (_GL_NODES + 1.0)).reshape(n, -1)
        w = (half * _GL_WEIGHTS).reshape(n, -1) * _pdf(z)
        return z, w

    def _inner_pieces(self, u, mu, s, order):
        """Truncated moments of the inner ``z`` on each linear piece: list over ``m`` of
        arrays ``(..., K + 1)``."""
        t = self.ramps.t
        s_eff = np.maximum(s, 1e-300)[:, None, None]
        edges = (t - mu[..., None]) / s_eff
        inf = np.full(mu.shape + (1,), np.inf)
        lo = np.concatenate([-inf, edges], axis=-1)
        hi = np.concatenate([edges, inf], axis=-1)
        return _truncated_moments(lo, hi, order)

    def _quadrature(self, s0, s1, eps, powers=(), difference=False):
        """The semi-analytic quadrature (module docstring) on flat arrays ``s0, s1, eps``:
        ``D = E[(phi(u0) - phi(u1))^2]`` (``difference=True``) and ``E[phi_0^k phi_1^j]``
        for ``(k, j)`` in ``powers``."""
        rm = self.ramps
        rho = 1.0 - eps
        r = np.sqrt(eps * (2.0 - eps))
        a = rho * s1 / s0
        a_minus_1 = ((s1 - s0) - eps * s1) / s0
        s = s1 * r
        z, w = self._outer(s0, a, s)
        u = s0[:, None] * z
        mu = a[:, None] * u
        order = max([j for _, j in powers] + ([2] if difference else [0]))
        tm = self._inner_pieces(u, mu, s, order)
        beta = rm.beta
        bs = beta * s[:, None, None]
        results = []
        if difference:
            off = u[..., None] - rm.t
            lower = np.arange(rm.t.size)[None, :] < np.arange(rm.t.size + 1)[:, None]  # (piece, kink): k < i
            ext = np.where(lower, rm.c * np.minimum(off[..., None, :], 0.0), -rm.c * np.maximum(off[..., None, :], 0.0))
            A = beta * (a_minus_1[:, None] * u)[..., None] + ext.sum(axis=-1)
            inner = A * A * tm[0] + 2.0 * A * bs * tm[1] + bs * bs * tm[2]
            results.append(np.sum(w * inner.sum(axis=-1), axis=1))
        if powers:
            phi0 = self.activation.phi(u)
            A = rm.alpha + beta * mu[..., None]
            cond = {}
            for _, j in powers:
                if j not in cond:
                    cond[j] = sum(math.comb(j, m) * A ** (j - m) * bs**m * tm[m] for m in range(j + 1)).sum(axis=-1)
            for k, j in powers:
                results.append(np.sum(w * phi0**k * cond[j], axis=1))
        return results

    def _chunked(self, s0, s1, eps, **kw):
        s0, s1, eps = (np.ravel(v) for v in np.broadcast_arrays(s0, s1, eps))
        parts = [self._quadrature(s0[i:i + _CHUNK], s1[i:i + _CHUNK], eps[i:i + _CHUNK], **kw)
                 for i in range(0, s0.size, _CHUNK)]
        return [np.concatenate([p[n] for p in parts]) for n in range(len(parts[0]))]

    def deficit(self, g00, g11, eps):
        """``Delta = (F00 + F11)/2 - F01 = (sigma_w^2/2) E[(phi(u0) - phi(u1))^2]``.

        Parameters
        ----------
        g00, g11
            The variances (positive).
        eps
            ``1 - rho`` in ``[0, 2]``, given without cancellation.

        Returns
        -------
        numpy.ndarray
            ``Delta``, to ``~1e-12`` relative accuracy also as ``eps -> 0`` (direct
            quadrature for ``eps <= EPS_SWITCH``, closed forms above).

        Raises
        ------
        ValueError
            For ``eps`` outside ``[0, 2]``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))   # ReLU at the EoC: sigma_w^2 = 2
        >>> float(kmap.deficit(1.0, 1.0, 0.0))        # identical inputs
        0.0
        >>> # rho = 0: (F00 + F11)/2 - F01 = 1 - 1/pi (arc-cosine kernel)
        >>> round(float(kmap.deficit(1.0, 1.0, 1.0)), 12), round(1 - 1 / math.pi, 12)
        (0.681690113816, 0.681690113816)
        >>> float(kmap.deficit(1.0, 1.0, 1e-8))      # ~ chi_1 q eps, without cancellation
        9.99...e-09
        """
        g00, g11, eps = np.broadcast_arrays(*(np.asarray(v, float) for v in (g00, g11, eps)))
        if np.any((eps < 0) | (eps > 2)):
            raise ValueError("1 - rho must lie in [0, 2]")
        s0, s1 = np.sqrt(g00), np.sqrt(g11)
        out = np.empty(g00.shape)
        near = eps <= EPS_SWITCH
        if np.any(near):
            (d,) = self._chunked(s0[near], s1[near], eps[near], difference=True)
            out[near] = 0.5 * self.sigma_w2 * d
        far = ~near
        if np.any(far):
            e2 = self.activation.expect("phi2", g00[far]) + self.activation.expect("phi2", g11[far])
            out[far] = 0.5 * self.sigma_w2 * (e2 - 2.0 * self._cross(s0[far], s1[far], 1.0 - eps[far]))
        return out

    # -- public maps ----------------------------------------------------------------------
    def F(self, g):
        """``F(G) = sigma_w^2 E[phi(u) phi(u)^T] + sigma_b^2`` as ``(..., 3)``: ``(F00, F01, F11)``.

        ``F01 = (F00 + F11)/2 - Delta``, so it is exact in ``1 - R`` as well (module
        docstring); ``1 - rho`` is taken from ``G`` as :func:`gap_of` does.

        Parameters
        ----------
        g : array_like
            The kernel ``G`` as ``(..., 3)``: ``(G00, G01, G11)``, ``G00, G11 > 0``.

        Returns
        -------
        numpy.ndarray
            ``(F00, F01, F11)`` as ``(..., 3)``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))   # ReLU at the EoC: sigma_w^2 = 2
        >>> # F00 = V(1) = 1, F11 = 1, F01 = sqrt(3)/(2 pi) + 1/3 (arc-cosine kernel at rho = 1/2)
        >>> kmap.F([1.0, 0.5, 1.0]).round(6).tolist()
        [1.0, 0.608998, 1.0]
        >>> kmap.F([[1.0, 0.5, 1.0], [2.0, 0.0, 2.0]]).shape
        (2, 3)
        """
        g00, g01, g11 = _split(g)
        return self.F_gap(g00, g11, gap_of(g00, g01, g11))

    def F_gap(self, g00, g11, eps):
        """:meth:`F` at ``G = (G00, (1 - eps) sqrt(G00 G11), G11)``.

        Parameters
        ----------
        g00, g11 : float or array_like
            The variances (positive).
        eps : float or array_like
            ``1 - rho`` in ``[0, 2]``, given without cancellation.

        Returns
        -------
        numpy.ndarray
            ``(F00, F01, F11)`` as ``(..., 3)``, broadcast over ``g00, g11, eps``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))   # ReLU at the EoC: sigma_w^2 = 2
        >>> kmap.F_gap(1.0, 1.0, 0.5).round(6).tolist()            # = kmap.F([1.0, 0.5, 1.0])
        [1.0, 0.608998, 1.0]
        >>> bool(np.allclose(kmap.F_gap(1.0, 4.0, 0.5), kmap.F([1.0, 1.0, 4.0])))
        True
        """
        g00, g11, eps = np.broadcast_arrays(*(np.asarray(v, float) for v in (g00, g11, eps)))
        f00, f11 = self.V(g00), self.V(g11)
        return np.stack([f00, 0.5 * (f00 + f11) - self.deficit(g00, g11, eps), f11], axis=-1)

    def correlation_gap(self, g00, g11, eps):
        """``1 - rho'`` of ``F(G)`` at ``G = (G00, (1 - eps) sqrt(G00 G11), G11)``, without
        cancellation: ``[Delta - (sqrt F00 - sqrt F11)^2/2] / sqrt(F00 F11)``.

        Parameters
        ----------
        g00, g11 : float or array_like
            The variances (positive).
        eps : float or array_like
            ``1 - rho`` in ``[0, 2]``, given without cancellation.

        Returns
        -------
        numpy.ndarray
            ``1 - rho'``, broadcast over ``g00, g11, eps``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))   # ReLU at the EoC: sigma_w^2 = 2
        >>> round(float(kmap.correlation_gap(1.0, 1.0, 0.5)), 6)   # 1 - F01 at rho = 1/2
        0.391002
        >>> round(float(kmap.correlation_gap(1.0, 4.0, 0.5)), 6)   # ReLU, sigma_b = 0: rho' depends on rho only
        0.391002
        >>> float(kmap.correlation_gap(1.0, 1.0, 1e-8))             # exact also next to the diagonal
        9.99...e-09
        """
        g00, g11, eps = np.broadcast_arrays(*(np.asarray(v, float) for v in (g00, g11, eps)))
        f00, f11 = self.V(g00), self.V(g11)
        root = np.sqrt(f00 * f11)
        split = (f00 - f11) / (np.sqrt(f00) + np.sqrt(f11))
        return (self.deficit(g00, g11, eps) - 0.5 * split**2) / root

    def one_minus_R(self, eps, q):
        """``1 - R(1 - eps)`` at equal variances ``q``, ``R = F01/q`` (arXiv eq. 4):
        ``(q - V(q))/q + Delta/q``; at the EoC fixed point the first term is rounding.

        Parameters
        ----------
        eps : float or array_like
            ``1 - rho`` in ``[0, 2]``, given without cancellation.
        q : float or array_like
            The variance of both inputs (positive).

        Returns
        -------
        numpy.ndarray
            ``1 - R(1 - eps)``, broadcast over ``eps, q``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))   # ReLU at the EoC: sigma_w^2 = 2
        >>> round(float(kmap.one_minus_R(1.0, 1.0)), 12), round(1 - 1 / math.pi, 12)   # R(0) = 1/pi
        (0.681690113816, 0.681690113816)
        >>> float(kmap.one_minus_R(1e-8, 1.0))      # ~ chi_1 eps with chi_1 = 1
        9.99...e-09
        """
        eps, q = np.broadcast_arrays(np.asarray(eps, float), np.asarray(q, float))
        return (q - self.V(q)) / q + self.deficit(q, q, eps) / q

    def J(self, g):
        """``J_ab = dF_a/dG_b`` as ``(..., 3, 3)`` in the order ``(00, 01, 11)`` (Price's
        theorem, module docstring); needs ``|rho| < 1``.

        Parameters
        ----------
        g : array_like
            The kernel ``G`` as ``(..., 3)``: ``(G00, G01, G11)``, ``G00, G11 > 0``.

        Returns
        -------
        numpy.ndarray
            The Jacobian ``J``, ``(..., 3, 3)``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))   # ReLU at the EoC: sigma_w^2 = 2
        >>> # V' = 1; J_1,00 = J_1,11 = (w/2) p(0) E[phi(u1)|u0 = 0] = 1/(2 pi), J_1,01 = w/4 at rho = 0
        >>> np.round(kmap.J([1.0, 0.0, 1.0]), 6).tolist()
        [[1.0, 0.0, 0.0], [0.159155, 0.5, 0.159155], [0.0, 0.0, 1.0]]
        """
        g00, g01, g11 = _split(g)
        s0, s1 = np.sqrt(g00), np.sqrt(g11)
        rho = g01 / (s0 * s1)
        w = self.sigma_w2
        out = np.zeros(g00.shape + (3, 3))
        out[..., 0, 0] = self.V(g00, 1)
        out[..., 2, 2] = self.V(g11, 1)
        out[..., 1, 0] = 0.5 * w * self._dirac(s0, s1, rho)[0]
        out[..., 1, 1] = w * self._cross_dphi(s0, s1, rho)
        out[..., 1, 2] = 0.5 * w * self._dirac(s1, s0, rho)[0]
        return out

    def H(self, g):
        """``H_abc = d^2 F_a / dG_b dG_c`` as ``(..., 3, 3, 3)`` (module docstring); needs
        ``|rho| < 1`` and grows like ``(1 - rho)^(-1/2)``.

        Parameters
        ----------
        g : array_like
            The kernel ``G`` as ``(..., 3)``: ``(G00, G01, G11)``, ``G00, G11 > 0``.

        Returns
        -------
        numpy.ndarray
            The Hessian ``H``, ``(..., 3, 3, 3)``, symmetric in its last two indices.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))   # ReLU at the EoC: sigma_w^2 = 2
        >>> H = kmap.H([1.0, 0.0, 1.0])
        >>> H.shape, float(H[0, 0, 0]), bool(np.allclose(H[1], H[1].T))   # V'' = 0 for ReLU
        ((3, 3, 3), 0.0, True)
        >>> # H_1,01,01 = w E[phi''_0 phi''_1] = d/dG01 of w (1/4 + arcsin(rho)/(2 pi)) = 1/pi at rho = 0
        >>> round(float(H[1, 1, 1]) * math.pi, 12)
        1.0
        """
        g00, g01, g11 = _split(g)
        s0, s1 = np.sqrt(g00), np.sqrt(g11)
        rho = g01 / (s0 * s1)
        w = self.sigma_w2
        _, dd, d3_0, d4_0 = self._dirac(s0, s1, rho)
        _, _, d3_1, d4_1 = self._dirac(s1, s0, rho)
        out = np.zeros(g00.shape + (3, 3, 3))
        out[..., 0, 0, 0] = self.V(g00, 2)
        out[..., 2, 2, 2] = self.V(g11, 2)
        mid = {(0, 0): 0.25 * w * d4_0, (0, 1): 0.5 * w * d3_0, (1, 1): w * dd,
               (0, 2): 0.25 * w * dd, (1, 2): 0.5 * w * d3_1, (2, 2): 0.25 * w * d4_1}
        for (b, c), v in mid.items():
            out[..., 1, b, c] = v
            out[..., 1, c, b] = v
        return out

    def moments4(self, g):
        """``E[phi_0^k phi_1^j]`` for ``(k, j) = (3, 1), (2, 2), (1, 3)`` (quadrature,
        module docstring), each ``(...)``.

        Parameters
        ----------
        g : array_like
            The kernel ``G`` as ``(..., 3)``: ``(G00, G01, G11)``, ``G00, G11 > 0``.

        Returns
        -------
        tuple of numpy.ndarray
            ``(E[phi_0^3 phi_1], E[phi_0^2 phi_1^2], E[phi_0 phi_1^3])``, each ``(...)``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))   # ReLU at the EoC: sigma_w^2 = 2
        >>> # rho = 0, independent: E[phi^3] E[phi] = (2/sqrt(2 pi)) (1/sqrt(2 pi)) = 1/pi, E[phi^2]^2 = 1/4
        >>> m31, m22, m13 = kmap.moments4([1.0, 0.0, 1.0])
        >>> round(float(m31) * math.pi, 9), round(float(m22), 9), round(float(m13) * math.pi, 9)
        (1.0, 0.25, 1.0)
        """
        g00, g01, g11 = _split(g)
        eps = gap_of(g00, g01, g11)
        s0, s1 = np.sqrt(g00), np.sqrt(g11)
        vals = self._chunked(s0, s1, eps, powers=((3, 1), (2, 2), (1, 3)))
        return tuple(v.reshape(g00.shape) for v in vals)

    def S(self, g, cross=None):
        """``S_(ab),(cd) = sigma_w^4 Cov(phi_a phi_b, phi_c phi_d)`` as ``(..., 3, 3)``, the
        conditional covariance of ``N G'`` given ``G`` (order ``(00, 01, 11)``).

        ``cross`` (``E[phi_0 phi_1]``) may be passed when known.

        Parameters
        ----------
        g : array_like
            The kernel ``G`` as ``(..., 3)``: ``(G00, G01, G11)``, ``G00, G11 > 0``.
        cross : array_like, optional
            ``E[phi_0 phi_1]`` at ``G``, when known; by default from the deficit.

        Returns
        -------
        numpy.ndarray
            ``S``, ``(..., 3, 3)``, symmetric.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> kmap = KernelMap.from_eoc(solve_eoc("relu", 0.5, 1.0))   # ReLU at the EoC: sigma_w^2 = 2
        >>> g = [1.0, 0.0, 1.0]
        >>> S = kmap.S(g)
        >>> # S_00,00 = fluctuation(1) = 5; S_01,01 = w^2 (1/4 - 1/(4 pi^2)) = 1 - 1/pi^2; S_00,11 = 0 at rho = 0
        >>> round(float(S[0, 0]), 9), round(float(S[1, 1]), 9), round(1 - 1 / math.pi**2, 9), round(float(S[0, 2]), 9)
        (5.0, 0.898678816, 0.898678816, 0.0)
        >>> bool(np.allclose(kmap.S(g, cross=kmap.cross(g)), S))
        True
        """
        g00, g01, g11 = _split(g)
        act = self.activation
        p2 = (act.expect("phi2", g00), None, act.expect("phi2", g11))
        p4 = (act.expect("phi4", g00), act.expect("phi4", g11))
        if cross is None:
            cross = 0.5 * (p2[0] + p2[2]) - self.deficit(g00, g11, gap_of(g00, g01, g11)) / self.sigma_w2
        m31, m22, m13 = self.moments4(g)
        mean = (p2[0], cross, p2[2])
        second = {(0, 0): p4[0], (0, 1): m31, (0, 2): m22, (1, 1): m22, (1, 2): m13, (2, 2): p4[1]}
        out = np.empty(g00.shape + (3, 3))
        for (i, j), v in second.items():
            out[..., i, j] = out[..., j, i] = self.sigma_w2**2 * (v - mean[i] * mean[j])
        return out
