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
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from functools import cached_property

from simulate.config import NetworkConfig, Sweep, SweepError
from theory.expansion import ConfigurationTheory
from simulate.moments import MOMENTS, chunk_moments
from simulate.normals import GENERATOR
from simulate.observables import OBSERVABLES, derive, derived, recorded

def _versions() -> dict:
    out = {}
    for pkg in ("eoc-sparse", "numpy", "scipy", "numba", "xarray", "zarr", "dask"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def generator_of(sweep: Sweep, backend: str) -> str:
    """The random-number generator a sweep draws with on ``backend`` (recorded in the store)."""
    if backend == "gpu":
        return "Philox4x32-10 with Box-Muller (simulate/cuda/philox.cuh)"
    if sweep.sampler == "dense":
        return "numpy SFC64 (simulate.seeding.network_rng)"
    return GENERATOR


def n_chunks(sweep: Sweep) -> int:
    return -(-sweep.samples // sweep.chunk)


def create(path: Path, sweep: Sweep, configs: list[NetworkConfig], backend: str) -> None:
    """Write the store's metadata, coordinates and (all-false) completion flags."""
    shape = (len(configs), len(sweep.width), sweep.raw_samples, sweep.depth)
    chunks = (1, 1, max(1, min(sweep.chunk, sweep.raw_samples)), sweep.depth)
    n_chunk = n_chunks(sweep)
    sols = [c.solution for c in configs]
    data = {}
    for name in recorded(sweep):
        data[name] = (OBSERVABLES[name].dims, da.full(shape, np.nan, chunks=chunks), OBSERVABLES[name].attrs)
    diverged = OBSERVABLES["diverged_layer"]
    data["diverged_layer"] = (diverged.dims, da.zeros(shape[:3], dtype=np.int32, chunks=chunks[:3]), diverged.attrs)
    if sweep.keep is not None:
        mshape = (len(configs), len(sweep.width), n_chunk, sweep.depth, len(MOMENTS))
        for name in (*recorded(sweep), *derived(sweep)):
            o = OBSERVABLES[name]
            data[f"{name}_moments"] = (
                ("config", "width", "chunk", "layer", "moment"),
                da.zeros(mshape, chunks=(1, 1, 1, sweep.depth, len(MOMENTS))),
                {"long_name": f"streaming summary of {o.long_name}", "units": o.units,
                 "description": f"per-chunk streaming summary of {name}: {o.definition}"},
            )
    data["completed"] = (
        ("config", "width", "chunk"),
        np.zeros((len(configs), len(sweep.width), n_chunk), dtype=bool),
        {"description": "chunk of samples written in full (resume recomputes the others)"},
    )
    coords = {
        "config": ("config", np.arange(len(configs)), _cf("configuration index", "1")),
        "width": ("width", np.array(sweep.width, dtype=np.int64), _cf("width N_l", "1", "N_l, equal for every layer")),
        "sample": ("sample", np.arange(sweep.raw_samples),
                   _cf("network index", "1", "its random stream is keyed by (seed, width, sample)")),
        "layer": ("layer", np.arange(1, sweep.depth + 1), _cf("layer l", "1", "layer l = 1..L")),
        "activation": ("config", np.array([c.activation for c in configs], dtype=object), _cf("activation family", "")),
        "q_star": ("config", np.array([c.q_star for c in configs]), _cf("fixed-point variance q*", "input units^2")),
    }
    for name, long_name, units in [
        ("sparsity_target", "target sparsity s", "1"),
        ("vprime", "V'(q*) of the EoC solution", "1"),
        ("tau", "threshold tau", "input units"),
        ("m", "clipping value m (inf: none)", "input units"),
        ("sigma_w2", "weight variance sigma_w^2", "1"),
        ("sigma_b2", "bias variance sigma_b^2", "input units^2"),
        ("vsecond", "V''(q*)", "1 / input units^2"),
        ("bound", "Theorem 2.1 bound on |q~{1}| (nan outside 0 < V' < 1)", "input units^2"),
    ]:
        attr = "sparsity" if name == "sparsity_target" else name
        coords[name] = ("config", np.array([float(getattr(s, attr)) for s in sols]), _cf(long_name, units))
    if sweep.keep is not None:
        coords["moment"] = ("moment", np.array(MOMENTS, dtype=object),
                            _cf("streaming moment", "", "count, mean, sums of (x - mean)^k"))
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = {
        "title": "Finite-width Monte Carlo of EoC-initialised networks (depth sweep)",
        "sweep": sweep.to_json(),
        "seed": sweep.seed,
        "sampler": sweep.sampler,
        "backend": backend,
        "generator": generator_of(sweep, backend),
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
    write_metadata(ds, path, encoding={"completed": {"chunks": (1, 1, 1)}})


def write_metadata(ds: xr.Dataset, path: Path, **kwargs) -> None:
    """Create the zarr v3 store ``path`` from ``ds`` (data left to later writes when Dask
    backed) with consolidated metadata, so ``xarray.open_zarr(path)`` opens it at once and
    without a warning. Later writes change data only, never metadata, so the consolidated
    copy stays true. zarr warns that consolidated metadata is not yet in the v3
    specification (zarr-python reads it back, which is all this project needs): that one
    warning is silenced here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part", category=UserWarning)
        ds.to_zarr(path, mode="w-", compute=False, zarr_format=3, consolidated=True, **kwargs)


def add_wall_time(path: Path, seconds: float) -> None:
    """Add ``seconds`` to the store's ``wall_seconds`` (simulation time over every call
    that wrote it) and refresh the consolidated metadata."""
    group = zarr.open_group(path, mode="r+")
    group.attrs["wall_seconds"] = round(float(group.attrs.get("wall_seconds", 0.0)) + seconds, 3)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part", category=UserWarning)
        zarr.consolidate_metadata(path)


def _cf(long_name: str, units: str, description: str | None = None) -> dict:
    """CF attributes of a coordinate."""
    return {"long_name": long_name, "units": units, **({"description": description} if description else {})}


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
    if attrs.get("generator") != generator_of(sweep, backend):
        raise SweepError(f"--resume: {path} was drawn with {attrs.get('generator')!r}, this run would draw with "
                         f"{generator_of(sweep, backend)!r}; write a new store (results depend on the generator)")
    if stored.identity() != sweep.identity() or stored.chunk != sweep.chunk:
        raise SweepError(
            f"{path} was written by a different sweep; --resume needs the same options.\n"
            f"  stored:    {stored.to_json()}\n  requested: {sweep.to_json()}"
        )


def pending(path: Path) -> np.ndarray:
    """Indices ``(config, width, chunk)`` of the chunks not yet completed."""
    done = zarr.open_group(path, mode="r")["completed"][...]
    return np.argwhere(~done)


class ChunkWriter:
    """Writes chunks into one store, opening the group and its arrays once (a serial run
    writes every chunk through one writer; a Dask task opens its own)."""

    def __init__(self, path: Path, sweep: Sweep):
        self.sweep = sweep
        self.group = zarr.open_group(path, mode="r+")
        self.arrays: dict[str, zarr.Array] = {}

    def _array(self, name: str) -> zarr.Array:
        if name not in self.arrays:
            self.arrays[name] = self.group[name]
        return self.arrays[name]

    def write(self, ci: int, wi: int, chunk: int, result: dict) -> None:
        """Write one chunk's arrays, then flag it completed."""
        sweep = self.sweep
        start = chunk * sweep.chunk
        stop = min(start + sweep.chunk, sweep.raw_samples)
        if stop > start:
            for name, values in result.items():
                self._array(name)[ci, wi, start:stop] = values[: stop - start]
        if sweep.keep is not None:
            summaries = {name: result[name] for name in recorded(sweep)}
            summaries.update({name: derive(name, result[OBSERVABLES[name].source]) for name in derived(sweep)})
            for name, values in summaries.items():
                self._array(f"{name}_moments")[ci, wi, chunk] = chunk_moments(values, axis=0)
        self._array("completed")[ci, wi, chunk] = True



class SweepStore:
    """A depth-sweep store on disk, read once: its :class:`simulate.config.Sweep`, and the
    configurations with their EoC solutions and finite-width theory solved once from its
    attributes, for everything that reads it (the summary, the claims, the report, the
    figures). In the manner of an xarray backend entry point, it creates
    (:meth:`create`), completes (:meth:`check_resume`, :meth:`pending`) and opens
    (:meth:`dataset`) a store.

    Parameters
    ----------
    path
        The store.
    configs
        The sweep's solved configurations when the caller has them already (a run that just
        wrote the store), else solved here on first use.

    Raises
    ------
    SweepError
        One line: ``path`` is missing, not a zarr store, or not a depth sweep.

    Examples
    --------
    >>> import tempfile
    >>> from simulate.depth_sweep import run
    >>> path = run(Sweep(q_star=(1.0,), vprime=(0.5,), width=(20,), depth=4, samples=8), tempfile.mkdtemp() + "/s.zarr",
    ...            progress=False)
    >>> store = SweepStore(path)
    >>> store.complete, round(store.theories[0].vprime, 6), store.dataset().sizes["sample"]
    (True, 0.5, 8)
    """

    def __init__(self, path: str | Path, configs: list[NetworkConfig] | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise SweepError(f"no store at {self.path}")
        try:
            self.attrs = dict(zarr.open_group(self.path, mode="r").attrs)
        except Exception as err:  # any unreadable folder is not a store
            raise SweepError(f"{self.path} is not a zarr store ({type(err).__name__})") from None
        if "sweep" not in self.attrs:
            raise SweepError(f"{self.path} is a zarr store but not a depth sweep (no 'sweep' attribute): "
                             "write one with python -m simulate.depth_sweep")
        self.sweep = Sweep.from_json(self.attrs["sweep"])
        if configs is not None:
            self.__dict__["configs"] = configs

    @classmethod
    def create(cls, path: Path, sweep: Sweep, configs: list[NetworkConfig], backend: str) -> "SweepStore":
        """Write a new store's metadata (:func:`create`) and open it.

        Parameters
        ----------
        path : pathlib.Path
            Where the store goes (it must not exist yet).
        sweep : simulate.config.Sweep
            The sweep the store holds.
        configs : list of theory.grid.NetworkConfig
            The sweep's solved configurations (``sweep.configs()``).
        backend : str
            The backend that will write it, ``"cpu"`` or ``"gpu"`` (recorded, with its
            generator, so that :meth:`check_resume` can hold a resume to it).

        Returns
        -------
        SweepStore
            The new store, every chunk still to be written (:meth:`pending`).

        Examples
        --------
        >>> import tempfile
        >>> from simulate import Sweep
        >>> sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8, chunk=4)
        >>> store = SweepStore.create(Path(tempfile.mkdtemp()) / "s.zarr", sweep, sweep.configs(), "cpu")
        >>> store.complete, store.pending().tolist(), store.sweep == sweep
        (False, [[0, 0, 0], [0, 0, 1]], True)
        """
        create(path, sweep, configs, backend)
        return cls(path, configs)

    @property
    def backend(self) -> str:
        return self.attrs.get("backend", "cpu")

    @cached_property
    def configs(self) -> list[NetworkConfig]:
        """The configuration axis, solved once."""
        return self.sweep.configs()

    @cached_property
    def theories(self) -> dict[int, ConfigurationTheory]:
        """The finite-width theory of every configuration at the store's depth, solved once."""
        return {ci: ConfigurationTheory.from_solution(c.solution, self.sweep.depth) for ci, c in enumerate(self.configs)}

    def check_resume(self, sweep: Sweep, backend: str) -> None:
        """Refuse to complete the store with another sweep or backend (:func:`open_for_resume`).

        Parameters
        ----------
        sweep : simulate.config.Sweep
            The sweep that would complete the store.
        backend : str
            The backend that would complete it, ``"cpu"`` or ``"gpu"``.

        Returns
        -------
        None
            When the store was made by the same sweep (same options, same chunking) on the
            same backend.

        Raises
        ------
        SweepError
            Naming the difference; nothing is written.

        Examples
        --------
        >>> import tempfile
        >>> from simulate import Sweep, run
        >>> sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8)
        >>> store = SweepStore(run(sweep, tempfile.mkdtemp() + "/s.zarr", progress=False))
        >>> store.check_resume(sweep, "cpu")
        >>> store.check_resume(sweep, "gpu")
        Traceback (most recent call last):
        ...
        simulate.config.SweepError: --resume: ... was written by the cpu backend, not gpu; resume it with
        --backend cpu or write a new store
        """
        open_for_resume(self.path, sweep, backend)

    def pending(self) -> np.ndarray:
        """Indices ``(config, width, chunk)`` of the chunks not yet written.

        Returns
        -------
        numpy.ndarray
            Shape ``(chunks, 3)``, one row ``(config, width, chunk)`` per chunk not flagged
            in ``completed``; empty once the store is complete.

        Examples
        --------
        >>> import tempfile
        >>> from simulate import Sweep, run
        >>> sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8)
        >>> store = SweepStore(run(sweep, tempfile.mkdtemp() + "/s.zarr", progress=False))
        >>> store.pending().shape, store.complete
        ((0, 3), True)
        """
        return pending(self.path)

    @property
    def complete(self) -> bool:
        return len(self.pending()) == 0

    def dataset(self) -> xr.Dataset:
        """The store as a lazy dataset (``xarray.open_zarr``).

        Returns
        -------
        xarray.Dataset
            Dask-backed, on ``(config, width, sample, layer)`` (module docstring).

        Examples
        --------
        >>> import tempfile
        >>> from simulate import Sweep, run
        >>> sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8)
        >>> store = SweepStore(run(sweep, tempfile.mkdtemp() + "/s.zarr", progress=False))
        >>> ds = store.dataset()
        >>> ds.sizes["config"], ds.sizes["width"], ds.sizes["sample"], ds.sizes["layer"]
        (1, 1, 8, 4)
        >>> ds.q_cond.dims, bool(ds.completed.all())
        (('config', 'width', 'sample', 'layer'), True)
        """
        return xr.open_zarr(self.path)

    def report_dir(self) -> Path:
        """Where its report goes by default: beside it, named after it
        (``data/depth_sweep.zarr`` -> ``data/depth_sweep_report``).

        Returns
        -------
        pathlib.Path
            The report folder, in the store's folder (not created here).

        Examples
        --------
        >>> import tempfile
        >>> from simulate import Sweep, run
        >>> sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8)
        >>> store = SweepStore(run(sweep, tempfile.mkdtemp() + "/s.zarr", progress=False))
        >>> store.report_dir().name, store.report_dir().parent == store.path.parent
        ('s_report', True)
        """
        return self.path.with_name(self.path.name.removesuffix(".zarr") + "_report")
