"""Finite-width corrections (arXiv 2602.05779 Sec. 2.2 and App. E; Roberts & Yaida ch. 4-5).

With ``n = N_(l-1)``: ``q~^(l) = q^(l) + q~{1}^(l) / n + O(n^-2)``, and ``n Var`` of the
layer variance tends to ``r^(l)``. Along any trajectory ``q^(l)`` of the variance map

    r^(l+1)     = V'(q^(l))^2 r^(l) + sigma_w^4 (<phi^4>_q(l) - <phi^2>_q(l)^2)    (eq. 12)
    q~{1}^(l+1) = V'(q^(l)) q~{1}^(l) + (1/2) V''(q^(l)) r^(l)                      (eq. 13)

with ``r^(1) = q~{1}^(1) = 0`` (the first layer is exactly Gaussian).

At the fixed point, with ``p = V'(q*)`` and ``D = sigma_w^4 (<phi^4> - <phi^2>^2)``:

    r^(l)     = D (1 - p^(2(l-1))) / (1 - p^2)                                    (eq. 46)
    q~{1}^(l) = (D V''/2) (1 - p^(l-2)) (1 - p^(l-1)) / ((1 - p^2)(1 - p))          (l >= 2)

The second line corrects arXiv eq. (60), which reads ``(1 - p^(l-2))(1 - p^(l+1))``:
eq. (56) substitutes ``r^(l-i)`` for the ``r^(l-i-1)`` of Lemma E.2 (at ``l = 3`` the
printed form gives ``D V'' (1 + p^2) / 2`` instead of ``q~{1}^(3) = D V'' / 2``). Both
tend to the same limit, so the bound of Theorem 2.1 is unaffected:
``|q~{1}^(l)| <= D |V''| / (2 (1 - p)^2 (1 + p))`` for ``0 < p < 1``.
"""

from __future__ import annotations

import numpy as np

from theory.eoc import EoCSolution
from theory.maps import VarianceMap


def nlo_recursion(vmap: VarianceMap, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(r, q~{1})`` at layers ``1..L`` along the trajectory ``q = q^(1..L)`` (eqs. 12-13).

    Works for any trajectory, not only the fixed point; ``q`` of shape ``(L,)`` or
    ``(L, ...)`` (extra axes broadcast with the map's parameters).

    Parameters
    ----------
    vmap : VarianceMap
        The network's variance map.
    q : numpy.ndarray
        The trajectory ``q^(1..L)`` (e.g. :meth:`theory.VarianceMap.trajectory`), layers
        along the first axis.

    Returns
    -------
    r, q1 : numpy.ndarray
        ``r^(l)`` and ``q~{1}^(l)``, the shape of ``q``; both 0 at layer 1.

    Examples
    --------
    >>> from theory import solve_eoc
    >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    >>> r, q1 = nlo_recursion(sol.variance_map, sol.variance_map.trajectory(1.0, 10))
    >>> layers = np.arange(1, 11)       # at the fixed point: the closed forms
    >>> bool(np.allclose(r, r_fixed_point(sol, layers))), bool(np.allclose(q1, q1_fixed_point(sol, layers)))
    (True, True)
    >>> round(float(r[1]), 12) == round(float(sol.fluctuation), 12)    # r^(2) = D
    True
    """
    q = np.asarray(q, float)
    vp = vmap.dV(q)
    vpp = vmap.d2V(q)
    source = vmap.fluctuation(q)
    r = np.zeros_like(vp)
    q1 = np.zeros_like(vp)
    for layer in range(1, q.shape[0]):
        r[layer] = vp[layer - 1] ** 2 * r[layer - 1] + source[layer - 1]
        q1[layer] = vp[layer - 1] * q1[layer - 1] + 0.5 * vpp[layer - 1] * r[layer - 1]
    return r, q1


def r_fixed_point(sol: EoCSolution, layers) -> np.ndarray:
    """``r^(l)`` at the fixed point, closed form (arXiv Lemma E.1, eq. 46).

    ``r^(l) = D (1 - p^(2(l-1))) / (1 - p^2)`` with ``p = V'(q*)`` and
    ``D = sigma_w^4 (<phi^4> - <phi^2>^2)`` (``D (l - 1)`` at ``p^2 = 1``).

    Parameters
    ----------
    sol : EoCSolution
        The EoC solution (its ``vprime`` and ``fluctuation``).
    layers : int or array_like
        The layers ``l >= 1``.

    Returns
    -------
    numpy.ndarray
        ``r^(l)``, the shape of ``layers`` broadcast with the solution's arrays.

    Examples
    --------
    >>> from theory import solve_eoc
    >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    >>> r_fixed_point(sol, [1, 2, 3]).round(6).tolist()
    [0.0, 2.514353, 3.746386]
    >>> limit = sol.fluctuation / (1 - sol.vprime**2)      # D / (1 - p^2) as l -> inf
    >>> round(float(r_fixed_point(sol, 1000)), 6) == round(float(limit), 6)
    True
    """
    layer = np.asarray(layers, float)
    p2 = sol.vprime**2
    geometric = np.where(p2 == 1.0, layer - 1.0, (1.0 - p2 ** (layer - 1.0)) / np.where(p2 == 1.0, 1.0, 1.0 - p2))
    return sol.fluctuation * geometric


def q1_fixed_point(sol: EoCSolution, layers) -> np.ndarray:
    """``q~{1}^(l)`` at the fixed point, closed form (arXiv eq. 60, corrected; ``V' != 1``).

    ``q~{1}^(l) = (D V''/2) (1 - p^(l-2)) (1 - p^(l-1)) / ((1 - p^2)(1 - p))`` for
    ``l >= 2`` and 0 at ``l = 1`` (module docstring, which explains the correction).

    Parameters
    ----------
    sol : EoCSolution
        The EoC solution (its ``vprime``, ``vsecond`` and ``fluctuation``).
    layers : int or array_like
        The layers ``l >= 1``.

    Returns
    -------
    numpy.ndarray
        ``q~{1}^(l)``, the shape of ``layers`` broadcast with the solution's arrays.

    Raises
    ------
    ValueError
        Where ``V'(q*) = 1`` (use :func:`nlo_recursion`).

    Examples
    --------
    >>> from theory import solve_eoc
    >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    >>> q1 = q1_fixed_point(sol, [1, 2, 3, 1000])
    >>> round(float(q1[2]), 12) == round(float(sol.fluctuation * sol.vsecond / 2), 12)   # q~{1}^(3) = D V''/2
    True
    >>> round(float(abs(q1[3])), 6), round(sol.bound, 6)    # deep layers reach Theorem 2.1's bound
    (0.18827, 0.18827)
    """
    layer = np.asarray(layers, float)
    p = sol.vprime
    if np.any(p == 1.0):
        raise ValueError("the closed form needs V'(q*) != 1; use nlo_recursion")
    value = (
        0.5
        * sol.fluctuation
        * sol.vsecond
        * (1.0 - p ** (layer - 2.0))
        * (1.0 - p ** (layer - 1.0))
        / ((1.0 - p**2) * (1.0 - p))
    )
    return np.where(layer >= 2, value, 0.0)


def jacobian_moments(sol: EoCSolution, depth: int) -> dict[str, float]:
    """Moments of the spectrum of ``J J^T`` for Gaussian weights (``s_1 = -1``; arXiv eqs. 20-22).

    ``m_1 = chi_1^L``, ``m_2 = chi_1^(2L) L (mu_2/mu_1^2 + 1/L - 1 - s_1)`` and
    ``sigma_JJ^T = m_2 - m_1^2``. Eq. (22) prints ``L (mu_2/mu_1^2 - 1 - s_1)``, which is
    ``m_2 - m_1^2`` only at ``chi_1 = 1`` (the EoC); here it is computed as the difference.

    Parameters
    ----------
    sol : EoCSolution
        The initialisation (its ``sigma_w2``, ``mu1`` and ``mu2``).
    depth : int
        The number of layers ``L``.

    Returns
    -------
    dict of str to float
        ``"m1"``, ``"m2"`` and ``"sigma_JJT"`` (arrays where the solution has arrays).

    Examples
    --------
    >>> from theory import solve_eoc
    >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    >>> mom = jacobian_moments(sol, 10)
    >>> round(float(mom["m1"]), 12)     # chi_1 = 1 at the EoC
    1.0
    >>> round(float(mom["sigma_JJT"]), 6), round(10 * sol.mu2 / sol.mu1**2, 6)   # = L mu_2/mu_1^2 there
    (73.348194, 73.348194)
    """
    s1 = -1.0
    chi1 = sol.sigma_w2 * sol.mu1
    m1 = chi1**depth
    m2 = chi1 ** (2 * depth) * depth * (sol.mu2 / sol.mu1**2 + 1.0 / depth - 1.0 - s1)
    return {"m1": m1, "m2": m2, "sigma_JJT": m2 - m1**2}


def log_chi1_drift(vmap: VarianceMap, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``E log chi1^(l) = lead^(l) + coef^(l) / N + O(N^-2)`` along a trajectory ``q^(1..L)``.

    Derivation (equal widths ``N``). Given ``q_cond^(l)``, the measured
    ``chi1^(l) = sigma_w^2 / N sum_i phi'(h_i)^2`` is a mean of ``N`` i.i.d. terms with
    mean ``chi_1(q_cond)`` and variance ``sigma_w^4 (<phi'^4> - <phi'^2>^2)``, so
    ``E[log chi1 | q_cond] = log chi_1(q_cond) - sigma_w^4 (<phi'^4> - <phi'^2>^2) / (2 N chi_1^2)``.
    With ``q_cond^(l) = q^(l) + delta``, ``E delta = q~{1}/N``, ``Var delta = r/N``
    (:func:`nlo_recursion`), a second-order expansion of ``log chi_1`` gives

        lead = log chi_1(q)
        coef = (chi_1'/chi_1) q~{1} + (1/2) (chi_1''/chi_1 - (chi_1'/chi_1)^2) r
               - sigma_w^4 (<phi'^4> - <phi'^2>^2) / (2 chi_1^2),

    all at ``q^(l)``. Summed over layers this is the drift of ``E log prod chi1``, of
    order ``L / N`` at the fixed point (where ``lead = 0``): the prediction behind the
    "training stability" of arXiv Definition 2.1 at finite width.

    Parameters
    ----------
    vmap : VarianceMap
        The network's variance map.
    q : numpy.ndarray
        The trajectory ``q^(1..L)``, layers along the first axis (as :func:`nlo_recursion`).

    Returns
    -------
    lead, coef : numpy.ndarray
        ``log chi_1(q^(l))`` and the coefficient of ``1/N``, per layer (the shape of ``q``).

    Examples
    --------
    >>> from theory import solve_eoc
    >>> vmap = solve_eoc("crelu", 0.85, 1.0, vprime=0.7).variance_map
    >>> lead, coef = log_chi1_drift(vmap, vmap.trajectory(1.0, 10))
    >>> bool(np.allclose(lead, 0.0))            # chi_1(q*) = 1 at the fixed point
    True
    >>> coef[:3].round(6).tolist()
    [-3.16741, -5.030435, -5.925937]
    """
    q = np.asarray(q, float)
    r, q1 = nlo_recursion(vmap, q)
    act = vmap.activation
    chi1 = vmap.chi1(q)
    d1 = vmap.dchi1(q) / chi1
    d2 = vmap.sigma_w2 * act.expect("dphi2", q, dq=2) / chi1
    spread = vmap.sigma_w2**2 * (act.expect("dphi4", q) - act.expect("dphi2", q) ** 2)
    coef = d1 * q1 + 0.5 * (d2 - d1**2) * r - spread / (2 * chi1**2)
    return np.log(chi1), coef
