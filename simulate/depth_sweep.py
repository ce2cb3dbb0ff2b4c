"""``python -m simulate.depth_sweep``: simulate EoC networks across depth, write a zarr store.

With no arguments it runs the default sweep (CReLU, s = 0.85, q* in {1, 3},
V'(q*) in {0.5, 0.7, 0.9}, widths {100, 1000, 6000}, depth 100, 2000 networks each)
into ``data/depth_sweep.zarr`` and prints a summary. Width 6000 is the narrowest round
width at which every claim at V'(q*) = 0.9 is in its regime (``python -m analysis.plan``);
``--width auto`` asks the planner for the widths of any sweep. Every sweep axis takes several
values; the sweep is their product. ``--config FILE`` reads the same options from a
TOML file (command-line options override it). Ctrl-C leaves a valid store;
``--resume`` completes only what is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

from tqdm.auto import tqdm

from simulate import store
from simulate.config import BACKENDS, SAMPLERS, Sweep, SweepError, auto_widths
from simulate.cpu import simulate_chunk
from simulate.summary import summarise

DEFAULT_OUT = Path("data/depth_sweep.zarr")


def _parser() -> argparse.ArgumentParser:
    d = Sweep()
    p = argparse.ArgumentParser(prog="python -m simulate.depth_sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--activation", nargs="+", help=f"activation families (default {' '.join(d.activation)})")
    p.add_argument("--sparsity", nargs="+", type=float, help=f"target sparsities s in (0, 1) (default {' '.join(f'{x:g}' for x in d.sparsity)})")
    p.add_argument("--qstar", nargs="+", type=float, help=f"fixed-point variances q* > 0 (default {' '.join(f'{q:g}' for q in d.q_star)})")
    p.add_argument("--vprime", nargs="+", type=float, help=f"target V'(q*) of clipped families (default {' '.join(f'{x:g}' for x in d.vprime)})")
    p.add_argument("--m", nargs="+", type=float, help="clipping values m instead of --vprime")
    p.add_argument("--width", nargs="+", help="widths N (every layer), or 'auto': (N, 2N, 4N) with N the narrowest "
                   f"width at which every claim is in its regime (analysis.plan) (default {' '.join(map(str, d.width))})")
    p.add_argument("--depth", type=int, help=f"number of layers L (default {d.depth})")
    p.add_argument("--samples", type=int, help=f"networks per (config, width) (default {d.samples})")
    p.add_argument("--inputs", type=int, choices=(1, 2), help="inputs per network; 2 records their correlation rho")
    p.add_argument("--rho0", type=float, help=f"layer-1 correlation of the two inputs (default {d.rho0})")
    p.add_argument("--seed", type=int, help="root seed; results depend only on (seed, config, sample)")
    p.add_argument("--sampler", choices=SAMPLERS, help="reduced (exact O(N B^2), default) or dense (weight matrices)")
    p.add_argument("--weights", choices=("gaussian", "orthogonal"), help="weight law (orthogonal: dense sampler)")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="auto (GPU if present, else CPU), cpu or gpu")
    p.add_argument("--backward", action="store_true", default=None, help="also back-propagate a random unit error vector")
    p.add_argument("--keep", type=int, help="store only the first K networks raw, plus streaming moments of all")
    p.add_argument("--chunk", type=int, help=f"networks per stored chunk and task (default {d.chunk})")
    p.add_argument("--out", type=Path, default=None, help=f"output store (default {DEFAULT_OUT})")
    p.add_argument("--resume", action="store_true", help="require an existing store of the same options and complete it "
                   "(an existing store of the same sweep is completed anyway)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store at --out")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://host:port)")
    p.add_argument("--workers", type=int, help="start a local Dask cluster with this many workers")
    p.add_argument("--threads", type=int, help="threads per process for the CPU kernels (default: all cores)")
    p.add_argument("--config", type=Path, help="TOML file with any of the options above (keys as the long option names)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    return p


_FIELDS = {
    "activation": "activation", "sparsity": "sparsity", "qstar": "q_star", "vprime": "vprime", "m": "m",
    "width": "width", "depth": "depth", "samples": "samples", "inputs": "inputs", "rho0": "rho0", "seed": "seed",
    "sampler": "sampler", "weights": "weights", "backward": "backward", "keep": "keep", "chunk": "chunk",
}


def sweep_from_args(args: argparse.Namespace) -> Sweep:
    """Defaults, then the TOML file, then the command line."""
    values = {}
    if args.config is not None:
        try:
            with args.config.open("rb") as f:
                table = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise SweepError(f"cannot read --config {args.config}: {err}") from None
        unknown = set(table) - set(_FIELDS) - {"out", "backend"}
        if unknown:
            raise SweepError(f"unknown keys in {args.config}: {sorted(unknown)}")
        for key, val in table.items():
            if key in _FIELDS:
                values[_FIELDS[key]] = tuple(val) if isinstance(val, list) else val
            elif getattr(args, key) in (None, "auto"):
                setattr(args, key, Path(val) if key == "out" else val)
    for key, field_name in _FIELDS.items():
        val = getattr(args, key)
        if val is not None:
            values[field_name] = tuple(val) if isinstance(val, list) else val
    if "m" in values and "vprime" not in values:
        values["vprime"] = None
    auto = values.get("width") in (("auto",), "auto")
    if auto:
        values["width"] = (2,)
    elif "width" in values:
        values["width"] = tuple(_width(w) for w in values["width"])
    try:
        sweep = Sweep(**values)
    except TypeError as err:
        raise SweepError(str(err)) from None
    return dataclasses.replace(sweep, width=planned_widths(sweep)) if auto else sweep


def _width(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SweepError(f"--width takes integers or 'auto', got {value!r}") from None


def planned_widths(sweep: Sweep) -> tuple[int, ...]:
    """``--width auto``: the widths at which every claim of this sweep is in its regime."""
    return auto_widths(sweep.configs(), sweep.depth, sweep.backward)


def resolve_backend(requested: str) -> str:
    """``auto``: the GPU when CuPy sees a device, else the CPU."""
    if requested == "cpu":
        return "cpu"
    from gpu.backend import gpu_available

    if gpu_available():
        return "gpu"
    if requested == "gpu":
        raise SweepError("--backend gpu: no CUDA device usable through CuPy here (install the 'gpu' extra on a GPU machine)")
    return "cpu"


def run(sweep: Sweep, out: str | Path, *, backend="auto", resume=False, overwrite=False, scheduler=None, workers=None,
        threads=None, progress=True, configs=None) -> Path:
    """Run (or complete) a sweep into the store ``out``; returns ``out`` as a ``Path``.

    Parameters
    ----------
    sweep
        What to simulate (:class:`simulate.config.Sweep`; validated and solved before
        anything is written).
    out
        The zarr store to create (or, with ``resume``, to complete).
    backend
        ``"auto"`` (the GPU when CuPy sees one), ``"cpu"`` or ``"gpu"``.
    resume, overwrite
        ``resume``: the store must exist (an existing store of the same sweep is always
        completed, and left as it is when complete); ``overwrite``: replace an existing one.
    scheduler, workers, threads
        A Dask scheduler address or a number of local workers; threads per worker.
    progress
        Show a progress bar.
    configs
        The sweep's solved configurations, when the caller has them (else solved here).

    Examples
    --------
    >>> import tempfile, xarray as xr
    >>> from simulate.config import Sweep
    >>> path = run(Sweep(q_star=(1.0, 2.0), vprime=(0.5,), width=(20,), depth=4, samples=8),
    ...            tempfile.mkdtemp() + "/s.zarr", progress=False)
    >>> xr.open_zarr(path).chi1.sizes
    Frozen({'config': 2, 'width': 1, 'sample': 8, 'layer': 4})
    """
    out = Path(out)
    backend = resolve_backend(backend)
    configs = configs or sweep.configs()
    if out.exists():
        if overwrite:
            shutil.rmtree(out)
        else:  # the same sweep is completed (nothing to do if it is complete); another is refused
            store.open_for_resume(out, sweep, backend)
    elif resume:
        raise SweepError(f"--resume: no store at {out}")
    if not out.exists():
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            store.create(out, sweep, configs, backend)
        except OSError as err:
            shutil.rmtree(out, ignore_errors=True)
            raise SweepError(f"cannot write the store {out}: {err.strerror or err}") from None
    started = time.perf_counter()
    tasks = [tuple(int(i) for i in t) for t in store.pending(out)]
    bar = tqdm(total=len(tasks), desc="chunks", unit="chunk", disable=not progress)
    if scheduler or workers:
        _run_dask(sweep, configs, out, tasks, scheduler, workers, threads, backend, bar)
    else:
        _run_serial(sweep, configs, out, tasks, threads, backend, bar)
    bar.close()
    store.add_wall_time(out, time.perf_counter() - started)
    return out


def _run_serial(sweep, configs, out, tasks, threads, backend, bar):
    """Chunk after chunk in this process; chunk ``k`` is written by a writer thread while
    chunk ``k + 1`` is simulated (the kernels release the GIL), at most one write pending,
    and each chunk is flagged completed only after its data, so an interruption loses
    nothing that ``--resume`` would not redo."""
    writer = store.ChunkWriter(out, sweep)
    with ThreadPoolExecutor(1) as io:
        pending = None
        for ci, wi, chunk in tasks:
            result = _simulate(sweep, configs[ci], wi, chunk, threads, backend)
            if pending is not None:
                pending.result()
                bar.update()
            pending = io.submit(writer.write, ci, wi, chunk, result)
        if pending is not None:
            pending.result()
            bar.update()


def _simulate(sweep, config, wi, chunk, threads, backend="cpu"):
    start = chunk * sweep.chunk
    stop = min(start + sweep.chunk, sweep.samples)
    if backend == "gpu":
        from simulate.gpu import simulate_chunk_gpu

        return simulate_chunk_gpu(sweep, config, sweep.width[wi], start, stop)
    return simulate_chunk(sweep, config, sweep.width[wi], start, stop, threads=threads)


def _task(sweep, config, out, ci, wi, chunk, threads, backend="cpu"):
    """One chunk simulated and written (the unit of a Dask task)."""
    store.ChunkWriter(out, sweep).write(ci, wi, chunk, _simulate(sweep, config, wi, chunk, threads, backend))


def _local_cluster(workers, backend):
    """One worker per GPU through dask-cuda when the backend is the GPU and it is installed."""
    from distributed import LocalCluster

    if backend == "gpu":
        try:
            from dask_cuda import LocalCUDACluster

            return LocalCUDACluster(n_workers=workers, dashboard_address=None)
        except ImportError:
            pass
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)


def _run_dask(sweep, configs, out, tasks, scheduler, workers, threads, backend, bar):
    from distributed import Client, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = _local_cluster(workers, backend)
        client = Client(cluster)
    try:
        futures = [
            client.submit(_task, sweep, configs[ci], out, ci, wi, chunk, threads or 1, backend, pure=False)
            for ci, wi, chunk in tasks
        ]
        for future in as_completed(futures):
            future.result()
            bar.update()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out or DEFAULT_OUT)
    try:
        sweep = sweep_from_args(args)
        left = _chunks_left(out) if out.exists() and not args.overwrite else None
        configs = sweep.configs()
        run(sweep, out, backend=args.backend, resume=args.resume, overwrite=args.overwrite, scheduler=args.scheduler,
            workers=args.workers, threads=args.threads, progress=not args.quiet, configs=configs)
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: {out} is a valid store; complete it with the same options and --resume", file=sys.stderr)
        return 130
    if left == 0 and not args.quiet:
        print(f"{out} is complete (the same sweep): nothing to simulate. Its summary:")
    if not args.quiet:
        opened = store.SweepStore(out, configs)
        print(summarise(opened.dataset(), opened.theories))
        print(f"\nstore: {out}  (xarray.open_zarr('{out}'), or analysis.sweep.open_sweep for the theory beside it)")
        print(f"does the theory hold? python -m analysis.report {out} --out {opened.report_dir()}")
    return 0


def _chunks_left(out: Path) -> int | None:
    """Chunks not yet written in an existing store (None: not a depth-sweep store; ``run`` says why)."""
    try:
        return int(len(store.pending(out)))
    except Exception:  # noqa: BLE001 - any unreadable store: run() gives the one-line reason
        return None


if __name__ == "__main__":
    sys.exit(main())
