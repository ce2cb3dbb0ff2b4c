"""The depth-sweep store: zarr v3, opened by ``xarray.open_zarr``.

Dimensions ``config``, ``width``, ``sample``, ``layer`` (1..L); coordinates on ``config``
for every sweep axis and solved parameter; attrs with definitions, units, the seed, the
sampler, the backend, package versions and the command line. Data are chunked
``(1, 1, chunk, L)`` so any number of networks streams to disk in bounded memory.

With ``keep = K`` (``--keep K``) only the first ``K`` networks are stored raw; every
chunk also stores its streaming summary ``<name>_moments`` (count, mean, central
moment sums to 4th order over finite values; :mod:`simulate.moments`) per layer, for
every variable and for ``log_prod_chi1`` (``log prod_{k<=l} chi1^(k)``; dead networks,
with a ``chi1 = 0``, are left out of it and so counted by its ``count``).

Each chunk is written whole and then flagged in ``completed`` (one zarr chunk per
flag, so concurrent workers never share a chunk). A store interrupted at any point
opens, with unwritten chunks read as NaN, and ``resume`` recomputes exactly the
unflagged chunks; since results depend only on (seed, configuration, sample) the
completed store equals an uninterrupted one.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from simulate.config import NetworkConfig, Sweep, SweepError
from simulate.engine import variables
from simulate.moments import MOMENTS, chunk_moments

DEFINITIONS = {
    "q_tilde": ("(1/N_l) sum_i (h_i^(l))^2: empirical second moment of layer l's pre-activations", "variance (input units^2)"),
    "q_cond": (
        "sigma_w^2/N_(l-1) sum_j phi(h_j^(l-1))^2 + sigma_b^2: variance of layer l given layer l-1 (q* at l = 1)",
        "variance (input units^2)",
    ),
    "chi1": ("sigma_w^2/N_l sum_i phi'(h_i^(l))^2: per-layer gain of back-propagated squared errors", "1"),
    "sparsity": ("fraction of layer l's activations that are exactly zero", "1"),
    "rho": ("G_01/sqrt(G_00 G_11) of layer l's conditional covariance of the two inputs", "1"),
    "back_norm2": ("|delta^(l)|^2, error back-propagated through the same weights from a random unit vector at layer L", "1"),
    "diverged_layer": ("first layer whose q_cond is not finite (0: the network did not diverge)", "layer"),
    "log_prod_chi1": ("log prod_{k<=l} chi1^(k) (finite only while every chi1 > 0)", "1"),
    "log_back_norm2": ("log |delta^(l)|^2 of the back-propagated error (finite while the error is not zero)", "1"),
}


def log_prod_chi1(chi1: np.ndarray) -> np.ndarray:
    """``log prod_{k<=l} chi1^(k)`` along the last axis; ``nan`` from the first dead layer."""
    with np.errstate(divide="ignore"):
        logs = np.where(chi1 > 0, np.log(np.where(chi1 > 0, chi1, 1.0)), np.nan)
    return np.cumsum(logs, axis=-1)


def log_back_norm2(back_norm2: np.ndarray) -> np.ndarray:
    """``log |delta^(l)|^2``; ``nan`` where the error vanished (a layer passed no gradient)."""
    with np.errstate(divide="ignore"):
        return np.where(back_norm2 > 0, np.log(np.where(back_norm2 > 0, back_norm2, 1.0)), np.nan)


#: derived per-layer variables with a streaming summary in ``--keep`` stores
DERIVED = {"log_prod_chi1": ("chi1", log_prod_chi1), "log_back_norm2": ("back_norm2", log_back_norm2)}


def _versions() -> dict:
    out = {}
    for pkg in ("eoc-sparse", "numpy", "scipy", "numba", "xarray", "zarr", "dask"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def n_chunks(sweep: Sweep) -> int:
    return -(-sweep.samples // sweep.chunk)


def create(path: Path, sweep: Sweep, configs: list[NetworkConfig], backend: str) -> None:
    """Write the store's metadata, coordinates and (all-false) completion flags."""
    shape = (len(configs), len(sweep.width), sweep.raw_samples, sweep.depth)
    chunks = (1, 1, max(1, min(sweep.chunk, sweep.raw_samples)), sweep.depth)
    n_chunk = n_chunks(sweep)
    sols = [c.solution for c in configs]
    data = {}
    for name in variables(sweep):
        desc, units = DEFINITIONS[name]
        data[name] = (
            ("config", "width", "sample", "layer"),
            da.full(shape, np.nan, chunks=chunks),
            {"description": desc, "units": units},
        )
    desc, units = DEFINITIONS["diverged_layer"]
    data["diverged_layer"] = (
        ("config", "width", "sample"),
        da.zeros(shape[:3], dtype=np.int32, chunks=chunks[:3]),
        {"description": desc, "units": units},
    )
    if sweep.keep is not None:
        mshape = (len(configs), len(sweep.width), n_chunk, sweep.depth, len(MOMENTS))
        derived = [name for name, (source, _) in DERIVED.items() if source in variables(sweep)]
        for name in (*variables(sweep), *derived):
            desc, units = DEFINITIONS[name]
            data[f"{name}_moments"] = (
                ("config", "width", "chunk", "layer", "moment"),
                da.zeros(mshape, chunks=(1, 1, 1, sweep.depth, len(MOMENTS))),
                {"description": f"per-chunk streaming summary of {name}: {desc}", "units": units},
            )
    data["completed"] = (
        ("config", "width", "chunk"),
        np.zeros((len(configs), len(sweep.width), n_chunk), dtype=bool),
        {"description": "chunk of samples written in full (resume recomputes the others)"},
    )
    coords = {
        "config": np.arange(len(configs)),
        "width": ("width", np.array(sweep.width, dtype=np.int64), {"description": "N_l, equal for every layer"}),
        "sample": ("sample", np.arange(sweep.raw_samples), {"description": "network index; its random stream is keyed by (seed, width, sample)"}),
        "layer": ("layer", np.arange(1, sweep.depth + 1), {"description": "layer l = 1..L"}),
        "activation": ("config", np.array([c.activation for c in configs], dtype=object)),
        "q_star": ("config", np.array([c.q_star for c in configs]), {"description": "fixed-point variance q*"}),
    }
    for name, desc in [
        ("sparsity_target", "target sparsity s"),
        ("vprime", "V'(q*) of the EoC solution"),
        ("tau", "threshold tau"),
        ("m", "clipping value m (inf: none)"),
        ("sigma_w2", "sigma_w^2"),
        ("sigma_b2", "sigma_b^2"),
        ("vsecond", "V''(q*)"),
        ("bound", "Theorem 2.1 bound on |q~{1}| (nan outside 0 < V' < 1)"),
    ]:
        attr = "sparsity" if name == "sparsity_target" else name
        coords[name] = ("config", np.array([float(getattr(s, attr)) for s in sols]), {"description": desc})
    if sweep.keep is not None:
        coords["moment"] = ("moment", np.array(MOMENTS, dtype=object), {"description": "count, mean, sums of (x - mean)^k"})
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = {
        "title": "Finite-width Monte Carlo of EoC-initialised networks (depth sweep)",
        "sweep": sweep.to_json(),
        "seed": sweep.seed,
        "sampler": sweep.sampler,
        "backend": backend,
        "weights": sweep.weights,
        "inputs": sweep.inputs,
        "samples": sweep.samples,
        "raw_samples": sweep.raw_samples,
        "rho0": sweep.rho0 if sweep.inputs == 2 else "n/a",
        "observables_refer_to": "input 0 of each network",
        "versions": json.dumps(_versions()),
        "command": " ".join(sys.argv),
        "conventions": "SPEC.md 'What a simulation measures'; layer 1 is exactly N(0, q*)",
    }
    ds.to_zarr(
        path,
        mode="w-",
        compute=False,
        zarr_format=3,
        consolidated=False,
        encoding={"completed": {"chunks": (1, 1, 1)}},
    )


def open_for_resume(path: Path, sweep: Sweep, backend: str) -> None:
    """Check, before anything is written, that the store at ``path`` was made by the same
    sweep (same options, same chunking) on the same backend: the CPU and GPU draw from
    different generators, so a store that mixed them would depend on the backend order."""
    try:
        attrs = zarr.open_group(path, mode="r").attrs
        stored = Sweep.from_json(attrs["sweep"])
    except Exception as err:  # not a depth-sweep store at all
        raise SweepError(f"--resume: {path} is not a depth-sweep store ({type(err).__name__}: {err})") from None
    if attrs.get("backend") != backend:
        raise SweepError(f"--resume: {path} was written by the {attrs.get('backend')} backend, not {backend}; "
                         f"resume it with --backend {attrs.get('backend')} or write a new store")
    if stored.identity() != sweep.identity() or stored.chunk != sweep.chunk:
        raise SweepError(
            f"{path} was written by a different sweep; --resume needs the same options.\n"
            f"  stored:    {stored.to_json()}\n  requested: {sweep.to_json()}"
        )


def pending(path: Path) -> np.ndarray:
    """Indices ``(config, width, chunk)`` of the chunks not yet completed."""
    done = zarr.open_group(path, mode="r")["completed"][...]
    return np.argwhere(~done)


def write_chunk(path: Path, sweep: Sweep, ci: int, wi: int, chunk: int, result: dict) -> None:
    """Write one chunk's arrays, then flag it completed."""
    group = zarr.open_group(path, mode="r+")
    start = chunk * sweep.chunk
    stop = min(start + sweep.chunk, sweep.raw_samples)
    if stop > start:
        for name, values in result.items():
            group[name][ci, wi, start:stop] = values[: stop - start]
    if sweep.keep is not None:
        summaries = {name: result[name] for name in variables(sweep)}
        summaries.update({name: fn(result[source]) for name, (source, fn) in DERIVED.items() if source in result})
        for name, values in summaries.items():
            group[f"{name}_moments"][ci, wi, chunk] = chunk_moments(values, axis=0)
    group["completed"][ci, wi, chunk] = True
