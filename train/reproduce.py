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
        --depth 20 --width 100 --epochs 5 --seeds 2 --sparsity 0.85 --vprime 0.7
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from train.cli import add_training_options, check_run_options, torch_device, train_config, train_ensembles, write_results
from train.data import DataNotFoundError, load_dataset
from train.grids import TARGETS, build_runs, select_configs
from train.report import render

_PAPERS = "the paper's"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument("target", choices=sorted(TARGETS), help="published table to reproduce")
    p.add_argument("--seeds", type=int, help="seeds 0..N-1 per configuration (default: the paper's)")
    p.add_argument("--activation", nargs="+", help="keep only these families")
    p.add_argument("--sparsity", nargs="+", type=float, help="keep only these s")
    p.add_argument("--vprime", nargs="+", type=float, help="keep only these V'(q*)")
    p.add_argument("--qstar", nargs="+", type=float, help="use these q* instead of the grid's")
    p.add_argument("--scale-control", action="store_true", help="add the scale-control runs (train.scale)")
    add_training_options(p, {
        "dataset": _PAPERS, "depth": _PAPERS, "width": _PAPERS, "epochs": _PAPERS, "lr": _PAPERS,
        "schedule": _PAPERS, "max_ensemble": "what fits 80 GB", "out": "data/train/TARGET.zarr",
    })
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    target = TARGETS[args.target]
    out = args.out or Path(f"data/train/{target.name}.zarr")
    try:
        device = torch_device(args.device)
        config = train_config(args, target.arch, {
            "depth": target.depth, "width": target.width, "epochs": target.epochs, "lr": target.lr,
            "schedule": target.schedule, "eval_batch_size": target.eval_batch_size,
        })
        configs = select_configs(target, args.activation, args.sparsity, args.vprime, args.qstar)
        runs = build_runs(configs, target.seeds if args.seeds is None else args.seeds, args.scale_control)
        max_ensemble = target.max_ensemble if args.max_ensemble is None else args.max_ensemble
        check_run_options(args, out, max_ensemble)
        data = load_dataset(args.dataset or target.dataset, args.data_dir, args.split_seed, args.train_size)
    except (ValueError, DataNotFoundError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(target.description, file=sys.stderr)
    ds = train_ensembles(runs, data, config, args, device, out, max_ensemble)
    if ds is None:
        return 0
    command = "python -m train.reproduce " + shlex.join(sys.argv[1:] if argv is None else argv)
    write_results(ds, out, command, target=target.name, aggregate=target.aggregate)
    print(render(ds, target.name, target.aggregate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
