"""Benchmark of the simulation engine: ``python -m simulate.bench``.

Neuron-layer samples per second (networks x layers x width / seconds), measured side by
side in one run at width 1000 and depth 100 (CReLU, s = 0.85, q* = 1, V'(q*) = 0.7):

* ``reduced-cpu``: the fused Numba kernel (:mod:`simulate.kernels`), all cores;
* ``dense-cpu``: explicit weight matrices and BLAS products (:mod:`simulate.dense`);
* ``numpy-baseline``: the reduced sampler written in plain vectorised NumPy, kept here
  only as the baseline;
* ``reduced-gpu`` and ``dense-gpu`` (:mod:`simulate.gpu`) when CuPy sees a device,
  timed after a synchronisation (the chunk function returns host arrays), with
  ``gpu-normals-floor``: as many float64 normals drawn on the device by CuPy's generator
  into a preallocated buffer, the device's own normal-generation rate;
* ``normals-floor``: the same threads drawing the same number of normals from the same
  generator (:mod:`simulate.normals`) and summing them, nothing else: the reduced
  sampler's floor, which it is printed as a fraction of; ``numpy-generator-floor``: the
  same with NumPy's ``Generator`` (SFC64) inside Numba, the generator the sampler used
  before (for the ratio of the two generators).

Then the whole command (``python -m simulate.depth_sweep``, width 1000, depth 50, 40,000
networks, ``--keep 0``, start-up included) in a fresh process against the NumPy baseline
of this run, and the peak resident memory of whole sweeps with 10x more networks
(``--keep 0``, fixed chunk), each in a fresh process: it must not grow with the number of
networks; and one at width 100,000. Medians of ``--repeats`` runs.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

import numba as nb

from simulate.config import Sweep
from theory.cli import UsageError, fail, parse
from theory.grid import require_shape
from simulate.cpu import simulate_chunk
from simulate.normals import network_states, sum_normals
from simulate.seeding import network_rng


def numpy_reduced_baseline(sol, width, depth, networks, seed=0):
    """The reduced sampler in plain vectorised NumPy over a batch of networks."""
    rng = np.random.default_rng(seed)
    act = sol.activation
    q_cond = np.full(networks, sol.q_star)
    out = np.empty((4, networks, depth))
    for layer in range(depth):
        h = np.sqrt(q_cond)[:, None] * rng.standard_normal((networks, width))
        f = act.phi(h)
        out[0, :, layer] = q_cond
        out[1, :, layer] = np.mean(h * h, axis=1)
        out[2, :, layer] = sol.sigma_w2 * np.mean(act.dphi(h) ** 2, axis=1)
        out[3, :, layer] = np.mean(f == 0.0, axis=1)
        q_cond = sol.sigma_w2 * np.mean(f * f, axis=1) + sol.sigma_b2
    return out


@nb.njit(nogil=True, cache=True)
def _sum_generator_normals(rng, count):
    total = 0.0
    for _ in range(count):
        total += rng.standard_normal()
    return total


def normals_floor(networks: int, per_network: int, threads: int, numpy_generator: bool = False) -> None:
    """Draw ``per_network`` normals for each of ``networks`` streams on ``threads`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    if numpy_generator:
        streams = [network_rng(0, 1000, s) for s in range(networks)]
        draw = _sum_generator_normals
    else:
        streams = list(network_states(0, 1000, 0, networks))
        draw = sum_normals
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda part: [draw(streams[k], per_network) for k in part],
                      np.array_split(np.arange(networks), threads)))


def gpu_normals_floor(count: int, block: int = 1 << 26) -> None:
    """Draw ``count`` float64 standard normals on the current CUDA device with CuPy's
    default generator (``cupy.random.default_rng``: XORWOW, Box-Muller) into a
    preallocated buffer of at most ``block``, and wait for them."""
    import cupy

    rng = cupy.random.default_rng(0)
    buffer = cupy.empty(min(count, block))
    for start in range(0, count, buffer.size):
        rng.standard_normal(out=buffer[: min(buffer.size, count - start)])
    cupy.cuda.get_current_stream().synchronize()


def whole_command_seconds(out_dir: str, samples: int = 40_000, width: int = 1000, depth: int = 50) -> float:
    """Wall time of ``python -m simulate.depth_sweep`` in a fresh process, start-up included."""
    cmd = [sys.executable, "-m", "simulate.depth_sweep", "--activation", "crelu", "--sparsity", "0.85", "--qstar", "1",
           "--vprime", "0.7", "--width", str(width), "--depth", str(depth), "--samples", str(samples), "--keep", "0",
           "--quiet", "--out", os.path.join(out_dir, f"whole_{samples}.zarr")]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def _rate(fn, work, repeats):
    fn()  # warm-up (compilation, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return work / float(np.median(times))


def _peak_rss_mib(samples: int, chunk: int, width: int = 1000) -> float:
    code = (
        "import resource, tempfile, pathlib\n"
        "from simulate.config import Sweep\nfrom simulate.depth_sweep import run\n"
        f"sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=({width},), depth=100, samples={samples}, keep=0, chunk={chunk})\n"
        "run(sweep, pathlib.Path(tempfile.mkdtemp()) / 's.zarr', progress=False)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


@dataclass(frozen=True)
class BenchOptions:
    """The options of ``python -m simulate.bench``.

    Parameters
    ----------
    width : int
        Width of the timed networks.
    depth : int
        Depth of the timed networks.
    networks : int
        Networks per timed reduced-cpu run.
    repeats : int
        Timed runs per path (medians reported).
    no_memory : bool
        Skip the peak-memory measurement.
    no_whole : bool
        Skip the whole-command measurement.
    """

    width: int = 1000
    depth: int = 100
    networks: int = 400
    repeats: int = 5
    no_memory: bool = False
    no_whole: bool = False

    def __post_init__(self):
        require_shape(width=self.width, depth=self.depth)
        if self.networks < 1 or self.repeats < 1:
            raise UsageError(f"--networks and --repeats must be positive, got {self.networks} and {self.repeats}")


def main(argv=None) -> int:
    try:
        args = parse(BenchOptions, argv, prog="python -m simulate.bench", description=__doc__.splitlines()[0])
    except UsageError as err:
        return fail(err)
    w, d = args.width, args.depth
    sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=(w,), depth=d, samples=args.networks)
    config = sweep.configs()[0]
    dense = Sweep(q_star=(1.0,), vprime=(0.7,), width=(w,), depth=d, samples=4, sampler="dense")
    n_dense, n_numpy = 4, max(20, args.networks // 10)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; width {w}, depth {d}; medians of {args.repeats}")
    threads = os.cpu_count() or 1
    rates = {
        "reduced-cpu": _rate(lambda: simulate_chunk(sweep, config, w, 0, args.networks), args.networks * w * d, args.repeats),
        "normals-floor": _rate(lambda: normals_floor(args.networks, w * d, threads), args.networks * w * d, args.repeats),
        "numpy-generator-floor": _rate(lambda: normals_floor(args.networks, w * d, threads, numpy_generator=True),
                                       args.networks * w * d, args.repeats),
        "dense-cpu": _rate(lambda: simulate_chunk(dense, dense.configs()[0], w, 0, n_dense), n_dense * w * d, max(1, args.repeats // 2)),
        "numpy-baseline": _rate(lambda: numpy_reduced_baseline(config.solution, w, d, n_numpy), n_numpy * w * d, args.repeats),
    }
    from gpu.backend import gpu_available

    if gpu_available():
        from simulate.gpu import simulate_chunk_gpu

        n_gpu = 20 * args.networks
        gpu_dense = Sweep(q_star=(1.0,), vprime=(0.7,), width=(w,), depth=d, samples=64, sampler="dense")
        rates["reduced-gpu"] = _rate(lambda: simulate_chunk_gpu(sweep, config, w, 0, n_gpu), n_gpu * w * d, args.repeats)
        rates["dense-gpu"] = _rate(
            lambda: simulate_chunk_gpu(gpu_dense, gpu_dense.configs()[0], w, 0, 64), 64 * w * d, args.repeats
        )
        rates["gpu-normals-floor"] = _rate(lambda: gpu_normals_floor(n_gpu * w * d), n_gpu * w * d, args.repeats)
    base = rates["numpy-baseline"]
    print(f"{'path':<16} {'neuron-layer samples/s':>24} {'vs numpy baseline':>18}")
    for name, rate in rates.items():
        print(f"{name:<16} {rate:>24.3e} {rate / base:>17.2f}x")
    if "reduced-gpu" not in rates:
        print("gpu paths: no CUDA device visible to CuPy on this machine")
    else:
        print(f"target on an H100: reduced-gpu >= 1e11 -> {'met' if rates['reduced-gpu'] >= 1e11 else 'NOT met'}")
        print(f"reduced-gpu is {rates['reduced-gpu'] / rates['gpu-normals-floor']:.2f} of the device's normal floor, "
              f"{rates['reduced-gpu'] / rates['reduced-cpu']:.1f}x reduced-cpu; "
              f"dense-gpu is {rates['dense-gpu'] / rates['dense-cpu']:.1f}x dense-cpu")
    floor = rates["reduced-cpu"] / rates["normals-floor"]
    print(f"reduced-cpu is {floor:.2f} of the normals floor; the generator is "
          f"{rates['normals-floor'] / rates['numpy-generator-floor']:.2f}x NumPy's SFC64 Generator in Numba")
    print(f"targets on a 2-core CPU: reduced-cpu >= 7x numpy baseline -> "
          f"{'met' if rates['reduced-cpu'] >= 7 * base else 'NOT met'}; >= 0.8 of the floor -> {'met' if floor >= 0.8 else 'NOT met'}")

    if not args.no_whole:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            seconds = float(np.median([whole_command_seconds(tmp + f"/{i}") for i in range(max(1, args.repeats // 2))]))
        whole = 40_000 * 1000 * 50 / seconds
        print(f"whole command (depth_sweep, width 1000, depth 50, 40,000 networks, start-up included): {seconds:.2f} s, "
              f"{whole:.3e} samples/s = {whole / base:.2f}x the numpy baseline (target >= 3x: "
              f"{'met' if whole >= 3 * base else 'NOT met'})")
    if not args.no_memory:
        print("peak resident memory of a whole sweep (--keep 0, chunk 500, depth 100):")
        for samples in (2000, 20000):
            print(f"  width 1000, {samples:>6} networks: {_peak_rss_mib(samples, 500):8.1f} MiB")
        print(f"  width 100000, 40 networks: {_peak_rss_mib(40, 20, width=100_000):8.1f} MiB (target < 1024)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
