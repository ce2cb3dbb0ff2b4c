"""Infinite-width maps of a network ``(phi, sigma_w^2, sigma_b^2)`` (arXiv 2602.05779 Sec. 2).

* variance map ``V(q) = sigma_w^2 <phi^2>_q + sigma_b^2`` (eq. 3) and its derivatives;
* ``chi_1(q) = sigma_w^2 <phi'^2>_q`` (eqs. 5-6) and ``chi_1'(q)``;
* the correlation map ``R(rho)`` (eq. 4), a two-dimensional Gaussian integral
  (:mod:`theory.kernel_map`, exact also in ``1 - R``);
* the fixed points of ``V`` in a range with their stability (``|V'(q)| < 1``), which
  finds the bifurcations of ICLR 2024 Fig. 4 and arXiv Fig. 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from theory.activations import Activation
from theory.kernel_map import KernelMap
from theory.quadrature import gaussian_expect


@dataclass(frozen=True)
class FixedPoint:
    """A fixed point ``V(q) = q``; ``stable`` when ``|V'(q)| < 1``.

    Returned by :meth:`VarianceMap.fixed_points`.

    Parameters
    ----------
    q : float
        The fixed point ``q`` of the variance map.
    vprime : float
        The slope ``V'(q)`` there; the property ``stable`` is ``|V'(q)| < 1``.

    Examples
    --------
    >>> from theory import solve_eoc
    >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    >>> [(round(p.q, 6), round(p.vprime, 6), p.stable) for p in sol.variance_map.fixed_points()]
    [(1.0, 0.7, True)]
    >>> FixedPoint(q=2.0, vprime=1.5).stable
    False
    """

    q: float
    vprime: float

    @property
    def stable(self) -> bool:
        return abs(self.vprime) < 1.0


@dataclass(frozen=True)
class VarianceMap:
    """The maps of a network with activation ``activation`` and variances ``sigma_w2, sigma_b2``.

    ``V(q)``, ``V'(q)``, ``V''(q)``, ``chi_1(q)``, ``chi_1'(q)``, the source term of the
    ``r`` recursion, trajectories, the correlation map ``R(rho)`` and the fixed points of
    ``V`` (module docstring; arXiv 2602.05779 eqs. 3-6).

    Parameters
    ----------
    activation : Activation
        The activation ``phi`` (:func:`theory.get_activation`).
    sigma_w2, sigma_b2 : float or numpy.ndarray
        The weight and bias variances ``sigma_w^2``, ``sigma_b^2`` (arrays broadcast with
        ``q`` and the activation's parameters).

    Examples
    --------
    >>> import math
    >>> from theory import get_activation
    >>> vmap = VarianceMap(get_activation("relu"), 2.0, 0.0)   # ReLU at the EoC (He)
    >>> float(vmap.V(1.5)), float(vmap.dV(1.5)), float(vmap.chi1(1.5))   # V(q) = q, chi_1 = 1
    (1.5, 1.0, 1.0)
    >>> round(vmap.R(0.0, 1.0) * math.pi, 12)   # arc-cosine kernel: R(0) = 1/pi
    1.0
    """

    activation: Activation
    sigma_w2: float | np.ndarray
    sigma_b2: float | np.ndarray

    def V(self, q):
        """``V(q) = sigma_w^2 <phi^2>_q + sigma_b^2``.

        Parameters
        ----------
        q : float or array_like
            The variance ``q > 0`` (broadcast with the variances and the activation's parameters).

        Returns
        -------
        numpy.ndarray
            ``V(q)``.

        Examples
        --------
        >>> from theory import get_activation, solve_eoc
        >>> float(VarianceMap(get_activation("relu"), 2.0, 0.0).V(1.5))   # ReLU at the EoC: V(q) = q
        1.5
        >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
        >>> round(float(sol.variance_map.V(sol.q_star)), 12)                # V(q*) = q*
        1.0
        """
        return self.sigma_w2 * self.activation.expect("phi2", q) + self.sigma_b2

    def dV(self, q):
        """``V'(q) = sigma_w^2 d<phi^2>_q/dq`` (CReLU: arXiv eq. 7).

        Parameters
        ----------
        q : float or array_like
            The variance ``q > 0`` (broadcast with the variances and the activation's parameters).

        Returns
        -------
        numpy.ndarray
            ``V'(q)``.

        Examples
        --------
        >>> from theory import get_activation, solve_eoc
        >>> float(VarianceMap(get_activation("relu"), 2.0, 0.0).dV(1.5))  # ReLU at the EoC: V' = 1
        1.0
        >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
        >>> round(float(sol.variance_map.dV(sol.q_star)), 12)               # the target V'(q*)
        0.7
        """
        return self.sigma_w2 * self.activation.expect("phi2", q, dq=1)

    def d2V(self, q):
        """``V''(q)`` (CReLU: arXiv eq. 8).

        Parameters
        ----------
        q : float or array_like
            The variance ``q > 0`` (broadcast with the variances and the activation's parameters).

        Returns
        -------
        numpy.ndarray
            ``V''(q) = sigma_w^2 d^2<phi^2>_q/dq^2``.

        Examples
        --------
        >>> from theory import get_activation, solve_eoc
        >>> float(VarianceMap(get_activation("relu"), 2.0, 0.0).d2V(1.5))  # ReLU: V is linear
        0.0
        >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
        >>> round(float(sol.variance_map.d2V(sol.q_star)), 12), round(sol.vsecond, 12)
        (0.02291274995, 0.02291274995)
        """
        return self.sigma_w2 * self.activation.expect("phi2", q, dq=2)

    def chi1(self, q):
        """``chi_1(q) = sigma_w^2 <phi'^2>_q`` (arXiv eq. 6; CReLU: eq. 15).

        Parameters
        ----------
        q : float or array_like
            The variance ``q > 0`` (broadcast with the variances and the activation's parameters).

        Returns
        -------
        numpy.ndarray
            ``chi_1(q)``.

        Examples
        --------
        >>> from theory import get_activation, solve_eoc
        >>> float(VarianceMap(get_activation("relu"), 2.0, 0.0).chi1(1.5))   # 2 P(z > 0) = 1
        1.0
        >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
        >>> round(float(sol.variance_map.chi1(sol.q_star)), 12)                # chi_1(q*) = 1 at the EoC
        1.0
        """
        return self.sigma_w2 * self.activation.expect("dphi2", q)

    def dchi1(self, q):
        """``chi_1'(q)`` (CReLU: arXiv eq. 16).

        Parameters
        ----------
        q : float or array_like
            The variance ``q > 0`` (broadcast with the variances and the activation's parameters).

        Returns
        -------
        numpy.ndarray
            ``chi_1'(q) = sigma_w^2 d<phi'^2>_q/dq``.

        Examples
        --------
        >>> from theory import get_activation, solve_eoc
        >>> float(VarianceMap(get_activation("relu"), 2.0, 0.0).dchi1(1.5))  # ReLU: chi_1 constant in q
        0.0
        >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
        >>> round(float(sol.variance_map.dchi1(sol.q_star)), 12), round(sol.chi1_prime, 12)
        (0.603408168964, 0.603408168964)
        """
        return self.sigma_w2 * self.activation.expect("dphi2", q, dq=1)

    def fluctuation(self, q):
        """``sigma_w^4 (<phi^4>_q - <phi^2>_q^2)``: the source term of the ``r`` recursion (eq. 12).

        Parameters
        ----------
        q : float or array_like
            The variance ``q > 0`` (broadcast with the variances and the activation's parameters).

        Returns
        -------
        numpy.ndarray
            ``sigma_w^4 (<phi^4>_q - <phi^2>_q^2)``.

        Examples
        --------
        >>> from theory import get_activation
        >>> vmap = VarianceMap(get_activation("relu"), 2.0, 0.0)   # 4 (3 q^2/2 - q^2/4) = 5 q^2
        >>> float(vmap.fluctuation(1.0)), float(vmap.fluctuation(2.0))
        (5.0, 20.0)
        """
        phi2 = self.activation.expect("phi2", q)
        return self.sigma_w2**2 * (self.activation.expect("phi4", q) - phi2**2)

    def trajectory(self, q1: float, depth: int) -> np.ndarray:
        """``q^(1..depth)`` with ``q^(l+1) = V(q^(l))`` (eq. 42).

        Parameters
        ----------
        q1 : float
            The layer-1 variance ``q^(1)``.
        depth : int
            The number of layers.

        Returns
        -------
        numpy.ndarray
            ``q^(1), ..., q^(depth)``, shape ``(depth,)``.

        Examples
        --------
        >>> from theory import get_activation
        >>> vmap = VarianceMap(get_activation("relu"), 1.0, 0.5)   # V(q) = q/2 + 1/2, fixed point q* = 1
        >>> vmap.trajectory(3.0, 4).tolist()
        [3.0, 2.0, 1.5, 1.25]
        """
        q = np.empty(depth)
        q[0] = q1
        for layer in range(1, depth):
            q[layer] = self.V(q[layer - 1])
        return q

    def R(self, rho, q):
        """Correlation map ``R(rho)`` at equal input variances ``q`` (arXiv eq. 4).

        ``R(rho) = (sigma_w^2 E[phi(u_1) phi(u_2)] + sigma_b^2) / q`` with
        ``u_1 = sqrt(q) z_1``, ``u_2 = sqrt(q)(rho z_1 + sqrt(1 - rho^2) z_2)``. At ``rho = 1``
        it is ``V(q)/q``.

        Computed by the exact two-input kernel map (:class:`theory.kernel_map.KernelMap`):
        closed forms through the bivariate normal, and near the diagonal
        (``1 - rho <= 0.1``) ``R = (V(q) - Delta)/q`` with the deficit
        ``Delta = (sigma_w^2/2) E[(phi(u_1) - phi(u_2))^2]`` integrated directly, so that
        ``1 - R`` keeps ``~1e-15`` relative accuracy down to ``1 - rho = 1e-8`` (up to the
        rounding of ``R`` itself near 1; ``KernelMap.one_minus_R`` returns ``1 - R``).
        Activations that are not continuous and piecewise linear, or maps with array
        parameters, use the nested kink-splitting quadrature, which loses digits of
        ``1 - R`` as ``rho -> 1``.

        Parameters
        ----------
        rho : float
            The correlation of the two inputs, in ``[-1, 1]``.
        q : float
            The variance of both inputs, ``q > 0``.

        Returns
        -------
        float
            ``R(rho)``.

        Raises
        ------
        ValueError
            For ``rho`` outside ``[-1, 1]``.

        Examples
        --------
        >>> import math
        >>> from theory import get_activation
        >>> vmap = VarianceMap(get_activation("relu"), 2.0, 0.0)   # ReLU at the EoC
        >>> vmap.R(1.0, 1.5), vmap.R(-1.0, 1.5)      # R(1) = V(q)/q = 1; phi(u) phi(-u) = 0
        (1.0, 0.0)
        >>> # arc-cosine kernel: R(1/2) = sqrt(3)/(2 pi) + 1/3, at every q
        >>> round(vmap.R(0.5, 2.0), 12), round(3**0.5 / (2 * math.pi) + 1 / 3, 12)
        (0.608997781044, 0.608997781044)
        """
        rho = float(rho)
        q = float(q)
        if not -1.0 <= rho <= 1.0:
            raise ValueError("rho must lie in [-1, 1]")
        try:
            kmap = KernelMap.from_variance_map(self)
            kmap.ramps  # noqa: B018 -- raises for a family without the piecewise-linear form
        except (ValueError, TypeError):
            return self._R_nested(rho, q)
        return float(kmap.F_gap(q, q, 1.0 - rho)[1]) / q

    def _R_nested(self, rho: float, q: float):
        """``R(rho)`` by nested kink-splitting quadrature (any activation): the inner
        average over ``z_2`` at mean ``sqrt(q) rho z_1`` and standard deviation
        ``sqrt(q (1 - rho^2))``, the outer one against ``phi(u_1)``."""
        act = self.activation
        if abs(rho) == 1.0:
            (cross,) = gaussian_expect(
                [lambda x, **p: act._phi(x, **p) * act._phi(rho * x, **p)],
                act.kinks + [rho * k for k in act.kinks],
                params=act.params,
                std=np.sqrt(q),
            )
        else:
            inner_sd = np.sqrt(q * (1.0 - rho * rho))

            def outer(x, **p):
                (inner,) = gaussian_expect(
                    [lambda y, **pp: act._phi(y, **pp)], act.kinks, params=p, mean=rho * x, std=inner_sd
                )
                return act._phi(x, **p) * inner

            (cross,) = gaussian_expect([outer], act.kinks, params=act.params, std=np.sqrt(q))
        return (self.sigma_w2 * cross + self.sigma_b2) / q

    def fixed_points(self, q_min: float = 1e-3, q_max: float = 10.0, n_grid: int = 2000) -> list[FixedPoint]:
        """All fixed points of ``V`` in ``[q_min, q_max]`` located by sign changes of
        ``V(q) - q`` on a geometric grid and refined by Brent's method (tangential double
        roots that do not change sign are not reported).

        Parameters
        ----------
        q_min, q_max : float, optional
            The range searched, ``0 < q_min < q_max``; default ``[1e-3, 10]``.
        n_grid : int, optional
            The number of points of the geometric grid; default 2000.

        Returns
        -------
        list of FixedPoint
            The fixed points in increasing ``q``, each with ``V'(q)`` (and so its stability).

        Raises
        ------
        ValueError
            Unless ``0 < q_min < q_max``.

        Examples
        --------
        >>> from theory import get_activation
        >>> vmap = VarianceMap(get_activation("relu"), 1.0, 0.5)   # V(q) = q/2 + 1/2
        >>> [(round(p.q, 12), round(p.vprime, 12), p.stable) for p in vmap.fixed_points()]
        [(1.0, 0.5, True)]
        """
        if not 0 < q_min < q_max:
            raise ValueError("need 0 < q_min < q_max")
        grid = np.geomspace(q_min, q_max, n_grid)
        gap = self.V(grid) - grid
        points = []
        for i in np.flatnonzero(np.sign(gap[:-1]) * np.sign(gap[1:]) <= 0):
            if gap[i] == 0.0:
                root = grid[i]
            elif gap[i + 1] == 0.0:
                continue
            else:
                root = brentq(lambda q: float(self.V(q)) - q, grid[i], grid[i + 1], xtol=1e-14, rtol=1e-14)
            points.append(FixedPoint(q=float(root), vprime=float(self.dV(root))))
        return points
