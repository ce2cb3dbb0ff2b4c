"""The end-of-sweep summary: measured NLO coefficients beside the theory, per configuration.

For a few layers ``l`` and each width ``N``: ``N (E q_cond^(l) - q*)`` with its standard
error, the recursion's ``q~{1}^(l)`` (same units: the expansion ``q~ = q + q~{1}/N``),
the Theorem 2.1 bound, and the mean of ``log prod_{k<=l} chi1^(k)`` (derived here from
the stored ``chi1``) over the networks still alive at ``l``; ``dead`` counts those with
a layer ``k <= l`` of no active unit (``chi1 = 0``: no gradient flows back), and
``diverged`` those whose variance overflowed by then. Works on full and ``--keep``
stores alike (:func:`layer_statistics`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from simulate.moments import chunk_moments, describe, reduce
from simulate.observables import OBSERVABLES, derive
from theory import nlo_recursion, solve_eoc


def layer_statistics(ds: xr.Dataset, name: str, ci: int, wi: int) -> dict[str, np.ndarray]:
    """Count, mean, sem, ... per layer of ``name`` (recorded or derived, :mod:`simulate.observables`) over all networks
    of (config ``ci``, width ``wi``): from the stored moments of a ``--keep`` store, else
    from the raw values."""
    if f"{name}_moments" in ds:
        return describe(reduce(ds[f"{name}_moments"].isel(config=ci, width=wi).values, axis=0))
    if OBSERVABLES[name].when == "derived":
        values = derive(name, ds[OBSERVABLES[name].source].isel(config=ci, width=wi).values)
    else:
        values = ds[name].isel(config=ci, width=wi).values
    return describe(chunk_moments(values, axis=0))


def summary_layers(depth: int) -> list[int]:
    return sorted({min(depth, layer) for layer in (2, 10, depth // 2, depth)})


def summarise(ds: xr.Dataset) -> str:
    """A plain-text table per configuration."""
    layers = summary_layers(ds.sizes["layer"])
    idx = [layer - 1 for layer in layers]
    n = int(ds.attrs.get("samples", ds.sizes["sample"]))
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
            qc = layer_statistics(ds, "q_cond", ci, wi)
            lc = layer_statistics(ds, "log_prod_chi1", ci, wi)
            for i, layer in zip(idx, layers):
                diverged = n - qc["count"][i]
                dead = n - lc["count"][i] - diverged
                lines.append(
                    f"  {layer:>5} {width:>6} {width * (qc['mean'][i] - q_star):>14.4g} +- {width * qc['sem'][i]:<9.3g} "
                    f"{q1[layer - 1]:>16.4g} {lc['mean'][i]:>16.4g} {dead:>5.0f} {diverged:>9.0f}"
                )
    return "\n".join(lines)
