"""What each claim is judged by: its prediction, null, next order and regime, per configuration.

The finite-width theory of a configuration at depth ``L`` is computed once
(:class:`ConfigurationTheory`, from its :class:`theory.EoCSolution`): the papers'
recursions (:mod:`theory.finite_width`), their next order (:mod:`theory.next_order`) and
the distribution of ``prod chi1`` (:mod:`theory.products`), with the slopes the exact
companions of :mod:`theory.companions` are built from. Each claim's expansion is one of
its methods, returning an :class:`Expansion`; the claims of :mod:`analysis.claims`, the
planner and ``depth_sweep --width auto`` all read them from here.

The regime
----------
A claim compares a width-scaled estimate ``Y_N`` with ``Y_N = P + c/N + O(N^-2)``: ``P``
the ``O(1/N)`` prediction, ``c`` its next order. With ``rho = |c| / (N |P - null|)`` (the
next order relative to the effect tested) and ``beta/N`` the expansion parameter of what
the claim is built on (the ``q_cond`` chain's ``max |r2/r| / N``: a claim cannot converge
faster than its ingredients), the order after ``c/N`` is estimated as
``ORDER_GROWTH |P - null| rho max(rho, beta/N)``: the geometric continuation of the series,
times :data:`ORDER_GROWTH` because the coefficients of these expansions grow factorially
(the ``k``-th term of ``E log(1 + u)`` for a binomial count goes as ``(k - 1)! (c2/N)^(k-1)``;
measured on the ``q_cond`` chain of CST at ``s = 0.6``, ``V' = 0.5``: ``q~{1}, q~{2}, q~{3}
= -0.200, 0.406, -1.66``, so ``q~{3} = 2.0 q~{2}^2/q~{1}``). Where ``c`` is derived
(``next_derived``), the prediction at width ``N`` is ``P + c/N`` and the width is in the
regime when that order left out is at most :data:`RHO_MAX` of the effect and the
ingredients are in theirs, ``(beta/N)^2 <= RHO_MAX``; otherwise the prediction is ``P``
and the order left out is ``rho`` itself (and ``beta/N <= RHO_MAX``). A floor (a width
below which no order of the expansion holds, e.g. fewer than
:data:`theory.products.MIN_ACTIVE_UNITS` units carrying the gradient per layer for the
claims on ``log chi1``, whose expansion in ``c2/N`` is that of a binomial count) comes
on top. The budget at a width is the order left out with its geometric tail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from theory.eoc import EoCSolution
from theory.finite_width import log_chi1_drift
from theory.maps import VarianceMap
from theory.next_order import dead_gradient_probability, log_chi1_law, log_chi1_next_order, next_order_recursion
from theory.products import MIN_ACTIVE_UNITS, BackNormMoments, LogProductMoments, back_norm2_moments, log_prod_chi1_moments

#: largest order left out, relative to the effect tested, at which a width enters a verdict
RHO_MAX = 0.1
#: the order after a derived next order, over its geometric continuation (module docstring)
ORDER_GROWTH = 2.0
#: largest expected fraction of networks with a layer that passes no gradient (their
#: ``log chi1`` is ``-inf``; the survivors' moments are then biased by no more than this)
MAX_DEAD = 1e-3
#: relaxation lengths ``1/(1 - V'^2)`` that layer ``L/2`` must lie beyond for the spread of
#: ``log q_cond`` to have saturated there (the transient left is ``V'^(2 L/2)``, below 1%)
RELAXATION_LENGTHS = 5.0


@dataclass(frozen=True)
class Expansion:
    """``Y_N = prediction + next / N + O(N^-2)`` for a claim whose effect is ``prediction - null``.

    Parameters
    ----------
    prediction, null
        The ``O(1/N)`` prediction ``P`` and the value the measurement would have without the
        effect claimed.
    next
        The next-order coefficient ``c``.
    floor, floor_reason
        A width below which the expansion fails for a reason no order of it sees (e.g.
        layers that pass no gradient for ``log chi1``).
    next_derived
        ``c`` is derived (then the prediction at width ``N`` includes it and the regime is
        set by the order after it); ``False``: ``c`` is an estimate that only sets the regime.
    background
        ``beta``: the expansion parameter ``beta/N`` of what the claim is built on.

    Examples
    --------
    >>> e = Expansion(prediction=1.0, null=0.0, next=50.0)
    >>> round(e.rho(100), 3), e.in_regime(100), round(e.at(100), 3), e.min_width()
    (0.5, False, 1.5, 224)
    """

    prediction: float
    null: float
    next: float
    floor: int = 2
    floor_reason: str = ""
    next_derived: bool = True
    background: float = 0.0

    @property
    def gap(self) -> float:
        """The effect tested, ``|P - null|``."""
        return abs(self.prediction - self.null)

    @property
    def order(self) -> int:
        """The power of ``rho`` of the first order left out (2 with the next order derived)."""
        return 2 if self.next_derived else 1

    def rho(self, width) -> float:
        """The next order relative to the effect at ``width`` (``inf`` when the effect is zero).

        Parameters
        ----------
        width : int or float
            The width ``N``.

        Returns
        -------
        float
            ``rho = |c| / (N |P - null|)`` (module docstring).

        Examples
        --------
        >>> e = Expansion(prediction=1.0, null=0.0, next=50.0)
        >>> e.rho(100), e.rho(1000)
        (0.5, 0.05)
        >>> Expansion(prediction=0.0, null=0.0, next=1.0).rho(100)  # no effect to test
        inf
        """
        if self.gap == 0.0:
            return math.inf
        return abs(self.next) / (float(width) * self.gap)

    def at(self, width) -> float:
        """The prediction at ``width``: ``P + c/N`` where ``c`` is derived, else ``P``.

        Parameters
        ----------
        width : int or float
            The width ``N``.

        Returns
        -------
        float
            The value ``Y_N`` is predicted to have at width ``N``.

        Examples
        --------
        >>> Expansion(prediction=1.0, null=0.0, next=50.0).at(100)
        1.5
        >>> Expansion(prediction=1.0, null=0.0, next=50.0, next_derived=False).at(100)  # c only sets the regime
        1.0

        ``q~{1}`` at layer 10 of a configuration, with its derived next order ``q~{2}/N``:

        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> e = t.q1_recursion(10)
        >>> round(e.prediction, 4), round(e.at(1000), 4)
        (0.1703, 0.1483)
        """
        return self.prediction + (self.next / float(width) if self.next_derived else 0.0)

    def _ratio(self, width) -> float:
        """The largest expansion parameter at ``width``: ``max(rho, beta/N)``."""
        return max(self.rho(width), self.background / float(width))

    def left_out(self, width) -> float:
        """The order left out at ``width``, relative to the effect (module docstring).

        Parameters
        ----------
        width : int or float
            The width ``N``.

        Returns
        -------
        float
            ``ORDER_GROWTH rho max(rho, beta/N)`` where ``c`` is derived, else ``rho`` itself.

        Examples
        --------
        >>> e = Expansion(prediction=1.0, null=0.0, next=50.0)
        >>> e.left_out(100), round(e.left_out(1000), 6)
        (0.5, 0.005)
        >>> Expansion(prediction=1.0, null=0.0, next=50.0, next_derived=False).left_out(100)  # rho
        0.5
        """
        rho = self.rho(width)
        return ORDER_GROWTH * rho * self._ratio(width) if self.next_derived else rho

    def in_regime(self, width) -> bool:
        """Whether ``width`` is in the regime: at least the floor, the order left out
        (:meth:`left_out`) at most :data:`RHO_MAX` of the effect, and the ingredients in theirs,
        ``(beta/N)^order <= RHO_MAX`` (module docstring).

        Parameters
        ----------
        width : int or float
            The width ``N``.

        Returns
        -------
        bool
            ``True`` when the expansion holds at ``width`` to within :data:`RHO_MAX`.

        Examples
        --------
        >>> e = Expansion(prediction=1.0, null=0.0, next=50.0)
        >>> e.in_regime(223), e.in_regime(224)
        (False, True)

        ``q~{1}`` at layer 10 of a configuration: in its regime at a wide width, not at a narrow one:

        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> e = t.q1_recursion(10)
        >>> e.in_regime(5000), e.in_regime(50)
        (True, False)
        """
        return (width >= self.floor and self.left_out(width) <= RHO_MAX
                and (self.background / float(width)) ** self.order <= RHO_MAX)

    def min_width(self) -> int:
        """The smallest width in the regime.

        Returns
        -------
        int
            The first width ``N`` at which :meth:`in_regime` holds (the floor when the effect is zero).

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> e = t.q1_recursion(10)
        >>> w = e.min_width()
        >>> w, e.in_regime(w - 1), e.in_regime(w)
        (577, False, True)
        """
        if self.gap == 0.0:
            return self.floor
        limit = RHO_MAX ** (1.0 / self.order)
        own = math.ceil(abs(self.next) / (limit * self.gap))
        if self.next_derived:
            # ORDER_GROWTH rho max(rho, beta/N) <= RHO_MAX with rho = |c|/(N gap)
            own = math.ceil(math.sqrt(ORDER_GROWTH * abs(self.next) * max(abs(self.next) / self.gap, self.background)
                                      / (RHO_MAX * self.gap)))
        return max(self.floor, own, math.ceil(self.background / limit))

    def outside_reason(self, width) -> str:
        """Why ``width`` is not in the regime, and which width is.

        Parameters
        ----------
        width : int
            The width ``N`` (one outside the regime).

        Returns
        -------
        str
            The failing condition (the floor, the ``q_cond`` chain's own regime, or the order left
            out), then the smallest width that qualifies (:meth:`min_width`).

        Examples
        --------
        >>> print(Expansion(prediction=1.0, null=0.0, next=50.0).outside_reason(100))
        order after the next / effect = 0.5 at N = 100 (needs <= 0.1): width N >= 224 qualifies
        >>> print(Expansion(1.0, 0.0, 50.0, floor=300, floor_reason="too few units").outside_reason(250))
        too few units below N = 300: width N >= 300 qualifies
        >>> print(Expansion(prediction=1.0, null=0.0, next=1.0, background=10.0).outside_reason(20))
        the q_cond chain it is built on is outside its own regime at N = 20
        (max |r2/r|/N = 0.5): width N >= 32 qualifies
        """
        if width < self.floor:
            why = f"{self.floor_reason} below N = {self.floor}"
        elif (self.background / float(width)) ** self.order > RHO_MAX:
            why = (f"the q_cond chain it is built on is outside its own regime at N = {width} "
                   f"(max |r2/r|/N = {self.background / width:.2g})")
        else:
            left = "order after the next" if self.next_derived else "next order"
            why = f"{left} / effect = {self.left_out(width):.2g} at N = {width} (needs <= {RHO_MAX:g})"
        return f"{why}: width N >= {self.min_width()} qualifies"

    def budget(self, width) -> float:
        """The order left out at ``width`` with its geometric tail.

        Parameters
        ----------
        width : int or float
            The width ``N``.

        Returns
        -------
        float
            ``|P - null| left_out / (1 - max(rho, beta/N))``, in the units of ``Y_N``; ``inf`` where
            ``max(rho, beta/N) >= 1`` (the series does not converge).

        Examples
        --------
        >>> e = Expansion(prediction=1.0, null=0.0, next=50.0)
        >>> round(e.budget(1000), 6), e.budget(40)
        (0.005263, inf)
        """
        ratio = self._ratio(width)
        return self.gap * self.left_out(width) / (1.0 - ratio) if ratio < 1.0 else math.inf

    def next_order_claim(self) -> "Expansion":
        """The expansion of the next order itself, ``N (Y_N - P) -> c``: its own next order
        (not derived) estimated as ``ORDER_GROWTH c max(rho, beta/N)`` times ``N`` (the order
        after of :meth:`left_out`), so its regime is ``ORDER_GROWTH max(rho, beta/N) <= RHO_MAX``.

        Returns
        -------
        Expansion
            Prediction ``c``, null 0, the same floor and background, ``next_derived=False``.

        Examples
        --------
        >>> n = Expansion(prediction=1.0, null=0.0, next=50.0).next_order_claim()
        >>> n.prediction, n.next, n.next_derived, n.min_width()
        (50.0, 5000.0, False, 1000)
        """
        after = ORDER_GROWTH * abs(self.next) * max(abs(self.next) / self.gap, self.background) if self.gap else math.inf
        return Expansion(self.next, 0.0, after, self.floor, self.floor_reason, next_derived=False,
                         background=self.background)


def stationary_start(q1_theory: np.ndarray, tolerance: float = 0.05) -> int:
    """First layer (1-based, at least 3) from which ``q~{1}`` stays within ``tolerance``
    of its value at the last layer.

    Examples
    --------
    >>> stationary_start(np.array([0.0, 0.5, 0.9, 0.99, 1.0, 1.0]))
    4
    """
    q1 = np.asarray(q1_theory, float)
    far = np.abs(q1 - q1[-1]) > tolerance * abs(q1[-1])
    return max(3, int(np.flatnonzero(far)[-1]) + 2 if far.any() else 1)


@dataclass(frozen=True)
class ConfigurationTheory:
    """The per-layer finite-width theory of one configuration at depth ``L``.

    Built by :meth:`from_solution`; each claim's expansion is one of its methods. Arrays
    are over layers ``1..L`` along the trajectory ``q`` started at ``q*``.

    Parameters
    ----------
    solution : EoCSolution
        The configuration's EoC solution (solved once, by the caller).
    vprime : float
        ``V'(q*)``.
    q : numpy.ndarray
        The trajectory ``q^(1..L)`` started at ``q*``.
    q1, r : numpy.ndarray
        ``q~{1}`` and ``r`` (arXiv eqs. 12-13).
    q2, r2, kappa3 : numpy.ndarray
        Their next order and the third cumulant (:mod:`theory.next_order`).
    a, b : numpy.ndarray
        The chain's slopes ``V'(q), V''(q)``.
    g, g2 : numpy.ndarray
        The first two derivatives of ``log chi_1`` at ``q``.
    lead, coef, coef2 : numpy.ndarray
        The orders of ``E log chi1`` per layer (:func:`theory.log_chi1_drift` and
        :mod:`theory.next_order`).
    p_dead : float
        ``P(phi'(sqrt(q*) z) = 0)``: a layer of ``N`` units passes no gradient (``chi1 = 0``)
        with probability ``p_dead^N`` (:meth:`dead_width`).
    bound : float
        Theorem 2.1's bound on ``|q~{1}|`` (:func:`theory.nlo_bound`, NaN outside ``0 < V' < 1``).
    products, back : LogProductMoments, BackNormMoments
        The moments of ``log prod chi1`` and of the back-propagated norm (:mod:`theory.products`).

    Examples
    --------
    >>> from theory import solve_eoc
    >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.5), depth=100)
    >>> e = t.q1_stationary()
    >>> round(e.prediction, 4), e.in_regime(1000)
    (-0.2617, True)
    """

    solution: EoCSolution = field(repr=False)
    vprime: float
    q: np.ndarray
    q1: np.ndarray
    r: np.ndarray
    q2: np.ndarray
    r2: np.ndarray
    kappa3: np.ndarray
    a: np.ndarray
    b: np.ndarray
    g: np.ndarray
    g2: np.ndarray
    lead: np.ndarray
    coef: np.ndarray
    coef2: np.ndarray
    p_dead: float
    bound: float
    products: LogProductMoments = field(repr=False)
    back: BackNormMoments = field(repr=False)

    @classmethod
    def from_solution(cls, sol: EoCSolution, depth: int) -> "ConfigurationTheory":
        """Everything at once from the configuration's EoC solution (nothing re-solved).

        Parameters
        ----------
        sol : EoCSolution
            The configuration's EoC solution (:func:`theory.solve_eoc`).
        depth : int
            The depth ``L``: the theory is computed over layers ``1..L``.

        Returns
        -------
        ConfigurationTheory
            The per-layer theory along the trajectory started at ``q*``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> t.depth, t.q.shape, float(t.q1[0])  # no finite-width correction at the first layer
        (20, (20,), 0.0)
        """
        vmap = sol.variance_map
        q = vmap.trajectory(float(sol.q_star), depth)
        nxt = next_order_recursion(vmap, q)
        lead, coef = log_chi1_drift(vmap, q)
        dlog = log_chi1_law(vmap, q).dlog
        return cls(sol, float(sol.vprime), q, nxt.q1, nxt.r, nxt.q2, nxt.r2, nxt.kappa3, vmap.dV(q), vmap.d2V(q),
                   dlog[0], dlog[1], lead, coef, log_chi1_next_order(vmap, q),
                   float(dead_gradient_probability(vmap, float(sol.q_star))), float(sol.bound),
                   log_prod_chi1_moments(vmap, q), back_norm2_moments(vmap, q))

    @property
    def vmap(self) -> VarianceMap:
        return self.solution.variance_map

    @property
    def depth(self) -> int:
        return self.q.shape[0]

    @property
    def q_tilde_r2(self) -> np.ndarray:
        """Coefficient of ``1/N`` in ``N Var q_tilde - (r + 2 q^2)``: ``r2 + 4 q q~{1} + 2 r``."""
        return self.r2 + 4.0 * self.q * self.q1 + 2.0 * self.r

    @property
    def judged_layers(self) -> list[int]:
        """The layers at which the per-layer claims are judged: 10 (early) and ``L``."""
        return sorted({min(self.depth, 10), self.depth})

    @property
    def stationary_layers(self) -> slice:
        """Layers (0-based slice) over which ``q~{1}`` has converged (:func:`stationary_start`)."""
        return slice(stationary_start(self.q1) - 1, None)

    @property
    def relaxation_length(self) -> float:
        """``1/(1 - V'^2)``: the layers over which the spread of ``q_cond`` relaxes."""
        return 1.0 / (1.0 - self.vprime**2) if self.vprime < 1.0 else math.inf

    def dead_width(self, layer: int | None = None) -> int:
        """Smallest width at which fewer than :data:`MAX_DEAD` of the networks have a layer
        ``<= layer`` that passes no gradient (``layer * p_dead^N <= MAX_DEAD``).

        Parameters
        ----------
        layer : int, optional
            The last layer counted; the depth ``L`` when ``None``.

        Returns
        -------
        int
            The width, at least 2 (2 when no layer can pass no gradient, ``p_dead = 0``).

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> round(t.p_dead, 4), t.dead_width(), t.dead_width(1)
        (0.8637, 68, 48)
        """
        layers = layer or self.depth
        if self.p_dead <= 0.0:
            return 2
        return max(2, math.ceil(math.log(MAX_DEAD / layers) / math.log(self.p_dead)))

    @property
    def chain_background(self) -> float:
        """``beta = max_l |r2/r|``: ``beta/N`` is the expansion parameter of the ``q_cond``
        chain itself (its variance's next order relative to its leading order)."""
        r = self.r[1:]
        return float(np.max(np.abs(self.r2[1:] / r))) if r.size and np.all(r > 0) else 0.0

    def active_floor(self) -> tuple[int, str]:
        """The width below which ``log chi1``'s binomial-like expansion in ``c2/N`` fails:
        fewer than :data:`theory.products.MIN_ACTIVE_UNITS` units carrying the gradient per
        layer (``N < 30 c2``), or a layer passing none (:meth:`dead_width`).

        Returns
        -------
        floor : int
            The larger of the two widths.
        reason : str
            Which of the two it is, in words (an :class:`Expansion`'s ``floor_reason``).

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> floor, reason = t.active_floor()
        >>> floor, floor >= t.dead_width()
        (191, True)
        >>> reason
        'fewer than 30 units carry the gradient per layer (the 1/N expansion of log chi1 needs many)'
        """
        active = math.ceil(MIN_ACTIVE_UNITS * float(self.products.sampling[0]))
        dead = self.dead_width()
        if active >= dead:
            return active, f"fewer than {MIN_ACTIVE_UNITS} units carry the gradient per layer (the 1/N expansion of log chi1 needs many)"
        return dead, "networks with a layer that passes no gradient (chi1 = 0) bias the moments"

    @property
    def chain_next(self) -> float:
        """The chain's largest next order relative to its own ``O(1/N)`` term at layer ``L``,
        ``max(|q~{2}/q~{1}|, |r2/r|)``: the estimate used for the next order of the
        back-propagated norm's conditioning term, which is not derived (:mod:`theory.products`)."""
        ratios = [abs(self.q2[-1] / self.q1[-1]) if self.q1[-1] else 0.0, abs(self.r2[-1] / self.r[-1]) if self.r[-1] else 0.0]
        return max(ratios)

    # -- the expansions of the claims ---------------------------------------------------
    def q1_recursion(self, layer: int) -> Expansion:
        """``N (E q_cond^(l) - q^(l)) = q~{1} + q~{2}/N`` (arXiv eq. 13; :mod:`theory.next_order`).

        Parameters
        ----------
        layer : int
            The layer ``l`` (1-based).

        Returns
        -------
        Expansion
            Prediction ``q~{1}``, null 0, next order ``q~{2}``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> t.q1_recursion(1).prediction  # no finite-width correction at the first layer
        0.0
        >>> e = t.q1_recursion(10)
        >>> round(e.prediction, 4), round(e.next, 2), e.min_width()
        (0.1703, -21.96, 577)
        """
        i = layer - 1
        return Expansion(float(self.q1[i]), 0.0, float(self.q2[i]), background=self.chain_background)

    def q1_stationary(self) -> Expansion:
        """The same averaged over the stationary layers.

        Returns
        -------
        Expansion
            Prediction and next order of :meth:`q1_recursion` averaged over
            :attr:`stationary_layers`, null 0.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> e = t.q1_stationary()
        >>> round(e.prediction, 4), round(float(t.q1[-1]), 4)
        (0.1851, 0.1877)
        """
        st = self.stationary_layers
        return Expansion(float(self.q1[st].mean()), 0.0, float(self.q2[st].mean()), background=self.chain_background)

    def r_recursion(self, layer: int) -> Expansion:
        """``N Var q_cond^(l) = r + r2/N`` (arXiv eq. 12; :mod:`theory.next_order`).

        Parameters
        ----------
        layer : int
            The layer ``l`` (1-based).

        Returns
        -------
        Expansion
            Prediction ``r``, null 0, next order ``r2``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> e = t.r_recursion(20)
        >>> round(e.prediction, 4), round(e.next, 2), e.min_width()
        (4.9301, -20.26, 19)
        >>> t.r_recursion(1).prediction
        0.0
        """
        i = layer - 1
        return Expansion(float(self.r[i]), 0.0, float(self.r2[i]), background=self.chain_background)

    def q_tilde_variance(self, layer: int) -> Expansion:
        """``N Var q_tilde^(l) = r + 2 q^2 + (r2 + 4 q q~{1} + 2 r)/N``; the null is the Gaussian part ``2 q^2``.

        Parameters
        ----------
        layer : int
            The layer ``l`` (1-based).

        Returns
        -------
        Expansion
            Prediction ``r + 2 q^2``, null ``2 q^2``, next order :attr:`q_tilde_r2`.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> e = t.q_tilde_variance(20)
        >>> round(e.prediction, 4), e.null, round(e.gap, 4)  # the effect is r
        (6.9301, 2.0, 4.9301)
        """
        i = layer - 1
        gauss = 2.0 * float(self.q[i]) ** 2
        return Expansion(float(self.r[i]) + gauss, gauss, float(self.q_tilde_r2[i]), background=self.chain_background)

    def log_prod_chi1_drift(self, layer: int | None = None) -> Expansion:
        """``N (E log prod_(k<=l) chi1 - sum log chi_1(q^(k))) = sum coef + sum coef2 / N``.

        Parameters
        ----------
        layer : int, optional
            The last layer ``l`` of the product; the depth ``L`` when ``None``.

        Returns
        -------
        Expansion
            Prediction ``sum coef``, null 0, next order ``sum coef2``, with the floor of
            :meth:`active_floor`.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> e = t.log_prod_chi1_drift()
        >>> round(e.prediction, 2), round(e.next, 2), e.floor
        (-127.57, -111.06, 191)
        >>> round(t.log_prod_chi1_drift(1).prediction, 4)
        -3.1674
        """
        i = (layer or self.depth) - 1
        floor, why = self.active_floor()
        return Expansion(float(self.coef[: i + 1].sum()), 0.0, float(self.coef2[: i + 1].sum()), floor, why,
                         background=self.chain_background)

    def log_prod_chi1_variance(self, layer: int | None = None) -> Expansion:
        """``N Var log prod_(k<=l) chi1 = sampling + propagated + covariance + var_coef2/N``.

        Parameters
        ----------
        layer : int, optional
            The last layer ``l`` of the product; the depth ``L`` when ``None``.

        Returns
        -------
        Expansion
            Prediction ``var_coef``, null 0, next order ``var_coef2`` (:mod:`theory.products`),
            with the floor of :meth:`active_floor`.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> e = t.log_prod_chi1_variance()
        >>> round(e.prediction, 2), e.floor == t.active_floor()[0]
        (386.7, True)
        """
        i = (layer or self.depth) - 1
        floor, why = self.active_floor()
        return Expansion(float(self.products.var_coef[i]), 0.0, float(self.products.var_coef2[i]), floor, why,
                         background=self.chain_background)

    def back_norm2_mean(self) -> Expansion:
        """``N (E log |delta^(1)|^2 - sum_(l<L) log chi_1)``: forward drift + gradient noise +
        conditioning. The conditioning term's next order is not derived: it is estimated as
        its value times :attr:`chain_next`, so the next order only sets the regime.

        Returns
        -------
        Expansion
            Prediction ``mean_coef`` (:mod:`theory.products`), null 0, ``next_derived=False``,
            with the floor of :meth:`active_floor`.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> e = t.back_norm2_mean()
        >>> round(e.prediction, 2), e.next_derived, e.at(1000) == e.prediction, e.min_width()
        (-181.15, False, True, 550)
        """
        back = self.back
        floor, why = self.active_floor()
        return Expansion(back.mean_coef, 0.0, back.mean_coef2 + abs(back.conditioning) * self.chain_next, floor, why,
                         next_derived=False, background=self.chain_background)

    def back_norm2_variance(self) -> Expansion:
        """``N Var log |delta^(1)|^2 = N Var log prod_(l<L) chi1 + 2 sum_(l<L) (1 + c2) + var_coef2/N``.

        Returns
        -------
        Expansion
            Prediction ``var_coef``, null 0, next order ``var_coef2`` of the back-propagated norm
            (:mod:`theory.products`), with the floor of :meth:`active_floor`.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> e = t.back_norm2_variance()
        >>> round(e.prediction, 2), e.min_width()
        (642.68, 191)
        """
        back = self.back
        floor, why = self.active_floor()
        return Expansion(back.var_coef, 0.0, back.var_coef2, floor, why, background=self.chain_background)

    def log_q_cond_variance(self, layer: int) -> Expansion:
        """``N Var log q_cond^(l) = r/q^2 + v2/N``: with ``delta = q_cond - q`` and the cumulants
        of :mod:`theory.next_order`, ``log(q + delta) = log q + delta/q - delta^2/(2 q^2) +
        delta^3/(3 q^3)`` gives ``v2 = r2/q^2 - (kappa3 + 2 q~{1} r)/q^3 + 5 r^2/(2 q^4)``
        (``Cov(delta, delta^2) = (kappa3 + 2 q~{1} r)/N^2``, ``Var delta^2 = 2 r^2/N^2``,
        ``Cov(delta, delta^3) = 3 r^2/N^2``). The statistic of the stability claim.

        Parameters
        ----------
        layer : int
            The layer ``l`` (1-based).

        Returns
        -------
        Expansion
            Prediction ``r/q^2``, null 0, next order ``v2``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> e = t.log_q_cond_variance(20)
        >>> round(e.prediction, 4), round(float(t.r[19] / t.q[19] ** 2), 4), round(e.next, 2)
        (4.9301, 4.9301, -73.11)
        """
        i = layer - 1
        q, r = float(self.q[i]), float(self.r[i])
        v2 = float(self.r2[i]) / q**2 - (float(self.kappa3[i]) + 2.0 * float(self.q1[i]) * r) / q**3 + 2.5 * r**2 / q**4
        return Expansion(r / q**2, 0.0, v2, background=self.chain_background)

    def fraction_regime(self) -> tuple[Expansion, Expansion]:
        """What the Definition 2.1 fraction at depth ``L`` needs in its regime: the mean and
        the variance of ``log prod chi1``, each with the log-normal's floor (at least
        :data:`theory.products.MIN_ACTIVE_UNITS` units carrying the gradient per layer,
        ``N >= 30 c2``, and no layer without one).

        Returns
        -------
        tuple of Expansion
            :meth:`log_prod_chi1_drift` and :meth:`log_prod_chi1_variance` at depth ``L``.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> [e.min_width() for e in t.fraction_regime()]
        [191, 191]
        """
        return self.log_prod_chi1_drift(), self.log_prod_chi1_variance()

    def fraction_in_regime(self, width: int) -> bool:
        """Whether ``width`` is in the regime of both expansions of :meth:`fraction_regime`.

        Parameters
        ----------
        width : int
            The width ``N``.

        Returns
        -------
        bool
            ``True`` when the mean and the variance of ``log prod chi1`` are both in their regimes.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> t.fraction_in_regime(190), t.fraction_in_regime(191)
        (False, True)
        """
        return all(e.in_regime(width) for e in self.fraction_regime())

    def expansions(self, backward: bool = False) -> list[Expansion]:
        """Every expansion a claim of this configuration is judged by (``backward``: with the
        back-propagated norm's); ``regime_width`` is the widest of their regime widths.

        Parameters
        ----------
        backward : bool, optional
            Include :meth:`back_norm2_mean` and :meth:`back_norm2_variance`.

        Returns
        -------
        list of Expansion
            :meth:`q1_recursion`, :meth:`r_recursion` and :meth:`q_tilde_variance` at each of
            :attr:`judged_layers`, then :meth:`q1_stationary`, :meth:`log_prod_chi1_drift` and
            :meth:`log_prod_chi1_variance` (and the back-propagated norm's two with ``backward``).

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> t.judged_layers, len(t.expansions()), len(t.expansions(backward=True))
        ([10, 20], 9, 11)
        """
        out = [e for layer in self.judged_layers
               for e in (self.q1_recursion(layer), self.r_recursion(layer), self.q_tilde_variance(layer))]
        out += [self.q1_stationary(), self.log_prod_chi1_drift(), self.log_prod_chi1_variance()]
        if backward:
            out += [self.back_norm2_mean(), self.back_norm2_variance()]
        return out

    def regime_width(self, backward: bool = False) -> int:
        """The narrowest width at which every claim of :meth:`expansions` is in its regime.

        Parameters
        ----------
        backward : bool, optional
            Include the back-propagated norm's expansions.

        Returns
        -------
        int
            The largest :meth:`Expansion.min_width` of :meth:`expansions`.

        Examples
        --------
        >>> from theory import solve_eoc
        >>> t = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 20)
        >>> t.regime_width(), t.q1_recursion(20).min_width()  # set here by q~{1} at layer L
        (639, 639)
        """
        return max(e.min_width() for e in self.expansions(backward))
