"""The ``O(1/N)`` expansion of the two-input conditional kernel and of the correlation ``rho``.

Neither paper has this; it is this suite's derivation, in the manner of
:mod:`theory.finite_width` (one input, arXiv 2602.05779 eqs. 12-13) and
:mod:`theory.next_order`.

Setting (SPEC "Two inputs"; :mod:`simulate.kernels`). Equal widths ``N``, Gaussian weights,
two inputs. ``G^(l)`` is the conditional covariance of layer ``l``'s pre-activation rows
given layer ``l - 1`` (what the simulator records; ``rho^(l) = G01/sqrt(G00 G11)``).
Layer 1 is exactly ``G^(1) = q* [[1, rho0], [rho0, 1]]``. Given ``G^(l)`` the ``N`` rows
``h_j`` of layer ``l`` are i.i.d. ``N(0, G^(l))`` and

    G^(l+1) = sigma_w^2/N sum_j phi(h_j) phi(h_j)^T + sigma_b^2

is a mean of ``N`` i.i.d. matrices: ``G`` is an exact Markov chain (any ``N``) with

    E[G' | G] = F(G),        Cov[G'_ab, G'_cd | G] = S_(ab),(cd)(G) / N,

``F`` the kernel map and ``S = sigma_w^4 Cov(phi_a phi_b, phi_c phi_d)``
(:mod:`theory.kernel_map`), and higher conditional cumulants ``O(N^-2)``.

Expansion. About the infinite-width iterate ``K^(l+1) = F(K^(l))``, ``K^(1) = G^(1)``,
write ``G^(l) = K^(l) + delta`` with ``E delta = K1/N + O(N^-2)``, ``Cov delta = Vc/N +
O(N^-2)`` (then ``E delta delta^T = Vc/N + O(N^-2)`` and every third moment is
``O(N^-2)``). Taylor, ``F(K + delta) = F(K) + J delta + (1/2) H[delta, delta] + O(delta^3)``
with ``J = dF/dG``, ``H = d^2F/dG^2`` at ``K^(l)`` (order ``(00, 01, 11)``). The law of
total expectation, ``E delta' = E F(K + delta) - F(K)``, and that of total covariance,
``Cov delta' = E[S(G)/N] + Cov F(K + delta)``, give to ``O(1/N)``

    K1^(l+1) = J K1^(l) + (1/2) H[Vc^(l)],       H[Vc]_a = sum_bc H_abc Vc_bc,     (1)
    Vc^(l+1) = J Vc^(l) J^T + S(K^(l)),                                               (2)

``K1^(1) = Vc^(1) = 0`` (layer 1 is exactly Gaussian). On ``G00`` alone (``F00 = V(G00)``,
``J_0b = V' [b = 0]``, ``H_0bc = V'' [b = c = 0]``, ``S_00,00 = sigma_w^4 (<phi^4> -
<phi^2>^2)``) these are exactly eqs. (12)-(13): ``K1_00 = q~{1}``, ``Vc_00,00 = r``.

Correlation (delta method). ``rho = g(G) = G01/sqrt(G00 G11)`` is smooth for ``G00,
G11 > 0``:

    E rho^(l) = rho_inf^(l) + shift^(l) / N + O(N^-2),
        shift = grad g . K1 + (1/2) Hess g : Vc,                                       (3)
    N Var rho^(l) = nvar^(l) + O(1/N),   nvar = grad g^T Vc grad g,                    (4)

with ``grad g = (-rho/(2 G00), 1/sqrt(G00 G11), -rho/(2 G11))`` and ``Hess g``:
``3 rho/(4 G00^2)``, ``rho/(4 G00 G11)``, ``3 rho/(4 G11^2)`` on the ``(00,00)``,
``(00,11)``, ``(11,11)`` entries, ``-1/(2 G00 sqrt(G00 G11))`` on ``(00,01)`` (and ``0 <-> 1``),
``0`` on ``(01,01)``. ``rho_inf`` is iterated in the form ``1 - rho`` without cancellation
(:meth:`theory.kernel_map.KernelMap.correlation_gap`), so its gap is exact to ``1e-12``
relative even where ``1 - rho_inf`` is ``1e-8``.

ReLU (``sigma_b = 0``): ``F`` is Cho & Saul's arc-cosine kernel, and by positive
homogeneity ``rho^(l+1)`` depends on ``G^(l)`` only through ``rho^(l)``: ``rho`` is itself
an exact Markov chain, ``E[rho' | rho] = R(rho) + a(rho)/N``, ``N Var[rho' | rho] ->
b(rho)`` with ``a = (1/2) Hess g : S``, ``b = grad g^T S grad g`` at ``G = [[1, rho],
[rho, 1]]``, so (3)-(4) must reduce to the scalar recursions ``shift' = R' shift +
(1/2) R'' nvar + a``, ``nvar' = R'^2 nvar + b`` (tested: the diagonal's fluctuations
cancel out of ``rho`` exactly).

Where it fails (regime rule). Near the diagonal the kinks of ``phi`` meet: the
``k``-th derivative of ``F`` in the ``rho`` direction grows like ``(1 - rho)^(3/2 - k)``
(``H ~ (1 - rho)^(-1/2)``, :mod:`theory.kernel_map`). Each further order of the Taylor
series, averaged over ``delta``, is then smaller by ``~ Var rho / (1 - rho)^2``, so the
expansion parameter is

    zeta^(l) = sd_N(rho^(l)) / min(1 - rho_inf^(l), 1 + rho_inf^(l)),   sd_N = sqrt(nvar/N),

the spread of ``rho`` in units of its distance to the diagonal, and the next order
relative to the ``O(1/N)`` terms is estimated as ``zeta^2``. A layer is in the regime
when ``zeta <= ZETA_MAX = 0.3`` (next order ``<~ 0.1`` of the effect, as the suite's
other claims require). Measured (CReLU, s = 0.85, q* = 1, rho0 = 0.5, 40000 networks):
at ``V' = 0.9``, ``N = 1000`` the departure of ``N Var rho`` from ``nvar`` is 2% at
``zeta = 0.28`` (layer 6), 8% at 0.33 and 31% at 0.49, and ``E rho`` holds to 5 s.e.
up to ``zeta = 0.43``; at ``V' = 0.7``, ``N = 300`` both hold (within 2.5%) up to
``zeta = 0.5``, and ``N Var rho`` is 10% off at 0.78. The rule is about right at
``V' = 0.9`` and conservative at 0.7.

Why it fails with depth. At the EoC (``chi_1 = R'(1) = 1``) the diagonal is approached
only polynomially: ``1 - R(1 - e) = e - c e^(3/2) + ...`` for piecewise-linear ``phi``,
so ``1 - rho_inf ~ 4/(c^2 l^2)``. Near it ``1 - rho`` is multiplied each layer by a
random factor ``1 + O(N^-1/2)`` (the fluctuations of ``q_cond`` through
``chi_1(q_cond)``, and the units' sampling noise), which the contraction ``e^(3/2)``
forgets only slowly (a relative perturbation decays like ``1/l``). Hence ``nvar ~ l^-3``
and ``zeta^2 ~ c_z l / N`` (``c_z`` = 9.2, 12.6, 92 at ``V' = 0.5, 0.7, 0.9``): at
fixed ``N`` the expansion fails beyond a depth proportional to ``N`` (``N/140`` layers at
``V' = 0.7``, ``N/1000`` at 0.9). The ``O(1/N)`` theory of ``rho`` describes the first
layers of a wide network, not its approach to ``rho = 1``.

Numerical conditioning. Near the diagonal ``shift`` and ``nvar`` are small differences
of ``O(1)`` entries of ``K1`` and ``Vc`` (the two inputs fluctuate together), so they
lose digits as ``1 - rho`` falls: ``q* = 1`` and ``q* = 2.5`` (the same numbers up to
rounding) agree to ``3e-10`` (``shift``) and ``2e-11`` (``nvar``) at ``1 - rho = 6e-4``
(CReLU, V' = 0.7, layer 100) and to ``1e-6``, ``5e-9`` at ``4e-5`` (layer 400). That is
ample inside the regime, where ``1 - rho`` is larger than ``~ 3 sd_N(rho)``.

Everything is exactly scale covariant: at fixed ``s`` and ``V'(q*)`` (CReLU, CST)
``rho_inf``, ``shift`` and ``nvar`` do not depend on ``q*`` (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.kernel_map import KernelMap

#: in the regime when the spread of rho is at most this fraction of its distance to +-1
ZETA_MAX = 0.3


def _kernel_map(model) -> tuple[KernelMap, float | None]:
    """A :class:`KernelMap` and the fixed point ``q*`` (if known) from an EoC solution,
    a variance map or a kernel map."""
    if isinstance(model, KernelMap):
        return model, None
    if hasattr(model, "q_star"):
        return KernelMap.from_eoc(model), float(model.q_star)
    return KernelMap.from_variance_map(model), None


def rho_gradient(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient ``(..., 3)`` and Hessian ``(..., 3, 3)`` of ``rho = G01/sqrt(G00 G11)`` in
    ``(G00, G01, G11)`` (module docstring, eqs. 3-4)."""
    k = np.asarray(k, float)
    g00, g01, g11 = k[..., 0], k[..., 1], k[..., 2]
    root = np.sqrt(g00 * g11)
    rho = g01 / root
    grad = np.stack([-0.5 * rho / g00, 1.0 / root, -0.5 * rho / g11], axis=-1)
    hess = np.zeros(k.shape + (3,))
    hess[..., 0, 0] = 0.75 * rho / g00**2
    hess[..., 2, 2] = 0.75 * rho / g11**2
    hess[..., 0, 2] = hess[..., 2, 0] = 0.25 * rho / (g00 * g11)
    hess[..., 0, 1] = hess[..., 1, 0] = -0.5 / (g00 * root)
    hess[..., 1, 2] = hess[..., 2, 1] = -0.5 / (g11 * root)
    return grad, hess


@dataclass(frozen=True)
class CorrelationExpansion:
    """The ``O(1/N)`` expansion along layers ``1..L`` (module docstring); arrays over layers.

    Made by :func:`correlation_expansion`. Kernels are in the order ``(G00, G01, G11)``.

    Parameters
    ----------
    K : numpy.ndarray
        The infinite-width kernel ``K^(l)``, ``(L, 3)``.
    gap : numpy.ndarray
        ``1 - rho_inf`` (without cancellation), ``(L,)``; the property ``rho_inf`` is
        ``1 - gap``.
    K1, Vc : numpy.ndarray
        The ``O(1/N)`` mean ``(L, 3)`` and covariance ``(L, 3, 3)`` coefficients of ``G``
        (eqs. 1-2).
    shift, nvar : numpy.ndarray
        ``E rho = rho_inf + shift/N`` and ``N Var rho -> nvar``, ``(L,)`` (eqs. 3-4).

    Examples
    --------
    >>> from theory import q1_fixed_point, r_fixed_point, solve_eoc
    >>> sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    >>> exp = correlation_expansion(sol, 0.5, 5)
    >>> exp.K.shape, exp.Vc.shape, exp.layers.tolist()
    ((5, 3), (5, 3, 3), [1, 2, 3, 4, 5])
    >>> # on G00 alone the one-input recursions (arXiv eqs. 12-13): Vc_00,00 = r, K1_00 = q~{1}
    >>> bool(np.allclose(exp.Vc[:, 0, 0], r_fixed_point(sol, exp.layers)))
    True
    >>> bool(np.allclose(exp.K1[:, 0], q1_fixed_point(sol, exp.layers)))
    True
    >>> exp.mean(1000).round(6).tolist()       # E rho at width N = 1000
    [0.5, 0.744401, 0.838114, 0.885952, 0.914293]
    """

    K: np.ndarray
    gap: np.ndarray
    K1: np.ndarray
    Vc: np.ndarray
    shift: np.ndarray
    nvar: np.ndarray

    @property
    def layers(self) -> np.ndarray:
        return np.arange(1, self.gap.size + 1)

    @property
    def rho_inf(self) -> np.ndarray:
        return 1.0 - self.gap

    def mean(self, width) -> np.ndarray:
        """``E rho`` at width ``N`` to ``O(1/N)``.

        Parameters
        ----------
        width : float or array_like
            The width ``N`` of the network.

        Returns
        -------
        numpy.ndarray
            ``E rho = rho_inf + shift/N`` per layer, ``(L,)``.

        Examples
        --------
        >>> from theory import correlation_expansion, solve_eoc
        >>> exp = correlation_expansion(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 0.5, 5)
        >>> exp.mean(1000).round(6).tolist()      # layer 1 is exactly rho0
        [0.5, 0.744401, 0.838114, 0.885952, 0.914293]
        >>> bool(np.array_equal(exp.mean(np.inf), exp.rho_inf))   # infinite width
        True
        """
        return self.rho_inf + self.shift / width

    def sd(self, width) -> np.ndarray:
        """``sd rho`` at width ``N`` to leading order, ``sqrt(nvar/N)``.

        Parameters
        ----------
        width : float or array_like
            The width ``N`` of the network.

        Returns
        -------
        numpy.ndarray
            ``sd rho`` per layer, ``(L,)`` (0 at layer 1).

        Examples
        --------
        >>> from theory import correlation_expansion, solve_eoc
        >>> exp = correlation_expansion(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 0.5, 5)
        >>> exp.sd(1000).round(6).tolist()
        [0.0, 0.020034, 0.02038, 0.01891, 0.017226]
        >>> bool(np.allclose(exp.sd(4000), exp.sd(1000) / 2))   # ~ N^(-1/2)
        True
        """
        return np.sqrt(np.maximum(self.nvar, 0.0) / width)

    def zeta(self, width) -> np.ndarray:
        """The regime parameter ``sd_N(rho) / min(1 - rho_inf, 1 + rho_inf)``; its square
        estimates the next order relative to the ``O(1/N)`` terms.

        Parameters
        ----------
        width : float or array_like
            The width ``N`` of the network.

        Returns
        -------
        numpy.ndarray
            ``zeta`` per layer, ``(L,)``.

        Examples
        --------
        >>> from theory import correlation_expansion, solve_eoc
        >>> exp = correlation_expansion(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 0.5, 5)
        >>> exp.zeta(1000).round(4).tolist()      # grows with depth as rho_inf nears 1
        [0.0, 0.0782, 0.1254, 0.1651, 0.2003]
        """
        return self.sd(width) / np.minimum(self.gap, 2.0 - self.gap)

    def in_regime(self, width) -> np.ndarray:
        """``zeta <= ZETA_MAX`` per layer.

        Parameters
        ----------
        width : float or array_like
            The width ``N`` of the network.

        Returns
        -------
        numpy.ndarray
            Booleans per layer, ``(L,)``.

        Examples
        --------
        >>> from theory import correlation_expansion, solve_eoc
        >>> exp = correlation_expansion(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 0.5, 5)
        >>> exp.in_regime(1000).tolist(), exp.in_regime(100).tolist()   # narrower: fewer layers
        ([True, True, True, True, True], [True, True, False, False, False])
        """
        return self.zeta(width) <= ZETA_MAX


def correlation_expansion(model, rho0: float, depth: int, q1: float | None = None) -> CorrelationExpansion:
    """The ``O(1/N)`` coefficients of ``E rho`` and ``N Var rho`` at layers ``1..depth``.

    Parameters
    ----------
    model : EoCSolution, VarianceMap or KernelMap
        An :class:`theory.EoCSolution` (scalar), a :class:`theory.VarianceMap` or a
        :class:`theory.kernel_map.KernelMap`.
    rho0 : float
        Layer-1 correlation of the two inputs, in ``(-1, 1)``.
    depth : int
        Number of layers ``L >= 1``.
    q1 : float, optional
        Layer-1 variance of both inputs; default the solution's ``q*`` (required for a
        map). When ``V(q1) = q1`` to rounding the diagonal is held at ``q1`` exactly.

    Returns
    -------
    CorrelationExpansion
        ``K, gap, K1, Vc, shift, nvar`` over layers (eqs. 1-4 of the module docstring).

    Raises
    ------
    ValueError
        For ``rho0`` outside ``(-1, 1)``, ``depth < 1``, or a map without ``q1``.

    Examples
    --------
    >>> from theory import solve_eoc
    >>> exp = correlation_expansion(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 0.5, 20)
    >>> exp.rho_inf[:2].round(6).tolist(), float(exp.shift[0]), float(exp.nvar[0])
    ([0.5, 0.74373], 0.0, 0.0)
    >>> bool(np.all(exp.nvar[1:] > 0))
    True
    """
    kmap, q_star = _kernel_map(model)
    if q1 is None:
        if q_star is None:
            raise ValueError("give q1, the layer-1 variance of the inputs")
        q1 = q_star
    if not -1.0 < rho0 < 1.0:
        raise ValueError(f"rho0 must lie in (-1, 1), got {rho0}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    q1 = float(q1)
    k00 = np.full(depth, q1)
    gap = np.empty(depth)
    gap[0] = 1.0 - rho0
    fixed = abs(float(kmap.V(q1)) - q1) <= 4 * np.finfo(float).eps * q1
    for layer in range(1, depth):
        if not fixed:
            k00[layer] = kmap.V(k00[layer - 1])
        gap[layer] = kmap.correlation_gap(k00[layer - 1], k00[layer - 1], gap[layer - 1])
    K = np.stack([k00, (1.0 - gap) * k00, k00], axis=-1)

    K1 = np.zeros((depth, 3))
    Vc = np.zeros((depth, 3, 3))
    if depth > 1:
        src = K[:-1]
        J = kmap.J(src)
        H = kmap.H(src)
        S = kmap.S(src, cross=_cross_from_gap(kmap, src, gap[:-1]))
        for layer in range(depth - 1):
            j = J[layer]
            K1[layer + 1] = j @ K1[layer] + 0.5 * np.einsum("abc,bc->a", H[layer], Vc[layer])
            Vc[layer + 1] = j @ Vc[layer] @ j.T + S[layer]
    grad, hess = rho_gradient(K)
    shift = np.einsum("la,la->l", grad, K1) + 0.5 * np.einsum("lab,lab->l", hess, Vc)
    nvar = np.einsum("la,lab,lb->l", grad, Vc, grad)
    return CorrelationExpansion(K=K, gap=gap, K1=K1, Vc=Vc, shift=shift, nvar=nvar)


def _cross_from_gap(kmap: KernelMap, K: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """``E[phi_0 phi_1]`` at the kernels ``K`` with gaps ``1 - rho``, through the deficit."""
    act = kmap.activation
    e2 = 0.5 * (act.expect("phi2", K[:, 0]) + act.expect("phi2", K[:, 2]))
    return e2 - kmap.deficit(K[:, 0], K[:, 2], gap) / kmap.sigma_w2


def correlation_table(model, rho0: float, width: int, depth: int, q1: float | None = None) -> dict[str, np.ndarray]:
    """Per-layer table at width ``N`` of the expansion of :func:`correlation_expansion`.

    Parameters
    ----------
    model : EoCSolution, VarianceMap or KernelMap
        As :func:`correlation_expansion`.
    rho0 : float
        Layer-1 correlation of the two inputs, in ``(-1, 1)``.
    width : int
        The width ``N``.
    depth : int
        Number of layers ``L >= 1``.
    q1 : float, optional
        Layer-1 variance of both inputs; default the solution's ``q*`` (required for a map).

    Returns
    -------
    dict of str to numpy.ndarray
        Arrays over layers: ``layer, rho_inf``, ``gap`` (``1 - rho_inf`` without
        cancellation), ``shift`` (``E rho = rho_inf + shift/N``), ``mean``, ``nvar``
        (``N Var rho``), ``sd`` (of ``rho`` at width ``N``), ``zeta`` (the regime parameter)
        and ``in_regime`` (``zeta <= ZETA_MAX``).

    Examples
    --------
    >>> from theory import solve_eoc
    >>> tab = correlation_table(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 0.5, 1000, 50)
    >>> sorted(tab)
    ['gap', 'in_regime', 'layer', 'mean', 'nvar', 'rho_inf', 'sd', 'shift', 'zeta']
    >>> int(tab["layer"][~tab["in_regime"]][0])      # the first layer outside the regime
    9
    """
    exp = correlation_expansion(model, rho0, depth, q1)
    return {
        "layer": exp.layers,
        "rho_inf": exp.rho_inf,
        "gap": exp.gap,
        "shift": exp.shift,
        "mean": exp.mean(width),
        "nvar": exp.nvar,
        "sd": exp.sd(width),
        "zeta": exp.zeta(width),
        "in_regime": exp.in_regime(width),
    }


def correlation_record(sol, rho0: float, width: int, depth: int) -> dict:
    """:func:`correlation_table` of an EoC solution as plain lists for JSON, with the
    configuration and the first layer out of the regime (``None`` if none)."""
    tab = correlation_table(sol, rho0, width, depth)
    out = {"activation": sol.activation_name, "sparsity": float(sol.sparsity), "q_star": float(sol.q_star),
           "vprime": float(sol.vprime), "rho0": float(rho0), "width": int(width), "depth": int(depth),
           "zeta_max": ZETA_MAX}
    for key, value in tab.items():
        out[key] = value.tolist()
    outside = np.flatnonzero(~tab["in_regime"])
    out["first_layer_outside_regime"] = int(tab["layer"][outside[0]]) if outside.size else None
    return out
