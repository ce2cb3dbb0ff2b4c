"""A depth sweep: its axes, validation, and the EoC solution of every configuration.

The ``config`` axis is the product of activation x sparsity x q* x (V'(q*) targets or
m values); families without a clipping parameter (ReLU_tau, ST, ReLU, HardShrink)
contribute one configuration per (sparsity, q*), at the only V'(q*) they have at the EoC,
and a family with one sparsity (ReLU: 1/2) one per q*, whatever the sparsity axis. Everything is
checked and solved before any simulation starts, so bad input fails at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field

from theory import EoCError, EoCSolution, get_family, solve_eoc
from theory.expansion import ConfigurationTheory

#: narrowest width a plan or ``--width auto`` proposes: below it the fourth cumulants
#: that the standard errors neglect are not small
MIN_WIDTH = 30
SAMPLERS = ("reduced", "dense")
BACKENDS = ("auto", "cpu", "gpu")
WEIGHTS = ("gaussian", "orthogonal")


class SweepError(ValueError):
    """A sweep that cannot run, explained."""


@dataclass(frozen=True)
class NetworkConfig:
    """One point of the ``config`` axis, with its solved EoC initialisation."""

    activation: str
    sparsity: float
    q_star: float
    vprime_target: float | None
    m_given: float | None
    solution: EoCSolution = field(repr=False, compare=False)


def solve_grid(activation, sparsity, q_star, vprime=None, m=None) -> list[NetworkConfig]:
    """The product activation x sparsity x q* x (``vprime`` targets or ``m`` values), each
    solved at the EoC (module docstring); also the configurations of ``python -m train``.

    Raises :class:`SweepError` naming the first configuration without an EoC
    initialisation, or clipped families given neither or both of ``vprime`` and ``m``.

    Examples
    --------
    >>> [(c.activation, c.sparsity, c.vprime_target) for c in solve_grid(["relu", "crelu"], [0.85], [1.0], [0.7, 0.9])]
    [('relu', 0.5, None), ('crelu', 0.85, 0.7), ('crelu', 0.85, 0.9)]
    """
    out = []
    for act in activation:
        try:
            family = get_family(act)
        except ValueError as err:
            raise SweepError(str(err)) from None
        if family.clip_param is not None and (vprime is None) == (m is None):
            raise SweepError(f"clipped family {act} needs exactly one of --vprime or --m")
        sparsities = sparsity if family.fixed_sparsity is None else (family.fixed_sparsity,)
        for s, q in itertools.product(sparsities, q_star):
            if family.clip_param is None:
                targets = [(None, None)]
            elif vprime is not None:
                targets = [(v, None) for v in vprime]
            else:
                targets = [(None, x) for x in m]
            for v, x in targets:
                try:
                    sol = solve_eoc(act, s, q, vprime=v, m=x)
                except EoCError as err:
                    raise SweepError(f"configuration {act}, s={s}, q*={q}: {err}") from None
                out.append(NetworkConfig(act, float(s), float(q), v, x, sol))
    return out


@dataclass(frozen=True)
class Sweep:
    """Everything that determines a depth-sweep store (its results depend on nothing else)."""

    activation: tuple[str, ...] = ("crelu",)
    sparsity: tuple[float, ...] = (0.85,)
    q_star: tuple[float, ...] = (1.0, 3.0)
    vprime: tuple[float, ...] | None = (0.5, 0.7, 0.9)
    m: tuple[float, ...] | None = None
    width: tuple[int, ...] = (100, 1000, 6000)
    depth: int = 100
    samples: int = 2000
    inputs: int = 1
    rho0: float = 0.5
    seed: int = 0
    sampler: str = "reduced"
    weights: str = "gaussian"
    backward: bool = False
    keep: int | None = None
    chunk: int = 500

    def __post_init__(self):
        for name in ("activation", "sparsity", "q_star", "width"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("vprime", "m"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        self._validate()

    def _validate(self):
        def need(ok, message):
            if not ok:
                raise SweepError(message)

        need(self.activation, "give at least one --activation")
        for act in self.activation:
            try:
                get_family(act)
            except ValueError as err:
                raise SweepError(str(err)) from None
        need(all(int(w) == w and w >= 2 for w in self.width), f"--width must be integers >= 2, got {self.width}")
        need(int(self.depth) == self.depth and self.depth >= 2, f"--depth must be an integer >= 2, got {self.depth}")
        need(self.samples >= 1, f"--samples must be >= 1, got {self.samples}")
        need(self.chunk >= 1, f"chunk must be >= 1, got {self.chunk}")
        need(self.keep is None or self.keep >= 0, f"--keep must be >= 0, got {self.keep}")
        need(self.inputs in (1, 2), f"--inputs must be 1 or 2, got {self.inputs}")
        need(-1.0 < self.rho0 < 1.0, f"--rho0 must lie in (-1, 1), got {self.rho0}")
        need(self.sampler in SAMPLERS, f"--sampler must be one of {SAMPLERS}")
        need(self.weights in WEIGHTS, f"weights must be one of {WEIGHTS}")
        need(
            self.weights == "gaussian" or self.sampler == "dense",
            "orthogonal weights need --sampler dense (the reduced sampler is exact for Gaussian weights only)",
        )
        need(self.seed >= 0, "--seed must be a non-negative integer")
        clipped = [a for a in self.activation if get_family(a).clip_param is not None]
        need(
            not clipped or (self.vprime is None) != (self.m is None),
            f"clipped families {clipped} need exactly one of --vprime or --m",
        )

    def configs(self) -> list[NetworkConfig]:
        """The solved ``config`` axis; raises :class:`SweepError` naming a bad configuration."""
        return solve_grid(self.activation, self.sparsity, self.q_star, self.vprime, self.m)

    @property
    def raw_samples(self) -> int:
        """Networks whose per-layer values are stored (all, or the first ``keep``)."""
        return self.samples if self.keep is None else min(self.keep, self.samples)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Sweep":
        return cls(**json.loads(text))

    def identity(self) -> dict:
        """The fields that determine the store's contents (``chunk`` does not)."""
        record = dataclasses.asdict(self)
        record.pop("chunk")
        return record

    def to_argv(self) -> list[str]:
        """The ``python -m simulate.depth_sweep`` options that give this sweep (every field
        that differs from the default, and the configuration axes always).

        Examples
        --------
        >>> Sweep(q_star=(1.0,), vprime=(0.7,), width=(300,), samples=500).to_argv()
        ['--activation', 'crelu', '--sparsity', '0.85', '--qstar', '1', '--vprime', '0.7', '--width', '300', '--depth', '100', '--samples', '500']
        """
        default = Sweep()
        always = ("activation", "sparsity", "q_star", "vprime", "m", "width", "depth", "samples")
        argv = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name not in always and value == getattr(default, f.name)):
                continue
            flag = "--" + OPTION_NAMES.get(f.name, f.name)
            if isinstance(value, bool):
                argv += [flag] if value else []
            elif isinstance(value, tuple):
                argv += [flag, *(_plain(v) for v in value)]
            else:
                argv += [flag, _plain(value)]
        return argv

    def default_out(self) -> str:
        """A store path named by the simulation: the same sweep gives the same path, two
        different sweeps never do (a digest of :meth:`identity`)."""
        digest = hashlib.sha1(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:10]
        head = "_".join(self.activation) + "_N" + "-".join(map(str, self.width))
        return f"data/sweeps/{head}_{digest}.zarr"


#: command-line spellings of the fields that differ from their names
OPTION_NAMES = {"q_star": "qstar"}


def _plain(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def round_up(x: float, digits: int = 2) -> int:
    """``x`` rounded up to ``digits`` significant digits.

    Examples
    --------
    >>> round_up(1785), round_up(226)
    (1800, 230)
    """
    if x <= 1:
        return 1
    scale = 10 ** max(0, math.floor(math.log10(x)) - digits + 1)
    return int(math.ceil(x / scale) * scale)


def auto_widths(configs: list[NetworkConfig], depth: int, backward: bool = False) -> tuple[int, ...]:
    """``--width auto``: ``(N, 2N, 4N)`` with ``N`` the narrowest round width at which every
    claim of every configuration with ``V' < 1`` is in its regime
    (:meth:`theory.expansion.ConfigurationTheory.regime_width`), so each claim has three
    widths in its regime."""
    widths = [ConfigurationTheory.from_solution(c.solution, depth).regime_width(backward)
              for c in configs if float(c.solution.vprime) < 1.0]
    if not widths:
        raise SweepError("--width auto needs a configuration with V'(q*) < 1 (no claim has a regime at V' = 1)")
    n = round_up(max(max(widths), MIN_WIDTH))
    return (n, 2 * n, 4 * n)
