"""Infinite-width theory of sparsely activated networks at the Edge of Chaos.

Activations and their Gaussian averages (:mod:`theory.activations`), the variance and
correlation maps (:mod:`theory.maps`), the EoC solver (:mod:`theory.eoc`) and the
finite-width recursions with the Theorem 2.1 bound (:mod:`theory.finite_width`).
Command line: ``python -m theory eoc ...`` and ``python -m theory table``.
"""

from theory.activations import FAMILIES, Activation, get_activation, get_family
from theory.eoc import EoCError, EoCSolution, nlo_bound, reachable_vprime, solve_eoc
from theory.finite_width import jacobian_moments, log_chi1_drift, nlo_recursion, q1_fixed_point, r_fixed_point
from theory.maps import FixedPoint, VarianceMap

__all__ = [
    "FAMILIES",
    "Activation",
    "EoCError",
    "EoCSolution",
    "FixedPoint",
    "VarianceMap",
    "get_activation",
    "get_family",
    "jacobian_moments",
    "log_chi1_drift",
    "nlo_bound",
    "nlo_recursion",
    "q1_fixed_point",
    "r_fixed_point",
    "reachable_vprime",
    "solve_eoc",
]
