"""Edge-of-Chaos initialisation (arXiv 2602.05779 Sec. 2, steps 1-6).

Given the family, the sparsity ``s`` and the fixed point ``q*``:

1. ``tau`` from ``s`` (``sqrt(q*) Phi^-1(s)`` for ReLU_tau/CReLU,
   ``sqrt(2 q*) erfinv(s)`` for ST/CST, numerically for the others);
2. for the clipped families, ``m`` from a target ``V'(q*)`` by root finding
   (vectorised, ``scipy.optimize.elementwise``), or ``m`` given;
3. ``sigma_w^2 = 1 / <phi'^2>_q*`` so that ``chi_1(q*) = 1``;
4. ``sigma_b^2 = q* - sigma_w^2 <phi^2>_q*`` so that ``V(q*) = q*``.

At the EoC, ``V'(q*) = <(phi^2)'>_q* / <phi'^2>_q*`` does not depend on ``sigma``, so
step 2 is a one-dimensional root in ``m`` at fixed ``tau``. Every input broadcasts
(``solve_eoc("crelu", 0.85, q_grid[:, None], m=m_grid[None, :])`` fills a heat map).
A target that no ``m`` reaches, ``s`` outside ``(0, 1)``, ``q* <= 0`` or
``sigma_b^2 < 0`` raises :class:`EoCError` naming the reachable range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import elementwise

from theory.activations import Activation, get_family
from theory.maps import VarianceMap


class EoCError(ValueError):
    """The requested Edge-of-Chaos initialisation does not exist."""


#: points of the clipping parameter's range sampled to report the reachable ``V'(q*)``
_RANGE_POINTS = 400


@dataclass(frozen=True)
class EoCSolution:
    """An EoC initialisation and the control metrics at its fixed point ``q*``.

    Made by :func:`solve_eoc`; every number is a float, or an array where the inputs
    were. ``m`` is ``inf`` for families without a clipping parameter. ``bound`` is the
    Theorem 2.1 bound on ``|q~{1}|`` (``nan`` where its hypothesis ``0 < V'(q*) < 1``
    fails). ``mu1, mu2`` are ``<phi'^2>_q*, <phi'^4>_q*`` (arXiv eq. 19).

    Parameters
    ----------
    activation_name : str
        The family's name (:data:`theory.FAMILIES`).
    sparsity : float or numpy.ndarray
        The sparsity ``s``, the expected fraction of zero activations at ``q*``.
    q_star : float or numpy.ndarray
        The fixed point ``q*`` of the variance map.
    tau : float or numpy.ndarray
        The threshold giving sparsity ``s`` at ``q*`` (step 1).
    m : float or numpy.ndarray
        The clipping parameter (step 2); ``inf`` for families without one.
    sigma_w2 : float or numpy.ndarray
        ``sigma_w^2 = 1 / <phi'^2>_q*``, so that ``chi_1(q*) = 1`` (step 3).
    sigma_b2 : float or numpy.ndarray
        ``sigma_b^2 = q* - sigma_w^2 <phi^2>_q*``, so that ``V(q*) = q*`` (step 4).
    vprime, vsecond : float or numpy.ndarray
        ``V'(q*)`` (computed as ``1 -`` the contraction, without cancellation) and ``V''(q*)``.
    chi1, chi1_prime : float or numpy.ndarray
        ``chi_1(q*)`` (1 at the EoC, to rounding) and ``chi_1'(q*)``.
    phi2, phi4 : float or numpy.ndarray
        The Gaussian averages ``<phi^2>_q*`` and ``<phi^4>_q*``.
    mu1, mu2 : float or numpy.ndarray
        ``<phi'^2>_q*`` and ``<phi'^4>_q*`` (arXiv eq. 19).
    bound : float or numpy.ndarray
        The Theorem 2.1 bound on ``|q~{1}|`` (:func:`nlo_bound`); ``nan`` where its
        hypothesis ``0 < V'(q*) < 1`` fails.
    activation : Activation
        The activation with the solved parameters (``tau``, ``m``, ...).

    Examples
    --------
    >>> from theory import solve_eoc
    >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    >>> round(sol.chi1, 12), round(float(sol.variance_map.V(sol.q_star)), 12)   # chi_1 = 1, V(q*) = q*
    (1.0, 1.0)
    >>> round(sol.tau, 6), round(sol.m, 6), round(sol.sigma_w2, 6), round(sol.sigma_b2, 6)
    (1.036433, 1.170367, 7.334819, 0.595341)
    >>> relu = solve_eoc("relu", 0.5, 1.0).as_dict()   # He initialisation; V' = 1 voids the bound
    >>> relu["sigma_w2"], relu["sigma_b2"], relu["vprime"], relu["m"], relu["bound"]
    (2.0, 0.0, 1.0, None, None)
    """

    activation_name: str
    sparsity: np.ndarray | float
    q_star: np.ndarray | float
    tau: np.ndarray | float
    m: np.ndarray | float
    sigma_w2: np.ndarray | float
    sigma_b2: np.ndarray | float
    vprime: np.ndarray | float
    vsecond: np.ndarray | float
    chi1: np.ndarray | float
    chi1_prime: np.ndarray | float
    phi2: np.ndarray | float
    phi4: np.ndarray | float
    mu1: np.ndarray | float
    mu2: np.ndarray | float
    bound: np.ndarray | float
    activation: Activation = field(repr=False)

    @property
    def variance_map(self) -> VarianceMap:
        return VarianceMap(self.activation, self.sigma_w2, self.sigma_b2)

    @property
    def fluctuation(self):
        """``sigma_w^4 (<phi^4>_q* - <phi^2>_q*^2)``."""
        return self.sigma_w2**2 * (self.phi4 - self.phi2**2)

    def as_dict(self) -> dict:
        """Plain scalars (or lists) for JSON; non-finite values (``m`` of an unclipped
        family, ``bound`` outside its hypothesis) become ``None``.

        Returns
        -------
        dict
            ``activation`` (the family's name) and the fields ``sparsity, q_star, tau, m,
            sigma_w2, sigma_b2, vprime, vsecond, chi1, chi1_prime, phi2, phi4, mu1, mu2,
            bound`` as floats (nested lists of floats where the solution holds arrays).

        Examples
        --------
        >>> import json
        >>> from theory import solve_eoc
        >>> d = solve_eoc("crelu", 0.85, 1.0, vprime=0.7).as_dict()
        >>> d["activation"], round(d["vprime"], 12), round(d["chi1"], 12)   # chi_1 = 1 at the EoC
        ('crelu', 0.7, 1.0)
        >>> solve_eoc("crelu", [0.6, 0.9], 1.0, vprime=0.5).as_dict()["sparsity"]   # arrays become lists
        [0.6, 0.9]
        >>> json.loads(json.dumps(solve_eoc("relu", 0.5, 1.0).as_dict()))["m"] is None   # m = inf for ReLU
        True
        """

        def plain(v):
            v = np.asarray(v, float)
            if v.ndim:
                return [plain(x) for x in v]
            x = float(v)
            return x if math.isfinite(x) else None

        out = {"activation": self.activation_name}
        for name in (
            "sparsity q_star tau m sigma_w2 sigma_b2 vprime vsecond chi1 chi1_prime "
            "phi2 phi4 mu1 mu2 bound"
        ).split():
            out[name] = plain(getattr(self, name))
        return out


def nlo_bound(sigma_w2, vprime, vsecond, phi2, phi4, one_minus_vprime=None):
    """Theorem 2.1 (arXiv Thm. 2.2, eq. 14): the bound on ``|q~{1}|`` at the fixed point.

    For ``0 < V'(q*) < 1`` and ``l >= 3``,
    ``|q~{1}| <= sigma_w^4 |V''| |<phi^4> - <phi^2>^2| / (2 (1 - V')^2 (1 + V'))``;
    ``nan`` outside the hypothesis. Pass ``one_minus_vprime`` when it is known without
    cancellation (:meth:`theory.Activation.contraction`). Every argument broadcasts.

    Parameters
    ----------
    sigma_w2 : float or array_like
        The weight variance ``sigma_w^2``.
    vprime, vsecond : float or array_like
        ``V'(q*)`` and ``V''(q*)``.
    phi2, phi4 : float or array_like
        The Gaussian averages ``<phi^2>_q*`` and ``<phi^4>_q*``.
    one_minus_vprime : float or array_like, optional
        ``1 - V'(q*)`` computed without cancellation; default ``1 - vprime``.

    Returns
    -------
    numpy.ndarray
        The bound, ``nan`` where ``0 < V'(q*) < 1`` fails.

    Examples
    --------
    >>> from theory import solve_eoc
    >>> round(float(nlo_bound(2.0, 0.5, 1.0, 1.0, 3.0)), 12)   # 4 * 2 / (2 * 0.25 * 1.5)
    10.666666666667
    >>> float(nlo_bound(2.0, 1.0, 1.0, 1.0, 3.0))     # V' = 1: outside the hypothesis
    nan
    >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    >>> b = nlo_bound(sol.sigma_w2, sol.vprime, sol.vsecond, sol.phi2, sol.phi4)
    >>> round(float(b), 6), round(sol.bound, 6)     # the solution's own bound
    (0.18827, 0.18827)
    """
    vprime = np.asarray(vprime, float)
    gap = 1.0 - vprime if one_minus_vprime is None else np.asarray(one_minus_vprime, float)
    ok = (vprime > 0) & (gap > 0)
    safe = np.where(ok, gap, 0.5)
    value = sigma_w2**2 * np.abs(vsecond) * np.abs(phi4 - phi2**2) / (2 * safe**2 * (2 - safe))
    return np.where(ok, value, np.nan)


def _eoc_vprime(act: Activation, q):
    """``V'(q*)`` at the EoC: ``<(phi^2)'>_q / <phi'^2>_q``."""
    return act.expect("phi2", q, dq=1) / act.expect("dphi2", q)


def _check_inputs(cls, sparsity, q_star, vprime, m):
    if np.any(~np.isfinite(q_star)) or np.any(q_star <= 0):
        raise EoCError(f"q* must be positive and finite, got {q_star}")
    if np.any(~((sparsity > 0) & (sparsity < 1))):
        raise EoCError(f"sparsity s must lie in (0, 1), got {sparsity}")
    if cls.fixed_sparsity is not None and np.any(sparsity != cls.fixed_sparsity):
        raise EoCError(f"{cls.name} has sparsity {cls.fixed_sparsity:g} at every q*, got {sparsity}; "
                       "use relu_tau for other sparsities")
    if cls.clip_param is None:
        if m is not None:
            raise EoCError(f"{cls.name} has no clipping parameter m")
    else:
        if (vprime is None) == (m is None):
            raise EoCError(f"{cls.name}: give exactly one of vprime (target V'(q*)) or m")
        if m is not None and np.any(np.asarray(m) <= 0):
            raise EoCError(f"{cls.name}: m must be positive, got {m}")


def solve_eoc(activation: str, sparsity, q_star, vprime=None, m=None, **params) -> EoCSolution:
    """EoC initialisation for ``activation`` at sparsity ``s`` and fixed point ``q*``.

    Parameters
    ----------
    activation : str
        Family name: ``relu, relu_tau, st, crelu, cst, hardshrink, chardshrink, sawtooth``.
    sparsity, q_star : float or array_like
        Target sparsity in ``(0, 1)`` (``relu``: 0.5 only) and fixed-point variance ``> 0``.
    vprime, m : float or array_like, optional
        For clipped families exactly one: the target ``V'(q*)`` or the clipping value.
    **params : float
        Further fixed family parameters (``alpha``, ``eps`` for the HardShrink family).

    Returns
    -------
    EoCSolution
        ``tau``, ``m``, ``sigma_w2``, ``sigma_b2``, ``V'``, ``V''``, ``chi_1`` and the
        Gaussian averages at ``q*``; arrays where the inputs are.

    Raises
    ------
    EoCError
        A target ``V'(q*)`` that no ``m`` reaches (the message names the reachable range),
        ``s`` outside ``(0, 1)``, ``q* <= 0``, ``sigma_b^2 < 0``, or ``vprime``/``m`` given
        where they do not apply.

    Examples
    --------
    >>> from theory import solve_eoc
    >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    >>> round(sol.vprime, 12), round(sol.chi1, 12)
    (0.7, 1.0)
    >>> solve_eoc("crelu", [0.6, 0.9], 1.0, vprime=0.5).tau.shape
    (2,)
    """
    cls = get_family(activation)
    sparsity = np.asarray(sparsity, float)
    q_star = np.asarray(q_star, float)
    _check_inputs(cls, sparsity, q_star, vprime, m)

    if cls.clip_param is None:
        tau = cls.tau_for_sparsity(sparsity, q_star, **params)
        act = cls(tau=tau, **params)
        if vprime is not None:
            _check_fixed_vprime(cls.name, _eoc_vprime(act, q_star), np.asarray(vprime, float), sparsity, q_star)
    else:
        if m is None:
            m = _solve_clip(cls, sparsity, q_star, np.asarray(vprime, float), params)
        m = np.asarray(m, float)
        tau = _tau_with_clip(cls, sparsity, q_star, m, params)
        act = cls(tau=tau, m=m, **params)

    return _solution(cls.name, act, sparsity, q_star, tau, m)


def _check_fixed_vprime(name, have, want, sparsity, q_star):
    """A family without a clipping parameter has one ``V'(q*)`` at the EoC: a target must be it."""
    have, want, sparsity, q_star = (np.ravel(x) for x in np.broadcast_arrays(have, want, sparsity, q_star))
    off = np.abs(have - want) > 1e-9 * np.maximum(1.0, np.abs(want))
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise EoCError(f"{name} has no clipping parameter: V'(q*) = {have[i]:.6g} at the EoC at s = {sparsity[i]:g}, "
                       f"q* = {q_star[i]:g}, not {want[i]:g} (drop the V'(q*) target, or choose a clipped family)")


def _tau_with_clip(cls, sparsity, q_star, m, params):
    """``tau`` from ``s``; with ``m`` for families whose sparsity depends on it."""
    if cls.tau_needs_clip:
        return cls.tau_for_sparsity(sparsity, q_star, m=m, **params)
    return cls.tau_for_sparsity(sparsity, q_star, **params)


def _solve_clip(cls, sparsity, q_star, target, params):
    """The clipping ``m`` with ``V'(q*) = target`` at the EoC (vectorised bracketed root)."""
    sparsity, q_star, target = np.broadcast_arrays(sparsity, q_star, target)

    def gap(m_, s_, q_, target_):
        act = cls(tau=_tau_with_clip(cls, s_, q_, m_, params), m=m_, **params)
        return _eoc_vprime(act, q_) - target_

    lo, hi = np.broadcast_arrays(*cls.clip_range(sparsity, q_star, **params))
    lo, hi = lo.copy(), hi.copy()
    g_lo, g_hi = gap(lo, sparsity, q_star, target), gap(hi, sparsity, q_star, target)
    bad = ~(g_lo * g_hi < 0)
    if np.any(bad):
        i = np.flatnonzero(bad.reshape(-1))[0]
        s_i, q_i, t_i = sparsity.reshape(-1)[i], q_star.reshape(-1)[i], target.reshape(-1)[i]
        lo_r, hi_r = reachable_vprime(cls.name, s_i, q_i, **params)
        raise EoCError(
            f"{cls.name}: V'(q*) = {t_i:g} is not reachable at s = {s_i:g}, q* = {q_i:g}; "
            f"reachable range of V'(q*) over m is ({lo_r:.6g}, {hi_r:.6g})"
        )
    res = elementwise.find_root(
        gap, (lo, hi), args=(sparsity, q_star, target), tolerances={"xatol": 1e-15, "xrtol": 4e-16}
    )
    return res.x


def reachable_vprime(activation: str, sparsity: float, q_star: float, **params) -> tuple[float, float]:
    """The range of ``V'(q*)`` at the EoC over the clipping parameter (sampled on a grid).

    The clipping parameter is sampled on a geometric grid of its search range
    (``clip_range`` of the family); :func:`solve_eoc` reports this range when a target
    ``V'(q*)`` is out of reach.

    Parameters
    ----------
    activation : str
        A clipped family's name (``crelu, cst, chardshrink, sawtooth``).
    sparsity : float
        The sparsity ``s`` in ``(0, 1)``.
    q_star : float
        The fixed-point variance ``q* > 0``.
    **params : float
        Further fixed family parameters (``alpha``, ``eps`` for the HardShrink family).

    Returns
    -------
    tuple of float
        ``(min, max)`` of ``V'(q*)`` over the sampled clipping values.

    Examples
    --------
    >>> lo, hi = reachable_vprime("crelu", 0.85, 1.0)
    >>> lo < 0.001, hi <= 1.0, round(hi, 6)    # CReLU reaches (almost) every V' in (0, 1)
    (True, True, 1.0)
    """
    cls = get_family(activation)
    lo, hi = cls.clip_range(sparsity, q_star, **params)
    m = np.geomspace(lo, hi, _RANGE_POINTS)
    tau = _tau_with_clip(cls, np.full_like(m, sparsity), np.full_like(m, q_star), m, params)
    values = _eoc_vprime(cls(tau=tau, m=m, **params), q_star)
    return float(np.min(values)), float(np.max(values))


def _solution(name, act, sparsity, q_star, tau, m) -> EoCSolution:
    mu1 = act.expect("dphi2", q_star)
    mu2 = act.expect("dphi4", q_star)
    phi2 = act.expect("phi2", q_star)
    phi4 = act.expect("phi4", q_star)
    sigma_w2 = 1.0 / mu1
    sigma_b2 = q_star - sigma_w2 * phi2
    if np.any(sigma_b2 < -1e-12 * q_star):
        i = int(np.argmin(sigma_b2 / q_star))
        raise EoCError(
            f"{name}: sigma_b^2 = {np.ravel(sigma_b2)[i]:.6g} < 0 at s = {np.ravel(sparsity * np.ones_like(sigma_b2))[i]:g}: "
            "no EoC initialisation. sigma_b^2 >= 0 needs sigma_w^2 <phi^2>_q* <= q*"
            + (f": reachable sparsities are s >= {act.min_sparsity:g}" if act.min_sparsity is not None else "")
        )
    sigma_b2 = np.maximum(sigma_b2, 0.0)
    one_minus_vprime = sigma_w2 * act.contraction(q_star)
    vprime = 1.0 - one_minus_vprime
    vsecond = sigma_w2 * act.expect("phi2", q_star, dq=2)
    chi1 = sigma_w2 * mu1
    chi1_prime = sigma_w2 * act.expect("dphi2", q_star, dq=1)
    bound = nlo_bound(sigma_w2, vprime, vsecond, phi2, phi4, one_minus_vprime)
    m_out = np.inf if m is None else m
    return EoCSolution(
        activation_name=name,
        sparsity=_scalar(sparsity),
        q_star=_scalar(q_star),
        tau=_scalar(tau),
        m=_scalar(m_out),
        sigma_w2=_scalar(sigma_w2),
        sigma_b2=_scalar(sigma_b2),
        vprime=_scalar(vprime),
        vsecond=_scalar(vsecond),
        chi1=_scalar(chi1),
        chi1_prime=_scalar(chi1_prime),
        phi2=_scalar(phi2),
        phi4=_scalar(phi4),
        mu1=_scalar(mu1),
        mu2=_scalar(mu2),
        bound=_scalar(bound),
        activation=act,
    )


def _scalar(x):
    x = np.asarray(x, float)
    return float(x) if x.ndim == 0 else x
