"""The GPU backend of the simulation (simulate.gpu) against the CPU one.

Tests marked ``gpu`` need CuPy and a CUDA device (tests/conftest.py skips them cleanly
otherwise). The GPU draws from its own generator (Philox4x32-10 keyed per network), so it
agrees with the CPU backend in distribution, not bit for bit: the comparisons are
statistical, with fixed seeds. Each states its false-failure probability (the probability
that a correct implementation fails it, over the random seed). Within the GPU backend,
results are exact functions of (seed, configuration, sample): those tests are exact.
"""

import shutil
import subprocess

import numpy as np
import pytest
from scipy import stats

from simulate.config import Sweep
from simulate.cpu import simulate_chunk
from simulate.gpu import GpuUnavailableError, gpu_available, simulate_chunk_gpu
from simulate.gpu_kernels import CUDA_SOURCE, KERNELS, compile_options
from simulate.seeding import network_keys

from _stats import assert_scale_covariant, welch_z


def _gpu(sweep, config_index=0, width_index=0, start=0, stop=None):
    cfg = sweep.configs()[config_index]
    return simulate_chunk_gpu(sweep, cfg, sweep.width[width_index], start, sweep.samples if stop is None else stop)


def _cpu(sweep, config_index=0, width_index=0):
    cfg = sweep.configs()[config_index]
    return simulate_chunk(sweep, cfg, sweep.width[width_index], 0, sweep.samples, threads=2)


def _compare(a_out, b_out, names, layers):
    """KS (rounded to 10 decimals: lattice-valued observables compare equal) at each layer;
    for back-propagated norms also Welch tests of P(0) and of the logs of the positive ones."""
    for name in names:
        for layer in layers:
            a, b = np.round(a_out[name][:, layer], 10), np.round(b_out[name][:, layer], 10)
            p = stats.ks_2samp(a, b).pvalue
            assert p > 1e-6, (name, layer + 1, p)
            if name == "back_norm2":  # a dead layer zeroes the error: compare P(0), then logs
                assert abs(welch_z(a == 0, b == 0)) < 5, (name, layer + 1)
                assert abs(welch_z(np.log(a[a > 0]), np.log(b[b > 0]))) < 5, (name, layer + 1)


@pytest.mark.gpu
@pytest.mark.parametrize("activation", ["crelu", "relu_tau"])
@pytest.mark.parametrize("inputs", [1, 2])
def test_gpu_reduced_sampler_agrees_with_the_cpu_in_distribution(activation, inputs):
    """GPU (4000 networks) against CPU (2500, another seed): two-sample KS of q_tilde,
    q_cond, chi1, back_norm2 (and rho) at layers 2, 6 and L, values rounded to 10 decimals
    (chi1 and sparsity are lattice-valued; KS is then conservative); Welch tests at 5 sigma
    of the zero fraction and of the mean log of the positive back-propagated norms. Each
    test rejects at p < 1e-6 (or |z| > 5: 5.7e-7); at most 21 tests per case, so the
    false-failure probability is below 2.1e-5 per case."""
    vprime = None if activation == "relu_tau" else (0.9,)
    common = dict(activation=(activation,), sparsity=(0.7,), q_star=(1.0,), vprime=vprime, width=(24,), depth=10,
                  backward=True, inputs=inputs)
    gpu = _gpu(Sweep(seed=21, samples=4000, **common))
    cpu = _cpu(Sweep(seed=1, samples=2500, **common))
    names = ["q_tilde", "q_cond", "chi1", "back_norm2"] + (["rho"] if inputs == 2 else [])
    _compare(gpu, cpu, names, (1, 5, 9))


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("activation", "vprime"),
    [("relu", None), ("st", None), ("cst", 0.8), ("hardshrink", None), ("chardshrink", 0.3), ("sawtooth", 0.8)],
)
def test_every_activation_agrees_with_the_cpu_in_distribution(activation, vprime):
    """Every kernel_code of theory.FAMILIES: KS of q_tilde, q_cond, chi1 and
    sparsity at layers 2 and 5 (rounded to 10 decimals), GPU (3000 networks) against CPU
    (2000). 8 tests at p < 1e-6: false-failure probability below 8e-6 per activation."""
    sparsity = 0.5 if activation == "relu" else 0.7
    common = dict(activation=(activation,), sparsity=(sparsity,), q_star=(1.3,), width=(20,), depth=5,
                  vprime=None if vprime is None else (vprime,))
    gpu = _gpu(Sweep(seed=5, samples=3000, **common))
    cpu = _cpu(Sweep(seed=6, samples=2000, **common))
    _compare(gpu, cpu, ["q_tilde", "q_cond", "chi1", "sparsity"], (1, 4))


@pytest.mark.gpu
@pytest.mark.parametrize("inputs", [1, 2])
def test_layer_one_is_exactly_gaussian_with_variance_q_star(inputs):
    """q_cond^(1) = q* exactly (and rho^(1) as on the CPU), and N q_tilde^(1) / q* ~ chi^2_N
    (KS test, reject at p < 1e-6: false-failure probability 1e-6)."""
    sweep = Sweep(q_star=(2.5,), vprime=(0.7,), width=(40,), depth=3, samples=20000, seed=11, inputs=inputs)
    out = _gpu(sweep)
    assert np.all(out["q_cond"][:, 0] == 2.5)
    if inputs == 2:
        cpu = _cpu(Sweep(q_star=(2.5,), vprime=(0.7,), width=(40,), depth=3, samples=5, inputs=2))
        np.testing.assert_array_equal(out["rho"][:, 0], cpu["rho"][0, 0])
    p = stats.kstest(40 * out["q_tilde"][:, 0] / 2.5, stats.chi2(40).cdf).pvalue
    assert p > 1e-6


@pytest.mark.gpu
@pytest.mark.parametrize("activation", ["crelu", "relu_tau", "cst"])
def test_conditional_mean_of_q_cond_is_the_variance_map(activation):
    """E[q_cond^(l+1) | layer l] = V(q_cond^(l)) exactly: the mean of the difference is 0
    within 5 standard errors at each of 4 layers, 20000 networks (false-failure
    probability < 2.3e-6)."""
    vprime = None if activation == "relu_tau" else (0.8,)
    sweep = Sweep(activation=(activation,), sparsity=(0.7,), q_star=(1.5,), vprime=vprime, width=(30,), depth=8,
                  samples=20000, seed=3)
    sol = sweep.configs()[0].solution
    out = _gpu(sweep)
    for layer in (1, 3, 5, 7):
        diff = out["q_cond"][:, layer] - sol.variance_map.V(out["q_cond"][:, layer - 1])
        assert abs(diff.mean()) < 5 * diff.std(ddof=1) / np.sqrt(diff.size), layer


@pytest.mark.gpu
@pytest.mark.parametrize("sampler", ["reduced", "dense"])
@pytest.mark.parametrize("inputs", [1, 2])
def test_gpu_results_do_not_depend_on_chunking(sampler, inputs):
    """Same seed, chunks (0, 23) against (0, 7), (7, 8), (8, 23): the reduced kernel gives
    identical arrays; the dense sampler (cuBLAS may pick another algorithm for another
    batch count) agrees to rounding."""
    sweep = Sweep(q_star=(1.0, 2.0), vprime=(0.7,), width=(20, 33), depth=6, samples=23, backward=True,
                  inputs=inputs, sampler=sampler)
    whole = _gpu(sweep, config_index=1, width_index=1)
    parts = [_gpu(sweep, config_index=1, width_index=1, start=a, stop=b) for a, b in ((0, 7), (7, 8), (8, 23))]
    assert set(whole) == {"q_tilde", "q_cond", "chi1", "sparsity", "back_norm2", "diverged_layer"} | (
        {"rho"} if inputs == 2 else set())
    for name, values in whole.items():
        joined = np.concatenate([p[name] for p in parts])
        assert values.dtype == joined.dtype == (np.int32 if name == "diverged_layer" else np.float64)
        assert values.shape == ((23,) if name == "diverged_layer" else (23, 6))
        if sampler == "reduced":
            np.testing.assert_array_equal(values, joined)
        else:
            np.testing.assert_allclose(values, joined, rtol=1e-9, atol=1e-300)


@pytest.mark.gpu
def test_gpu_scale_covariance():
    """SPEC.md: the streams are keyed by (seed, width, sample) only, so with the same seed a
    q* = 3 network is the q* = 1 network times sqrt(3) on the GPU too."""
    base = dict(activation=("crelu",), sparsity=(0.85,), vprime=(0.7,), width=(50,), depth=12, samples=40, seed=5,
                backward=True)
    one = _gpu(Sweep(q_star=(1.0,), **base))
    three = _gpu(Sweep(q_star=(3.0,), **base))
    assert_scale_covariant(one, three, 3.0)


@pytest.mark.gpu
@pytest.mark.parametrize("inputs", [1, 2])
def test_gpu_dense_and_reduced_samplers_agree(inputs):
    """GPU dense (explicit weights, cuBLAS) against GPU reduced, independent seeds, 2500
    networks each: the same KS / Welch tests as against the CPU at layers 2, 6, L (at most
    21 tests, false-failure probability below 2.1e-5 per case). With one seed the two
    samplers share layer 1 (the same draws)."""
    common = dict(activation=("crelu",), sparsity=(0.7,), q_star=(1.0,), vprime=(0.9,), width=(24,), depth=10,
                  samples=2500, backward=True, inputs=inputs)
    reduced = _gpu(Sweep(sampler="reduced", seed=1, **common))
    dense = _gpu(Sweep(sampler="dense", seed=2, **common))
    names = ["q_tilde", "q_cond", "chi1", "back_norm2"] + (["rho"] if inputs == 2 else [])
    _compare(reduced, dense, names, (1, 5, 9))
    same = _gpu(Sweep(sampler="dense", seed=1, **common))
    np.testing.assert_allclose(same["q_tilde"][:, 0], reduced["q_tilde"][:, 0], rtol=1e-13)
    np.testing.assert_allclose(same["q_cond"][:, :2], reduced["q_cond"][:, :2], rtol=1e-13)


@pytest.mark.gpu
def test_gpu_comparison_has_power():
    """The comparison detects a back-propagation whose per-layer gain is 5% off (a 1.05^9
    rescaling at layer 1): |z| > 5 on the log norms, GPU (20000 networks) against CPU
    (10000). The log norms have standard deviation ~3, so the shift is ~12 standard errors:
    the test fails only if the unshifted |z| exceeds 5 (5.7e-7) or ~7 against the shift."""
    common = dict(activation=("crelu",), sparsity=(0.7,), q_star=(1.0,), vprime=(0.9,), width=(24,), depth=10,
                  backward=True)
    gpu = _gpu(Sweep(seed=21, samples=20000, **common))
    cpu = _cpu(Sweep(seed=1, samples=10000, **common))
    g, c = gpu["back_norm2"][:, 0], cpu["back_norm2"][:, 0]
    logs_g, logs_c = np.log(g[g > 0]), np.log(c[c > 0])
    assert abs(welch_z(logs_g, logs_c)) < 5
    assert abs(welch_z(logs_g + 9 * np.log(1.05), logs_c)) > 5


@pytest.mark.gpu
@pytest.mark.parametrize("sampler", ["reduced", "dense"])
def test_relu_tau_at_the_eoc_diverges_and_is_recorded(sampler):
    """As on the CPU: q grows until it overflows; inf/nan and the layer are recorded."""
    sweep = Sweep(activation=("relu_tau",), sparsity=(0.7,), q_star=(1.0,), vprime=None, width=(16,), depth=3000,
                  samples=6, seed=0, sampler=sampler)
    out = _gpu(sweep)
    layers = out["diverged_layer"]
    assert layers.dtype == np.int32 and np.any(layers > 0)
    for k, layer in enumerate(layers):
        if layer:
            assert np.all(np.isfinite(out["q_cond"][k, : layer - 1]))
            assert not np.isfinite(out["q_cond"][k, layer - 1])
            assert not np.any(np.isfinite(out["q_cond"][k, layer - 1 :]) & (out["q_cond"][k, layer - 1 :] < 1e300))


# ---------------------------------------------------------------- the generator

_KAT = [  # Random123 kat_vectors, philox4x32 10: counter words, key words, output
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def _philox_numpy(counters, keys):
    """Philox4x32-10 in NumPy (reference for the kernel): counters (n, 4), keys (n, 2)."""
    mask = np.uint64(0xFFFFFFFF)
    c = [np.asarray(counters, np.uint64)[:, i] for i in range(4)]
    k0, k1 = (np.asarray(keys, np.uint64)[:, i] for i in range(2))
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c[0]
        p1 = np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & mask]
        k0 = (k0 + np.uint64(0x9E3779B9)) & mask
        k1 = (k1 + np.uint64(0xBB67AE85)) & mask
    return np.stack(c, axis=1).astype(np.uint32)


def _normals_numpy(words):
    """Box-Muller of the kernel's normal2 from Philox words (n, 4)."""
    w = words.astype(np.float64)
    scale = 1.0 / 9007199254740992.0
    u1 = 1.0 - (np.floor(w[:, 0] / 32) * 67108864.0 + np.floor(w[:, 1] / 64)) * scale
    u2 = (np.floor(w[:, 2] / 32) * 67108864.0 + np.floor(w[:, 3] / 64)) * scale
    r = np.sqrt(-2.0 * np.log(u1))
    return np.stack([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)], axis=1)


def test_numpy_philox_reference_matches_random123():
    """The NumPy reference used below reproduces Random123's known-answer vectors."""
    for counter, key, expected in _KAT:
        assert tuple(_philox_numpy([counter], [key])[0]) == expected


@pytest.mark.gpu
def test_gpu_generator_is_philox4x32_10_with_box_muller():
    """The kernel's Philox words equal Random123's known answers and the NumPy reference;
    its normals equal Box-Muller of them to 1e-12; 10^6 of them pass a KS test against
    N(0, 1) (p < 1e-6: false-failure probability 1e-6)."""
    import cupy

    from simulate.gpu_kernels import kernels

    k = kernels()
    rows = np.array([list(c) + list(key) for c, key, _ in _KAT], np.uint32)
    out = cupy.empty((len(_KAT), 4), cupy.uint32)
    k["philox_words"]((1,), (32,), (cupy.asarray(rows), out, np.int32(len(_KAT))))
    assert [tuple(r) for r in cupy.asnumpy(out)] == [e for _, _, e in _KAT]

    n = 500_000
    key = network_keys(0, 100, 7, 8)[0]
    rows = np.zeros((n, 6), np.uint32)
    rows[:, 0] = np.arange(n) % 1000
    rows[:, 1] = np.arange(n) // 1000
    rows[:, 4:] = key
    normals = cupy.empty((n, 2))
    k["philox_normals"](((n + 255) // 256,), (256,), (cupy.asarray(rows), normals, np.int32(n)))
    normals = cupy.asnumpy(normals)
    expected = _normals_numpy(_philox_numpy(rows[:, :4], rows[:, 4:]))
    np.testing.assert_allclose(normals, expected, rtol=1e-12, atol=1e-12)
    assert stats.kstest(normals.ravel(), stats.norm.cdf).pvalue > 1e-6


# ---------------------------------------------------------------- without a device


@pytest.mark.skipif(gpu_available(), reason="a CUDA device is available")
def test_without_a_device_the_gpu_backend_says_why():
    assert gpu_available() is False
    sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=(10,), depth=3, samples=2)
    with pytest.raises(GpuUnavailableError, match="CuPy|CUDA device"):
        simulate_chunk_gpu(sweep, sweep.configs()[0], 10, 0, 2)
    dense = Sweep(q_star=(1.0,), vprime=(0.7,), width=(10,), depth=3, samples=2, sampler="dense", weights="orthogonal")
    with pytest.raises(NotImplementedError, match="orthogonal"):
        simulate_chunk_gpu(dense, dense.configs()[0], 10, 0, 2)


def test_network_keys_depend_on_seed_width_and_sample_only():
    """The vectorised keys are SeedSequence([seed, width, sample]).generate_state(2, uint32)."""
    keys = network_keys(3, 50, 0, 10)
    assert keys.dtype == np.uint32 and keys.shape == (10, 2)
    for seed, width, start in ((3, 50, 0), (2**40 + 1, 300, 10**6), (0, 7, 2**32 - 2)):
        expected = [np.random.SeedSequence([seed, width, s]).generate_state(2, np.uint32) for s in range(start, start + 5)]
        np.testing.assert_array_equal(network_keys(seed, width, start, start + 5), expected)
    np.testing.assert_array_equal(network_keys(3, 50, 4, 7), keys[4:7])
    assert len({tuple(k) for k in keys}) == 10
    assert not np.array_equal(network_keys(4, 50, 0, 10), keys)
    assert not np.array_equal(network_keys(3, 51, 0, 10), keys)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
def test_cuda_source_compiles_with_nvcc(tmp_path):
    """The kernel source compiles for sm_90 with nvcc (CuPy compiles it with NVRTC)."""
    source = tmp_path / "simulate_gpu.cu"
    source.write_text(CUDA_SOURCE)
    ptx = tmp_path / "simulate_gpu.ptx"
    result = subprocess.run(
        ["nvcc", "-arch=sm_90", "--ptx", *compile_options(), "-o", str(ptx), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    text = ptx.read_text()
    for name in KERNELS:
        assert f".entry {name}(" in text, name
