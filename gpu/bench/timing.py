"""Timing for the benchmark: ``cupyx.profiler.benchmark`` (CUDA events around each
repetition) on the GPU, ``time.perf_counter`` on the CPU.

Every timed function takes the call number ``i`` so that callers can rotate through
several independent input copies (``i % copies``) and keep caches from flattering the
result.
"""
import itertools
import statistics
import time


def rotation_copies(touched_bytes: int, copy_bytes: int, *, cover_bytes: int, max_copies: int,
                    budget_bytes: int) -> int:
    """Input copies to cycle so that the bytes a call touches, summed over copies, cover ``cover_bytes``.

    ``touched_bytes`` is what one call reads (for the sparse path only the
    active rows, so this sets the copy count), ``copy_bytes`` what one copy
    occupies; at least 2 copies, at most ``max_copies`` and ``budget_bytes``.
    """
    wanted = -(-cover_bytes // max(1, touched_bytes))
    return max(1, min(max(2, wanted), max_copies, budget_bytes // copy_bytes))


def rounded_inner(copies: int, at_least: int) -> int:
    """Calls per repetition: whole rotations through ``copies``, at least ``at_least`` calls."""
    return copies * -(-at_least // copies)


def gpu_median_per_call(fn, *, reps: int, inner: int, warmup: int) -> float:
    """Median over ``reps`` repetitions of ``inner`` back-to-back calls, timed on the current
    device by ``cupyx.profiler.benchmark`` (after at least ``warmup`` untimed calls), in
    seconds per call."""
    from cupyx.profiler import benchmark

    calls = itertools.count()

    def repetition():
        for _ in range(inner):
            fn(next(calls))

    result = benchmark(repetition, n_repeat=reps, n_warmup=-(-warmup // inner))
    return statistics.median(result.gpu_times[0]) / inner


def cpu_median_per_call(fn, *, reps: int, inner: int, warmup: int) -> float:
    """Median over ``reps`` wall-clock timings of ``inner`` calls, seconds per call."""
    for i in range(warmup):
        fn(i)
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for i in range(inner):
            fn(i)
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def copy_bandwidth(cupy, nbytes: int, *, reps: int) -> float:
    """Device-to-device copy bandwidth in bytes/s (read + write counted), median of ``reps``."""
    src = cupy.ones(nbytes, dtype=cupy.uint8)
    dst = cupy.empty_like(src)
    seconds = gpu_median_per_call(
        lambda i: dst.data.copy_from_device_async(src.data, nbytes), reps=reps, inner=4, warmup=2
    )
    return 2.0 * nbytes / seconds
