"""A depth sweep: its axes, validation, and the EoC solution of every configuration.

The ``config`` axis is the product of activation x sparsity x q* x (V'(q*) targets or
m values); families without a clipping parameter (ReLU_tau, ST, ReLU, HardShrink)
contribute one configuration per (sparsity, q*), at the only V'(q*) they have at the EoC,
and a family with one sparsity (ReLU: 1/2) one per q*, whatever the sparsity axis. Everything is
checked and solved before any simulation starts, so bad input fails at once.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass, field

from theory import EoCError, EoCSolution, get_family, solve_eoc

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
