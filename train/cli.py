"""What the training command lines share: their options, checks, ensembles and store.

``python -m train`` (:mod:`train.__main__`) and ``python -m train.reproduce`` take the same
options, spelled as in every command of the suite (:mod:`theory.cli`): the networks'
architecture and SGD are the fields of :class:`train.trainer.TrainConfig`, the data,
device, checkpoints and output those of :class:`TrainingRun`; only their defaults differ
(the papers' DNN for the first, the published table's for the second). Everything is
checked, every run solved at the EoC and the data loaded before any training, so bad
input is a one-line error with exit code 2 and an existing store is never replaced
without ``--overwrite``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from theory.cli import UsageError
from train.data import DATASETS
from train.results import concat_runs, write_zarr
from train.trainer import TrainConfig, train


@dataclass(frozen=True)
class TrainingRun:
    """The data, device, checkpoints and output of a training command.

    Parameters
    ----------
    dataset : str or None
        Data set: mnist, fashion-mnist or cifar10 (default: the command's).
    data_dir : Path or None
        Directory of the data set's files: IDX files for MNIST and Fashion-MNIST.
    train_size : int or None
        Use at most this many training examples.
    split_seed : int
        Seed of the train/validation/test split.
    device : str
        Torch device: cpu, cuda, cuda:1, ...
    max_ensemble : int or None
        Networks per batched model (default: the command's).
    out : Path or None
        Zarr store to write (default: the command's).
    overwrite : bool
        Replace an existing store at --out.
    checkpoint_every : int
        Epochs between checkpoints in OUT.ckpt/; 0: none.
    stop_after : int or None
        Train this many more epochs, checkpoint and exit; the same command goes on.
    quiet : bool
        No progress bar.

    Raises
    ------
    theory.cli.UsageError
        Naming the first bad field.
    """

    dataset: str | None = None
    data_dir: Path | None = None
    train_size: int | None = None
    split_seed: int = 0
    device: str = "cpu"
    max_ensemble: int | None = None
    out: Path | None = None
    overwrite: bool = False
    checkpoint_every: int = 10
    stop_after: int | None = None
    quiet: bool = False

    def __post_init__(self):
        if self.dataset is not None and self.dataset not in DATASETS:
            raise UsageError(f"unknown data set {self.dataset!r}; choose one of {DATASETS}")
        if self.max_ensemble is not None and self.max_ensemble < 1:
            raise UsageError(f"--max-ensemble must be positive, got {self.max_ensemble}")
        if self.checkpoint_every < 0:
            raise UsageError(f"--checkpoint-every must be >= 0, got {self.checkpoint_every}")
        if self.stop_after is not None and (self.checkpoint_every == 0 or self.stop_after < 1):
            raise UsageError("--stop-after needs a positive number of epochs and checkpoints (--checkpoint-every > 0)")


def torch_device(name: str) -> torch.device:
    """``--device``, checked: a one-line error for a bad name or an absent GPU."""
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UsageError(f"--device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name!r}: CUDA is not available on this machine")
    return device


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse, before any training, an existing store without ``--overwrite`` and an
    ``--out`` whose folder cannot be written."""
    if out.exists() and not overwrite:
        raise UsageError(f"{out} exists; give --overwrite to replace it, or another --out")
    probe = Path(out).absolute().parent / f".write-probe-{os.getpid()}"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.mkdir()
        probe.rmdir()
    except OSError as err:
        raise UsageError(f"cannot write {out}: {err.strerror or err}") from None


def train_ensembles(runs, data, config: TrainConfig, options: TrainingRun, device, out: Path, max_ensemble: int):
    """Train ``runs`` in ensembles of at most ``max_ensemble`` members, each with its
    checkpoint in ``OUT.ckpt/`` (resumed by the same command).

    Returns the joined data set, or ``None`` when ``--stop-after`` ended the call early."""
    ckpt_dir = out.with_name(out.name + ".ckpt")
    if options.checkpoint_every:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    chunks = [runs[i : i + max_ensemble] for i in range(0, len(runs), max_ensemble)]
    print(f"{len(runs)} run(s) in {len(chunks)} ensemble(s) on {device}; data {data.name} {data.sizes()}; {config}", file=sys.stderr)
    parts = []
    for i, chunk in enumerate(chunks):
        ckpt = ckpt_dir / f"ensemble-{i:03d}.pt" if options.checkpoint_every else None
        parts.append(
            train(chunk, data, config, device=device, checkpoint=ckpt, checkpoint_every=options.checkpoint_every or 1,
                  stop_after=options.stop_after, progress=not options.quiet)
        )
    if not all(p.attrs["complete"] for p in parts):
        print(f"stopped after --stop-after {options.stop_after} epochs; run the same command again to go on", file=sys.stderr)
        return None
    return concat_runs(parts)


def write_results(ds, out: Path, command: str, **attrs):
    """Write the store with the command that made it."""
    ds.attrs.update(command=command, **attrs)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_zarr(ds, out)
    print(f"results: {out}", file=sys.stderr)
