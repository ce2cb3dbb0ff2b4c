"""What one training run is: an activation family at the EoC, a seed and a logit scale.

A run is defined by its :class:`RunSpec` alone: its initial weights and its order of
mini-batches depend only on its seed (and the architecture and data), never on the
other members of the ensemble it is trained in.

The EoC parameters come from :func:`theory.solve_eoc` (arXiv 2602.05779 Sec. 2, steps
1-5); nothing here re-derives them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

from theory import solve_eoc

from train.activations import FAMILIES


@dataclass(frozen=True)
class RunSpec:
    """One network: family, target sparsity ``s``, fixed point ``q*``, ``V'(q*)`` or ``m``.

    ``logit_scale`` multiplies the read-out and ``bias_step`` the learning rate of the
    biases (the scale-control runs of :mod:`train.scale`; both 1 for the papers'
    networks). ``seed`` is a non-negative integer.
    """

    activation: str
    sparsity: float
    q_star: float
    vprime: float | None = None
    m: float | None = None
    seed: int = 0
    logit_scale: float = 1.0
    bias_step: float = 1.0

    def __post_init__(self):
        if self.activation not in FAMILIES:
            raise ValueError(f"unknown activation {self.activation!r}; supported: {sorted(FAMILIES)}")
        if not (isinstance(self.seed, int) and self.seed >= 0):
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (math.isfinite(self.logit_scale) and self.logit_scale > 0):
            raise ValueError(f"logit_scale must be positive and finite, got {self.logit_scale!r}")
        if not (math.isfinite(self.bias_step) and self.bias_step >= 0):
            raise ValueError(f"bias_step must be non-negative and finite, got {self.bias_step!r}")
        self.solve()  # fails now, with the theory's message, for an EoC that does not exist

    def solve(self):
        """The :class:`theory.eoc.EoCSolution` of this run (cached per configuration)."""
        return _solve(self.activation, self.sparsity, self.q_star, self.vprime, self.m)

    def as_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=None)
def _solve(activation, sparsity, q_star, vprime, m):
    return solve_eoc(activation, sparsity=sparsity, q_star=q_star, vprime=vprime, m=m)
