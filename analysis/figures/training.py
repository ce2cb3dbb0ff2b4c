"""Figures of a training run, from its results store (:mod:`train.results`; no torch).

* :func:`gradient_norms`: ICLR 2024 Fig. 5, the Frobenius norm of every layer's weight
  gradient over the first SGD steps of one run, and at the first step for every seed of its
  configuration relative to the last hidden layer, with the theory at the first step (the
  initial weights) overlaid (:func:`first_step_theory`);
* :func:`learning_curves`: training loss and validation accuracy per epoch, mean and
  standard error over seeds, one line per (q*, logit scale, bias step): the scale
  control of :mod:`train.scale`.

``python -m analysis.figures.training STORE [STORE ...] --out DIR`` writes both.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from scipy import stats

import tyro

from theory import solve_eoc
from theory.cli import parse
from theory.products import back_norm2_moments, products_record

DPI = 110
#: the theory band: the central 90% of the log-normal law
BAND = 0.90
GROUP = ("q_star", "logit_scale", "bias_step")


def configuration(ds: xr.Dataset, run: int) -> xr.Dataset:
    """Every run of ``run``'s configuration (family, s, V', q*, logit scale, bias step)."""
    keys = ("activation", "sparsity", "q_star", "vprime", "logit_scale", "bias_step")
    same = np.ones(ds.sizes["run"], bool)
    for k in keys:
        same &= ds[k].values == ds[k].values[run]
    return ds.isel(run=np.flatnonzero(same))


def first_step_theory(ds: xr.Dataset, run: int = 0) -> dict[str, np.ndarray]:
    """The law of ``|dL/dW_l| / |dL/dW_L|`` at the first SGD step (the initial weights)
    for weight layers ``l = 2..L``.

    A single example's gradient is ``delta^(l) a^(l-1)T``, so the ratio is
    ``|delta^(l)| / |delta^(L)|`` times ``|a^(l-1)| / |a^(L-1)|``; the second factor is
    ``1 + O(N^-1/2)`` at the fixed point and the first has the log-normal law of
    :func:`theory.products.back_norm2_moments` over ``L - l`` steps (mean and variance at
    O(1/N)). Returns ``layer``, the median and the central :data:`BAND` of the ratio, and
    ``validity`` (empty inside the theory's regime, else why not:
    :func:`theory.products.products_record`).
    The batch gradient averages 64 examples whose errors share the weights; their cross
    terms are not in this law.
    """
    r = ds.isel(run=run)
    m = float(r.m)
    sol = solve_eoc(str(r.activation.values), float(r.sparsity), float(r.q_star), m=m if np.isfinite(m) else None)
    depth, width = ds.sizes["layer"], int(ds.attrs["width"])
    layers = np.arange(2, depth + 1)
    z = stats.norm.ppf(0.5 + BAND / 2)
    mean, sd = np.zeros(layers.size), np.zeros(layers.size)
    for i, layer in enumerate(layers):
        if layer < depth:
            m = back_norm2_moments(sol.variance_map, np.full(depth - layer + 1, sol.q_star))
            mean[i], sd[i] = m.mean(width), np.sqrt(m.var(width))
    validity = products_record(sol, width, depth)["validity"]
    return {"layer": layers, "median": np.exp(mean / 2), "low": np.exp((mean - z * sd) / 2), "high": np.exp((mean + z * sd) / 2),
            "validity": validity}


def gradient_norms(ds: xr.Dataset, run: int = 0) -> Figure:
    """ICLR 2024 Fig. 5 for ``run`` (left) and the first step over its configuration's
    seeds relative to the last hidden layer, against :func:`first_step_theory` (right)."""
    r = ds.isel(run=run)
    g = r.grad_norm.values  # (grad_step, weight_layer)
    depth = ds.sizes["layer"]
    fig = Figure(figsize=(11.0, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.95, g.shape[0]))
    layers = ds.weight_layer.values
    for step in range(g.shape[0]):
        left.semilogy(layers, g[step], color=colours[step], lw=1.2, label=f"step {step + 1}" if step in (0, g.shape[0] - 1) else None)
    theory = first_step_theory(ds, run)
    anchor = g[0, depth - 1]  # weight layer L
    left.fill_between(theory["layer"], anchor * theory["low"], anchor * theory["high"], color="0.6", alpha=0.35,
                      label=f"theory at step 1: central {BAND:.0%}")
    left.semilogy(theory["layer"], anchor * theory["median"], "k--", lw=1, label="theory at step 1: median")
    left.set(xlabel="layer l (L+1: read-out)", ylabel="|dLoss/dW_l|  (Frobenius)",
             title=f"seed {int(r.seed)}: the first {g.shape[0]} SGD steps")
    left.legend(fontsize=8)

    ratio = first_step_ratios(ds, run)
    for k in range(ratio.shape[0]):
        right.semilogy(theory["layer"], ratio[k], color="C0", lw=0.6, alpha=0.5, label="one seed" if k == 0 else None)
    right.fill_between(theory["layer"], theory["low"], theory["high"], color="0.6", alpha=0.35, label=f"theory: central {BAND:.0%}")
    right.semilogy(theory["layer"], theory["median"], "k--", lw=1, label="theory: median")
    right.semilogy(theory["layer"], np.median(ratio, axis=0), color="C3", lw=1.5, label=f"median of {ratio.shape[0]} seeds")
    right.set(xlabel="layer l", ylabel="|dLoss/dW_l| / |dLoss/dW_L| at step 1",
              title=f"{ratio.shape[0]} seeds at step 1 against theory.products")
    if theory["validity"]:
        note = textwrap.fill(f"outside the theory's regime at N = {ds.attrs['width']}: {theory['validity']}", 70)
        right.text(0.02, 0.02, note, transform=right.transAxes, fontsize=7, color="C3", va="bottom", in_layout=False)
    right.legend(fontsize=8)
    vp = float(r.vprime)
    fig.suptitle(f"{r.activation.values} s = {float(r.sparsity):g}, V'(q*) = {vp:.2g}, q* = {float(r.q_star):g}, "
                 f"DNN {depth} x {ds.attrs['width']}, lr {ds.attrs['lr']:g} (ICLR 2024 Fig. 5)", fontsize=10)
    return fig


def first_step_ratios(ds: xr.Dataset, run: int = 0) -> np.ndarray:
    """``|dL/dW_l| / |dL/dW_L|`` at the first SGD step (``grad_step`` 0, the initial
    weights) for weight layers ``l = 2..L``, one row per seed of ``run``'s configuration."""
    depth = ds.sizes["layer"]
    g = configuration(ds, run).grad_norm.values[:, 0]
    return g[:, 1:depth] / g[:, depth - 1 : depth]


def band_coverage(ds: xr.Dataset, run: int = 0) -> float:
    """Fraction of the first-step ratios of ``run``'s configuration inside the theory's
    central band (``BAND`` if the law holds; the layers of one seed are correlated)."""
    ratio = first_step_ratios(ds, run)
    theory = first_step_theory(ds, run)
    inside = (ratio >= theory["low"]) & (ratio <= theory["high"])
    return float(inside[:, :-1].mean())  # layer L itself is the anchor


def learning_curves(ds: xr.Dataset) -> Figure:
    """Per V'(q*) (columns): training loss (mean over each epoch's steps) and validation
    accuracy per epoch, mean ± standard error over seeds, one line per (q*, logit
    scale, bias step)."""
    target = np.nan_to_num(ds.vprime_target.values, nan=-1.0)  # -1: no V' target (unclipped families, or m given)
    vps = np.unique(target)
    fig = Figure(figsize=(4.8 * len(vps), 6.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(2, len(vps), squeeze=False))
    steps = int(ds.attrs["steps_per_epoch"])
    epochs = ds.sizes["epoch"]
    for col, vp in enumerate(vps):
        sub = ds.isel(run=np.flatnonzero(target == vp))
        keys = sorted({tuple(float(sub[k].values[i]) for k in GROUP) for i in range(sub.sizes["run"])})
        for j, key in enumerate(keys):
            idx = np.flatnonzero(np.all([np.isclose(sub[k].values, v) for k, v in zip(GROUP, key)], axis=0))
            q, lam, beta = key
            label = f"q* = {q:g}, logits x {lam:.3g}, bias step x {beta:.3g}"
            style = dict(color=f"C{j}", ls="-" if lam == 1.0 and beta == 1.0 else "--")
            loss = sub.train_loss.values[idx].reshape(len(idx), epochs, steps).mean(2)
            acc = sub.val_accuracy.values[idx]
            x = np.arange(1, epochs + 1)
            for ax, y in ((axes[0, col], loss), (axes[1, col], acc)):
                m, se = y.mean(0), y.std(0, ddof=1) / np.sqrt(len(idx)) if len(idx) > 1 else np.zeros(epochs)
                ax.errorbar(x + 0.06 * (j - len(keys) / 2), m, yerr=se, capsize=2, lw=1.2, label=label, **style)
        axes[0, col].set(title=f"V'(q*) = {vp:g}" if vp >= 0 else "no V'(q*) target", ylabel="training loss (epoch mean, nats)")
        axes[1, col].set(xlabel="epoch", ylabel="validation accuracy")
        axes[1, col].legend(fontsize=7)
    families = ", ".join(sorted(set(map(str, ds.activation.values))))
    sparsities = ", ".join(f"{x:g}" for x in np.unique(ds.sparsity.values))
    fig.suptitle(f"{families} s = {sparsities}, DNN {ds.attrs['depth']} x {ds.attrs['width']}, "
                 f"lr {ds.attrs['lr']:g}, {ds.attrs['dataset']} ({ds.attrs['n_train']} train): mean ± s.e. over seeds", fontsize=10)
    return fig


@dataclass(frozen=True)
class TrainingFigures:
    """The options of ``python -m analysis.figures.training``.

    Parameters
    ----------
    store : tuple of Path
        Results stores of python -m train; several (other seeds of the same settings) are
        joined along run (train.results.concat_runs).
    out : Path
        Directory of the PNGs.
    run : int
        Run shown step by step in the gradient-norm figure.
    which : str
        The figures: gradients, curves or both.
    """

    store: tyro.conf.Positional[tuple[Path, ...]]
    out: Path = Path(".")
    run: int = 0
    which: Literal["gradients", "curves", "both"] = "both"


def main(argv=None) -> int:
    args = parse(TrainingFigures, argv, prog="python -m analysis.figures.training", description=__doc__.splitlines()[0])
    parts = [xr.open_zarr(path).load() for path in args.store]
    if len(parts) > 1:
        from train.results import concat_runs  # the one definition of joining stores (needs torch)

        parts = [concat_runs(parts)]
    ds = parts[0]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.store[0].name.removesuffix(".zarr")
    if args.which in ("gradients", "both"):
        gradient_norms(ds, args.run).savefig(args.out / f"{stem}-gradient-norms.png", dpi=DPI)
        print(f"step-1 ratios inside the theory's central {BAND:.0%}: {band_coverage(ds, args.run):.3f}")
    if args.which in ("curves", "both"):
        learning_curves(ds).savefig(args.out / f"{stem}-learning-curves.png", dpi=DPI)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
