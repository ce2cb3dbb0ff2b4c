"""The end-of-sweep summary: measured NLO coefficients beside the theory, per configuration.

For a few layers ``l`` and each width ``N``: ``N (E q_cond^(l) - q*)`` with its standard
error, the recursion's ``q~{1}^(l)`` (same units: the expansion ``q~ = q + q~{1}/N``),
the Theorem 2.1 bound, and the mean of ``log prod_{k<=l} chi1^(k)`` (derived here from
the stored ``chi1``) over the networks still alive at ``l``; ``dead`` counts those with
a layer ``k <= l`` of no active unit (``chi1 = 0``: no gradient flows back), and
``diverged`` those whose variance overflowed.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from theory import nlo_recursion, solve_eoc


def summary_layers(depth: int) -> list[int]:
    return sorted({min(depth, layer) for layer in (2, 10, depth // 2, depth)})


def summarise(ds: xr.Dataset) -> str:
    """A plain-text table per configuration."""
    layers = summary_layers(ds.sizes["layer"])
    q_cond = ds["q_cond"].sel(layer=layers)
    chi1 = ds["chi1"]
    log_chi = np.log(chi1.where(chi1 > 0)).cumsum("layer", skipna=False).sel(layer=layers)
    n = ds.sizes["sample"]
    lines = []
    for ci in range(ds.sizes["config"]):
        c = ds.isel(config=ci)
        act, q_star = str(c.activation.values), float(c.q_star)
        sol = solve_eoc(act, float(c.sparsity_target), q_star, m=float(c.m) if np.isfinite(c.m) else None)
        _, q1 = nlo_recursion(sol.variance_map, np.full(ds.sizes["layer"], q_star))
        lines.append(
            f"\n{act}  s={float(c.sparsity_target):g}  q*={q_star:g}  V'={float(c.vprime):.3f}  m={float(c.m):.4g}  "
            f"V''={float(c.vsecond):.4g}  bound={float(c.bound):.4g}   ({n} networks per width)"
        )
        lines.append(f"  {'layer':>5} {'N':>6} {'N(E q_cond - q*) +- se':>26} {'q~{1} recursion':>16} {'<log prod chi1>':>16} {'dead':>5} {'diverged':>9}")
        for wi, width in enumerate(ds.width.values):
            qc = q_cond.isel(config=ci, width=wi).values
            lc = log_chi.isel(config=ci, width=wi).values
            div = int((ds["diverged_layer"].isel(config=ci, width=wi).values > 0).sum())
            dead = np.isnan(lc).sum(axis=0)
            for li, layer in enumerate(layers):
                column = qc[:, li]
                finite = column[np.isfinite(column)]
                mean = width * (finite.mean() - q_star) if finite.size else np.nan
                se = width * finite.std(ddof=1) / np.sqrt(finite.size) if finite.size > 1 else np.nan
                lines.append(
                    f"  {layer:>5} {width:>6} {mean:>14.4g} +- {se:<9.3g} {q1[layer - 1]:>16.4g} "
                    f"{np.nanmean(lc[:, li]) if dead[li] < n else np.nan:>16.4g} {dead[li]:>5} {div:>9}"
                )
    return "\n".join(lines)
