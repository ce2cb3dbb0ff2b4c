"""Infinite-width theory of sparsely activated networks at the Edge of Chaos.

Activations and their Gaussian averages (:mod:`theory.activations`), the variance and
correlation maps (:mod:`theory.maps`), the EoC solver (:mod:`theory.eoc`) and the
finite-width recursions with the Theorem 2.1 bound (:mod:`theory.finite_width`), the
two-input kernel map (:mod:`theory.kernel_map`) and the ``O(1/N)`` expansion of the
correlation of two inputs (:mod:`theory.correlation`); the configurations every command
takes (:mod:`theory.grid`) and the one command-line schema (:mod:`theory.cli`).
Command line: ``python -m theory eoc ...``, ``python -m theory correlation ...`` and
``python -m theory table``.
"""

from theory.activations import FAMILIES, Activation, get_activation, get_family
from theory.correlation import CorrelationExpansion, correlation_expansion, correlation_table
from theory.expansion import ConfigurationTheory, Expansion
from theory.eoc import EoCError, EoCSolution, nlo_bound, reachable_vprime, solve_eoc
from theory.grid import Grid, GridError, NetworkConfig
from theory.finite_width import jacobian_moments, log_chi1_drift, nlo_recursion, q1_fixed_point, r_fixed_point
from theory.kernel_map import KernelMap
from theory.maps import FixedPoint, VarianceMap

__all__ = [
    "FAMILIES",
    "Activation",
    "ConfigurationTheory",
    "CorrelationExpansion",
    "EoCError",
    "EoCSolution",
    "Expansion",
    "FixedPoint",
    "Grid",
    "GridError",
    "KernelMap",
    "NetworkConfig",
    "VarianceMap",
    "correlation_expansion",
    "correlation_table",
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
