"""The papers' experiment grids: which runs a published table needs, and how they train.

Each :class:`Target` is one published table (:mod:`train.published`) with its
architecture, data set, SGD settings (arXiv 2602.05779 Sec. 3, ICLR 2024 Sec. 4) and
its configurations ``(family, s, V'(q*), q*)``; :func:`build_runs` expands them over
seeds, optionally restricted, and adds the scale-control runs (:mod:`train.scale`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from train.runs import RunSpec
from train.scale import with_control_runs

VPRIMES = (0.5, 0.7, 0.9)
Q_STARS = (1.0, 2.0, 3.0)


@dataclass(frozen=True)
class Target:
    """A published table and how its runs are trained."""

    name: str
    description: str
    arch: str
    dataset: str
    epochs: int
    lr: float
    schedule: str
    depth: int
    width: int
    seeds: int
    aggregate: str  # how the table summarises seeds: "mean" or "median"
    configs: tuple[tuple[str, float, float | None, float], ...]
    max_ensemble: int  # members per batched model that fit an 80 GB GPU
    eval_batch_size: int


def _clipped(family, sparsities, q_stars=Q_STARS):
    return [(family, s, v, q) for s, v, q in itertools.product(sparsities, VPRIMES, q_stars)]


def _relu(q_stars=Q_STARS):
    return [("relu", 0.5, None, q) for q in q_stars]


TARGETS = {
    t.name: t
    for t in (
        Target(
            "table1", "arXiv 2602.05779 Table 1: DNN on MNIST, CReLU", "dnn", "mnist", 200, 1e-4, "constant",
            100, 300, 5, "mean", tuple(_relu() + _clipped("crelu", (0.8, 0.85, 0.9))), 256, 1000,
        ),
        Target(
            "table2", "arXiv 2602.05779 Table 2: CNN on CIFAR-10, CReLU", "cnn", "cifar10", 300, 1e-3, "cosine",
            50, 300, 4, "median", tuple(_relu() + _clipped("crelu", (0.8, 0.85, 0.9))), 8, 100,
        ),
        Target(
            "table4", "arXiv 2602.05779 Table 4: DNN on MNIST, CST", "dnn", "mnist", 200, 1e-4, "constant",
            100, 300, 5, "mean", tuple(_clipped("cst", (0.6, 0.7, 0.8, 0.85))), 256, 1000,
        ),
        Target(
            "iclr", "ICLR 2024 Table 2 (DNN columns): DNN on MNIST, q* = 1", "dnn", "mnist", 200, 1e-4, "constant",
            100, 300, 5, "mean",
            tuple(
                _relu((1.0,))
                + [("relu_tau", s, None, 1.0) for s in (0.6, 0.7)]
                + [("st", s, None, 1.0) for s in (0.5, 0.6, 0.7)]
                + _clipped("crelu", (0.6, 0.7, 0.8, 0.85), (1.0,))
                + _clipped("cst", (0.5, 0.6, 0.7, 0.8, 0.85), (1.0,))
            ),
            256, 1000,
        ),
    )
}


def select_configs(target: Target, activations=None, sparsities=None, vprimes=None, q_stars=None):
    """The target's configurations, restricted to the given families, ``s`` and ``V'``
    values (each must occur in the grid), with ``q_stars`` replacing the grid's ``q*``."""
    configs = list(target.configs)
    for name, values, index in (("activation", activations, 0), ("sparsity", sparsities, 1), ("vprime", vprimes, 2)):
        if values is None:
            continue
        present = {c[index] for c in configs if c[index] is not None}
        unknown = sorted(set(values) - present)
        if unknown:
            raise ValueError(f"{target.name}: {name} {unknown} not in its grid {sorted(present)}")
        configs = [c for c in configs if c[index] is None or c[index] in values]
    if q_stars is not None:
        if any(q <= 0 for q in q_stars):
            raise ValueError(f"q* must be positive, got {q_stars}")
        configs = list(dict.fromkeys((a, s, v, float(q)) for a, s, v, _ in configs for q in q_stars))
    if not configs:
        raise ValueError(f"{target.name}: the selection leaves no configuration")
    return configs


def build_runs(configs, seeds: int, scale_control: bool = False) -> list[RunSpec]:
    """Every configuration for seeds ``0..seeds-1``; with ``scale_control`` also the three
    control runs of each run at ``q* != 1`` (:func:`train.scale.with_control_runs`). Fails, before any training, on a
    configuration without an EoC initialisation."""
    if seeds < 1:
        raise ValueError(f"need at least one seed, got {seeds}")
    runs = [RunSpec(a, s, q, vprime=v, seed=k) for (a, s, v, q), k in itertools.product(configs, range(seeds))]
    return with_control_runs(runs) if scale_control else runs
