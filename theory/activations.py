"""Sparsity-inducing activations and their Gaussian averages.

Each family is one small class, in the manner of ``scipy.stats``: the generic methods of
:class:`Activation` integrate numerically (``theory.quadrature``, split at the kinks)
and a family with closed forms overrides ``_closed_form``. Every method is vectorised:
``q`` and the parameters broadcast together.

The Gaussian average is ``<f>_q = E f(sqrt(q) z)``, ``z ~ N(0, 1)`` (arXiv 2602.05779
eq. 11). :meth:`Activation.expect` returns ``d^k/dq^k <g>_q`` for
``g in {phi^2, phi^4, phi'^2, phi'^4}`` and ``k in {0, 1, 2}``, from which
:mod:`theory.maps` builds ``V``, ``V'``, ``V''``, ``chi_1``, ``chi_1'``.

Papers: ICLR 2024 (Price et al., "Deep neural network initialization with sparsity
inducing activations", eqs. 9-10 and App. B, E) and arXiv 2602.05779 (Dent & Tanner,
eqs. 1, 34, 37-39).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from scipy import special
from scipy.optimize import elementwise

from theory.quadrature import gaussian_expect

KINDS = ("phi2", "phi4", "dphi2", "dphi4", "dphi2phi2")


def _sf(x):
    """Upper tail ``P(Z > x)`` of the standard normal, accurate in the tail."""
    return special.ndtr(-x)


def _pdf(x):
    return np.exp(-0.5 * np.square(x)) / math.sqrt(2.0 * math.pi)


class Activation:
    """A piecewise-smooth activation ``phi`` with known kinks.

    The base class of the families of :data:`FAMILIES`: an instance is one member of a
    family, its parameters fixed (scalars or arrays that broadcast with ``q``). The
    generic methods integrate numerically; a family with closed forms overrides them.

    Parameters
    ----------
    **params : float or array_like
        The family's parameters by name (those of ``param_names``, e.g. ``tau`` and ``m``);
        any left out take the family's ``defaults``. Stored as float arrays in the
        attribute ``params`` and readable as attributes (``act.tau``).

    Raises
    ------
    TypeError
        For a parameter the family does not have, or one missing without a default.

    Notes
    -----
    The subclass contract: set ``name``, ``param_names`` and ``kernel_code`` and implement
    ``_phi``, ``_dphi`` and ``_kinks``; optionally override ``_closed_form``,
    ``_tau_closed``, ``_sparsity_closed``, ``_contraction_closed`` and ``clip_range``.

    The class variables:

    * ``param_names`` is also the order in which the compiled kernels receive the
      parameters (at most four).
    * ``kernel_code`` selects the family in the Numba and CUDA samplers
      (:mod:`simulate.kernels`, the CUDA header generated from :data:`FAMILIES`); families
      sharing a code share a kernel formula.
    * ``clip_param`` names the parameter that the EoC solver tunes to reach a target
      ``V'(q*)`` (``None``: none, and ``V'(q*)`` at the EoC is whatever the family gives).
    * ``fixed_sparsity``: the only sparsity the family has (ReLU: 1/2), else ``None``.
    * ``min_sparsity``: the least sparsity at which an EoC initialisation exists
      (``sigma_b^2 >= 0``), where there is one.
    * ``tau_needs_clip``: the sparsity depends on the clipping parameter too, so
      ``tau_for_sparsity`` takes it.
    * ``clipped_family``: the clipped family that restores stability to a family with
      ``V'(q*) = 1`` at the EoC (ICLR 2024), else ``None``.
    * ``symmetric``: ``phi`` is odd (``sign(x) psi(|x|)``).
    * ``clamp_form``: ``phi`` is ``clamp(x - tau, 0, m)`` or its odd extension, the form
      the torch module implements (:mod:`train.activations`).

    Examples
    --------
    >>> from theory import get_activation
    >>> act = get_activation("relu_tau", tau=0.5)
    >>> act, act.phi([-1.0, 0.5, 2.0]).tolist()
    (ShiftedReLU(tau=0.5), [0.0, 0.0, 1.5])
    >>> round(float(act.sparsity(1.0)), 6)          # P(z < 0.5) at q = 1
    0.691462
    >>> closed = act.expect("phi2", 1.0)            # <phi^2>_q, closed form ...
    >>> quad = act.expect("phi2", 1.0, method="quadrature")   # ... and by quadrature
    >>> round(float(closed), 12), round(float(quad), 12)
    (0.209639260025, 0.209639260025)
    """

    name: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]] = ()
    kernel_code: ClassVar[int]
    clip_param: ClassVar[str | None] = None
    defaults: ClassVar[dict[str, float]] = {}
    fixed_sparsity: ClassVar[float | None] = None
    min_sparsity: ClassVar[float | None] = None
    tau_needs_clip: ClassVar[bool] = False
    clipped_family: ClassVar[str | None] = None
    symmetric: ClassVar[bool] = False
    clamp_form: ClassVar[bool] = False

    def __init__(self, **params):
        unknown = set(params) - set(self.param_names)
        if unknown:
            raise TypeError(f"{self.name}: unknown parameter(s) {sorted(unknown)}; expects {self.param_names}")
        merged = {**self.defaults, **params}
        missing = [p for p in self.param_names if p not in merged]
        if missing:
            raise TypeError(f"{self.name}: missing parameter(s) {missing}")
        self.params = {p: np.asarray(merged[p], dtype=float) for p in self.param_names}

    def __getattr__(self, item):
        params = self.__dict__.get("params", {})
        if item in params:
            return params[item]
        raise AttributeError(item)

    def __repr__(self):
        body = ", ".join(f"{k}={np.round(v, 6).tolist()}" for k, v in self.params.items())
        return f"{type(self).__name__}({body})"

    # -- pointwise ---------------------------------------------------------------
    @staticmethod
    def _phi(x, **p):
        raise NotImplementedError

    @staticmethod
    def _dphi(x, **p):
        raise NotImplementedError

    @staticmethod
    def _kinks(**p) -> list:
        raise NotImplementedError

    def phi(self, x):
        """The activation, elementwise.

        Parameters
        ----------
        x : float or array_like
            The pre-activations (broadcast with the family's parameters).

        Returns
        -------
        numpy.ndarray
            ``phi(x)``, elementwise.

        Examples
        --------
        >>> from theory import get_activation
        >>> act = get_activation("crelu", tau=0.5, m=1.0)     # min(max(x - 0.5, 0), 1)
        >>> act.phi([-1.0, 0.5, 1.0, 2.0]).tolist()
        [0.0, 0.0, 0.5, 1.0]
        """
        return self._phi(np.asarray(x, float), **self.params)

    def dphi(self, x):
        """Its derivative almost everywhere (the value at a kink is a convention: measure zero).

        Parameters
        ----------
        x : float or array_like
            The pre-activations (broadcast with the family's parameters).

        Returns
        -------
        numpy.ndarray
            ``phi'(x)``, elementwise.

        Examples
        --------
        >>> from theory import get_activation
        >>> act = get_activation("crelu", tau=0.5, m=1.0)     # slope 1 on (0.5, 1.5), else 0
        >>> act.dphi([0.0, 1.0, 2.0]).tolist()
        [0.0, 1.0, 0.0]
        """
        return self._dphi(np.asarray(x, float), **self.params)

    @property
    def kinks(self) -> list[np.ndarray]:
        """Points where ``phi`` or ``phi'`` is discontinuous."""
        return [np.asarray(k, float) for k in self._kinks(**self.params)]

    # -- Gaussian averages -------------------------------------------------------
    def expect(self, kind: str, q, dq: int = 0, method: str = "auto"):
        """``d^dq/dq^dq <g>_q`` for ``g`` named by ``kind`` (``phi2, phi4, dphi2, dphi4``, and
        ``dphi2phi2`` for ``phi'^2 phi^2``).

        ``method="auto"`` uses the family's closed form where it has one and the
        generic quadrature otherwise; ``method="quadrature"`` forces the latter.

        Parameters
        ----------
        kind : str
            The function ``g`` averaged: ``"phi2"`` (``phi^2``), ``"phi4"`` (``phi^4``),
            ``"dphi2"`` (``phi'^2``), ``"dphi4"`` (``phi'^4``) or ``"dphi2phi2"``
            (``phi'^2 phi^2``).
        q : float or array_like
            The variance ``q > 0`` (broadcast with the family's parameters).
        dq : int, optional
            The order ``0, 1`` or ``2`` of the derivative in ``q``; default 0.
        method : str, optional
            ``"auto"`` (default) or ``"quadrature"``, as above.

        Returns
        -------
        numpy.ndarray
            ``d^dq/dq^dq <g>_q``.

        Raises
        ------
        ValueError
            For an unknown ``kind`` or ``method``, ``dq`` not in ``0, 1, 2``, or ``q <= 0``.

        Examples
        --------
        >>> from theory import get_activation
        >>> relu = get_activation("relu")     # <phi^2>_q = q/2, <phi^4>_q = 3 q^2/2, <phi'^2>_q = 1/2
        >>> [float(relu.expect(k, 2.0, dq=d)) for k, d in [("phi2", 0), ("phi2", 1), ("phi4", 0), ("dphi2", 0)]]
        [1.0, 0.5, 6.0, 0.5]
        >>> act = get_activation("crelu", tau=0.5, m=1.0)     # the closed form agrees with quadrature
        >>> round(float(act.expect("phi2", 1.0)), 12), round(float(act.expect("phi2", 1.0, method="quadrature")), 12)
        (0.128178661875, 0.128178661875)
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if dq not in (0, 1, 2):
            raise ValueError("dq must be 0, 1 or 2")
        if method not in ("auto", "quadrature"):
            raise ValueError("method must be 'auto' or 'quadrature'")
        q = np.asarray(q, float)
        if np.any(q <= 0):
            raise ValueError("the variance q must be positive")
        if method == "auto":
            closed = self._closed_form(kind, dq, q, **self.params)
            if closed is not None:
                return np.asarray(closed, float)
        return self._quadrature(kind, dq, q)

    def _closed_form(self, kind, dq, q, **p):
        return None

    def contraction(self, q):
        """``<phi'^2>_q - d<phi^2>_q/dq``, so that at the EoC ``1 - V'(q*) = sigma_w^2`` times
        this.

        Families with a closed form give it without the cancellation of the
        difference (which loses every digit as ``V' -> 1``).

        Parameters
        ----------
        q : float or array_like
            The variance ``q > 0`` (broadcast with the family's parameters).

        Returns
        -------
        numpy.ndarray
            ``<phi'^2>_q - d<phi^2>_q/dq``.

        Examples
        --------
        >>> from theory import get_activation
        >>> act = get_activation("crelu", tau=0.5, m=1.0)     # c phi(b), arXiv eq. 40 ...
        >>> round(float(act.contraction(1.0)), 12)
        0.129517595666
        >>> round(float(act.expect("dphi2", 1.0) - act.expect("phi2", 1.0, dq=1)), 12)   # ... = the difference
        0.129517595666
        >>> get_activation("relu_tau", tau=0.7).contraction([0.5, 1.0]).tolist()   # V' = chi_1: none
        [0.0, 0.0]
        """
        q = np.asarray(q, float)
        closed = self._contraction_closed(q, **self.params)
        if closed is not None:
            return np.asarray(closed, float)
        return self.expect("dphi2", q) - self.expect("phi2", q, dq=1)

    @staticmethod
    def _contraction_closed(q, **p):
        return None

    def _quadrature(self, kind, dq, q):
        if kind == "dphi2phi2":
            def integrand(x, **p):
                return (self._dphi(x, **p) * self._phi(x, **p)) ** 2
        else:
            power = 4 if kind.endswith("4") else 2
            base = self._dphi if kind.startswith("d") else self._phi

            def integrand(x, **p):
                return base(x, **p) ** power
        (avg,) = gaussian_expect(
            [integrand],
            self.kinks,
            params=self.params,
            std=np.sqrt(q),
            hermite=dq,
        )
        return avg / (2.0 * q) ** dq

    def sparsity(self, q, method: str = "auto"):
        """``s = P(phi(sqrt(q) z) = 0)``, the expected fraction of zero activations.

        Parameters
        ----------
        q : float or array_like
            The variance ``q > 0`` (broadcast with the family's parameters).
        method : str, optional
            ``"auto"`` (default): the family's closed form where it has one, quadrature
            otherwise; any other value forces the quadrature.

        Returns
        -------
        numpy.ndarray
            The sparsity ``s``.

        Examples
        --------
        >>> from theory import get_activation
        >>> st = get_activation("st", tau=1.0)     # zero on |x| <= tau: s = P(|z| < 1) = erf(1/sqrt(2))
        >>> round(float(st.sparsity(1.0)), 6), round(float(st.sparsity(1.0, method="quadrature")), 6)
        (0.682689, 0.682689)
        """
        q = np.asarray(q, float)
        if method == "auto":
            closed = self._sparsity_closed(q, **self.params)
            if closed is not None:
                return np.asarray(closed, float)
        (s,) = gaussian_expect(
            [lambda x, **p: (self._phi(x, **p) == 0.0).astype(float)],
            self.kinks,
            params=self.params,
            std=np.sqrt(q),
        )
        return s

    @staticmethod
    def _sparsity_closed(q, **p):
        return None

    @classmethod
    def tau_for_sparsity(cls, s, q, **params):
        """The threshold ``tau`` giving sparsity ``s`` at variance ``q`` (other params fixed).

        A family's closed form where it has one (``sqrt(q) Phi^-1(s)`` for ReLU_tau and
        CReLU, ``sqrt(2 q) erfinv(s)`` for ST and CST), a bracketed root in ``tau`` otherwise.

        Parameters
        ----------
        s : float or array_like
            The sparsity, in ``(0, 1)``.
        q : float or array_like
            The variance ``q > 0``; broadcasts with ``s``.
        **params : float or array_like
            The family's other parameters, held fixed (``m`` for a family with
            ``tau_needs_clip``, ``eps`` for the HardShrink family).

        Returns
        -------
        numpy.ndarray
            The threshold ``tau``.

        Raises
        ------
        ValueError
            When no threshold reaches the sparsity ``s``.

        Examples
        --------
        >>> from theory import get_activation, get_family
        >>> float(get_family("relu_tau").tau_for_sparsity(0.5, 2.0))    # half the units: tau = 0
        0.0
        >>> tau = get_family("st").tau_for_sparsity(0.8, 1.0)          # closed form, round trip
        >>> round(float(get_activation("st", tau=tau).sparsity(1.0)), 12)
        0.8
        >>> tau = get_family("sawtooth").tau_for_sparsity(0.8, 1.0, m=2.0)   # numerical root
        >>> round(float(tau), 6), round(float(get_activation("sawtooth", tau=tau, m=2.0).sparsity(1.0)), 12)
        (2.841619, 0.8)
        """
        s, q = np.broadcast_arrays(np.asarray(s, float), np.asarray(q, float))
        closed = cls._tau_closed(s, q, **params)
        if closed is not None:
            return np.asarray(closed, float)

        def gap(tau, s_, q_, *extra):
            act = cls(tau=tau, **dict(zip(extra_names, extra)))
            return act.sparsity(q_) - s_

        extra_names = [k for k in params]
        extra = [np.broadcast_to(np.asarray(params[k], float), s.shape) for k in extra_names]
        scale = np.sqrt(q)
        bracket = elementwise.bracket_root(gap, 0.0 * scale, scale, xmin=0.0, args=(s, q, *extra))
        res = elementwise.find_root(gap, bracket.bracket, args=(s, q, *extra))
        if not np.all(res.success):
            raise ValueError(f"{cls.name}: no threshold tau reaches sparsity {s[~res.success].flat[0]:g}")
        return res.x

    @staticmethod
    def _tau_closed(s, q, **params):
        return None

    @classmethod
    def clip_range(cls, s, q, tau=None, **params):
        """Search range ``(lo, hi)`` of the clipping parameter at sparsity ``s``, variance ``q``.

        The EoC solver (:func:`theory.solve_eoc`) brackets its root in the clipping
        parameter here; the base range is ``(1e-4 sqrt(q), 60 sqrt(q))``.

        Parameters
        ----------
        s : float or array_like
            The sparsity, in ``(0, 1)``.
        q : float or array_like
            The variance ``q > 0``.
        tau : float or array_like, optional
            The threshold; not used by the base range (accepted so that every family's
            range takes the same arguments).
        **params : float or array_like
            The family's other fixed parameters (``eps`` for ClippedHardShrink); not used
            by the base range.

        Returns
        -------
        tuple of numpy.ndarray
            ``(lo, hi)``, broadcast with ``q`` (and ``s`` where the family's range uses it).

        Examples
        --------
        >>> from theory import get_family
        >>> lo, hi = get_family("crelu").clip_range(0.85, 4.0)    # sqrt(q) = 2
        >>> float(lo), float(hi)
        (0.0002, 120.0)
        """
        rq = np.sqrt(q)
        return 1e-4 * rq, 60.0 * rq


# -- truncated Gaussian moments, the building block of every closed form ----------
def _partial_moments(a, b):
    """``[E (z - a)^k 1{a < z < b}]_{k=0..4}`` for ``z ~ N(0,1)`` (``b`` may be ``inf``).

    Recurrence in the shifted variable ``u = z - a``: with ``c = b - a``,
    ``K_{k+1} = k K_{k-1} - a K_k - c^k phi(b) + [k = 0] phi(a)`` (integrate
    ``u^k d(-phi(u + a))`` by parts).
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    finite_b = np.isfinite(b)
    pdf_b = np.where(finite_b, _pdf(np.where(finite_b, b, 0.0)), 0.0)
    c = np.where(finite_b, b - a, 0.0)
    k0 = _sf(a) - np.where(finite_b, _sf(np.where(finite_b, b, 0.0)), 0.0)
    k = [k0, _pdf(a) - pdf_b - a * k0]
    for j in range(1, 4):
        k.append(j * k[j - 1] - a * k[j] - c**j * pdf_b)
    return k


class ShiftedReLU(Activation):
    """``ReLU_tau(x) = max(0, x - tau)`` (ICLR 2024 eq. 7; ReLU at ``tau = 0``).

    Closed forms with ``a = tau / sqrt(q)``: ``<phi^2>_q = q K_2(a)``,
    ``<phi^4>_q = q^2 K_4(a)``, ``<phi'^2>_q = <phi'^4>_q = P(z > a)``,
    ``d<phi^2>/dq = P(z > a)`` (so ``V' = chi_1``, ICLR Table 1),
    ``d^2<phi^2>/dq^2 = d<phi'^2>/dq = a phi(a) / (2q)`` (``V'' > 0`` for ``tau > 0``);
    ``phi'^2 phi^2 = phi^2``.
    """

    name = "relu_tau"
    param_names = ("tau",)
    kernel_code = 0
    clamp_form = True
    clipped_family = "crelu"
    min_sparsity = 0.5

    @staticmethod
    def _phi(x, tau):
        return np.maximum(x - tau, 0.0)

    @staticmethod
    def _dphi(x, tau):
        return (x > tau).astype(float)

    @staticmethod
    def _kinks(tau):
        return [tau]

    def _closed_form(self, kind, dq, q, tau):
        a = tau / np.sqrt(q)
        if kind in ("dphi2", "dphi4"):
            return (_sf(a), a * _pdf(a) / (2 * q), None)[dq]
        if kind in ("phi2", "dphi2phi2"):
            return (q * _partial_moments(a, np.inf)[2], _sf(a), a * _pdf(a) / (2 * q))[dq]
        return q**2 * _partial_moments(a, np.inf)[4] if dq == 0 else None

    @staticmethod
    def _sparsity_closed(q, tau):
        return special.ndtr(tau / np.sqrt(q))

    @staticmethod
    def _contraction_closed(q, tau):
        return np.zeros(np.broadcast(q, tau).shape)

    @staticmethod
    def _tau_closed(s, q, **params):
        return np.sqrt(q) * special.ndtri(s)


class ReLU(ShiftedReLU):
    """``ReLU(x) = max(0, x)``: ``ReLU_tau`` at ``tau = 0``, sparsity 1/2 at every ``q``."""

    name = "relu"
    param_names = ("tau",)
    defaults = {"tau": 0.0}
    fixed_sparsity = 0.5

    def __init__(self, **params):
        if np.any(np.asarray(params.get("tau", 0.0)) != 0.0):
            raise ValueError("relu has tau = 0; use relu_tau for a shifted ReLU")
        super().__init__(**params)

    @staticmethod
    def _tau_closed(s, q, **params):
        if np.any(np.asarray(s) != 0.5):
            raise ValueError("relu has sparsity 0.5 at every q; use relu_tau for other sparsities")
        return np.zeros(np.shape(s))


class ClippedReLU(Activation):
    """``CReLU_{tau,m}(x) = min(max(x - tau, 0), m)`` (arXiv 2602.05779 eq. 1).

    With ``a = tau/sqrt(q)``, ``b = (tau+m)/sqrt(q)``, ``c = b - a``:
    ``<phi^2>_q = q (K_2(a,b) + c^2 P(z>b))``, ``<phi^4>_q = q^2 (K_4(a,b) + c^4 P(z>b))``,
    ``<phi'^2>_q = P(a<z<b)`` (eq. 15 over ``sigma_w^2``);
    ``d<phi^2>/dq = P(a<z<b) - c phi(b)`` (eq. 7 / 23);
    ``d^2<phi^2>/dq^2 = [a phi(a) - b phi(b) + c (1 - b^2) phi(b)] / (2q)`` (eq. 8 / 32);
    ``d<phi'^2>/dq = [a phi(a) - b phi(b)] / (2q)`` (eq. 16 / 33);
    ``<phi'^2 phi^2>_q = q K_2(a,b)`` (the linear region only).
    """

    name = "crelu"
    param_names = ("tau", "m")
    clip_param = "m"
    kernel_code = 2
    clamp_form = True

    @staticmethod
    def _phi(x, tau, m):
        return np.clip(x - tau, 0.0, m)

    @staticmethod
    def _dphi(x, tau, m):
        return ((x > tau) & (x < tau + m)).astype(float)

    @staticmethod
    def _kinks(tau, m):
        return [tau, tau + m]

    def _closed_form(self, kind, dq, q, tau, m):
        rq = np.sqrt(q)
        a, b = tau / rq, (tau + m) / rq
        c = b - a
        pa, pb = _pdf(a), _pdf(b)
        if kind in ("dphi2", "dphi4"):
            return (_partial_moments(a, b)[0], (a * pa - b * pb) / (2 * q), None)[dq]
        k = _partial_moments(a, b)
        if kind == "dphi2phi2":
            return q * k[2] if dq == 0 else None
        if kind == "phi2":
            return (
                q * (k[2] + c**2 * _sf(b)),
                k[0] - c * pb,
                (a * pa - b * pb + c * (1.0 - b * b) * pb) / (2 * q),
            )[dq]
        return q**2 * (k[4] + c**4 * _sf(b)) if dq == 0 else None

    @staticmethod
    def _sparsity_closed(q, tau, m):
        return special.ndtr(tau / np.sqrt(q))

    @staticmethod
    def _contraction_closed(q, tau, m):
        """``c phi(b)`` with ``c = m/sqrt(q)``, ``b = (tau+m)/sqrt(q)`` (arXiv eq. 40)."""
        rq = np.sqrt(q)
        return m / rq * _pdf((tau + m) / rq)

    @staticmethod
    def _tau_closed(s, q, **params):
        return np.sqrt(q) * special.ndtri(s)


class _Symmetrised(Activation):
    """``phi(x) = sign(x) psi(|x|)`` for a one-sided ``psi`` (ST from ReLU_tau, CST from CReLU).

    Every even Gaussian average doubles: ``<phi^k>_q = 2 <psi^k>_q`` and likewise for
    ``phi'``, hence ``V'_CST = 2 V'_CReLU`` and ``chi_1,CST = 2 chi_1,CReLU`` at equal
    ``sigma_w^2`` (ICLR 2024 App. E; arXiv eqs. 35-36).
    """

    one_sided: ClassVar[type[Activation]]
    symmetric = True

    @classmethod
    def _phi(cls, x, **p):
        return np.sign(x) * cls.one_sided._phi(np.abs(x), **p)

    @classmethod
    def _dphi(cls, x, **p):
        return cls.one_sided._dphi(np.abs(x), **p)

    @classmethod
    def _kinks(cls, **p):
        ks = cls.one_sided._kinks(**p)
        return ks + [-k for k in ks]

    def _closed_form(self, kind, dq, q, **p):
        half = self.one_sided(**p)._closed_form(kind, dq, q, **p)
        return None if half is None else 2.0 * half

    @classmethod
    def _contraction_closed(cls, q, **p):
        return 2.0 * cls.one_sided._contraction_closed(q, **p)

    @staticmethod
    def _sparsity_closed(q, tau, **p):
        return special.erf(tau / np.sqrt(2.0 * q))

    @staticmethod
    def _tau_closed(s, q, **params):
        return np.sqrt(2.0 * q) * special.erfinv(s)


class SoftThreshold(_Symmetrised):
    """``ST_tau(x) = sign(x) max(0, |x| - tau)`` (ICLR 2024 eq. 8); closed forms twice ReLU_tau's."""

    name = "st"
    param_names = ("tau",)
    kernel_code = 1
    clamp_form = True
    clipped_family = "cst"
    one_sided = ShiftedReLU


class ClippedSoftThreshold(_Symmetrised):
    """``CST_{tau,m}(x) = sign(x) CReLU_{tau,m}(|x|)`` (arXiv eq. 34); closed forms twice CReLU's."""

    name = "cst"
    param_names = ("tau", "m")
    clip_param = "m"
    kernel_code = 3
    clamp_form = True
    one_sided = ClippedReLU


class HardShrink(Activation):
    """``HardShrink_{tau,alpha,eps}`` as printed in arXiv 2602.05779 eq. 37 (one-sided).

    ``0`` for ``x < tau - eps``; ``alpha (x - tau + eps)`` on ``[tau - eps, tau + eps]``;
    ``x + 2 alpha eps - tau - eps`` above. Generic quadrature only. Defaults
    ``alpha = 10``, ``eps = 0.01`` as in the paper's Fig. 10-11.
    """

    name = "hardshrink"
    param_names = ("tau", "alpha", "eps")
    kernel_code = 4
    clipped_family = "chardshrink"
    defaults = {"alpha": 10.0, "eps": 0.01}

    @staticmethod
    def _phi(x, tau, alpha, eps):
        ramp = alpha * np.clip(x - tau + eps, 0.0, 2 * eps)
        return ramp + np.maximum(x - tau - eps, 0.0)

    @staticmethod
    def _dphi(x, tau, alpha, eps):
        return np.where(x < tau - eps, 0.0, np.where(x <= tau + eps, alpha, 1.0))

    @staticmethod
    def _kinks(tau, alpha, eps):
        return [tau - eps, tau + eps]

    @staticmethod
    def _tau_closed(s, q, eps=0.01, **params):
        return eps + np.sqrt(q) * special.ndtri(s)


class ClippedHardShrink(HardShrink):
    """``CHardShrink_{tau,alpha,eps,m}`` (arXiv eq. 38): HardShrink held constant for ``x > m``.

    Here ``m`` is the clipping *position* on the input axis (``m > tau + eps``), as printed.
    """

    name = "chardshrink"
    param_names = ("tau", "alpha", "eps", "m")
    clip_param = "m"
    kernel_code = 5
    clipped_family = None

    @staticmethod
    def _phi(x, tau, alpha, eps, m):
        return HardShrink._phi(np.minimum(x, m), tau, alpha, eps)

    @staticmethod
    def _dphi(x, tau, alpha, eps, m):
        return np.where(x > m, 0.0, HardShrink._dphi(x, tau, alpha, eps))

    @staticmethod
    def _kinks(tau, alpha, eps, m):
        return [tau - eps, tau + eps, m]

    @classmethod
    def clip_range(cls, s, q, tau=None, eps=0.01, **params):
        """``m`` is a position: it starts above the ramp, ``m > tau + eps``."""
        rq = np.sqrt(q)
        tau = cls.tau_for_sparsity(s, q, eps=eps)
        return tau + eps + 1e-4 * rq, tau + eps + 60.0 * rq


class Sawtooth(Activation):
    """``Sawtooth_{tau,m}(x) = max(0, m - |x - tau|)`` (arXiv eq. 39): a tent of height m at tau."""

    name = "sawtooth"
    param_names = ("tau", "m")
    clip_param = "m"
    kernel_code = 6
    tau_needs_clip = True

    @staticmethod
    def _phi(x, tau, m):
        return np.maximum(m - np.abs(x - tau), 0.0)

    @staticmethod
    def _dphi(x, tau, m):
        inside = np.abs(x - tau) < m
        return np.where(inside, -np.sign(x - tau), 0.0)

    @staticmethod
    def _kinks(tau, m):
        return [tau - m, tau, tau + m]

    @classmethod
    def clip_range(cls, s, q, tau=None, **params):
        """Sparsity ``s`` needs ``P(|z| < m / sqrt(q)) >= 1 - s`` (the least sparse tent is at
        ``tau = 0``), so ``m >= sqrt(q) Phi^-1(1 - s/2)``."""
        rq = np.sqrt(q)
        return (1 + 1e-6) * rq * special.ndtri(1.0 - 0.5 * np.asarray(s)), 60.0 * rq


FAMILIES: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (
        ReLU,
        ShiftedReLU,
        SoftThreshold,
        ClippedReLU,
        ClippedSoftThreshold,
        HardShrink,
        ClippedHardShrink,
        Sawtooth,
    )
}


def get_family(name: str) -> type[Activation]:
    """The activation class called ``name`` (one of :data:`FAMILIES`).

    Parameters
    ----------
    name : str
        The family's name, case-insensitive: ``relu, relu_tau, st, crelu, cst,
        hardshrink, chardshrink, sawtooth``.

    Returns
    -------
    type[Activation]
        The family's class (not an instance: its parameters are not yet given).

    Raises
    ------
    ValueError
        For a name that is not in :data:`FAMILIES`.

    Examples
    --------
    >>> from theory import get_family
    >>> cls = get_family("CReLU")
    >>> cls.__name__, cls.param_names, cls.clip_param
    ('ClippedReLU', ('tau', 'm'), 'm')
    """
    try:
        return FAMILIES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(FAMILIES)}") from None


def get_activation(name: str, **params) -> Activation:
    """The activation ``name`` with the given parameters.

    Parameters
    ----------
    name : str
        The family's name (:func:`get_family`).
    **params : float or array_like
        The family's parameters by name (``tau``, ``m``, ...); those left out take the
        family's defaults.

    Returns
    -------
    Activation
        The member of the family with these parameters.

    Raises
    ------
    ValueError
        For an unknown family.
    TypeError
        For a parameter the family does not have, or one missing without a default.

    Examples
    --------
    >>> from theory import get_activation
    >>> act = get_activation("crelu", tau=0.0, m=1.0)
    >>> act
    ClippedReLU(tau=0.0, m=1.0)
    >>> float(act.sparsity(2.0))      # tau = 0: half the units are zero at every q
    0.5
    """
    return get_family(name)(**params)
