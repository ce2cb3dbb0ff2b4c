"""Train EoC-initialised sparse networks: ``python -m train [options]``.

Trains every configuration of the product activation x ``--sparsity`` x ``--qstar`` x
(``--vprime`` or ``--m``) x ``--logit-scale`` x ``--bias-step``, for seeds ``K..K+N-1``
(``--samples N``, ``--seed K``, default 0), the configurations taken as in every command of
the suite (:class:`theory.grid.Grid`, the same defaults); ``--scale-control`` adds the
control runs of :mod:`train.scale` to every run at ``q* != 1``. The network and SGD
defaults are the papers' DNN (depth 100, width 300, SGD at lr 1e-4, 200 epochs, batch 64)
on MNIST. The results go to a zarr
store (:mod:`train.results`; ``xarray.open_zarr`` opens it), and the final test accuracy
and activation sparsity of each configuration are printed.

Example (a small CPU run on the real MNIST test set)::

    python -m train --data-dir ../shared/data/mnist-t10k --depth 10 --width 100 \\
        --epochs 2 --lr 1e-2 --sparsity 0.85 --vprime 0.7 --qstar 1 3 --samples 2
"""

from __future__ import annotations

import itertools
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from theory.cli import UsageError, fail, parse
from theory.grid import Grid
from train.cli import TrainingRun, check_out, torch_device, train_ensembles, write_results
from train.data import DataNotFoundError, load_dataset
from train.report import results_table, scale_sections, summarise
from train.runs import RunSpec
from train.scale import with_control_runs
from train.trainer import TrainConfig

#: the data set, ensemble size and store when not given
DEFAULT_DATASET = "mnist"
MAX_ENSEMBLE = 256
DEFAULT_OUT = Path("data/train/train.zarr")


@dataclass(frozen=True, kw_only=True)
class Train(Grid):
    """The options of ``python -m train``: the configurations (theory.grid.Grid), the runs
    of each, the networks and their SGD (TrainConfig), and the data and output (TrainingRun).

    Parameters
    ----------
    samples : int
        Networks (seeds) per configuration.
    seed : int
        The seeds are SEED..SEED+SAMPLES-1: a later call with another --seed extends an experiment.
    logit_scale : tuple of float
        Factors multiplying the logits.
    bias_step : tuple of float
        Factors multiplying the biases' learning rate.
    scale_control : bool
        Add the scale-control runs of every q* != 1 run (train.scale).
    model : TrainConfig
        Architecture and SGD.
    run : TrainingRun
        Data, device, checkpoints and output.
    """

    samples: int = 1
    seed: int = 0
    logit_scale: tuple[float, ...] = (1.0,)
    bias_step: tuple[float, ...] = (1.0,)
    scale_control: bool = False
    model: Annotated[TrainConfig, tyro.conf.OmitArgPrefixes] = TrainConfig()
    run: Annotated[TrainingRun, tyro.conf.OmitArgPrefixes] = TrainingRun()

    def __post_init__(self):
        super().__post_init__()
        if self.samples < 1 or self.seed < 0:
            raise UsageError(f"--samples must be positive and --seed non-negative, got {self.samples} and {self.seed}")


def build_runs(options: Train) -> list[RunSpec]:
    """Every run of the options, solved at the EoC (a one-line error otherwise)."""
    runs = [
        RunSpec(c.activation, c.sparsity, c.q_star, vprime=c.vprime_target, m=c.m_given, seed=seed, logit_scale=lam, bias_step=beta)
        for c, lam, beta, seed in itertools.product(options.configs(), options.logit_scale, options.bias_step,
                                                    range(options.seed, options.seed + options.samples))
    ]
    return with_control_runs(runs) if options.scale_control else runs


def main(argv=None) -> int:
    try:
        options = parse(Train, argv, prog="python -m train", description=__doc__.split("\n\n")[0])
        run = options.run
        out = run.out or DEFAULT_OUT
        device = torch_device(run.device)
        runs = build_runs(options)
        check_out(out, run.overwrite)
        data = load_dataset(run.dataset or DEFAULT_DATASET, run.data_dir, run.split_seed, run.train_size)
    except (UsageError, ValueError, DataNotFoundError) as exc:
        return fail(exc)
    ds = train_ensembles(runs, data, options.model, run, device, out, run.max_ensemble or MAX_ENSEMBLE)
    if ds is None:
        return 0
    write_results(ds, out, "python -m train " + shlex.join(sys.argv[1:] if argv is None else argv))
    summary = summarise(ds, "mean")
    print("\n".join([results_table(summary), *scale_sections(ds, summary)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
