"""Sparsity-inducing activations as torch modules, one parameter set per ensemble member.

All five families are cases of one formula (ICLR 2024, Price et al., eqs. 9-10; arXiv
2602.05779, Dent & Tanner, eqs. 1 and 34)::

    phi(x) = clamp(x - tau, 0, m) - odd * clamp(-x - tau, 0, m)

=========  =====  ======  =====
family     tau    m       odd
=========  =====  ======  =====
ReLU       0      inf     no
ReLU_tau   tau    inf     no
ST_tau     tau    inf     yes
CReLU      tau    m       no
CST        tau    m       yes
=========  =====  ======  =====

so members of different families can share one batched model. The derivative is 1
on the open linear pieces and 0 elsewhere, the kinks ``|x| = tau, tau + m`` included
(as ``torch.relu`` takes ``relu'(0) = 0``): exact almost everywhere. The backward pass
saves only a boolean mask of the linear pieces, a quarter of the memory of a float. Zeros are exact
(``clamp`` returns 0.0), so the activation sparsity is the fraction of ``phi(h) == 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from theory.activations import FAMILIES as _THEORY_FAMILIES

#: ``odd`` flag of each family this module implements: the families of
#: :mod:`theory.activations` in clamp form (their one definition)
FAMILIES = {name: cls.symmetric for name, cls in _THEORY_FAMILIES.items() if cls.clamp_form}


class _Phi(torch.autograd.Function):
    """``phi`` and its backward pass ``grad * phi'``, ``phi'`` in {0, 1} (0 at the kinks)."""

    @staticmethod
    def forward(ctx, h, tau, m, odd):
        pos = h - tau
        out = pos.clamp(min=0).clamp(max=m)
        slope = (pos > 0) & (pos < m)
        if odd is not None:
            neg = -h - tau
            neg_slope = (neg > 0) & (neg < m) & odd
            out = out - neg.clamp(min=0).clamp(max=m) * odd
            slope = slope | neg_slope
        ctx.save_for_backward(slope)
        return out

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return grad * slope, None, None, None


class SparseActivation(nn.Module):
    """``phi`` with per-member parameters ``tau, m, odd`` (each of shape ``(E,)``).

    ``forward(h, member_dim=0)`` broadcasts the parameters along ``member_dim`` of
    ``h``, whose size must be ``E`` (or anything, when ``E == 1``).
    """

    def __init__(self, tau: Sequence[float], m: Sequence[float], odd: Sequence[bool]):
        super().__init__()
        tau = torch.as_tensor(tau, dtype=torch.float64).reshape(-1)
        m = torch.as_tensor(m, dtype=torch.float64).reshape(-1)
        odd = torch.as_tensor(odd, dtype=torch.bool).reshape(-1)
        if not (tau.shape == m.shape == odd.shape):
            raise ValueError(f"tau, m, odd need one entry per member, got {tau.shape}, {m.shape}, {odd.shape}")
        if torch.any(tau < 0) or torch.any(torch.isnan(tau)):
            raise ValueError(f"tau must be >= 0, got {tau.tolist()}")
        if torch.any(~(m > 0)):
            raise ValueError(f"m must be > 0 (inf for no clipping), got {m.tolist()}")
        self.register_buffer("tau", tau.float())
        self.register_buffer("m", m.float())
        self.register_buffer("odd", odd)
        self._any_odd = bool(odd.any())

    @property
    def members(self) -> int:
        return self.tau.numel()

    def _param(self, p: torch.Tensor, h: torch.Tensor, member_dim: int) -> torch.Tensor:
        shape = [1] * h.dim()
        shape[member_dim] = p.numel()
        return p.view(shape)

    def forward(self, h: torch.Tensor, member_dim: int = 0) -> torch.Tensor:
        odd = self._param(self.odd, h, member_dim) if self._any_odd else None
        return _Phi.apply(h, self._param(self.tau, h, member_dim), self._param(self.m, h, member_dim), odd)

    @classmethod
    def stack(cls, acts: Sequence[SparseActivation]) -> SparseActivation:
        """One module whose member ``i`` is ``acts[i]`` (each a single-member module)."""
        if any(a.members != 1 for a in acts):
            raise ValueError("stack expects single-member activations")
        return cls(
            torch.cat([a.tau.double() for a in acts]),
            torch.cat([a.m.double() for a in acts]),
            torch.cat([a.odd for a in acts]),
        )

    def extra_repr(self) -> str:
        return f"members={self.members}, tau={self.tau.tolist()}, m={self.m.tolist()}, odd={self.odd.tolist()}"


class ReLU(SparseActivation):
    """``max(0, x)``: sparsity 1/2 at every variance."""

    def __init__(self):
        super().__init__([0.0], [math.inf], [False])


class ReLUTau(SparseActivation):
    """Shifted ReLU ``max(0, x - tau)`` (ICLR 2024 eq. 9)."""

    def __init__(self, tau: float):
        super().__init__([tau], [math.inf], [False])


class ST(SparseActivation):
    """Soft threshold ``sign(x) max(0, |x| - tau)`` (ICLR 2024 eq. 10)."""

    def __init__(self, tau: float):
        super().__init__([tau], [math.inf], [True])


class CReLU(SparseActivation):
    """Clipped shifted ReLU ``min(max(x - tau, 0), m)`` (arXiv 2602.05779 eq. 1)."""

    def __init__(self, tau: float, m: float):
        super().__init__([tau], [m], [False])


class CST(SparseActivation):
    """Clipped soft threshold ``sign(x) CReLU_{tau,m}(|x|)`` (arXiv 2602.05779 eq. 34)."""

    def __init__(self, tau: float, m: float):
        super().__init__([tau], [m], [True])


def from_solution(sol) -> SparseActivation:
    """The single-member activation of an EoC solution of :func:`theory.solve_eoc`."""
    name = sol.activation_name
    if name not in FAMILIES:
        raise ValueError(f"activation {name!r} has no torch module; supported: {sorted(FAMILIES)}")
    return SparseActivation([float(sol.tau)], [float(sol.m)], [FAMILIES[name]])
