"""A depth sweep: its axes, validation, and the EoC solution of every configuration.

The ``config`` axis is the product of activation x sparsity x q* x (V'(q*) targets or m
values) of :class:`theory.grid.Grid`, which a sweep extends with the widths, depth,
networks and sampler. Everything is checked and solved before any simulation starts, so
bad input fails at once. The fields' docstrings are the help of
``python -m simulate.depth_sweep`` (:mod:`theory.cli`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Literal

from theory.cli import option_names, to_argv
from theory.expansion import ConfigurationTheory
from theory.grid import Grid, GridError, NetworkConfig, require_shape

#: narrowest width a plan or ``--width auto`` proposes: below it the fourth cumulants
#: that the standard errors neglect are not small
MIN_WIDTH = 30
SAMPLERS = ("reduced", "dense")
BACKENDS = ("auto", "cpu", "gpu")
WEIGHTS = ("gaussian", "orthogonal")


class SweepError(GridError):
    """A sweep that cannot run, explained."""


@dataclass(frozen=True)
class Sweep(Grid):
    """Everything that determines a depth-sweep store (its results depend on nothing else).

    Parameters
    ----------
    activation, sparsity, q_star, vprime, m
        The configurations (theory.grid.Grid).
    width : tuple of int or "auto"
        Widths N of every layer, or auto: (N, 2N, 4N) with N the narrowest width at which
        every claim is in its regime (auto_widths).
    depth : int
        Number of layers L (>= 2).
    samples : int
        Networks per (configuration, width).
    inputs : int
        Inputs per network: 1, or 2 to record their correlation rho.
    rho0 : float
        Layer-1 correlation of the two inputs, in (-1, 1).
    seed : int
        Root seed: results depend only on (seed, configuration, sample).
    sampler : str
        reduced (exact, O(N B^2)) or dense (weight matrices).
    weights : str
        gaussian, or orthogonal (with the dense sampler only).
    backward : bool
        Also back-propagate a random unit error vector.
    keep : int or None
        Store only the first K networks raw, plus streaming moments of all.
    chunk : int
        Networks per stored chunk and task (does not change the results).

    Raises
    ------
    theory.grid.GridError
        Naming the first bad field (before anything is simulated or written);
        :class:`SweepError`, a subclass, for the fields of the sweep proper.

    Examples
    --------
    >>> Sweep(q_star=(1.0,), vprime=(0.7,), width=(300,), depth=20).raw_samples
    2000
    >>> Sweep(depth=1)
    Traceback (most recent call last):
    ...
    theory.grid.GridError: --depth must be an integer >= 2, got 1
    """

    width: tuple[int, ...] | Literal["auto"] = (100, 1000, 6000)
    depth: int = 100
    samples: int = 2000
    inputs: int = 1
    rho0: float = 0.5
    seed: int = 0
    sampler: Literal["reduced", "dense"] = "reduced"
    weights: Literal["gaussian", "orthogonal"] = "gaussian"
    backward: bool = False
    keep: int | None = None
    chunk: int = 500

    def __post_init__(self):
        super().__post_init__()
        auto = self.width in ("auto", ("auto",))
        require_shape(width=None if auto else self.width, depth=self.depth)
        if not auto:
            widths = self.width if isinstance(self.width, (tuple, list)) else (self.width,)
            object.__setattr__(self, "width", tuple(int(w) for w in widths))
        self._validate()
        if auto:
            object.__setattr__(self, "width", auto_widths(self.configs(), self.depth, self.backward))

    def _validate(self):
        def need(ok, message):
            if not ok:
                raise SweepError(message)

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

    @property
    def raw_samples(self) -> int:
        """Networks whose per-layer values are stored (all, or the first ``keep``)."""
        return self.samples if self.keep is None else min(self.keep, self.samples)

    def to_json(self) -> str:
        """The sweep as JSON text (every field, keys sorted): what a store keeps in its
        ``sweep`` attribute.

        Returns
        -------
        str
            The JSON object of the sweep's fields; :meth:`from_json` reads it back.

        Examples
        --------
        >>> import json
        >>> s = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8)
        >>> record = json.loads(s.to_json())
        >>> record["width"], record["depth"], record["chunk"]
        ([20], 4, 500)
        >>> Sweep.from_json(s.to_json()) == s
        True
        """
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Sweep":
        """The sweep that :meth:`to_json` wrote, checked and solved again.

        Parameters
        ----------
        text : str
            A JSON object of a sweep's fields (:meth:`to_json`; a store's ``sweep`` attribute).

        Returns
        -------
        Sweep
            The sweep, equal to the one that wrote ``text``.

        Raises
        ------
        theory.grid.GridError
            Naming the first bad field, as the constructor does.

        Examples
        --------
        >>> s = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8)
        >>> Sweep.from_json(s.to_json()) == s
        True
        >>> Sweep.from_json('{"q_star": [1.0], "vprime": [0.7], "width": [50], "depth": 10}').width
        (50,)
        """
        return cls(**json.loads(text))

    def identity(self) -> dict:
        """The fields that determine the store's contents (``chunk`` does not).

        Returns
        -------
        dict
            Every field of the sweep but ``chunk``, by name.

        Examples
        --------
        >>> import dataclasses
        >>> s = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8)
        >>> "chunk" in s.identity(), s.identity()["width"], s.identity()["samples"]
        (False, (20,), 8)
        >>> dataclasses.replace(s, chunk=4).identity() == s.identity()
        True
        """
        record = dataclasses.asdict(self)
        record.pop("chunk")
        return record

    def to_argv(self) -> list[str]:
        """The ``python -m simulate.depth_sweep`` options that give this sweep (every field
        that differs from the default, and the configuration axes always).

        Returns
        -------
        list of str
            The command-line options, option names and values alternating.

        Examples
        --------
        >>> Sweep(q_star=(1.0,), vprime=(0.7,), width=(300,), samples=500).to_argv()
        ['--activation', 'crelu', '--sparsity', '0.85', '--qstar', '1', '--vprime', '0.7',
         '--width', '300', '--depth', '100', '--samples', '500']
        """
        default = Sweep()
        always = ("activation", "sparsity", "q_star", "vprime", "m", "width", "depth", "samples")
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name in always or getattr(self, f.name) != getattr(default, f.name)}
        return to_argv(values, option_names(Sweep))

    def default_out(self) -> str:
        """A store path named by the simulation: the same sweep gives the same path, two
        different sweeps never do (a digest of :meth:`identity`).

        Returns
        -------
        str
            ``data/sweeps/<activations>_N<widths>_<digest>.zarr``, relative to the working
            directory.

        Examples
        --------
        Sweeps that differ only in ``chunk`` write the same store, any other change a new one:

        >>> import dataclasses
        >>> s = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8)
        >>> s.default_out()
        'data/sweeps/crelu_N20_....zarr'
        >>> dataclasses.replace(s, chunk=4).default_out() == s.default_out()
        True
        >>> dataclasses.replace(s, seed=1).default_out() == s.default_out()
        False
        """
        digest = hashlib.sha1(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:10]
        head = "_".join(self.activation) + "_N" + "-".join(map(str, self.width))
        return f"data/sweeps/{head}_{digest}.zarr"


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
