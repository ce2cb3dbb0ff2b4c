"""Validation figures: simulation against theory.

Each function takes the dataset of :func:`analysis.sweep.open_sweep` and returns a
:class:`matplotlib.figure.Figure` (object API) with one panel per configuration (at most
``max_panels``).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from analysis.claims import config_label, scale_classes
from analysis.estimators import divergence_curve, log_prod_chi1, moments, nlo_coefficient, percentiles
from analysis.sweep import theories_of


def _label(ds, ci) -> str:
    c = ds.isel(config=ci)
    m = float(c.m)
    clip = f", m={m:.3g}" if np.isfinite(m) else ""
    return f"{c.activation.values} s={float(c.sparsity_target):g} $q^*$={float(c.q_star):g} $V'$={float(c.vprime):.2f}{clip}"


def _grid(n, max_panels=9, size=(4.2, 3.2)):
    n = min(n, max_panels)
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat[:n]


def _width_bands(ax, ds, est, ci, value="value", se="se"):
    """One line per width with a 5-s.e. band."""
    layer = ds.layer.values
    for wi, width in enumerate(ds.width.values):
        v = est[value].isel(config=ci, width=wi).values
        s = 5.0 * est[se].isel(config=ci, width=wi).values
        ax.plot(layer, v, lw=1, label=f"N={width}")
        ax.fill_between(layer, v - s, v + s, alpha=0.2)


def nlo_vs_layer(ds, max_panels=9, est=None):
    """``N (E q_cond - q^(l))`` against layer per width (the control variate of
    :mod:`theory.companions`, 5-s.e. bands), with the recursion and the bound."""
    est = nlo_coefficient(ds) if est is None else est
    fig, axes = _grid(ds.sizes["config"], max_panels)
    for ci, ax in enumerate(axes):
        _width_bands(ax, ds, est, ci)
        q1, q2 = ds.q1_theory.isel(config=ci).values, ds.q2_theory.isel(config=ci).values
        for wi, width in enumerate(ds.width.values):
            ax.plot(ds.layer.values, q1 + q2 / width, ls="--", lw=0.8, color=f"C{wi}")
        ax.plot(ds.layer.values, q1, "k-", lw=1.6, label=r"$\tilde q^{\{1\}}$ recursion (dashed: $+\tilde q^{\{2\}}/N$)")
        band = np.concatenate([np.ravel(est.value.isel(config=ci) + s * 5 * est.se.isel(config=ci)) for s in (-1, 1)] + [q1])
        band = band[np.isfinite(band)]
        if band.size:
            pad = 0.1 * (band.max() - band.min() or 1.0)
            ax.set_ylim(band.min() - pad, band.max() + pad)
        bound = float(ds.bound[ci])
        if np.isfinite(bound):
            ax.axhline(bound, color="k", ls="--", lw=1, label="Thm 2.1 bound")
            ax.axhline(-bound, color="k", ls="--", lw=1)
        ax.set_title(_label(ds, ci), fontsize=9)
        ax.set_xlabel("layer $l$")
        ax.set_ylabel(r"$N\,(\mathrm{E}\,q_{cond} - q^{(l)})$")
    axes[0].legend(fontsize=7)
    fig.suptitle("Next-to-leading-order variance correction: simulation (control variate, bands: 5 s.e.) vs recursion")
    return fig


def variance_vs_r(ds, max_panels=9, est=None):
    """``N Var(q_cond)`` against layer per width (the control variate, 5-s.e. bands), with ``r^(l)``."""
    est = nlo_coefficient(ds) if est is None else est
    fig, axes = _grid(ds.sizes["config"], max_panels)
    for ci, ax in enumerate(axes):
        _width_bands(ax, ds, est, ci, "variance", "variance_se")
        ax.plot(ds.layer.values, ds.r_theory.isel(config=ci), "k-", lw=1.6, label="$r^{(l)}$ recursion")
        ax.set_title(_label(ds, ci), fontsize=9)
        ax.set_xlabel("layer $l$")
        ax.set_ylabel(r"$N\,\mathrm{Var}(q_{cond})$")
    axes[0].legend(fontsize=7)
    fig.suptitle("Fluctuations of the layer variance: simulation vs the $r$ recursion")
    return fig


def q_cond_histograms(ds, layer=None):
    """Histograms of ``q_cond / q*`` at layer ``L`` (largest width), one panel per (s, V')."""
    layer = layer or int(ds.layer[-1])
    wi = int(np.argmax(ds.width.values))
    groups = {}
    for ci in range(ds.sizes["config"]):
        key = (str(ds.activation[ci].values), float(ds.sparsity_target[ci]), round(float(ds.vprime[ci]), 6))
        groups.setdefault(key, []).append(ci)
    fig, axes = _grid(len(groups))
    for ax, (key, members) in zip(axes, groups.items()):
        for ci in members:
            x = (ds.q_cond.isel(config=ci, width=wi).sel(layer=layer) / ds.q_star[ci]).values
            x = x[np.isfinite(x)]
            ax.hist(x, bins=60, histtype="step", density=True, label=f"$q^*$={float(ds.q_star[ci]):g}")
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_title(f"{key[0]} s={key[1]:g} $V'$={key[2]:.2f}, N={int(ds.width[wi])}, l={layer}", fontsize=9)
        ax.set_xlabel(r"$q_{cond}/q^*$")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
    fig.suptitle(r"Distribution of $q_{cond}/q^*$ (identical across $q^*$ by scale covariance)")
    return fig


def log_chi1_percentiles(ds, max_panels=9):
    """Percentiles of ``log prod chi1`` over depth (largest width) and the predicted mean."""
    wi = int(np.argmax(ds.width.values))
    width = float(ds.width[wi])
    fig, axes = _grid(ds.sizes["config"], max_panels)
    layer = ds.layer.values
    for ci, ax in enumerate(axes):
        sub = ds.isel(config=[ci], width=[wi])
        if "chi1" in sub:
            pct = percentiles(log_prod_chi1(sub)).isel(config=0, width=0)
            for qi, (lo, hi) in enumerate([(0, 4), (1, 3)]):
                ax.fill_between(layer, pct.isel(quantile=lo), pct.isel(quantile=hi), alpha=0.2 + 0.2 * qi, color="C0",
                                label=["5-95%", "25-75%"][qi])
            ax.plot(layer, pct.isel(quantile=2), color="C0", lw=1, label="median")
        mean = moments(sub, "log_prod_chi1")["mean"].isel(config=0, width=0)
        ax.plot(layer, mean, color="C1", lw=1, label="mean (alive)")
        pred = np.cumsum(ds.log_chi1_lead.isel(config=ci) + ds.log_chi1_coef.isel(config=ci) / width)
        ax.plot(layer, pred, "k--", lw=1.2, label="predicted mean")
        ax.set_title(_label(ds, ci) + f", N={int(width)}", fontsize=9)
        ax.set_xlabel("layer $l$")
        ax.set_ylabel(r"$\log\prod_{k\leq l}\chi_1^{(k)}$")
    axes[0].legend(fontsize=7)
    fig.suptitle(r"Growth of back-propagated errors: $\log\prod\chi_1$ against depth")
    return fig


def divergence_curves(ds, factor=10.0):
    """Fraction of networks whose ``q_cond`` left ``[q*/10, 10 q*]`` by layer ``l``."""
    wi = int(np.argmax(ds.width.values))
    curve = divergence_curve(ds.isel(width=[wi]), factor).isel(width=0)
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for ci in range(ds.sizes["config"]):
        ax.plot(ds.layer, curve.isel(config=ci), label=_label(ds, ci))
    ax.set_xlabel("layer $l$")
    ax.set_ylabel("fraction escaped")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Escape of $q_{{cond}}$ from $[q^*/{factor:g}, {factor:g}q^*]$, N={int(ds.width[wi])}")
    ax.legend(fontsize=6)
    return fig


def gradient_vs_product(ds, width_index: int = -1, max_panels: int = 6, max_samples: int = 5000) -> Figure:
    """``log |delta^(1)|^2`` against ``log prod_(l<L) chi1`` on the same networks (one panel
    per ``q*`` class with ``V' < 1``, ``--backward`` stores), with the line ``y = x +
    predicted mean difference``: the scatter about it is the gradient's own sampling noise."""
    shown = [members[0] for members in scale_classes(ds) if float(ds.vprime[members[0]]) < 1.0][:max_panels]
    cols = min(3, max(1, len(shown)))
    rows = -(-max(1, len(shown)) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.set_visible(False)
    width = int(ds.width[width_index])
    for ci, ax in zip(shown, axes.flat):
        sub = ds.isel(config=ci, sample=slice(0, max_samples)).isel(width=width_index)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log(sub.chi1.values[:, :-1]).sum(axis=1)
            y = np.log(sub.back_norm2.values[:, 0])
        ok = np.isfinite(x) & np.isfinite(y)
        ax.plot(x[ok], y[ok], ".", ms=2, alpha=0.4)
        back = theories_of(ds)[ci].back
        shift = (back.gradient_drift + back.conditioning) / width
        span = np.array([x[ok].min(), x[ok].max()]) if ok.any() else np.array([0.0, 1.0])
        ax.plot(span, span + shift, "k-", lw=1, label=f"y = x {shift:+.3g} (theory)")
        c = config_label(ds, ci)
        ax.set_title(f"{c['activation']} s={c['sparsity']:g} V'={c['vprime']:.2f}, N={width}", fontsize=9)
        ax.set_xlabel(r"$\log\prod_{l<L}\chi_1^{(l)}$")
        ax.set_ylabel(r"$\log|\delta^{(1)}|^2$")
        ax.legend(fontsize=7)
    fig.suptitle("The real back-propagated norm against prod chi1 on the same networks", fontsize=10)
    return fig


VALIDATION_FIGURES = {
    "nlo_vs_layer": nlo_vs_layer,
    "variance_vs_r": variance_vs_r,
    "q_cond_histograms": q_cond_histograms,
    "log_chi1_percentiles": log_chi1_percentiles,
    "divergence_curves": divergence_curves,
}
