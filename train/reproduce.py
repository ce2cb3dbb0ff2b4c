"""Reproduce a published training table: ``python -m train.reproduce TARGET [options]``.

Targets (:mod:`train.grids`): ``table1`` (arXiv 2602.05779 Table 1, DNN/MNIST, CReLU),
``table2`` (Table 2, CNN/CIFAR-10), ``table4`` (Table 4, DNN/MNIST, CST) and ``iclr``
(ICLR 2024 Table 2, DNN rows). Defaults are the papers' settings; every option narrows or
shrinks them. All runs are solved at the EoC and the data loaded before any training,
so a bad option fails at once. Runs are trained in ensembles of at most
``--max-ensemble`` members, each with its own checkpoint, resumed when the same command
is run again. The results go to a zarr store (:mod:`train.results`) and a table of
measured against published values is printed (:mod:`train.report`).

Example (a small CPU run on the real MNIST test set)::

    python -m train.reproduce table1 --data-dir /work/shared/data/mnist-t10k \\
        --depth 20 --width 100 --epochs 5 --samples 2 --sparsity 0.85 --vprime 0.7
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Union

import tyro

from theory.cli import UsageError, fail, parse
from train.cli import TrainingRun, check_out, torch_device, train_ensembles, write_results
from train.data import DataNotFoundError, load_dataset
from train.grids import TARGETS, Target, build_runs, select_configs
from train.report import render
from train.trainer import TrainConfig


@dataclass(frozen=True, kw_only=True)
class Reproduce:
    """The options of one target: which of its configurations, and how they train.

    Parameters
    ----------
    target : str
        The published table (the subcommand).
    activation : tuple of str or None
        Keep only these families (default: the table's).
    sparsity : tuple of float or None
        Keep only these s (default: the table's).
    vprime : tuple of float or None
        Keep only these V'(q*) (default: the table's).
    q_star : tuple of float or None
        Use these q* instead of the table's.
    samples : int or None
        Seeds 0..N-1 per configuration (default: the paper's).
    scale_control : bool
        Add the scale-control runs (train.scale).
    model : TrainConfig
        Architecture and SGD (default: the paper's).
    run : TrainingRun
        Data, device, checkpoints and output (default: the paper's data set, what fits 80 GB
        per ensemble, data/train/TARGET.zarr).
    """

    target: tyro.conf.Suppress[str]
    activation: tuple[str, ...] | None = None
    sparsity: tuple[float, ...] | None = None
    vprime: tuple[float, ...] | None = None
    q_star: Annotated[tuple[float, ...] | None, tyro.conf.arg(name="qstar")] = None
    samples: int | None = None
    scale_control: bool = False
    model: Annotated[TrainConfig, tyro.conf.OmitArgPrefixes]
    run: Annotated[TrainingRun, tyro.conf.OmitArgPrefixes] = TrainingRun()


def _defaults(target: Target) -> Reproduce:
    return Reproduce(target=target.name, model=TrainConfig(
        arch=target.arch, depth=target.depth, width=target.width, epochs=target.epochs, lr=target.lr,
        schedule=target.schedule, eval_batch_size=target.eval_batch_size))


#: one subcommand per published table, its defaults the paper's
Command = Union[tuple(
    Annotated[Reproduce, tyro.conf.subcommand(name, default=_defaults(target), description=target.description)]
    for name, target in sorted(TARGETS.items())
)]


def main(argv=None) -> int:
    try:
        options = parse(Command, argv, prog="python -m train.reproduce", description=__doc__.split("\n\n")[0])
        target, run = TARGETS[options.target], options.run
        out = run.out or Path(f"data/train/{target.name}.zarr")
        device = torch_device(run.device)
        configs = select_configs(target, options.activation, options.sparsity, options.vprime, options.q_star)
        runs = build_runs(configs, target.seeds if options.samples is None else options.samples, options.scale_control)
        check_out(out, run.overwrite)
        data = load_dataset(run.dataset or target.dataset, run.data_dir, run.split_seed, run.train_size)
    except (UsageError, ValueError, DataNotFoundError) as exc:
        return fail(exc)
    print(target.description, file=sys.stderr)
    ds = train_ensembles(runs, data, options.model, run, device, out, run.max_ensemble or target.max_ensemble)
    if ds is None:
        return 0
    command = "python -m train.reproduce " + shlex.join(sys.argv[1:] if argv is None else argv)
    write_results(ds, out, command, target=target.name, aggregate=target.aggregate)
    print(render(ds, target.name, target.aggregate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
