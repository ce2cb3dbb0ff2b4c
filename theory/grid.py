"""The configurations a command runs: activation x sparsity x q* x (V'(q*) targets or m
values), each solved at the EoC.

One definition for every command (``python -m theory``, ``simulate.depth_sweep``,
``analysis.plan``, ``train``): the same options, the same defaults, the same checks.
Families without a clipping parameter (ReLU_tau, ST, ReLU, HardShrink) contribute one
configuration per (sparsity, q*), at the only V'(q*) they have at the EoC, and a family
with one sparsity (ReLU: 1/2) one per q*, whatever the sparsity axis.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Annotated

import tyro

from theory.cli import UsageError
from theory.activations import get_family
from theory.eoc import EoCError, EoCSolution, solve_eoc

#: the V'(q*) targets of clipped families when neither ``vprime`` nor ``m`` is given
DEFAULT_VPRIME = (0.5, 0.7, 0.9)


class GridError(UsageError):
    """A configuration that cannot be solved, or options that do not name one, explained."""


#: the fewest layers and units per layer a network of any command has
MIN_DEPTH = 2
MIN_NETWORK_WIDTH = 2


def require_shape(width=None, depth=None) -> None:
    """Check a network's width ``N`` (an int or several) and depth ``L`` (either may be
    ``None``: not checked), with the message every command prints.

    Parameters
    ----------
    width : int or tuple of int or None
        Units per layer, at least :data:`MIN_NETWORK_WIDTH`.
    depth : int or None
        Layers, at least :data:`MIN_DEPTH`.

    Returns
    -------
    None

    Raises
    ------
    GridError
        ``--width must be integers >= 2, got ...`` or ``--depth must be an integer >= 2, got ...``.

    Examples
    --------
    >>> require_shape(width=(100, 1000), depth=2)
    >>> require_shape(depth=1)
    Traceback (most recent call last):
    ...
    theory.grid.GridError: --depth must be an integer >= 2, got 1
    """
    if width is not None:
        widths = width if isinstance(width, (tuple, list)) else (width,)
        try:
            ok = all(int(w) == w and w >= MIN_NETWORK_WIDTH for w in widths)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise GridError(f"--width must be integers >= {MIN_NETWORK_WIDTH}, got {width}")
    if depth is not None and not (int(depth) == depth and depth >= MIN_DEPTH):
        raise GridError(f"--depth must be an integer >= {MIN_DEPTH}, got {depth}")


@dataclass(frozen=True)
class NetworkConfig:
    """One configuration with its solved EoC initialisation.

    Parameters
    ----------
    activation : str
        The family's name.
    sparsity : float
        The sparsity ``s`` it was solved at.
    q_star : float
        The fixed-point variance ``q*``.
    vprime_target : float or None
        The ``V'(q*)`` asked for (clipped families given ``vprime``).
    m_given : float or None
        The clipping value asked for (clipped families given ``m``).
    solution : EoCSolution
        The EoC initialisation (:func:`theory.eoc.solve_eoc`).

    Examples
    --------
    >>> c = Grid(q_star=(1.0,), vprime=(0.7,)).configs()[0]
    >>> c.activation, c.sparsity, round(float(c.solution.vprime), 12)
    ('crelu', 0.85, 0.7)
    """

    activation: str
    sparsity: float
    q_star: float
    vprime_target: float | None
    m_given: float | None
    solution: EoCSolution = field(repr=False, compare=False)


@dataclass(frozen=True)
class Grid:
    """The product activation x sparsity x q* x (V'(q*) targets or m values) (module docstring).

    Parameters
    ----------
    activation : tuple of str
        Activation families: crelu, cst, relu_tau, st, relu, ... (theory.activations).
    sparsity : tuple of float
        Target fractions of zero activations s, in (0, 1).
    q_star : tuple of float
        Fixed-point variances q* > 0 (option --qstar).
    vprime : tuple of float or None
        Target V'(q*) of clipped families; 0.5 0.7 0.9 unless --m is given.
    m : tuple of float or None
        Clipping values of clipped families, instead of --vprime.

    Raises
    ------
    GridError
        An unknown family, a sparsity outside (0, 1), a ``q* <= 0``, or clipped families
        given both ``vprime`` and ``m``.

    Examples
    --------
    >>> [(c.activation, c.sparsity, c.vprime_target) for c in Grid(("relu", "crelu"), q_star=(1.0,), vprime=(0.7, 0.9)).configs()]
    [('relu', 0.5, None), ('crelu', 0.85, 0.7), ('crelu', 0.85, 0.9)]
    >>> Grid(m=(2.0,)).vprime is None
    True
    """

    activation: tuple[str, ...] = ("crelu",)
    sparsity: tuple[float, ...] = (0.85,)
    q_star: Annotated[tuple[float, ...], tyro.conf.arg(name="qstar")] = (1.0, 3.0)
    vprime: tuple[float, ...] | None = None
    m: tuple[float, ...] | None = None

    def __post_init__(self):
        for name in ("activation", "sparsity", "q_star", "vprime", "m"):
            value = getattr(self, name)
            if isinstance(value, (str, int, float)):
                value = (value,)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if self.vprime is None and self.m is None:
            object.__setattr__(self, "vprime", DEFAULT_VPRIME)
        if not self.activation:
            raise GridError("give at least one --activation")
        for act in self.activation:
            try:
                get_family(act)
            except ValueError as err:
                raise GridError(str(err)) from None
        bad = [s for s in self.sparsity if not 0.0 < s < 1.0]
        if bad:
            raise GridError(f"sparsity s must lie in (0, 1), got {bad[0]:g}")
        bad = [q for q in self.q_star if not (math.isfinite(q) and q > 0.0)]
        if bad:
            raise GridError(f"q* must be positive, got {bad[0]:g}")
        clipped = [a for a in self.activation if get_family(a).clip_param is not None]
        if clipped and self.vprime is not None and self.m is not None:
            raise GridError(f"clipped families {clipped} need exactly one of --vprime or --m")

    def configs(self) -> list[NetworkConfig]:
        """Every configuration, solved at the EoC.

        Returns
        -------
        list of NetworkConfig
            In the order activation, sparsity, q*, then the V'(q*) targets or m values.

        Raises
        ------
        GridError
            Naming the first configuration without an EoC initialisation.

        Examples
        --------
        >>> [round(float(c.solution.chi1), 12) for c in Grid(q_star=(1.0, 3.0), vprime=(0.7,)).configs()]
        [1.0, 1.0]
        >>> Grid(vprime=(1.5,)).configs()
        Traceback (most recent call last):
        ...
        theory.grid.GridError: configuration crelu, s=0.85, q*=1: ...
        """
        out = []
        for act in self.activation:
            family = get_family(act)
            sparsities = self.sparsity if family.fixed_sparsity is None else (family.fixed_sparsity,)
            if family.clip_param is None:
                targets = [(None, None)]
            elif self.vprime is not None:
                targets = [(v, None) for v in self.vprime]
            else:
                targets = [(None, x) for x in self.m]
            for s, q in itertools.product(sparsities, self.q_star):
                for v, x in targets:
                    try:
                        sol = solve_eoc(act, s, q, vprime=v, m=x)
                    except EoCError as err:
                        raise GridError(f"configuration {act}, s={s:g}, q*={q:g}: {err}") from None
                    out.append(NetworkConfig(act, float(s), float(q), v, x, sol))
        return out
