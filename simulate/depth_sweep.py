"""``python -m simulate.depth_sweep``: simulate EoC networks across depth, write a zarr store.

With no arguments it runs the default sweep (CReLU, s = 0.85, q* in {1, 3},
V'(q*) in {0.5, 0.7, 0.9}, widths {100, 1000, 6000}, depth 100, 2000 networks each)
into ``data/depth_sweep.zarr`` and prints a summary. Width 6000 is the narrowest round
width at which every claim at V'(q*) = 0.9 is in its regime (``python -m analysis.plan``);
``--width auto`` takes the widths at which every claim of the sweep is in its regime
(:func:`simulate.config.auto_widths`). Every sweep axis takes several
values; the sweep is their product. ``--config FILE`` reads the same options from a
TOML file (command-line options override it). Ctrl-C leaves a valid store;
``--resume`` completes only what is missing.
"""

from __future__ import annotations

import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro
from tqdm.auto import tqdm

from simulate import store
from simulate.config import Sweep, SweepError
from theory.cli import UsageError, fail, parse, with_config
from simulate.cpu import simulate_chunk
from simulate.summary import summarise

DEFAULT_OUT = Path("data/depth_sweep.zarr")


@dataclass(frozen=True)
class RunOptions:
    """Where the store goes and how the sweep runs (nothing here changes its results).

    Parameters
    ----------
    out : Path
        Output store.
    backend : str
        auto (the GPU if CuPy sees one, else the CPU), cpu or gpu.
    resume : bool
        Require an existing store of the same options and complete it (an existing store
        of the same sweep is completed anyway).
    overwrite : bool
        Replace an existing store at --out.
    scheduler : str or None
        Address of an existing Dask scheduler (tcp://host:port).
    workers : int or None
        Start a local Dask cluster with this many workers.
    threads : int or None
        Threads per process for the CPU kernels (default: all cores).
    config : Path or None
        TOML file with any of these options, keys as the long option names; the command
        line overrides it.
    quiet : bool
        No progress bar and no summary.
    """

    out: Path = DEFAULT_OUT
    backend: Literal["auto", "cpu", "gpu"] = "auto"
    resume: bool = False
    overwrite: bool = False
    scheduler: str | None = None
    workers: int | None = None
    threads: int | None = None
    config: Path | None = None
    quiet: bool = False


@dataclass(frozen=True)
class DepthSweep:
    """The options of ``python -m simulate.depth_sweep``: a sweep and how it runs."""

    sweep: Annotated[Sweep, tyro.conf.OmitArgPrefixes]
    run: Annotated[RunOptions, tyro.conf.OmitArgPrefixes] = RunOptions()


def command(argv: list[str] | None = None) -> DepthSweep:
    """The command line (with its ``--config`` file) as a :class:`DepthSweep`.

    Parameters
    ----------
    argv : list of str or None
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    DepthSweep
        The validated sweep and run options; bad input raises :class:`simulate.config.SweepError`
        (or exits with code 2 for an unknown option).

    Examples
    --------
    >>> command(["--qstar", "1", "--vprime", "0.7", "--width", "300", "--quiet"]).sweep.to_argv()[4:8]
    ['--qstar', '1', '--vprime', '0.7']
    """
    return parse(DepthSweep, with_config(argv, DepthSweep), prog="python -m simulate.depth_sweep",
                 description=__doc__.split("\n\n")[0])


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

    Returns
    -------
    Path
        ``out``.

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
    bar = tqdm(total=len(tasks), desc="chunks", unit="chunk", disable=not (progress and tasks))
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
    out = DEFAULT_OUT
    try:
        cmd = command(argv)
        sweep, args = cmd.sweep, cmd.run
        out = args.out
        left = _chunks_left(out) if out.exists() and not args.overwrite else None
        configs = sweep.configs()
        run(sweep, out, backend=args.backend, resume=args.resume, overwrite=args.overwrite, scheduler=args.scheduler,
            workers=args.workers, threads=args.threads, progress=not args.quiet, configs=configs)
    except UsageError as err:
        return fail(err)
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
