"""The distribution of ``prod chi1`` and of back-propagated gradient norms at finite width.

The papers' training stability (arXiv 2602.05779 Definition 2.1) asks that
``prod_{l<=L} chi1^(l)`` stay ``O(1)``. At finite width ``log prod chi1`` is a random
variable of mean ``sum log chi_1(q^(l)) + O(L/N)`` (:func:`theory.log_chi1_drift`) and of
variance ``O(L/N)``, derived here (this suite's own derivation; it is in neither paper).

Setting: equal widths ``N``, Gaussian weights, one input. ``q_cond^(l) = q^(l) + delta_l``
is the exact scalar Markov chain of :mod:`theory.next_order`:
``delta_(l+1) = V'(q^(l)) delta_l + xi_l + O(delta^2)`` with ``Var xi_l = S/N`` (the
``r`` source). Given ``q_cond^(l)``, the measured ``chi1^(l)`` is a mean over the ``N``
units of layer ``l``: ``log chi1^(l) = log chi_1(q^(l)) + g_l delta_l + eps_l + O(1/N)``
with ``g = chi_1'/chi_1`` and ``N Var eps = c2 = <phi'^4>/<phi'^2>^2 - 1``. Layer ``l``'s
pre-activations make both ``eps_l`` and ``xi_l``, so
``N Cov(eps_l, xi_l) = C = sigma_w^2 (<phi'^2 phi^2> - <phi'^2><phi^2>) / <phi'^2>``.

Variance of ``X_L = log prod_{l<=L} chi1^(l)``. Carrying ``Cov(X_l, delta_l) = c/N``
(``c' = V' c + g V' r + C``) and ``N Var X`` (``+= c2 + g^2 r + 2 g c``) along the chain
splits ``N Var X_L`` into three sources:

* ``sampling = sum_l c2_l``: the per-layer sampling noise of ``<phi'^2>`` (for CReLU the
  binomial count of units in the linear region);
* ``propagated``: fluctuations of ``q_cond`` carried through ``chi_1'(q)`` (the papers'
  mechanism, an AR(1) with coefficient ``V'(q*)``); equivalently ``sum_k G_k^2 S_k`` with
  ``G_k = sum_(l>k) g_l prod_(k<j<l) V'_j``;
* ``covariance = 2 sum_k G_k C_k``: the two within a layer.

At the fixed point (``p = V'(q*)``, ``g, S, C, c2`` at ``q*``, ``m = L - k``):
``sampling = L c2``, ``propagated = S g^2/(1-p)^2 sum_(m<L) (1 - p^m)^2`` and
``covariance = 2 C g/(1-p) sum_(m<L) (1 - p^m)``; per layer, for ``L >> 1/(1-p)``,
``c2 + S g^2/(1-p)^2 + 2 C g/(1-p)``.

Next order. Tracking also ``kappa(X, delta, delta)`` and the ``1/N^2`` parts of
``Cov(X, delta)`` and ``Var X`` with the laws of total (co)variance and cumulance, as
:mod:`theory.next_order` does for ``delta`` alone, gives ``N Var X = V1 + V2/N +
O(N^-2)``. Besides the chain's coefficients it needs ``E[log chi1 | q]`` to ``O(1/N^2)``
and, per layer, ``N^2 Var(log chi1 | q) - N c2 = 5 c2^2/2 - c3``, the ``1/N^2`` part of
``N Cov(log chi1, xi | q)``: ``c2 C - kappa(u, u, w)/2``, and
``N^2 kappa(log chi1, xi, xi | q) = kappa(u, w, w) - C^2``, with ``u = phi'^2/<phi'^2>``
and ``w = sigma_w^2 phi^2`` one unit's terms.

Back-propagated norm. ``delta^(l-1) = phi'(h^(l-1)) * W^(l)T delta^(l)`` from a uniformly
random unit vector at layer ``L``. Given the forward pass the weights are Gaussian
conditioned on ``W x + b = h`` (Matheron's rule, :mod:`simulate.kernels`):
``W^T delta = g + (sigma_w^2/N) x s`` with ``g`` fresh ``N(0, sigma_w^2 |delta|^2/N)``
and a scalar ``s = (h.delta - x.g - beta)/q_cond``. Squaring, one step multiplies
``|delta|^2`` by

* ``chi1^(l-1)``, the same factor as the forward product;
* the gradient's own sampling noise ``sum_j phi'_j^2 g_j^2 / sum_j phi'_j^2 sigma^2``:
  ``E log = -(1 + c2)/N`` and ``N Var log = 2 (1 + c2)`` (independent of the forward pass);
* in mean, the conditioning: ``(1/N) sigma_w^2 <phi'^2 phi^2>_(l-1) (Y_l - 1) /
  (q^(l) <phi'^2>_(l-1))`` with ``Y_l = E (h^(l).delta^(l))^2 / (q^(l) |delta^(l)|^2)``,
  ``Y_L = 1`` and ``Y_l = (sigma_w^2 <h^2 phi'^2>_l + sigma_w^4 <h phi phi'>_l^2
  (Y_(l+1) - 1)/q^(l+1)) / (q^(l) chi_1(q^(l)))``; its fluctuations enter at ``O(1/N^2)``.

So ``log |delta^(1)|^2`` has mean ``sum_(k<L) (log chi_1 + coef_k/N - (1 + c2_k)/N) +
sum_(l>=2) conditioning_l / N`` and ``N Var = N Var X_(L-1) + 2 sum_(k<L) (1 + c2_k)``.
For ReLU (``c2 = 1``, ``g = 0``, ``Y = 1``) this is Hanin & Nica's (2019) law: variance
``5 (L-1)/N``, mean ``-5 (L-1)/(2N)`` (tested).

Of the ``1/N^2`` order of the back-propagated norm, the forward part and the gradient
noise's own part are derived: with ``w_j = a_j / sum a``, ``a = phi'^2``,
``E[log R | a] = -sum w^2 + 8/3 sum w^3 - 3 (sum w^2)^2`` and
``Var[log R | a] = 2 sum w^2 + 10 (sum w^2)^2 - 8 sum w^3``, averaged over the ``a``
(``N E sum w^2 = (1 + c2)(1 + (3 c2 - 2 (mu3/(mu1 mu2) - 1))/N)``, ``mu_k = <a^k>``).
The next order of the conditioning term (through the fluctuations of ``q_cond``, which
``Y`` amplifies by up to ``1/(1 - V'^2)``) is not derived: at ``V' = 0.9`` it is what
keeps ``N = 1000`` out of the regime (measured ``Y`` = 6.4 against 8.7; 8.0 +- 0.5 at
``N = 4000``).

Definition 2.1 made quantitative: with ``X`` Gaussian (the sum of ``L`` layers' terms,
each a mean over ``N`` units), the fraction of networks with ``|log prod chi1| <= log K``
is ``Phi((log K - mu)/s) - Phi((-log K - mu)/s)`` (:func:`stable_fraction`). It is
valid where each layer has many units carrying the gradient (``N/c2 >> 1``), no layer
passes none (``L P(phi' = 0)^N << 1``) and the next order is small (``V2/(N V1) << 1``).

Every quantity is exactly scale covariant: at fixed ``s`` and ``V'(q*)`` none depends on
``q*`` (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from theory.finite_width import log_chi1_drift
from theory.maps import VarianceMap
from theory.next_order import (
    chain_coefficients,
    dead_gradient_probability,
    dphi_power,
    log_chi1_law,
    log_chi1_next_order,
    next_order_recursion,
    phi_power,
    unit_average,
)

#: the variance sources of ``log prod chi1``, in the order they are reported
SOURCES = ("sampling", "propagated", "covariance")
#: fewest units carrying the gradient per layer (``N / c2``) for the log-normal law of
#: ``prod chi1``: below it each layer's factor is a skewed count of a few units
MIN_ACTIVE_UNITS = 30


@dataclass(frozen=True)
class LogProductMoments:
    """Mean and variance of ``X_l = log prod_(k<=l) chi1^(k)`` for every depth ``l = 1..L``.

    ``E X_l = lead + mean_coef/N + mean_coef2/N^2`` and
    ``N Var X_l = sampling + propagated + covariance + var_coef2/N`` (module docstring);
    every field is an array over ``l``.
    """

    lead: np.ndarray
    mean_coef: np.ndarray
    mean_coef2: np.ndarray
    sampling: np.ndarray
    propagated: np.ndarray
    covariance: np.ndarray
    var_coef2: np.ndarray

    @property
    def var_coef(self) -> np.ndarray:
        """``lim N Var X_l``: the sum of the three sources."""
        return self.sampling + self.propagated + self.covariance

    def mean(self, width) -> np.ndarray:
        """``E X_l`` at ``O(L/N)``."""
        return self.lead + self.mean_coef / width

    def var(self, width) -> np.ndarray:
        """``Var X_l`` at ``O(L/N)``."""
        return self.var_coef / width


def _layer_terms(vmap: VarianceMap, q: np.ndarray) -> dict[str, np.ndarray]:
    """One layer's moments at each ``q``: ``C``, its derivatives and the joint cumulants
    of ``(u, w) = (phi'^2/<phi'^2>, sigma_w^2 phi^2)`` (module docstring)."""
    w2 = vmap.sigma_w2
    mu = [unit_average(vmap, dphi_power(2), q, k) for k in range(3)]
    cross = [unit_average(vmap, lambda x, f, d: d**2 * f**2, q, k) for k in range(3)]
    phi2 = [unit_average(vmap, phi_power(2), q, k) for k in range(3)]
    c_cov = w2 * (cross[0] / mu[0] - phi2[0])
    dc_cov = w2 * (cross[1] / mu[0] - cross[0] * mu[1] / mu[0] ** 2 - phi2[1])
    ddc_cov = w2 * (
        cross[2] / mu[0] - 2.0 * cross[1] * mu[1] / mu[0] ** 2 - cross[0] * mu[2] / mu[0] ** 2
        + 2.0 * cross[0] * mu[1] ** 2 / mu[0] ** 3 - phi2[2]
    )
    d4f2 = unit_average(vmap, lambda x, f, d: d**4 * f**2, q)
    d2f4 = unit_average(vmap, lambda x, f, d: d**2 * f**4, q)
    phi4 = unit_average(vmap, phi_power(4), q)
    c2 = unit_average(vmap, dphi_power(4), q) / mu[0] ** 2 - 1.0
    # kappa(u, u, w) = E[(u - 1)^2 (w - E w)];  kappa(u, w, w) = E[(u - 1)(w - E w)^2]
    kappa_uuw = w2 * (d4f2 / mu[0] ** 2 - 2.0 * cross[0] / mu[0] + phi2[0]) - c2 * w2 * phi2[0]
    kappa_uww = w2**2 * ((d2f4 - 2.0 * phi2[0] * cross[0] + phi2[0] ** 2 * mu[0]) / mu[0] - phi4 + phi2[0] ** 2)
    return {"C": c_cov, "dC": dc_cov, "ddC": ddc_cov, "kappa_uuw": kappa_uuw, "kappa_uww": kappa_uww}


def log_prod_chi1_moments(vmap: VarianceMap, q: np.ndarray) -> LogProductMoments:
    """:class:`LogProductMoments` along the trajectory ``q = q^(1..L)`` (module docstring);
    ``q`` of shape ``(L,)`` or ``(L, ...)``, extra axes broadcasting with the map's parameters.

    Examples
    --------
    ReLU: ``chi1 = 2 k / N`` with ``k`` binomial, so ``N Var log prod chi1 = L`` and no
    fluctuation of ``q`` propagates:

    >>> import numpy as np
    >>> from theory import get_activation
    >>> from theory.maps import VarianceMap
    >>> m = log_prod_chi1_moments(VarianceMap(get_activation("relu"), 2.0, 0.0), np.ones(10))
    >>> float(m.var_coef[-1]), bool(abs(m.propagated[-1]) < 1e-20)
    (10.0, True)
    """
    q = np.asarray(q, float)
    depth = q.shape[0]
    nxt = next_order_recursion(vmap, q)
    ch = chain_coefficients(vmap, q)
    law = log_chi1_law(vmap, q)
    lay = _layer_terms(vmap, q)
    lead, coef = log_chi1_drift(vmap, q)
    coef2 = log_chi1_next_order(vmap, q)
    a, b, c, s1 = ch.a, ch.b, ch.c, ch.s1
    m1, m2, m3 = law.dlog[:3]
    v, (dv, ddv) = law.c2, law.dc2
    v2 = 2.5 * law.c2**2 - law.c3
    dg1 = -0.5 * dv
    cc, dcc, ddcc = lay["C"], lay["dC"], lay["ddC"]
    cc2 = law.c2 * cc - 0.5 * lay["kappa_uuw"]
    t_eww = lay["kappa_uww"] - cc**2
    q1, r, r2, k3 = nxt.q1, nxt.r, nxt.r2, nxt.kappa3
    out = {name: np.zeros(q.shape) for name in (*SOURCES, "var_coef2")}
    c_prop = c_cov = c_next = kappa = np.zeros(q.shape[1:])  # Cov(X, delta) = (c_prop + c_cov)/N + c_next/N^2; kappa(X, delta, delta) N^2
    totals = {name: np.zeros(q.shape[1:]) for name in out}
    for j in range(depth):
        c_lead = c_prop + c_cov
        totals["sampling"] += v[j]
        totals["propagated"] += 2.0 * m1[j] * c_prop + m1[j] ** 2 * r[j]
        totals["covariance"] += 2.0 * m1[j] * c_cov
        totals["var_coef2"] += (
            2.0 * (m1[j] * c_next + 0.5 * m2[j] * (kappa + 2.0 * q1[j] * c_lead) + 0.5 * m3[j] * r[j] * c_lead + dg1[j] * c_lead)
            + m1[j] ** 2 * r2[j] + m1[j] * m2[j] * (k3[j] + 2.0 * q1[j] * r[j]) + (m1[j] * m3[j] + 0.5 * m2[j] ** 2) * r[j] ** 2
            + 2.0 * m1[j] * dg1[j] * r[j] + dv[j] * q1[j] + 0.5 * ddv[j] * r[j] + v2[j]
        )
        for name in out:
            out[name][j] = totals[name]
        c_next, kappa = (
            a[j] * c_next + 0.5 * b[j] * (kappa + 2.0 * q1[j] * c_lead) + 0.5 * c[j] * r[j] * c_lead
            + m1[j] * a[j] * r2[j] + 0.5 * (m1[j] * b[j] + m2[j] * a[j]) * (k3[j] + 2.0 * q1[j] * r[j])
            + 0.5 * (m1[j] * c[j] + m3[j] * a[j]) * r[j] ** 2 + 0.5 * m2[j] * b[j] * r[j] ** 2 + dg1[j] * a[j] * r[j]
            + dcc[j] * q1[j] + 0.5 * ddcc[j] * r[j] + cc2[j],
            a[j] ** 2 * kappa + 2.0 * a[j] * b[j] * r[j] * c_lead + s1[j] * c_lead + m1[j] * a[j] ** 2 * k3[j]
            + 2.0 * m1[j] * a[j] * b[j] * r[j] ** 2 + m2[j] * a[j] ** 2 * r[j] ** 2 + m1[j] * s1[j] * r[j]
            + t_eww[j] + 2.0 * a[j] * dcc[j] * r[j],
        )
        c_prop = a[j] * c_prop + m1[j] * a[j] * r[j]
        c_cov = a[j] * c_cov + cc[j]
    return LogProductMoments(np.cumsum(lead, axis=0), np.cumsum(coef, axis=0), np.cumsum(coef2, axis=0), **out)


def fixed_point_sources(vmap: VarianceMap, q_star: float, depth: int) -> dict[str, float]:
    """The three sources of ``N Var log prod chi1`` over ``depth`` layers at the fixed
    point, in closed form (module docstring); ``V'(q*) < 1``."""
    p = float(vmap.dV(q_star))
    if not 0.0 < p < 1.0:
        raise ValueError("the closed form needs 0 < V'(q*) < 1")
    g = float(vmap.dchi1(q_star) / vmap.chi1(q_star))
    law = log_chi1_law(vmap, np.array([q_star]))
    cc = float(_layer_terms(vmap, np.array([q_star]))["C"][0])
    m = np.arange(1, depth)
    return {
        "sampling": depth * float(law.c2[0]),
        "propagated": float(vmap.fluctuation(q_star)) * g**2 / (1 - p) ** 2 * float(np.sum((1 - p**m) ** 2)),
        "covariance": 2.0 * cc * g / (1 - p) * float(np.sum(1 - p**m)),
    }


@dataclass(frozen=True)
class BackNormMoments:
    """``log |delta^(1)|^2`` for an error vector back-propagated from a random unit vector at
    layer ``L`` (module docstring).

    ``E = lead + (forward_drift + gradient_drift + conditioning)/N + mean_coef2/N^2`` and
    ``N Var = sum(forward.values()) + gradient_var + var_coef2/N``; the ``1/N^2``
    coefficients hold the parts that are derived (forward and gradient noise, not the
    conditioning's next order).
    """

    lead: float
    forward_drift: float
    gradient_drift: float
    conditioning: float
    mean_coef2: float
    forward: dict
    gradient_var: float
    var_coef2: float

    @property
    def mean_coef(self) -> float:
        return self.forward_drift + self.gradient_drift + self.conditioning

    @property
    def var_coef(self) -> float:
        return sum(self.forward.values()) + self.gradient_var

    def mean(self, width) -> float:
        return self.lead + self.mean_coef / width

    def var(self, width) -> float:
        return self.var_coef / width


def conditioning_drift(vmap: VarianceMap, q: np.ndarray) -> np.ndarray:
    """Per step ``l = 2..L`` (array index ``l - 2``), the ``1/N`` term that conditioning the
    weights on the forward pass adds to ``E log`` of the step's norm ratio (module docstring)."""
    q = np.asarray(q, float)
    w2 = vmap.sigma_w2
    chi = vmap.chi1(q)
    h2d2 = unit_average(vmap, lambda x, f, d: x**2 * d**2, q)
    hfd = unit_average(vmap, lambda x, f, d: x * f * d, q)
    d2f2 = unit_average(vmap, lambda x, f, d: d**2 * f**2, q)
    mu1 = unit_average(vmap, dphi_power(2), q)
    y = np.ones_like(q)
    for j in range(q.shape[0] - 2, 0, -1):
        y[j] = (w2 * h2d2[j] + w2**2 * hfd[j] ** 2 * (y[j + 1] - 1.0) / q[j + 1]) / (q[j] * chi[j])
    return w2 * d2f2[:-1] * (y[1:] - 1.0) / (q[1:] * mu1[:-1])


def back_norm2_moments(vmap: VarianceMap, q: np.ndarray) -> BackNormMoments:
    """:class:`BackNormMoments` at layer 1 for the trajectory ``q = q^(1..L)``."""
    q = np.asarray(q, float)
    fwd = log_prod_chi1_moments(vmap, q[:-1])
    mu1, mu2, mu3 = (unit_average(vmap, dphi_power(2 * k), q[:-1]) for k in (1, 2, 3))
    c2 = mu2 / mu1**2 - 1.0
    # N E sum w^2 = (1 + c2)(1 + sw2_next/N); N^2 E sum w^3 = mu3/mu1^3 (module docstring)
    sw2_next = 3.0 * c2 - 2.0 * (mu3 / (mu1 * mu2) - 1.0)
    sw3 = mu3 / mu1**3
    drift2 = -(1.0 + c2) * sw2_next + 8.0 / 3.0 * sw3 - 3.0 * (1.0 + c2) ** 2
    var2 = 2.0 * (1.0 + c2) * sw2_next + 10.0 * (1.0 + c2) ** 2 - 8.0 * sw3
    return BackNormMoments(
        lead=float(fwd.lead[-1]),
        forward_drift=float(fwd.mean_coef[-1]),
        gradient_drift=float(-np.sum(1.0 + c2)),
        conditioning=float(np.sum(conditioning_drift(vmap, q))),
        mean_coef2=float(fwd.mean_coef2[-1] + np.sum(drift2)),
        forward={name: float(getattr(fwd, name)[-1]) for name in SOURCES},
        gradient_var=float(2.0 * np.sum(1.0 + c2)),
        var_coef2=float(fwd.var_coef2[-1] + np.sum(var2)),
    )


def stable_fraction(mean, var, k: float = 10.0):
    """``P(|X| <= log K)`` for ``X ~ N(mean, var)``: the fraction of networks with
    ``prod chi1`` in ``[1/K, K]`` (Definition 2.1 made quantitative; module docstring)."""
    mean, sd = np.asarray(mean, float), np.sqrt(np.asarray(var, float))
    edge = np.log(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = stats.norm.cdf((edge - mean) / sd) - stats.norm.cdf((-edge - mean) / sd)
    return np.where(sd > 0, inside, (np.abs(mean) <= edge).astype(float))


def dead_layer_fraction(vmap: VarianceMap, q_star: float, width: int, depth: int) -> float:
    """Expected fraction of networks with a layer that passes no gradient, ``<= L p0^N``."""
    return float(min(1.0, depth * float(dead_gradient_probability(vmap, q_star)) ** width))


def products_record(sol, width: int, depth: int, k: float = 10.0) -> dict:
    """Everything ``python -m theory products`` reports, as one flat dict (variances and
    means at width ``width`` and depth ``depth``; ``*_next``: the ``1/N^2`` term).

    Examples
    --------
    >>> from theory import solve_eoc
    >>> r = products_record(solve_eoc("crelu", 0.85, 1.0, vprime=0.5), width=300, depth=100)
    >>> round(r["log_prod_chi1_var"], 3), round(r["stable_fraction"], 3)
    (3.477, 0.614)
    """
    vmap = sol.variance_map
    q = vmap.trajectory(float(sol.q_star), depth)
    fwd = log_prod_chi1_moments(vmap, q)
    back = back_norm2_moments(vmap, q)
    n = float(width)
    mean, var = float(fwd.mean(n)[-1]), float(fwd.var(n)[-1])
    c2 = float(sol.mu2 / sol.mu1**2 - 1.0)
    dead = dead_layer_fraction(vmap, float(sol.q_star), width, depth)
    rho = abs(float(fwd.var_coef2[-1])) / (n * float(fwd.var_coef[-1]))
    cautions = []
    if n / c2 < MIN_ACTIVE_UNITS:
        cautions.append(f"only N/c2 = {n / c2:.3g} units carry the gradient per layer (needs >= {MIN_ACTIVE_UNITS})")
    if dead > 1e-3:
        cautions.append(f"a fraction {dead:.2g} of networks has a layer that passes no gradient")
    if rho > 0.1:
        cautions.append(f"the next order is {rho:.2g} of Var log prod chi1 (needs <= 0.1)")
    record = {
        "activation": sol.activation_name, "sparsity": float(sol.sparsity), "q_star": float(sol.q_star),
        "vprime": float(sol.vprime), "width": int(width), "depth": int(depth), "K": float(k),
        "log_prod_chi1_mean": mean, "log_prod_chi1_mean_lead": float(fwd.lead[-1]),
        "log_prod_chi1_mean_drift": float(fwd.mean_coef[-1]) / n, "log_prod_chi1_mean_next": float(fwd.mean_coef2[-1]) / n**2,
        "log_prod_chi1_var": var,
        **{f"log_prod_chi1_var_{name}": float(getattr(fwd, name)[-1]) / n for name in SOURCES},
        "log_prod_chi1_var_next": float(fwd.var_coef2[-1]) / n**2,
        "log_back_norm2_mean": float(back.mean(n)), "log_back_norm2_mean_lead": back.lead,
        "log_back_norm2_mean_forward": back.forward_drift / n, "log_back_norm2_mean_gradient": back.gradient_drift / n,
        "log_back_norm2_mean_conditioning": back.conditioning / n,
        "log_back_norm2_var": float(back.var(n)),
        **{f"log_back_norm2_var_{name}": back.forward[name] / n for name in SOURCES},
        "log_back_norm2_var_gradient": back.gradient_var / n,
        "stable_fraction": float(stable_fraction(mean, var, k)),
        "active_units": n / c2, "dead_layer_fraction": dead, "expansion_parameter": rho,
        "validity": "; ".join(cautions),
    }
    return record
