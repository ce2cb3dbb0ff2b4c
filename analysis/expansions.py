"""The theory each claim is judged by: prediction, null, next order and spread per network.

One definition for the claims (:mod:`analysis.claims`), the planner
(:mod:`analysis.plan`) and the theory attached to a store (:func:`analysis.sweep.open_sweep`):
:class:`ClaimTheory` holds a configuration's per-layer theory, from the papers'
recursions (:mod:`theory.finite_width`) and their next order (:mod:`theory.next_order`),
and gives each claim's :class:`analysis.verdicts.Expansion`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.estimators import stationary_start
from analysis.verdicts import Expansion
from theory import EoCSolution, log_chi1_drift
from theory.next_order import dead_gradient_probability, log_chi1_next_order, next_order_recursion
from theory.products import MIN_ACTIVE_UNITS, BackNormMoments, LogProductMoments, back_norm2_moments, log_prod_chi1_moments

#: largest expected fraction of networks with a layer that passes no gradient (their
#: ``log chi1`` is ``-inf``; the survivors' mean is then biased by no more than this)
MAX_DEAD = 1e-3


@dataclass(frozen=True)
class ClaimTheory:
    """The per-layer theory of one configuration that every expansion claim is judged by."""

    vprime: float
    q: np.ndarray
    q1: np.ndarray
    r: np.ndarray
    q2: np.ndarray
    r2: np.ndarray
    q_tilde_r2: np.ndarray
    lead: np.ndarray
    coef: np.ndarray
    coef2: np.ndarray
    p_dead: float
    products: LogProductMoments
    back: BackNormMoments

    @classmethod
    def from_solution(cls, sol: EoCSolution, depth: int) -> "ClaimTheory":
        vmap = sol.variance_map
        q = vmap.trajectory(float(sol.q_star), depth)
        nxt = next_order_recursion(vmap, q)
        lead, coef = log_chi1_drift(vmap, q)
        return cls(float(sol.vprime), q, nxt.q1, nxt.r, nxt.q2, nxt.r2, nxt.q_tilde_r2, lead, coef,
                   log_chi1_next_order(vmap, q),
                   float(dead_gradient_probability(vmap, float(sol.q_star))),
                   log_prod_chi1_moments(vmap, q), back_norm2_moments(vmap, q))

    def fraction_regime(self) -> tuple[Expansion, Expansion]:
        """What the Definition 2.1 fraction at depth ``L`` needs in its regime: the mean and
        the variance of ``log prod chi1``, each with the log-normal's floor (at least
        :data:`theory.products.MIN_ACTIVE_UNITS` units carrying the gradient per layer,
        ``N >= 30 c2``, and no layer without one)."""
        mean, var = self.expansion("log_prod_chi1_drift"), self.expansion("log_prod_chi1_variance")
        active = math.ceil(MIN_ACTIVE_UNITS * float(self.products.sampling[0]))
        if active > mean.floor:
            reason = f"fewer than {MIN_ACTIVE_UNITS} units carry the gradient per layer (the log-normal law needs many)"
            mean = Expansion(mean.prediction, mean.null, mean.next, active, reason)
            var = Expansion(var.prediction, var.null, var.next, active, reason)
        return mean, var

    def fraction_in_regime(self, width: int) -> bool:
        return all(e.in_regime(width) for e in self.fraction_regime())

    @property
    def chain_next(self) -> float:
        """The chain's largest next order relative to its own ``O(1/N)`` term at layer ``L``,
        ``max(|q~{2}/q~{1}|, |r2/r|)``: the estimate used for the next order of the
        back-propagated norm's conditioning term, which is not derived (:mod:`theory.products`)."""
        ratios = [abs(self.q2[-1] / self.q1[-1]) if self.q1[-1] else 0.0, abs(self.r2[-1] / self.r[-1]) if self.r[-1] else 0.0]
        return max(ratios)

    def dead_width(self, layer: int | None = None) -> int:
        """Smallest width at which fewer than :data:`MAX_DEAD` of the networks have a layer
        ``<= layer`` that passes no gradient (``layer * p_dead^N <= MAX_DEAD``)."""
        layers = layer or self.depth
        if self.p_dead <= 0.0:
            return 2
        return max(2, math.ceil(math.log(MAX_DEAD / layers) / math.log(self.p_dead)))

    @property
    def depth(self) -> int:
        return self.q.shape[0]

    @property
    def stationary_layers(self) -> slice:
        """Layers (0-based slice) over which ``q~{1}`` has converged (:func:`stationary_start`)."""
        return slice(stationary_start(self.q1) - 1, None)

    def expansion(self, claim: str, layer: int | None = None) -> Expansion:
        """``Y_N = P + c/N`` of ``claim`` at ``layer`` (1-based; the last by default)."""
        i = (layer or self.depth) - 1
        st = self.stationary_layers
        if claim == "q1_recursion":
            return Expansion(float(self.q1[i]), 0.0, float(self.q2[i]))
        if claim in ("q1_recursion_stationary", "nlo_bound"):
            return Expansion(float(self.q1[st].mean()), 0.0, float(self.q2[st].mean()))
        if claim == "r_recursion":
            return Expansion(float(self.r[i]), 0.0, float(self.r2[i]))
        if claim == "q_tilde_variance":
            gauss = 2.0 * float(self.q[i]) ** 2
            return Expansion(float(self.r[i]) + gauss, gauss, float(self.q_tilde_r2[i]))
        if claim == "log_prod_chi1_drift":
            return Expansion(float(self.coef[: i + 1].sum()), 0.0, float(self.coef2[: i + 1].sum()),
                             floor=self.dead_width(i + 1),
                             floor_reason="networks with a layer that passes no gradient (chi1 = 0) bias the mean")
        dead = "networks with a layer that passes no gradient (chi1 = 0) bias the moments"
        if claim == "log_prod_chi1_variance":
            return Expansion(float(self.products.var_coef[i]), 0.0, float(self.products.var_coef2[i]),
                             floor=self.dead_width(i + 1), floor_reason=dead)
        back = self.back
        if claim == "back_norm2_variance":
            return Expansion(back.var_coef, 0.0, back.var_coef2,
                             floor=self.dead_width(self.depth - 1), floor_reason=dead)
        if claim == "back_norm2_mean":
            return Expansion(back.mean_coef, 0.0, back.mean_coef2 + abs(back.conditioning) * self.chain_next,
                             floor=self.dead_width(self.depth - 1), floor_reason=dead)
        raise ValueError(f"no expansion for claim {claim!r}")

    def sd(self, claim: str, width: int, layer: int | None = None) -> float:
        """Standard deviation per network of the claim's width-scaled estimate at ``width``.

        Leading-order approximations: ``Var q_cond = r/N`` (the layer-averaged estimate of
        the stationary claims divided by the AR(1) effective number of layers
        ``M (1 - V')/(1 + V')``); sample variances of Gaussian data (``sd = sqrt(2) Var``);
        ``Var log prod chi1`` and ``Var log |delta^(1)|^2`` from :mod:`theory.products`.
        """
        i = (layer or self.depth) - 1
        p = self.vprime
        if claim == "q1_recursion":
            return math.sqrt(width * self.r[i])
        if claim in ("q1_recursion_stationary", "nlo_bound"):
            layers = self.depth - self.stationary_layers.start
            effective = min(1.0, (1 + p) / ((1 - p) * max(layers, 1)))
            return math.sqrt(width * self.r[-1] * effective)
        if claim == "r_recursion":
            return math.sqrt(2.0) * self.r[i]
        if claim == "q_tilde_variance":
            return math.sqrt(2.0) * (self.r[i] + 2.0 * self.q[i] ** 2)
        if claim == "log_prod_chi1_drift":
            return math.sqrt(width * self.products.var_coef[i])
        if claim == "log_prod_chi1_variance":
            return math.sqrt(2.0) * self.products.var_coef[i]
        if claim == "back_norm2_variance":
            return math.sqrt(2.0) * self.back.var_coef
        if claim == "back_norm2_mean":
            return math.sqrt(width * self.back.var_coef)
        raise ValueError(f"no standard deviation for claim {claim!r}")
