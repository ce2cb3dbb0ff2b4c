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

import torch

from train.data import DATASETS, DataNotFoundError, load_dataset
from train.grids import TARGETS, build_runs, select_configs
from train.report import render
from train.results import concat_runs, write_zarr
from train.trainer import SCHEDULES, TrainConfig, train


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument("target", choices=sorted(TARGETS), help="published table to reproduce")
    p.add_argument("--data-dir", help="directory of the data set files (see train.data)")
    p.add_argument("--dataset", choices=DATASETS, help="data set (default: the paper's)")
    p.add_argument("--train-size", type=int, help="use at most this many training examples")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the train/validation/test split")
    p.add_argument("--epochs", type=int, help="epochs (default: the paper's)")
    p.add_argument("--seeds", type=int, help="seeds 0..N-1 per configuration (default: the paper's)")
    p.add_argument("--depth", type=int, help="activated layers (default: the paper's)")
    p.add_argument("--width", type=int, help="units or channels per layer (default: the paper's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the paper's)")
    p.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default: the paper's)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--activation", nargs="+", help="keep only these families")
    p.add_argument("--sparsity", nargs="+", type=float, help="keep only these s")
    p.add_argument("--vprime", nargs="+", type=float, help="keep only these V'(q*)")
    p.add_argument("--qstar", nargs="+", type=float, help="use these q* instead of the grid's")
    p.add_argument("--scale-control", action="store_true", help="add the logit-scale control runs (train.scale)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    p.add_argument("--max-ensemble", type=int, help="members per batched model (default: what fits 80 GB)")
    p.add_argument("--out", help="zarr store to write (default: data/train/TARGET.zarr)")
    p.add_argument("--checkpoint-every", type=int, default=10, help="epochs between checkpoints; 0: none")
    p.add_argument("--stop-after", type=int, help="train this many more epochs, checkpoint and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _pick(option, default):
    return default if option is None else option


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise SystemExit(f"--device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name!r}: CUDA is not available on this machine")
    return device


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    target = TARGETS[args.target]
    device = _device(args.device)
    if args.stop_after is not None and args.checkpoint_every == 0:
        raise SystemExit("--stop-after needs checkpoints (--checkpoint-every > 0)")
    try:
        config = TrainConfig(
            arch=target.arch,
            depth=_pick(args.depth, target.depth),
            width=_pick(args.width, target.width),
            epochs=_pick(args.epochs, target.epochs),
            lr=_pick(args.lr, target.lr),
            schedule=_pick(args.schedule, target.schedule),
            batch_size=args.batch_size,
            eval_batch_size=target.eval_batch_size,
        )
        configs = select_configs(target, args.activation, args.sparsity, args.vprime, args.qstar)
        runs = build_runs(configs, _pick(args.seeds, target.seeds), args.scale_control)
        max_ensemble = _pick(args.max_ensemble, target.max_ensemble)
        if max_ensemble < 1:
            raise ValueError("--max-ensemble must be positive")
        data = load_dataset(_pick(args.dataset, target.dataset), args.data_dir, args.split_seed, args.train_size)
    except (ValueError, DataNotFoundError) as exc:
        raise SystemExit(f"error: {exc}") from None
    out = Path(args.out or f"data/train/{target.name}.zarr")
    ckpt_dir = out.with_name(out.name + ".ckpt")
    if args.checkpoint_every:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    chunks = [runs[i : i + max_ensemble] for i in range(0, len(runs), max_ensemble)]
    print(
        f"{target.description}: {len(runs)} runs in {len(chunks)} ensemble(s) on {device}; "
        f"data {data.name} {data.sizes()}; {config}",
        file=sys.stderr,
    )
    parts = []
    for i, chunk in enumerate(chunks):
        ckpt = ckpt_dir / f"ensemble-{i:03d}.pt" if args.checkpoint_every else None
        parts.append(
            train(chunk, data, config, device=device, checkpoint=ckpt, checkpoint_every=args.checkpoint_every or 1,
                  stop_after=args.stop_after, progress=not args.no_progress)
        )
    if not all(p.attrs["complete"] for p in parts):
        print(f"stopped after --stop-after {args.stop_after} epochs; run the same command again to go on", file=sys.stderr)
        return 0
    ds = concat_runs(parts)
    ds.attrs.update(target=target.name, aggregate=target.aggregate, command="python -m train.reproduce " + shlex.join(sys.argv[1:] if argv is None else argv))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_zarr(ds, out)
    print(render(ds, target.name, target.aggregate))
    print(f"\nresults: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
