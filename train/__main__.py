"""Train EoC-initialised sparse networks: ``python -m train [options]``.

Trains every configuration of the product activation x ``--sparsity`` x ``--qstar`` x
(``--vprime`` or ``--m``) x ``--logit-scale`` x ``--bias-step``, for seeds ``K..K+N-1``
(``--seeds N``, ``--first-seed K``, default 0), expanded as in ``python -m simulate.depth_sweep``
(:func:`simulate.config.solve_grid`); ``--scale-control`` adds the control runs of
:mod:`train.scale` to every run at ``q* != 1``. The defaults are the papers' DNN (depth
100, width 300, SGD at lr 1e-4, 200 epochs, batch 64) on MNIST. The results go to a zarr
store (:mod:`train.results`; ``xarray.open_zarr`` opens it), and the final test accuracy
and activation sparsity of each configuration are printed.

Example (a small CPU run on the real MNIST test set)::

    python -m train --data-dir ../shared/data/mnist-t10k --depth 10 --width 100 \\
        --epochs 2 --lr 1e-2 --sparsity 0.85 --vprime 0.7 --qstar 1 3 --seeds 2
"""

from __future__ import annotations

import argparse
import itertools
import os
import shlex
import sys
from pathlib import Path

from simulate.config import solve_grid
from train.cli import add_training_options, check_run_options, torch_device, train_config, train_ensembles, write_results
from train.data import DataNotFoundError, load_dataset
from train.models import ARCHS
from train.report import results_table, scale_sections, summarise
from train.runs import RunSpec
from train.scale import with_control_runs

#: the papers' DNN and its SGD (TrainConfig fields), data set, ensemble size and store
DEFAULTS = {"depth": 100, "width": 300, "epochs": 200, "lr": 1e-4, "schedule": "constant"}
DEFAULT_DATASET = "mnist"
MAX_ENSEMBLE = 256
DEFAULT_OUT = Path("data/train/train.zarr")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=sorted(ARCHS), default="dnn", help="dnn (fully connected) or cnn (default dnn)")
    p.add_argument("--activation", nargs="+", default=["crelu"], help="activation families (default crelu)")
    p.add_argument("--sparsity", nargs="+", type=float, default=[0.85], help="target sparsities s in (0, 1) (default 0.85)")
    p.add_argument("--qstar", nargs="+", type=float, default=[1.0], help="fixed-point variances q* > 0 (default 1)")
    p.add_argument("--vprime", nargs="+", type=float, help="target V'(q*) of clipped families (default 0.7)")
    p.add_argument("--m", nargs="+", type=float, help="clipping values m instead of --vprime")
    p.add_argument("--seeds", type=int, default=1, help="seeds per configuration (default 1)")
    p.add_argument("--first-seed", type=int, default=0, help="the seeds are K..K+N-1 (default 0): extends an experiment")
    p.add_argument("--logit-scale", nargs="+", type=float, default=[1.0], help="factors multiplying the logits (default 1)")
    p.add_argument("--bias-step", nargs="+", type=float, default=[1.0],
                   help="factors multiplying the biases' learning rate (default 1)")
    p.add_argument("--scale-control", action="store_true", help="add the scale-control runs of every q* != 1 run (train.scale)")
    add_training_options(p, {**DEFAULTS, "dataset": DEFAULT_DATASET, "max_ensemble": MAX_ENSEMBLE, "out": DEFAULT_OUT})
    return p


def build_runs(args: argparse.Namespace) -> list[RunSpec]:
    """Every run of the options, solved at the EoC (a one-line error otherwise)."""
    if args.seeds < 1 or args.first_seed < 0:
        raise ValueError(f"--seeds must be positive and --first-seed non-negative, got {args.seeds} and {args.first_seed}")
    vprime = args.vprime if args.vprime is not None or args.m is not None else [0.7]
    configs = solve_grid(args.activation, args.sparsity, args.qstar, vprime, args.m)
    runs = [
        RunSpec(c.activation, c.sparsity, c.q_star, vprime=c.vprime_target, m=c.m_given, seed=seed, logit_scale=lam, bias_step=beta)
        for c, lam, beta, seed in itertools.product(configs, args.logit_scale, args.bias_step, range(args.first_seed, args.first_seed + args.seeds))
    ]
    return with_control_runs(runs) if args.scale_control else runs


def writable(out) -> None:
    """Refuse, before any training, an ``--out`` whose folder cannot be written."""
    probe = Path(out).absolute().parent / f".write-probe-{os.getpid()}"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.mkdir()
        probe.rmdir()
    except OSError as err:
        raise ValueError(f"cannot write {out}: {err.strerror or err}") from None


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    out = args.out or DEFAULT_OUT
    try:
        device = torch_device(args.device)
        config = train_config(args, args.arch, DEFAULTS)
        runs = build_runs(args)
        max_ensemble = MAX_ENSEMBLE if args.max_ensemble is None else args.max_ensemble
        check_run_options(args, out, max_ensemble)
        data = load_dataset(args.dataset or DEFAULT_DATASET, args.data_dir, args.split_seed, args.train_size)
        writable(out)
    except (ValueError, DataNotFoundError) as exc:
        raise SystemExit(f"error: {exc}") from None
    ds = train_ensembles(runs, data, config, args, device, out, max_ensemble)
    if ds is None:
        return 0
    write_results(ds, out, "python -m train " + shlex.join(sys.argv[1:] if argv is None else argv))
    summary = summarise(ds, "mean")
    print("\n".join([results_table(summary), *scale_sections(ds, summary)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
