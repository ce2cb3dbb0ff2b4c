"""Estimators with honest uncertainties, computed lazily from a depth-sweep store.

Every estimator works per (config, width, layer) from the raw samples (Dask reductions
over ``sample``) or, for ``--keep`` stores, from the merged streaming moments, so a
store of any size is read in bounded memory.

* :func:`moments`: count, mean, variance, standard error, skewness, kurtosis;
* :func:`nlo_coefficient`: ``N (E q_cond - q^(l))`` and its standard error;
* :func:`scaled_variance`: ``N Var(x)`` with the standard error of a sample variance,
  ``se^2 = (m4 - (n-3)/(n-1) s^4) / n``;
* :func:`growth`: escape fraction and depth growth of the spread of ``log q_cond``
  (the statistics of the stability claims);
* :func:`log_prod_chi1`, :func:`percentiles`, :func:`divergence_curve`.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import xarray as xr

from analysis.verdicts import Growth
from simulate.moments import MOMENTS, chunk_moments, describe, merge, reduce
from simulate.observables import OBSERVABLES, derive

STATS = ("count", "mean", "var", "sem", "skewness", "kurtosis")


def derived(ds: xr.Dataset, name: str) -> xr.DataArray:
    """A derived observable per network, lazily (:func:`simulate.observables.derive`, the
    function the store uses too): ``log_prod_chi1`` or ``log_back_norm2``."""
    source = ds[OBSERVABLES[name].source]
    return xr.apply_ufunc(partial(derive, name), source, input_core_dims=[["layer"]], output_core_dims=[["layer"]],
                          dask="parallelized", output_dtypes=[float]).transpose(*source.dims)


def log_prod_chi1(ds: xr.Dataset) -> xr.DataArray:
    """``log prod_{k<=l} chi1^(k)`` per network (lazy); NaN from a layer with ``chi1 = 0``."""
    return derived(ds, "log_prod_chi1")


def _raw_summary(values: xr.DataArray) -> xr.DataArray:
    """Per-(other dims) summary ``(count, mean, M2, M3, M4)`` of the finite values over
    ``sample``, in one pass: each Dask block of samples reduces to its summary
    (:func:`simulate.moments.chunk_moments`) and the block summaries merge exactly
    (:func:`simulate.moments.reduce`), so memory holds one block at a time."""
    dims = [d for d in values.dims if d != "sample"]
    data = values.transpose("sample", *dims).data
    if isinstance(data, np.ndarray):
        summary = chunk_moments(data, axis=0)
    else:
        blocks = data.map_blocks(
            lambda block: chunk_moments(block, axis=0)[None],
            new_axis=data.ndim,
            chunks=((1,) * data.numblocks[0], *data.chunks[1:], (len(MOMENTS),)),
            dtype=float,
        )
        summary = reduce(blocks.compute(), axis=0)
    coords = {d: values[d] for d in dims if d in values.coords}
    return xr.DataArray(summary, dims=(*dims, "moment"), coords=coords)


def moments(ds: xr.Dataset, name: str) -> xr.Dataset:
    """Statistics of observable ``name`` (recorded or derived) per (config, width, layer).

    Over the finite values of each (config, width, layer): from the merged streaming
    summaries ``<name>_moments`` of a ``--keep`` store (every network), else in one pass
    over the raw samples, one Dask block at a time (bounded memory).

    Parameters
    ----------
    ds : xarray.Dataset
        The store (``xarray.open_zarr`` or :func:`analysis.sweep.open_sweep`).
    name : str
        An observable of :data:`simulate.observables.OBSERVABLES`, recorded (``"q_cond"``,
        ``"chi1"``, ...) or derived (``"log_prod_chi1"``, ``"log_back_norm2"``).

    Returns
    -------
    xarray.Dataset
        On ``(config, width, layer)``: ``count``, ``mean``, ``var`` (unbiased), ``sem``,
        ``skewness`` and excess ``kurtosis``.

    Examples
    --------
    >>> import tempfile
    >>> from analysis.sweep import open_sweep
    >>> from simulate import Sweep, run
    >>> ds = open_sweep(run(Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=5, samples=10),
    ...                     tempfile.mkdtemp() + "/s.zarr", progress=False))
    >>> m = moments(ds, "log_prod_chi1")
    >>> sorted(m.data_vars), int(m["count"].isel(config=0, width=0, layer=0))
    (['count', 'kurtosis', 'mean', 'sem', 'skewness', 'var'], 10)
    """
    if f"{name}_moments" in ds:
        summary = ds[f"{name}_moments"].transpose(..., "chunk", "moment")
        if summary.chunks:  # the merge is along chunk: one Dask block of (tiny) summaries
            summary = summary.chunk({"chunk": -1})
        merged = xr.apply_ufunc(
            lambda a: reduce(a, axis=-2),
            summary,
            input_core_dims=[["chunk", "moment"]],
            output_core_dims=[["moment"]],
            dask="parallelized",
            output_dtypes=[float],
        )
        merged = merged.compute()
    else:
        values = derived(ds, name) if OBSERVABLES[name].when == "derived" else ds[name]
        merged = _raw_summary(values)
    stats = describe(merged.values)
    dims = merged.dims[:-1]
    return xr.Dataset({k: (dims, stats[k]) for k in STATS}, coords={d: merged[d] for d in dims if d in merged.coords})


def nlo_coefficient(ds: xr.Dataset) -> xr.Dataset:
    """``N (E q_cond^(l) - q^(l))`` and ``N Var q_cond^(l)`` at every layer, per configuration
    and width, with the exact control variates of :mod:`theory.companions` (``value``, ``se``;
    ``variance``, ``variance_se``) and plainly (``plain``, ``plain_se``; ``plain_variance``,
    ``plain_variance_se``), from the stored networks (``ds`` from ``open_sweep``; the
    companions need Gaussian weights, else the control-variate fields are NaN).

    The control variate's variance has the first-order standard error ``sd((x - mean)^2 -
    M)/sqrt(n)`` (``mean`` the predicted ``q + q~{1}/N``); the plain one the sample variance's.
    """
    from analysis.features import batches, gaussian_reason
    from analysis.sweep import theories_of

    theories = theories_of(ds)
    shape = (ds.sizes["config"], ds.sizes["width"], ds.sizes["layer"])
    names = ("value", "se", "plain", "plain_se", "variance", "variance_se", "plain_variance", "plain_variance_se")
    out = {name: np.full(shape, np.nan) for name in names}
    controlled = gaussian_reason(ds) is None
    for ci, theory in theories.items():
        for wi, width in enumerate(ds.width.values.astype(float)):
            summary = None
            for batch in batches(ds, ci, wi, theory):
                if not len(batch.arrays["q_cond"]):
                    continue
                d = batch.arrays["q_cond"] - theory.q
                c = batch.companions if controlled else None
                z = d - c.q_cond if controlled else np.full_like(d, np.nan)
                m = c.M if controlled else np.full_like(d, np.nan)
                centred = d - theory.q1 / width  # about the predicted mean: the square's spread is then its own
                part = np.stack([chunk_moments(a, axis=0) for a in (d, z, centred * centred - m, m)])
                summary = part if summary is None else merge(summary, part)
            if summary is None:
                continue
            plain, cv, square, comp = (describe(x) for x in summary)
            n = plain["count"]
            var_d = plain["var"]
            cells = {"plain": width * plain["mean"], "plain_se": width * plain["sem"],
                     "value": width * cv["mean"], "se": width * cv["sem"],
                     "plain_variance": width * var_d,
                     "plain_variance_se": width * _var_se(plain),
                     "variance": width * (var_d - comp["mean"]),
                     "variance_se": width * np.sqrt(np.maximum(square["var"], 0.0) / n)}
            for name, values in cells.items():
                out[name][ci, wi] = values
    dims = ("config", "width", "layer")
    return xr.Dataset({name: (dims, values) for name, values in out.items()},
                      coords={"config": ds.config.values, "width": ds.width.values, "layer": ds.layer.values})


def _var_se(stats: dict) -> np.ndarray:
    """The standard error of a sample variance from its fourth moment."""
    n, s2 = stats["count"], stats["var"]
    m4 = (stats["kurtosis"] + 3.0) * (s2 * (n - 1) / n) ** 2
    return np.sqrt(np.maximum(m4 - (n - 3) / (n - 1) * s2**2, 0.0) / n)


def scaled_variance(ds: xr.Dataset, name: str) -> xr.Dataset:
    """``N Var(name)`` with its standard error (the sample variance's, from the 4th moment).

    Examples
    --------
    Layer 1 is exactly Gaussian, so ``N Var q_tilde^(1) = 2 q*^2`` up to sampling noise:

    >>> import tempfile
    >>> from analysis.sweep import open_sweep
    >>> from simulate import Sweep, run
    >>> ds = open_sweep(run(Sweep(q_star=(1.0,), vprime=(0.7,), width=(50,), depth=2, samples=4000),
    ...                     tempfile.mkdtemp() + "/s.zarr", progress=False))
    >>> v = scaled_variance(ds, "q_tilde").isel(config=0, width=0, layer=0)
    >>> abs(float(v.value) - 2.0) < 5 * float(v.se)
    True
    """
    return width_scaled_variance(moments(ds, name), ds.width)


def width_scaled_variance(m: xr.Dataset, width) -> xr.Dataset:
    """``N Var`` and its standard error from the statistics ``m`` of :func:`moments`."""
    n, s2 = m["count"], m["var"]
    m4 = (m["kurtosis"] + 3.0) * (s2 * (n - 1) / n) ** 2
    se_var = np.sqrt(np.maximum(m4 - (n - 3) / (n - 1) * s2**2, 0.0) / n)
    width = width.astype(float)
    return xr.Dataset({"value": width * s2, "se": width * se_var, "count": n})


def growth(ds: xr.Dataset, ci: int, wi: int, factor: float = 10.0, max_samples: int = 100_000):
    """:class:`analysis.verdicts.Growth` of configuration ``ci`` at width ``wi`` from the
    first ``max_samples`` raw networks (memory stays bounded whatever the store's size).

    ``escaped``: the fraction whose ``q_cond`` left ``[q*/factor, factor q*]`` (or was not
    finite) at some layer ``<= L``, with the binomial standard error (at least that of one
    network in ``n``). ``growth``: ``Var log q_cond^(L) / Var log q_cond^(L/2)`` over the
    networks finite at both layers; its standard error is the delta method's with the
    sample-variance covariances of the same networks,
    ``Var(g)/g^2 = (m4_L/A^2 - 1 + m4_h/B^2 - 1 - 2 (m22/(A B) - 1)) / n``.
    A stable network's spread saturates (``g -> 1``); a ``V' = 1`` map's grows with depth.
    """
    sub = ds.isel(config=ci, width=wi)
    q_star = float(sub.q_star)
    depth = ds.sizes["layer"]
    half = max(2, depth // 2)
    q_cond = sub.q_cond.isel(sample=slice(0, max_samples)).values
    n = q_cond.shape[0]
    inside = (q_cond <= factor * q_star) & (q_cond >= q_star / factor)
    escaped = float(np.mean(~inside.all(axis=1)))
    escaped_se = float(np.sqrt(max(escaped * (1.0 - escaped), 1.0 / n) / n))
    with np.errstate(divide="ignore", invalid="ignore"):
        x_end, x_half = np.log(q_cond[:, depth - 1]), np.log(q_cond[:, half - 1])
    ok = np.isfinite(x_end) & np.isfinite(x_half)
    u, v = x_end[ok] - x_end[ok].mean(), x_half[ok] - x_half[ok].mean()
    m = int(ok.sum())
    if m < 3:
        return Growth(escaped, escaped_se, float("nan"), float("nan"), n)
    a, b = float(np.mean(u * u)), float(np.mean(v * v))
    g = a / b
    rel_var = (np.mean(u**4) / a**2 - 1 + np.mean(v**4) / b**2 - 1 - 2 * (np.mean(u * u * v * v) / (a * b) - 1)) / m
    return Growth(escaped, escaped_se, g, float(g * np.sqrt(max(rel_var, 0.0))), n)


def percentiles(values: xr.DataArray, q=(5, 25, 50, 75, 95), max_samples: int = 100_000) -> xr.DataArray:
    """Percentiles over the first ``max_samples`` networks (NaN ignored): enough for the
    figures, and memory stays bounded whatever the size of the store."""
    head = values.isel(sample=slice(0, max_samples)).chunk({"sample": -1})
    return head.quantile(np.asarray(q) / 100.0, dim="sample", skipna=True).compute()


def divergence_curve(ds: xr.Dataset, factor: float = 10.0) -> xr.DataArray:
    """Fraction of networks whose ``q_cond`` left ``[q*/factor, factor q*]`` (or overflowed)
    at some layer ``<= l``: the empirical escape probability against depth."""
    q_cond = ds["q_cond"]
    escaped = ~((q_cond <= factor * ds.q_star) & (q_cond >= ds.q_star / factor))
    return (escaped.cumsum("layer") > 0).mean("sample").compute()


def gradient_vs_product(ds: xr.Dataset, ci: int, max_samples: int = 100_000) -> list[dict]:
    """Per width, the back-propagated norm against ``prod chi1`` on the same networks
    (``--backward`` stores): ``D = log |delta^(1)|^2 - log prod_(l<L) chi1^(l)``, what the
    gradient adds to the product. Returns ``N E D``, ``N Var D`` with standard errors, and
    the correlation of the two logs over the first ``max_samples`` networks."""
    rows = []
    for wi, width in enumerate(ds.width.values):
        sub = ds.isel(config=ci, width=wi, sample=slice(0, max_samples))
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log(sub.chi1.values[:, :-1]).sum(axis=1)
            y = np.log(sub.back_norm2.values[:, 0])
        ok = np.isfinite(x) & np.isfinite(y)
        d, n = y[ok] - x[ok], int(ok.sum())
        var = float(d.var(ddof=1))
        kurt = float(np.mean((d - d.mean()) ** 4) / var**2)
        rows.append({"width": int(width), "networks": n, "mean": float(width * d.mean()),
                     "mean_se": float(width * d.std(ddof=1) / np.sqrt(n)), "var": float(width * var),
                     "var_se": float(width * var * np.sqrt(max(kurt - 1.0, 0.0) / n)),
                     "correlation": float(np.corrcoef(x[ok], y[ok])[0, 1])})
    return rows
