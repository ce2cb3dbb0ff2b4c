"""Sparse GEMV (arXiv 2602.05779, App. F): CPU reference, layout, dispatch, kernel names, GPU kernel.

CPU tests check the NumPy/Numba reference against dense ``W @ x``; the
``gpu``-marked tests (skipped without CuPy and a device) check the CuPy
kernel against the reference. tests/test_cuda_sources.py compiles the kernel
with nvcc.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu import (
    DeviceModel,
    GpuUnavailableError,
    SparseGemv,
    choose_path,
    compact_active,
    pack_weights,
    sparse_gemv_reference,
)
from gpu.backend import require_cupy
from gpu.bench.timing import rotation_copies
from gpu.dispatch import DENSE_FIXED_S, SPARSE_FIXED_S, SPARSE_MARGIN
from gpu.gemv import CHUNK, MIN_SLICE, SLICE_ALIGN, SOURCE_PATH, all_kernel_names, kernel_name, launch_config
from gpu.layout import bf16_bits_to_float32, float32_to_bf16_bits, vector_width

H100 = DeviceModel(dram_bytes_per_s=3.35e12, sm_count=132)


def random_problem(rng, m, n, s, batch=None, dtype=np.float32):
    """W (m, n) and x ((n,) or (batch, n)) with exactly round(s n) zeros per vector."""
    w = rng.standard_normal((m, n)).astype(dtype)
    rows = 1 if batch is None else batch
    x = (rng.uniform(0.1, 1.0, (rows, n)) * rng.choice([-1.0, 1.0], (rows, n))).astype(np.float32)
    for b in range(rows):
        x[b, rng.permutation(n)[: round(s * n)]] = 0.0
    return w, (x[0].copy() if batch is None else x)


def dense_result(w_decoded, x):
    """``W @ x`` in float64 and the scale (|W| |x|) to measure errors against."""
    w64, x64 = w_decoded.astype(np.float64), x.astype(np.float64)
    if x.ndim == 1:
        return w64 @ x64, np.abs(w64) @ np.abs(x64)
    return x64 @ w64.T, np.abs(x64) @ np.abs(w64).T


def assert_close(y, w_decoded, x, tol=2e-6):
    expected, scale = dense_result(w_decoded, x)
    assert y.dtype == np.float32 and y.shape == expected.shape
    assert np.all(np.abs(y - expected) <= tol * scale + 1e-30)


# --------------------------------------------------------------------------- layout


def test_pack_weights_stores_w_transposed():
    w = np.arange(12, dtype=np.float64).reshape(3, 4)
    packed = pack_weights(w)
    assert (packed.n, packed.m) == (4, 3)
    assert packed.wt.dtype == np.float32 and packed.wt.flags.c_contiguous
    np.testing.assert_array_equal(packed.wt, w.T)


@pytest.mark.parametrize(
    ("m", "weight_dtype", "vec"),
    [(12, "float32", 4), (50, "float32", 2), (37, "float32", 1),
     (1000, "float16", 8), (300, "float16", 4), (150, "bfloat16", 2), (37, "bfloat16", 1)],
)
def test_vector_width_divides_m(m, weight_dtype, vec):
    assert vector_width(m, weight_dtype) == vec


def test_bf16_rounds_to_nearest_even_and_keeps_specials():
    values = np.array(
        [1.0, 1.0 + 2**-8, 1.0 + 3 * 2**-8, 1.0 + 2**-8 + 2**-20, -2.5, np.inf, -np.inf, 0.0, -0.0,
         3.4e38, 1e-40, np.nan], dtype=np.float32)
    back = bf16_bits_to_float32(float32_to_bf16_bits(values))
    # 1 + 2^-8 is a tie (rounds to even, 1.0); 1 + 3 2^-8 rounds up to 1 + 2^-6; 3.4e38 overflows.
    expected = [1.0, 1.0, 1.0 + 2**-6, 1.0 + 2**-7, -2.5, np.inf, -np.inf, 0.0, -0.0, np.inf]
    np.testing.assert_array_equal(back[:10], np.float32(expected))
    assert np.signbit(back[8]) and back[10] != 0 and np.isnan(back[11])


def test_pack_weights_rejects_bad_input():
    with pytest.raises(ValueError, match="weight_dtype"):
        pack_weights(np.ones((2, 2)), "int8")
    with pytest.raises(ValueError, match="2-D"):
        pack_weights(np.ones(3))
    with pytest.raises(TypeError, match="floating"):
        pack_weights(np.ones((2, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="m >= 1"):
        pack_weights(np.ones((0, 2), dtype=np.float32))


# --------------------------------------------------------------------------- compaction


def test_compact_active_ascending_per_vector():
    x = np.array([[0.0, 2.0, -0.0, np.nan, 0.0, -1.0], [0.0] * 6, [1.0] * 6], dtype=np.float32)
    idx, vals, counts = compact_active(x)
    np.testing.assert_array_equal(counts, [3, 0, 6])
    np.testing.assert_array_equal(idx[0], [1, 3, 5, -1, -1, -1])  # -0.0 skipped, NaN kept
    np.testing.assert_array_equal(vals[0, [0, 2]], [2.0, -1.0])
    assert np.isnan(vals[0, 1])
    np.testing.assert_array_equal(idx[1], [-1] * 6)
    np.testing.assert_array_equal(idx[2], np.arange(6))


# --------------------------------------------------------------------------- reference


@pytest.mark.parametrize(("m", "n"), [(1, 1), (37, 53), (50, 101), (129, 7), (301, 257)])
@pytest.mark.parametrize("s", [0.0, 0.5, 0.9])
def test_reference_matches_dense_odd_sizes(m, n, s):
    rng = np.random.default_rng([m, n, int(100 * s)])
    w, x = random_problem(rng, m, n, s)
    assert_close(sparse_gemv_reference(pack_weights(w), x), w, x)


def test_reference_all_zero_vector_gives_exact_zeros():
    w, _ = random_problem(np.random.default_rng(1), 33, 47, 0.0)
    y = sparse_gemv_reference(pack_weights(w), np.zeros(47, dtype=np.float32))
    np.testing.assert_array_equal(y, np.zeros(33, dtype=np.float32))
    assert not np.any(np.signbit(y))


def test_reference_all_dense_vector_matches_dense():
    w, x = random_problem(np.random.default_rng(2), 45, 61, 0.0)
    assert np.count_nonzero(x) == 61
    assert_close(sparse_gemv_reference(pack_weights(w), x), w, x)


def test_reference_batched_with_per_vector_patterns():
    rng = np.random.default_rng(3)
    w, x = random_problem(rng, 71, 97, 0.7, batch=6)
    x[1] = 0.0  # all-zero vector
    x[2] = rng.uniform(0.5, 1.0, 97).astype(np.float32)  # all-dense vector
    x[3, :90] = 0.0  # almost empty
    y = sparse_gemv_reference(pack_weights(w), x)
    assert_close(y, w, x)
    np.testing.assert_array_equal(y[1], 0.0)
    for b in range(6):  # each row equals the single-vector call
        np.testing.assert_array_equal(y[b], sparse_gemv_reference(pack_weights(w), x[b].copy()))


@pytest.mark.parametrize("weight_dtype", ["float16", "bfloat16"])
def test_reference_16bit_weights_match_decoded_dense(weight_dtype):
    rng = np.random.default_rng(4)
    w, x = random_problem(rng, 67, 83, 0.8, batch=3)
    packed = pack_weights(w, weight_dtype)
    assert packed.wt.dtype == (np.float16 if weight_dtype == "float16" else np.uint16)
    w_decoded = packed.decoded().T
    assert_close(sparse_gemv_reference(packed, x), w_decoded, x)
    if weight_dtype == "float16":
        np.testing.assert_array_equal(w_decoded, w.astype(np.float16).astype(np.float32))


def test_reference_rejects_bad_input():
    packed = pack_weights(np.ones((4, 6), dtype=np.float32))
    x = np.ones(6, dtype=np.float32)
    with pytest.raises(TypeError, match="float32"):
        sparse_gemv_reference(packed, x.astype(np.float64))
    with pytest.raises(ValueError, match="n = 6"):
        sparse_gemv_reference(packed, np.ones(5, dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        sparse_gemv_reference(packed, np.ones(12, dtype=np.float32)[::2])
    with pytest.raises(ValueError, match=r"\(n,\) or \(B, n\)"):
        sparse_gemv_reference(packed, np.ones((1, 1, 6), dtype=np.float32))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        sparse_gemv_reference(packed, [1.0] * 6)
    with pytest.raises(TypeError, match="PackedWeights"):
        sparse_gemv_reference(np.ones((6, 4), dtype=np.float32), x)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    m=st.integers(1, 24),
    n=st.integers(1, 24),
    batch=st.integers(1, 4),
    s=st.floats(0.0, 1.0),
    weight_dtype=st.sampled_from(["float32", "float16", "bfloat16"]),
    seed=st.integers(0, 2**16),
)
def test_reference_property_inactive_columns_never_read(m, n, batch, s, weight_dtype, seed):
    rng = np.random.default_rng(seed)
    w, x = random_problem(rng, m, n, s, batch=batch)
    packed = pack_weights(w, weight_dtype)
    y = sparse_gemv_reference(packed, x)
    assert_close(y, packed.decoded().T, x)
    poisoned = w.copy()
    poisoned[:, ~np.any(x != 0, axis=0)] = np.nan  # columns no vector uses
    np.testing.assert_array_equal(sparse_gemv_reference(pack_weights(poisoned, weight_dtype), x), y)


# --------------------------------------------------------------------------- launch geometry


@pytest.mark.parametrize("m", [1, 50, 4096, 16384])
@pytest.mark.parametrize("n", [1, 100, 255, 3000, 16384])
@pytest.mark.parametrize("batch", [1, 64])
def test_launch_config_covers_inputs_without_empty_slices(m, n, batch):
    cfg = launch_config(m, n, batch, vector_width(m, "float32"), sm_count=132)
    assert cfg.tiles * cfg.tile_width >= m > (cfg.tiles - 1) * cfg.tile_width
    assert cfg.slice % SLICE_ALIGN == 0
    assert (cfg.ksplit - 1) * cfg.slice < n <= cfg.ksplit * cfg.slice
    assert cfg.ksplit == 1 or cfg.slice >= MIN_SLICE
    assert cfg.slice <= CHUNK  # one compaction pass per block
    assert cfg.partial_size == (0 if cfg.ksplit == 1 else batch * cfg.tiles * cfg.ksplit * cfg.tile_width)


@pytest.mark.parametrize(
    ("touched", "copy", "expected"),
    [(10, 20, 32), (100, 200, 10), (1000, 2000, 2), (400, 2500, 3), (400, 4000, 2), (400, 6000, 1)],
)
def test_rotation_copies_cover_target_within_caps(touched, copy, expected):
    assert rotation_copies(touched, copy, cover_bytes=1000, max_copies=32, budget_bytes=10000) == expected


# --------------------------------------------------------------------------- dispatcher


def test_dispatch_decides_small_w_by_fixed_costs_alone():
    decision = choose_path(50, 100, 1, 1.0, 2, H100)
    assert decision.t_dense_s == pytest.approx(DENSE_FIXED_S, rel=0.01)
    assert decision.t_sparse_s == pytest.approx(SPARSE_FIXED_S, rel=0.01)
    fixed_wins = SPARSE_FIXED_S <= SPARSE_MARGIN * DENSE_FIXED_S
    assert decision.path == ("sparse" if fixed_wins else "dense")


def test_dispatch_prefers_dense_without_sparsity_at_large_shapes():
    assert choose_path(4096, 4096, 1, 1.0, 4, H100).path == "dense"


def test_dispatch_prefers_sparse_for_large_sparse_shapes():
    decision = choose_path(16384, 16384, 1, 0.05, 4, H100)
    assert decision.path == "sparse" and decision.t_sparse_s < decision.t_dense_s


def test_dispatch_prefers_dense_for_large_batches_with_overlapping_patterns():
    assert choose_path(4096, 4096, 64, 0.2, 4, H100).path == "dense"


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    m=st.integers(1, 40000), n=st.integers(1, 40000), batch=st.integers(1, 64),
    a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0),
)
def test_dispatch_is_monotone_in_sparsity(m, n, batch, a, b):
    """If the sparse path is chosen at some active fraction, it is chosen at every smaller one."""
    lo, hi = sorted((a, b))
    vec = vector_width(m, "float32")
    if choose_path(m, n, batch, hi, vec, H100).path == "sparse":
        assert choose_path(m, n, batch, lo, vec, H100).path == "sparse"


def test_dispatch_rejects_bad_active_fraction():
    with pytest.raises(ValueError, match="active_fraction"):
        choose_path(10, 10, 1, 1.5, 1, H100)


# --------------------------------------------------------------------------- CUDA source / CuPy absence


def test_kernel_names_cover_every_format_and_width():
    names = all_kernel_names()
    assert len(names) == len(set(names)) == 11
    source = SOURCE_PATH.read_text()
    assert all(f"SPARSE_GEMV_KERNEL({name}," in source for name in names)
    assert kernel_name("float32", vector_width(300, "float32")) == "sparse_gemv_f32_v4"
    with pytest.raises(ValueError):
        kernel_name("float32", 8)


def test_device_model_reads_cupys_device_attributes(monkeypatch):
    """Peak DRAM bandwidth 2 x memory clock (kHz) x bus width (bits) / 8, and the SM count,
    from ``cupy.cuda.Device(id).attributes`` (``cudaDevAttr`` names without the prefix)."""
    import types

    import gpu.gemv

    attributes = {"MemoryClockRate": 2_619_000, "GlobalMemoryBusWidth": 6144, "MultiProcessorCount": 132}
    device = types.SimpleNamespace(attributes=attributes)
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(Device=lambda device_id: device))
    monkeypatch.setattr(gpu.gemv, "require_cupy", lambda: fake)
    gpu.gemv.device_model.cache_clear()
    try:
        assert gpu.gemv.device_model(0) == DeviceModel(dram_bytes_per_s=2 * 2.619e9 * 768, sm_count=132)
    finally:
        gpu.gemv.device_model.cache_clear()


def test_gpu_timing_is_cupyx_benchmark_per_call(monkeypatch):
    """``cupyx.profiler.benchmark`` times repetitions of ``inner`` calls (its ``gpu_times``
    are seconds, devices x repetitions): the median over repetitions, per call, after whole
    repetitions of warm-up."""
    import sys
    import types

    from gpu.bench.timing import gpu_median_per_call

    seen = {}

    def benchmark(func, args=(), kwargs={}, n_repeat=10000, *, name=None, n_warmup=10, max_duration=float("inf"),
                  devices=None):
        for _ in range(n_warmup + n_repeat):
            func(*args, **kwargs)
        seen.update(n_repeat=n_repeat, n_warmup=n_warmup)
        return types.SimpleNamespace(gpu_times=np.array([[4e-3, 1e-3, 2e-3]]))

    profiler = types.ModuleType("cupyx.profiler")
    profiler.benchmark = benchmark
    monkeypatch.setitem(sys.modules, "cupyx", types.ModuleType("cupyx"))
    monkeypatch.setitem(sys.modules, "cupyx.profiler", profiler)
    calls = []
    assert gpu_median_per_call(calls.append, reps=3, inner=4, warmup=5) == pytest.approx(0.5e-3)
    assert seen == {"n_repeat": 3, "n_warmup": 2} and calls == list(range(20))


def _device_usable() -> bool:
    try:
        require_cupy()
    except GpuUnavailableError:
        return False
    return True


@pytest.mark.skipif(_device_usable(), reason="CuPy and a CUDA device are available")
def test_gpu_path_without_cupy_or_device_raises_clear_error():
    with pytest.raises(GpuUnavailableError, match="CuPy"):
        SparseGemv(np.ones((4, 4), dtype=np.float32))


# --------------------------------------------------------------------------- GPU kernel


@pytest.fixture
def cp():
    return pytest.importorskip("cupy")


def gpu_check(cp, plan, packed_host, x, *, method="sparse", sparsity=None):
    """Run ``plan`` on a NaN-poisoned output and compare with the reference."""
    x_dev = cp.asarray(x)
    out = cp.full((plan.weights.m,) if x.ndim == 1 else (x.shape[0], plan.weights.m), np.nan,
                  dtype=cp.float32)
    if method == "call":
        result = plan(x_dev, out=out, sparsity=sparsity)
    else:
        result = getattr(plan, method)(x_dev, out=out)
    assert result is out
    y = cp.asnumpy(out)
    assert np.all(np.isfinite(y)), "some outputs were not written"
    _, scale = dense_result(packed_host.decoded().T, x)
    assert np.all(np.abs(y - sparse_gemv_reference(packed_host, x)) <= 4e-6 * scale)
    return y


GPU_SHAPES = [(1, 1), (37, 53), (50, 300), (300, 2049), (1000, 5000), (8, 20000), (4100, 3001)]


@pytest.mark.gpu
@pytest.mark.parametrize("weight_dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize(("m", "n"), GPU_SHAPES)
@pytest.mark.parametrize("s", [0.5, 0.9])
def test_gpu_kernel_matches_reference(cp, weight_dtype, m, n, s):
    rng = np.random.default_rng([m, n, int(10 * s)])
    w, x = random_problem(rng, m, n, s)
    packed = pack_weights(w, weight_dtype)
    gpu_check(cp, SparseGemv(packed), packed, x)


@pytest.mark.gpu
@pytest.mark.parametrize("weight_dtype", ["float32", "float16", "bfloat16"])
def test_gpu_all_zero_and_all_dense_vectors(cp, weight_dtype):
    rng = np.random.default_rng(5)
    w, x = random_problem(rng, 333, 4099, 0.0)
    packed = pack_weights(w, weight_dtype)
    plan = SparseGemv(packed)
    y = gpu_check(cp, plan, packed, np.zeros(4099, dtype=np.float32))
    np.testing.assert_array_equal(y, 0.0)
    gpu_check(cp, plan, packed, x)


@pytest.mark.gpu
@pytest.mark.parametrize("weight_dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("batch", [1, 3, 64])
def test_gpu_batched_per_vector_patterns(cp, weight_dtype, batch):
    rng = np.random.default_rng([6, batch])
    w, x = random_problem(rng, 517, 2500, 0.8, batch=batch)
    x[0] = 0.0
    x[-1] = rng.uniform(0.5, 1.0, 2500).astype(np.float32)
    if batch > 2:
        x[1, :2400] = 0.0
    packed = pack_weights(w, weight_dtype)
    gpu_check(cp, SparseGemv(packed), packed, x)


@pytest.mark.gpu
def test_gpu_dispatch_paths_agree(cp):
    rng = np.random.default_rng(7)
    w, x = random_problem(rng, 4096, 4096, 0.95)
    packed = pack_weights(w)
    plan = SparseGemv(w, sparsity=0.95)
    assert plan.path(cp.asarray(x)) == "sparse"
    assert plan.path(cp.asarray(x), sparsity=0.0) == "dense"
    gpu_check(cp, plan, packed, x, method="call")
    gpu_check(cp, plan, packed, x, method="call", sparsity=0.0)
    gpu_check(cp, plan, packed, x, method="dense")
    gpu_check(cp, SparseGemv(w), packed, x, method="call")  # sparsity measured from x


@pytest.mark.gpu
def test_gpu_repeated_calls_are_bitwise_reproducible(cp):
    """Split-K tickets reset themselves: repeated and interleaved calls give identical bits."""
    rng = np.random.default_rng(8)
    w, x = random_problem(rng, 96, 16384, 0.9, batch=4)
    _, x_other = random_problem(rng, 96, 16384, 0.5, batch=2)
    plan = SparseGemv(w)
    first = cp.asnumpy(plan.sparse(cp.asarray(x)))
    for _ in range(3):
        plan.sparse(cp.asarray(x_other))
        np.testing.assert_array_equal(cp.asnumpy(plan.sparse(cp.asarray(x))), first)
    assert_close(first, w, x)


@pytest.mark.gpu
def test_gpu_rejects_bad_input(cp):
    plan = SparseGemv(np.ones((8, 6), dtype=np.float32))
    x = cp.ones(6, dtype=cp.float32)
    with pytest.raises(TypeError, match="cupy.ndarray"):
        plan.sparse(np.ones(6, dtype=np.float32))
    with pytest.raises(TypeError, match="float32"):
        plan.sparse(x.astype(cp.float64))
    with pytest.raises(ValueError, match="n = 6"):
        plan.sparse(cp.ones(7, dtype=cp.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        plan.sparse(cp.ones(12, dtype=cp.float32)[::2])
    with pytest.raises(ValueError, match="out must have shape"):
        plan.sparse(x, out=cp.empty(7, dtype=cp.float32))
    with pytest.raises(TypeError, match="out must be float32"):
        plan.sparse(x, out=cp.empty(8, dtype=cp.float64))
    with pytest.raises(ValueError, match="sparsity"):
        plan(x, sparsity=2.0)
    with pytest.raises(ValueError, match="no dense path"):
        SparseGemv(np.ones((8, 6), dtype=np.float32), weight_dtype="float16").dense(x)
