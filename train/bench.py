"""Ensemble against one-by-one training speed: ``python -m train.bench``.

For each device (the CPU, and CUDA when present) it times ``--steps`` SGD steps
(:func:`train.trainer.sgd_step`, batch 64, synthetic MNIST-shaped or CIFAR-shaped
inputs) of one ensemble of ``E`` networks and of ``E`` separate one-member models
stepped in turn, alternating the two ``--repeats`` times, and prints the medians in
member-steps per second and their ratio (ensemble over separate), side by side.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Literal

import torch

from theory.cli import UsageError, fail, parse
from theory.grid import require_shape
from train.cli import torch_device
from train.models import build_model
from train.runs import RunSpec
from train.trainer import sgd_step

SHAPES = {"dnn": (1, 28, 28), "cnn": (3, 32, 32)}


def _timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def bench_device(device, arch: str, members: int, depth: int, width: int, batch: int, steps: int, repeats: int) -> dict:
    """Median member-steps per second of the ensemble and of separate models."""
    runs = [RunSpec("crelu", 0.85, 1.0 + e % 3, vprime=0.7, seed=e) for e in range(members)]
    shape = SHAPES[arch]
    ensemble = build_model(arch, runs, shape, 10, depth, width).to(device)
    singles = [build_model(arch, [r], shape, 10, depth, width).to(device) for r in runs]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(members, batch, *shape, generator=gen).to(device)
    y = torch.randint(0, 10, (members, batch), generator=gen).to(device)
    lr = 1e-4

    def run_ensemble():
        for _ in range(steps):
            sgd_step(ensemble, x, y, lr)

    def run_separate():
        for _ in range(steps):
            for e, model in enumerate(singles):
                sgd_step(model, x[e : e + 1], y[e : e + 1], lr)

    run_ensemble(), run_separate()  # warm-up
    t_ens, t_sep = [], []
    for _ in range(repeats):
        t_ens.append(_timed(run_ensemble, device))
        t_sep.append(_timed(run_separate, device))
    work = members * steps
    ens, sep = work / statistics.median(t_ens), work / statistics.median(t_sep)
    return {"device": str(device), "ensemble": ens, "separate": sep, "ratio": ens / sep}


@dataclass(frozen=True)
class BenchOptions:
    """The options of ``python -m train.bench``.

    Parameters
    ----------
    arch : str
        dnn or cnn.
    members : int
        E, networks per ensemble.
    depth : int
        Activated layers L.
    width : int
        Units (DNN) or channels (CNN) per layer.
    batch_size : int
        Mini-batch size.
    steps : int
        SGD steps per timed block.
    repeats : int
        Timed blocks per variant (medians reported).
    devices : tuple of str or None
        Devices to time (default: cpu, and cuda when present).
    """

    arch: Literal["dnn", "cnn"] = "dnn"
    members: int = 8
    depth: int = 100
    width: int = 300
    batch_size: int = 64
    steps: int = 5
    repeats: int = 5
    devices: tuple[str, ...] | None = None

    def __post_init__(self):
        require_shape(width=self.width, depth=self.depth)
        for name in ("members", "batch_size", "steps", "repeats"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")


def main(argv=None) -> int:
    try:
        args = parse(BenchOptions, argv, prog="python -m train.bench", description=__doc__.splitlines()[0])
        names = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
        devices = [torch_device(n) for n in names]
    except UsageError as err:
        return fail(err)
    print(
        f"{args.arch} depth {args.depth} width {args.width}, batch {args.batch_size}, E = {args.members}, "
        f"{args.steps} steps x {args.repeats} repeats, torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    print("| device | ensemble (member-steps/s) | separate (member-steps/s) | ensemble / separate |")
    print("|---|---|---|---|")
    for d in devices:
        r = bench_device(d, args.arch, args.members, args.depth, args.width, args.batch_size, args.steps, args.repeats)
        label = torch.cuda.get_device_name(d) if d.type == "cuda" else "cpu"
        print(f"| {label} | {r['ensemble']:.2f} | {r['separate']:.2f} | {r['ratio']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
