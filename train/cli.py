"""What the training command lines share: their options, checks, ensembles and store.

``python -m train`` (:mod:`train.__main__`) and ``python -m train.reproduce`` take the same
training options, spelled as in ``python -m simulate.depth_sweep``; only their defaults
differ (fixed for the first, the published table's for the second). Everything is
checked, every run solved at the EoC and the data loaded before any training, so bad
input is a one-line error and an existing store is never replaced without
``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from train.data import DATASETS
from train.results import concat_runs, write_zarr
from train.trainer import SCHEDULES, TrainConfig, train

#: the options that are TrainConfig fields of the same name
_CONFIG_FIELDS = ("depth", "width", "epochs", "lr", "schedule", "batch_size", "grad_norm_steps")


def add_training_options(p: argparse.ArgumentParser, defaults: dict[str, str]):
    """The data, optimisation, device and output options; ``defaults`` says in each help
    text what an omitted option means."""
    p.add_argument("--dataset", choices=DATASETS, help=f"data set (default {defaults['dataset']})")
    p.add_argument("--data-dir", help="directory of the data set's files: IDX files for MNIST and Fashion-MNIST")
    p.add_argument("--train-size", type=int, help="use at most this many training examples")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the train/validation/test split (default 0)")
    p.add_argument("--depth", type=int, help=f"activated layers L (default {defaults['depth']})")
    p.add_argument("--width", type=int, help=f"units (DNN) or channels (CNN) per layer (default {defaults['width']})")
    p.add_argument("--epochs", type=int, help=f"epochs (default {defaults['epochs']})")
    p.add_argument("--lr", type=float, help=f"SGD learning rate (default {defaults['lr']})")
    p.add_argument("--schedule", choices=SCHEDULES, help=f"learning-rate schedule (default {defaults['schedule']})")
    p.add_argument("--batch-size", type=int, help="mini-batch size (default 64)")
    p.add_argument("--grad-norm-steps", type=int, help="first SGD steps whose per-layer gradient norms are logged (default 15)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ... (default cpu)")
    p.add_argument("--max-ensemble", type=int, help=f"networks per batched model (default {defaults['max_ensemble']})")
    p.add_argument("--out", type=Path, help=f"zarr store to write (default {defaults['out']})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store at --out")
    p.add_argument("--checkpoint-every", type=int, default=10, help="epochs between checkpoints in OUT.ckpt/; 0: none (default 10)")
    p.add_argument("--stop-after", type=int, help="train this many more epochs, checkpoint and exit; the same command goes on")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def train_config(args: argparse.Namespace, arch: str, defaults: dict) -> TrainConfig:
    """The :class:`TrainConfig` of the options, ``defaults`` filling those omitted."""
    values = {name: getattr(args, name) for name in _CONFIG_FIELDS if getattr(args, name) is not None}
    return TrainConfig(arch=arch, **{**defaults, **values})


def torch_device(name: str) -> torch.device:
    """``--device``, checked: a one-line error for a bad name or an absent GPU."""
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name!r}: CUDA is not available on this machine")
    return device


def check_run_options(args: argparse.Namespace, out: Path, max_ensemble: int):
    """The options that concern the run itself rather than the networks."""
    if max_ensemble < 1:
        raise ValueError(f"--max-ensemble must be positive, got {max_ensemble}")
    if args.checkpoint_every < 0:
        raise ValueError(f"--checkpoint-every must be >= 0, got {args.checkpoint_every}")
    if args.stop_after is not None and (args.checkpoint_every == 0 or args.stop_after < 1):
        raise ValueError("--stop-after needs a positive number of epochs and checkpoints (--checkpoint-every > 0)")
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} exists; give --overwrite to replace it, or another --out")


def train_ensembles(runs, data, config: TrainConfig, args: argparse.Namespace, device, out: Path, max_ensemble: int):
    """Train ``runs`` in ensembles of at most ``max_ensemble`` members, each with its
    checkpoint in ``OUT.ckpt/`` (resumed by the same command).

    Returns the joined data set, or ``None`` when ``--stop-after`` ended the call early."""
    ckpt_dir = out.with_name(out.name + ".ckpt")
    if args.checkpoint_every:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    chunks = [runs[i : i + max_ensemble] for i in range(0, len(runs), max_ensemble)]
    print(f"{len(runs)} run(s) in {len(chunks)} ensemble(s) on {device}; data {data.name} {data.sizes()}; {config}", file=sys.stderr)
    parts = []
    for i, chunk in enumerate(chunks):
        ckpt = ckpt_dir / f"ensemble-{i:03d}.pt" if args.checkpoint_every else None
        parts.append(
            train(chunk, data, config, device=device, checkpoint=ckpt, checkpoint_every=args.checkpoint_every or 1,
                  stop_after=args.stop_after, progress=not args.no_progress)
        )
    if not all(p.attrs["complete"] for p in parts):
        print(f"stopped after --stop-after {args.stop_after} epochs; run the same command again to go on", file=sys.stderr)
        return None
    return concat_runs(parts)


def write_results(ds, out: Path, command: str, **attrs):
    """Write the store with the command that made it."""
    ds.attrs.update(command=command, **attrs)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_zarr(ds, out)
    print(f"results: {out}", file=sys.stderr)
