"""The end-of-sweep summary: the measured next-to-leading-order coefficient beside the theory.

Per configuration, for a few layers ``l`` and each width ``N``: ``N (E q_cond^(l) - q^(l))``
estimated with the exact control variate of :mod:`theory.companions` (``q_cond - D1 - D2``,
Gaussian weights; the plain mean otherwise) and its standard error, beside the recursion's
``q~{1}^(l)`` and ``q~{1} + q~{2}/N`` (:mod:`theory.next_order`); and the networks that
diverged (``q_cond`` not finite) by then. The claims themselves, with verdicts, are
``python -m analysis.report``'s.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from simulate.moments import chunk_moments, describe, merge
from theory.companions import companions
from theory.expansion import ConfigurationTheory

#: networks read at a time
BATCH = 50_000


def summary_layers(depth: int) -> list[int]:
    return sorted({min(depth, layer) for layer in (10, depth // 2, depth)})


def shift_statistics(ds: xr.Dataset, ci: int, wi: int, theory: ConfigurationTheory) -> tuple[dict, int]:
    """Per layer, the moments of ``N (q_cond - q - D1 - D2)`` over the networks of (config
    ``ci``, width ``wi``) whose ``q_cond`` stayed finite (``N (q_cond - q)`` without the
    companion for non-Gaussian weights), and the number of the others."""
    width = int(ds.width[wi])
    gaussian = ds.attrs.get("weights", "gaussian") == "gaussian"
    summary, diverged = None, 0
    q_cond = ds.q_cond.isel(config=ci, width=wi)
    for start in range(0, q_cond.sizes["sample"], BATCH):
        x = np.asarray(q_cond.isel(sample=slice(start, start + BATCH)).values, float)
        ok = np.all(np.isfinite(x) & (x > 0), axis=1)
        diverged += int((~ok).sum())
        x = x[ok]
        if not len(x):
            continue
        y = x - theory.q
        if gaussian:
            y = y - companions(theory.vmap, theory.a, theory.b, theory.g, theory.g2, width, x).q_cond
        part = chunk_moments(width * y, axis=0)
        summary = part if summary is None else merge(summary, part)
    return describe(summary) if summary is not None else None, diverged


def summarise(ds: xr.Dataset, theories: dict[int, ConfigurationTheory]) -> str:
    """A plain-text table per configuration (``theories``: the store's, :class:`simulate.store.SweepStore`).

    For each configuration, its EoC parameters, then, at a few layers ``l`` (10, ``L/2``
    and ``L``) and each width ``N``: the measured ``N (E q_cond^(l) - q^(l))`` with its
    standard error (the control variate ``q_cond - D1 - D2`` for Gaussian weights, the
    plain mean otherwise; module docstring), the recursion's ``q~{1}^(l)`` and
    ``q~{1} + q~{2}/N``, and the number of networks that diverged.

    Parameters
    ----------
    ds : xarray.Dataset
        The store (``xarray.open_zarr``, or :meth:`simulate.store.SweepStore.dataset`).
    theories : dict of int to theory.expansion.ConfigurationTheory
        The finite-width theory of each configuration index (:attr:`simulate.store.SweepStore.theories`).

    Returns
    -------
    str
        The table, one line per row.

    Examples
    --------
    >>> import tempfile
    >>> from simulate import Sweep, run
    >>> from simulate.store import SweepStore
    >>> store = SweepStore(run(Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8),
    ...                        tempfile.mkdtemp() + "/s.zarr", progress=False))
    >>> lines = summarise(store.dataset(), store.theories).splitlines()
    >>> lines[0]
    'N (E q_cond - q^(l)) per layer, estimated with the control variate (8 networks per width)'
    >>> print(lines[2])
    crelu  s=0.85  q*=1  V'=0.700  m=1.17  V''=0.02291  bound=0.1883
    >>> print(lines[-1])  # layer 4, N = 20: measured +- se, q~{1}, q~{1} + q~{2}/N, diverged
    4     20 ... 0.06308 -0.07997 0
    """
    depth = ds.sizes["layer"]
    layers = summary_layers(depth)
    n = int(ds.attrs.get("raw_samples", ds.sizes["sample"]))
    estimator = "control variate" if ds.attrs.get("weights", "gaussian") == "gaussian" else "plain mean"
    lines = [f"N (E q_cond - q^(l)) per layer, estimated with the {estimator} ({n} networks per width)"]
    for ci in range(ds.sizes["config"]):
        c = ds.isel(config=ci)
        act, q_star = str(c.activation.values), float(c.q_star)
        m = float(c.m)
        theory = theories[ci]
        lines.append(
            f"\n{act}  s={float(c.sparsity_target):g}  q*={q_star:g}  V'={float(c.vprime):.3f}  m={m:.4g}  "
            f"V''={float(c.vsecond):.4g}  bound={float(c.bound):.4g}"
        )
        lines.append(f"  {'layer':>5} {'N':>6} {'N(E q_cond - q) +- se':>27} {'q~{1}':>10} {'q~{1}+q~{2}/N':>14} {'diverged':>9}")
        for wi, width in enumerate(ds.width.values):
            stats, diverged = shift_statistics(ds, ci, wi, theory)
            for layer in layers:
                i = layer - 1
                value = f"{stats['mean'][i]:>14.4g} +- {stats['sem'][i]:<9.3g}" if stats else f"{'-':>27}"
                lines.append(f"  {layer:>5} {width:>6} {value} {theory.q1[i]:>10.4g} "
                             f"{theory.q1[i] + theory.q2[i] / width:>14.4g} {diverged:>9}")
    return "\n".join(lines)
