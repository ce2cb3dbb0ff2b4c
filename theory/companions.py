"""Exact zero-mean companions of the finite-width chain: control variates for the claims.

Setting (SPEC.md, "Exact companions for estimators"): equal widths ``N``, Gaussian
weights, one input. Let ``F_k`` hold everything up to layer ``k - 1``, so that
``x_k = q_cond^(k)`` is ``F_k``-measurable (``x_1 = q*``). Given ``F_k`` the ``N``
pre-activations of layer ``k`` are i.i.d. ``N(0, x_k)`` **at any width**, so every
per-layer observable is a mean of ``N`` i.i.d. unit terms with moments known in closed
form at ``x_k``:

=========================================  ==============  ===========================
increment (``F_(k+1)``-measurable)          ``E[. | F_k]``  ``N E[. ^2 | F_k]``
=========================================  ==============  ===========================
``eps_k = x_(k+1) - V(x_k)``                0               ``S(x_k)`` (the r source)
``u_k = chi1^(k) / chi_1(x_k) - 1``         0               ``c2(x_k)``
``t_k = q_tilde^(k) / x_k - 1``             0               ``2``
=========================================  ==============  ===========================

with ``S = sigma_w^4 (<phi^4> - <phi^2>^2)``, ``c2 = <phi'^4>/<phi'^2>^2 - 1`` and the
within-layer covariance ``N E[u_k eps_k | F_k] = Cu(x_k) = sigma_w^2 (<phi'^2 phi^2> -
<phi'^2><phi^2>)/<phi'^2>``. These are martingale differences, so any combination with
coefficients fixed in advance has mean **exactly** zero, at every width, for every family
(no expansion is involved in the zero mean; the expansion only decides how much variance
a companion removes). With ``a_k = V'(q^(k))``, ``b_k = V''(q^(k))`` along the
infinite-width trajectory ``q`` (:class:`theory.expansion.ConfigurationTheory`):

* ``D1_(k+1) = a_k D1_k + eps_k`` (``D1_1 = 0``), the linear response of ``x`` to the
  injected noise: ``E D1_k = 0`` by induction (``E[eps_k | F_k] = 0``).
* ``P_(k+1) = a_k^2 P_k + S(x_k)/N`` and ``M_k = D1_k^2 - P_k``: expanding the square,
  ``E[M_(k+1) | F_k] = a_k^2 M_k + 2 a_k D1_k E[eps_k | F_k] + E[eps_k^2 | F_k] - S(x_k)/N
  = a_k^2 M_k``, and ``M_1 = 0``, so ``E M_k = 0``.
* ``D2_(k+1) = a_k D2_k + (b_k/2) M_k`` (``D2_1 = 0``): the quadratic response, mean zero.

Companions of the claims' statistics (each exactly mean zero):

* the mean of ``q_cond^(l)``: ``D1_l + D2_l``; ``x_l - D1_l - D2_l`` is then ``q^(l) +
  q~{1}/N`` plus noise of third order (per network ``O(N^-3/2)`` instead of ``O(N^-1/2)``);
* its second moment: ``M_l``; ``Var q_cond^(l)`` is estimated by the sample variance minus
  the mean of ``M_l`` (what is left of ``(x_l - E x_l)^2 - D1_l^2`` is of third order);
* ``q_tilde``: given ``x_l``, ``q_tilde = x_l (1 + t_l)``, so ``(q_tilde - mu)^2 -
  2 (x_l - mu) x_l t_l - x_l^2 (t_l^2 - 2/N) = (x_l - mu)^2 + 2 x_l^2/N``: subtracting the
  two companions leaves ``Var q_tilde = Var q_cond + 2 E q_cond^2 / N`` (Rao-Blackwell);
* ``log prod_(k<=l) chi1 = sum_k [log chi_1(x_k) + log(1 + u_k)]``; with ``g, g2`` the first
  two derivatives of ``log chi_1`` at ``q^(k)``:
  ``C_l = sum_(k<=l) [u_k - (u_k^2 - c2(x_k)/N)/2 + g_k (D1_k + D2_k) + g2_k M_k / 2]``;
* its second moment: the linear part ``L1_l = sum_(k<=l) (u_k + g_k D1_k) = sum_j xi_j``,
  ``xi_j = u_j + G_j eps_j``, ``G_j = sum_(j<k<=l) g_k prod_(j<i<k) a_i``, has
  ``E[xi_j^2 | F_j] = (c2 + 2 G_j Cu + G_j^2 S)(x_j)/N``, so ``L1_l^2 - Q_l`` with
  ``Q_l = sum_(j<=l) E[xi_j^2 | F_j]`` is mean zero.

Networks with a layer that passes no gradient (``chi1 = 0``) have ``log prod chi1 =
-inf``; their companions stay finite (``u = -1``), so the claims average the statistic over
the survivors and the companion over every network (:mod:`analysis.estimators`).
None of this holds for orthogonal weights (the rows of ``W`` are not independent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.maps import VarianceMap


@dataclass(frozen=True)
class UnitMoments:
    """The conditional moments of one layer's observables given its ``q_cond = x`` (arrays
    shaped like ``x``): ``V(x)``, ``S(x)``, ``chi_1(x)``, ``c2(x)`` and ``Cu(x)`` (module docstring)."""

    V: np.ndarray
    S: np.ndarray
    chi1: np.ndarray
    c2: np.ndarray
    Cu: np.ndarray

    @classmethod
    def at(cls, vmap: VarianceMap, x) -> "UnitMoments":
        """Every moment at every ``x`` (closed forms where the family has them)."""
        act = vmap.activation
        x = np.asarray(x, float)
        phi2, phi4 = act.expect("phi2", x), act.expect("phi4", x)
        mu1, mu2 = act.expect("dphi2", x), act.expect("dphi4", x)
        w2 = vmap.sigma_w2
        with np.errstate(divide="ignore", invalid="ignore"):
            c2 = mu2 / mu1**2 - 1.0
            cu = w2 * (act.expect("dphi2phi2", x) / mu1 - phi2)
        return cls(w2 * phi2 + vmap.sigma_b2, w2**2 * (phi4 - phi2**2), w2 * mu1, c2, cu)


@dataclass(frozen=True)
class Companions:
    """The companions of one batch of networks (arrays ``(networks, layers)``; module docstring).

    ``D1, D2, M``: the linear and quadratic responses of ``q_cond`` and the compensated
    square; ``log_chi1``: the per-layer terms of ``C`` (``None`` without ``chi1``), and
    ``linear``: those of ``L1``.
    """

    D1: np.ndarray
    D2: np.ndarray
    M: np.ndarray
    P: np.ndarray
    unit: UnitMoments
    u: np.ndarray | None
    log_chi1: np.ndarray | None
    linear: np.ndarray | None

    @property
    def q_cond(self) -> np.ndarray:
        """``D1 + D2``: the companion of ``q_cond`` at every layer."""
        return self.D1 + self.D2

    def log_prod_chi1(self, layer: int) -> np.ndarray:
        """``C_l``: the companion of ``log prod_(k<=l) chi1`` (1-based ``layer``)."""
        return self.log_chi1[:, :layer].sum(axis=1)

    def log_prod_chi1_square(self, layer: int, a: np.ndarray, g: np.ndarray, width: int) -> np.ndarray:
        """``L1_l^2 - Q_l``: the companion of the second moment of ``log prod_(k<=l) chi1``."""
        gains = response_gains(a[:layer], g[:layer])
        unit = self.unit
        q = (unit.c2[:, :layer] + 2.0 * gains * unit.Cu[:, :layer] + gains**2 * unit.S[:, :layer]).sum(axis=1) / width
        return self.linear[:, :layer].sum(axis=1) ** 2 - q


def response_gains(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``G_j = sum_(j<k<=l) g_k prod_(j<i<k) a_i`` for ``j = 1..l`` (``l = len(g)``; module
    docstring): the response of ``sum_k g_k D1_k`` to ``eps_j``.

    Examples
    --------
    >>> response_gains(np.array([0.5, 0.5, 0.5]), np.ones(3)).tolist()
    [1.5, 1.0, 0.0]
    """
    gains = np.zeros(len(g))
    for j in range(len(g) - 2, -1, -1):
        # G_j = g_(j+1) + a_(j+1) G_(j+1) (0-based: layer j+1's noise reaches layer j+2 first)
        gains[j] = g[j + 1] + a[j + 1] * gains[j + 1]
    return gains


def companions(vmap: VarianceMap, a: np.ndarray, b: np.ndarray, g: np.ndarray, g2: np.ndarray, width: int,
               q_cond: np.ndarray, chi1: np.ndarray | None = None) -> Companions:
    """The companions of a batch of networks (module docstring).

    Parameters
    ----------
    vmap
        The configuration's maps (``V``, the unit moments).
    a, b, g, g2
        ``V'``, ``V''`` and the first two derivatives of ``log chi_1`` along the trajectory
        (arrays over the ``L`` layers; :class:`theory.expansion.ConfigurationTheory`).
    width
        ``N``, the width of every layer.
    q_cond, chi1
        The networks' ``q_cond`` and (optionally) ``chi1``, shape ``(networks, L)``.

    Returns
    -------
    Companions

    Examples
    --------
    ReLU networks of width 10 (``V`` linear, so ``x_l - D1_l`` is exactly ``q*`` for every
    network):

    >>> from theory import get_activation
    >>> from theory.maps import VarianceMap
    >>> vmap = VarianceMap(get_activation("relu"), 2.0, 0.0)
    >>> rng = np.random.default_rng(0)
    >>> x = np.ones((4000, 5))
    >>> for k in range(4):
    ...     h = rng.standard_normal((4000, 10)) * np.sqrt(x[:, k:k + 1])
    ...     x[:, k + 1] = 2.0 * (np.maximum(h, 0.0) ** 2).mean(axis=1)
    >>> x = x[np.all(x > 0, axis=1)]  # a layer with every unit off ends a ReLU network (sigma_b = 0)
    >>> c = companions(vmap, np.ones(5), np.zeros(5), np.zeros(5), np.zeros(5), 10, x)
    >>> bool(np.allclose(x - c.q_cond, 1.0))
    True
    """
    x = np.asarray(q_cond, float)
    unit = UnitMoments.at(vmap, x)
    n, depth = x.shape
    D1, D2, P = (np.zeros_like(x) for _ in range(3))
    eps = x[:, 1:] - unit.V[:, :-1]
    for k in range(depth - 1):
        M_k = D1[:, k] ** 2 - P[:, k]
        D1[:, k + 1] = a[k] * D1[:, k] + eps[:, k]
        D2[:, k + 1] = a[k] * D2[:, k] + 0.5 * b[k] * M_k
        P[:, k + 1] = a[k] ** 2 * P[:, k] + unit.S[:, k] / width
    M = D1**2 - P
    u = log_terms = linear = None
    if chi1 is not None:
        u = np.asarray(chi1, float) / unit.chi1 - 1.0
        log_terms = u - 0.5 * (u**2 - unit.c2 / width) + g * (D1 + D2) + 0.5 * g2 * M
        linear = u + g * D1
    return Companions(D1, D2, M, P, unit, u, log_terms, linear)
