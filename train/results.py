"""Training results as an :class:`xarray.Dataset`, stored in zarr (format 3).

Dimensions: ``run`` (one trained network), ``step`` (SGD step, from 0), ``epoch`` (from
0), ``layer`` (hidden layer 1..L), ``grad_step`` (the first SGD steps) and
``weight_layer`` (1..L+1, L+1 being the read-out). Each run's configuration is a set of
coordinates along ``run``; definitions are in the variables' ``description`` attributes
and the data set's attributes.
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import xarray as xr

RUN_COORDS = {
    "activation": "activation family: relu, relu_tau, st, crelu, cst",
    "sparsity": "target sparsity s = P(phi(h) = 0) at the fixed point",
    "q_star": "fixed-point variance q* of the EoC initialisation",
    "vprime_target": "requested V'(q*) (nan when m was given or the family has V' = 1)",
    "vprime": "V'(q*) of the initialisation (theory.solve_eoc)",
    "vsecond": "V''(q*) of the initialisation",
    "chi1_prime": "chi_1'(q*) of the initialisation",
    "tau": "threshold tau",
    "m": "clipping value m (inf for unclipped families)",
    "sigma_w2": "EoC weight variance sigma_w^2 (layers 2..L+1, times 1/fan_in)",
    "sigma_b2": "EoC bias variance sigma_b^2 (layers 2..L+1)",
    "seed": "seed of the initial weights and of the mini-batch order",
    "logit_scale": "factor multiplying the read-out (1: the papers' networks)",
    "bias_step": "factor multiplying the learning rate of the biases (1: the papers' networks)",
}

VARIABLES = {
    "train_loss": (("run", "step"), "training loss", "nats",
                   "cross-entropy of the run's mini-batch at each SGD step (before the step)"),
    "val_accuracy": (("run", "epoch"), "validation accuracy", "1", "validation accuracy after each epoch"),
    "val_loss": (("run", "epoch"), "validation loss", "nats", "validation cross-entropy after each epoch"),
    "grad_norm": (("run", "grad_step", "weight_layer"), "weight-gradient norm", "nats",
                  "Frobenius norm of dLoss/dW of each layer at the first SGD steps (ICLR 2024 Fig. 5)"),
    "init_q": (("run", "layer"), "pre-activation variance at initialisation", "input units^2",
               "mean of h^2 over units (and positions) and test examples at initialisation"),
    "init_sparsity": (("run", "layer"), "activation sparsity at initialisation", "1",
                      "fraction of phi(h) == 0 on the test set at initialisation"),
    "test_q": (("run", "layer"), "pre-activation variance after training", "input units^2",
               "mean of h^2 on the test set after training"),
    "test_sparsity": (("run", "layer"), "activation sparsity after training", "1",
                      "fraction of phi(h) == 0 on the test set after training"),
    "test_accuracy": (("run",), "test accuracy", "1", "test accuracy after training"),
    "test_loss": (("run",), "test loss", "nats", "test cross-entropy after training"),
}


def _nan_if_none(v):
    return np.nan if v is None else float(v)


def to_dataset(runs, config, data, logs: dict, steps_per_epoch: int, complete: bool, device: str) -> xr.Dataset:
    """The logs of :func:`train.trainer.train` with coordinates and definitions."""
    import torch

    sols = [r.solve() for r in runs]
    coords = {
        "activation": ("run", np.array([r.activation for r in runs], dtype=object)),
        "sparsity": ("run", [float(r.sparsity) for r in runs]),
        "q_star": ("run", [float(r.q_star) for r in runs]),
        "vprime_target": ("run", [_nan_if_none(r.vprime) for r in runs]),
        "seed": ("run", np.array([r.seed for r in runs], dtype=np.int64)),
        "logit_scale": ("run", [float(r.logit_scale) for r in runs]),
        "bias_step": ("run", [float(r.bias_step) for r in runs]),
    }
    for name in ("vprime", "vsecond", "chi1_prime", "tau", "m", "sigma_w2", "sigma_b2"):
        coords[name] = ("run", [float(getattr(s, name)) for s in sols])
    depth = logs["init_q"].shape[1]
    coords.update(
        step=np.arange(logs["train_loss"].shape[1]),
        epoch=np.arange(logs["val_accuracy"].shape[1]),
        layer=np.arange(1, depth + 1),
        weight_layer=np.arange(1, depth + 2),
        grad_step=np.arange(logs["grad_norm"].shape[1]),
    )
    ds = xr.Dataset({k: (dims, logs[k], {"long_name": name, "units": units, "description": text})
                     for k, (dims, name, units, text) in VARIABLES.items()}, coords=coords)
    for name, text in RUN_COORDS.items():
        ds[name].attrs.update(long_name=text.split(" (")[0].split(":")[0], description=text)
    for name in ("step", "epoch", "layer", "weight_layer", "grad_step"):
        ds[name].attrs.update(long_name=name.replace("_", " "), units="1")
    ds["lr"] = ("epoch", [config.lr_at(e) for e in range(config.epochs)],
                {"long_name": "learning rate", "units": "1", "description": "SGD learning rate of each epoch"})
    ds.attrs.update(
        {
            "title": "EoC-initialised sparse networks trained with SGD (arXiv 2602.05779 Sec. 3, ICLR 2024 Sec. 4)",
            **asdict(config),
            "dataset": data.name,
            **{f"n_{k}": v for k, v in data.sizes().items()},
            "steps_per_epoch": steps_per_epoch,
            "complete": int(complete),
            "device": device,
            "torch_version": torch.__version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "definitions": (
                "h: pre-activations of a hidden layer; phi: the activation; inputs normalised per example "
                "to mean 0, variance 1, then times sqrt(q*); first layer W ~ N(0, 1/fan_in), b = 0; "
                "other layers W ~ N(0, sigma_w^2/fan_in), b ~ N(0, sigma_b^2); logits = logit_scale * read-out; biases step bias_step * lr; "
                "see docs/training.md"
            ),
        }
    )
    return ds


def concat_runs(parts: list[xr.Dataset]) -> xr.Dataset:
    """Join the data sets of several ensembles (same configuration) along ``run``."""
    return xr.concat(parts, dim="run", data_vars="minimal", coords="minimal", compat="equals", combine_attrs="drop_conflicts")


def write_zarr(ds: xr.Dataset, path: str | Path) -> Path:
    """Write (replacing) a zarr v3 store with consolidated metadata, so that
    ``xarray.open_zarr(path)`` opens it without a warning (zarr's note that consolidated
    metadata is not yet in the v3 specification is silenced, as in :mod:`simulate.store`)."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part", category=UserWarning)
        ds.to_zarr(path, mode="w", zarr_format=3, consolidated=True)
    return path


def open_results(path: str | Path) -> xr.Dataset:
    """Load a store written by :func:`write_zarr` into memory."""
    return xr.open_zarr(Path(path)).load()
