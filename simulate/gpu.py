"""The depth-sweep simulation on an NVIDIA GPU (CuPy): ``simulate_chunk_gpu``.

Same contract as :func:`simulate.cpu.simulate_chunk` (keys, shapes, dtypes and the
definitions of SPEC.md, "What a simulation measures"; every observable refers to input
0; ``diverged_layer`` is the first layer whose ``q_cond`` is not finite, 0 if none),
float64 throughout. CuPy is optional: this module imports without it, and
:func:`gpu_available` says whether a device can be used.

The kernels are CUDA files, ``simulate/cuda/`` (loaded and launched by
:mod:`simulate.gpu_kernels`); this module is the host side.

Reduced sampler (``sweep.sampler == "reduced"``): one fused kernel, ``sim_reduced``
(``simulate/cuda/samplers.cu``). One thread block per network loops over the layers
exactly as :func:`simulate.kernels.reduced_network` does (its docstring has the
derivation): given
the conditional covariance ``G`` of layer ``l``, every thread draws its share of the
``N`` rows ``h_j = chol(G) z_j``, accumulates ``sum h^2``, ``sum phi'^2``, the zero
count and ``sum phi(h_a) phi(h_b)`` (a warp-shuffle then shared-memory reduction in a
fixed order), and every thread forms the next ``G`` from the totals. With
``sweep.backward`` the pre-activations of every layer are stored in global memory
(``chunk x depth x width x B`` floats) with the covariances (``chunk x depth x 3``), and
the same block back-propagates a random unit vector from layer ``L`` by Matheron's rule
with the pseudo-inverse of ``G`` (exactly :func:`simulate.kernels._solve_psd`).

Dense sampler (``sweep.sampler == "dense"``): explicit Gaussian weight matrices, the
layer products by cuBLAS through ``cupy.matmul`` batched over the chunk's networks
(``(S, N, N) @ (S, N, B)``, ``S`` limited so that the weights of one batch take at most
:data:`DENSE_BATCH_BYTES`). The weights are drawn by a kernel from the network's own
stream, so the backward pass regenerates them instead of storing ``L N^2`` floats per
network. Orthogonal weights are not implemented on the GPU (``NotImplementedError``).

Random numbers. Each network has its own 64-bit key, from
``SeedSequence([seed, width, sample]).generate_state(2, uint32)``
(:func:`simulate.seeding.network_keys`): the same (seed, width, sample) as
:func:`simulate.seeding.network_rng`, never the configuration or the chunk. Every normal
is a pure function of (key, what it is for, layer, neuron index): a counter-based
Philox4x32-10 generator (Salmon et al. 2011, the Random123 / cuRAND ``Philox4_32_10``
round function and constants; checked against Random123's known-answer vectors) turns
one counter ``(index, layer, purpose, row)`` into four 32-bit words, hence two 53-bit
uniforms, hence two standard normals by Box-Muller. The generator is written out in
``simulate/cuda/philox.cuh`` instead of ``#include <curand_kernel.h>`` so that the kernel
compiles under NVRTC (CuPy) and nvcc without the cuRAND headers (which pip-installed
CuPy and this project's CUDA toolkit do not carry) and so that a draw does not depend on
which thread makes it. Consequences:

* GPU results depend only on (seed, configuration, sample): they are identical, bit for
  bit, whatever the chunking (the block size depends on the width and the number of
  inputs only). As on the CPU, all configurations see the same draws (common random
  numbers), so the scale covariance of SPEC.md holds on the GPU to rounding.
* GPU results are NOT bit-identical to the CPU backend (a different generator, and a
  different summation order): the two agree in distribution, which
  ``tests/test_simulate.py`` checks (two-sample KS and Welch tests) and
  ``python -m gpu.device_check.samplers`` measures.
* The Box-Muller uniforms are multiples of ``2^-53`` in ``(0, 1]``, so ``|z| <= 8.57``:
  the same truncation as cuRAND's ``curand_normal2_double`` (probability ~1e-17).
* The dense sampler's layer 1 uses the reduced sampler's draws, so for one seed both
  samplers have the same first layer; the weights are separate streams.

Divergence (ReLU_tau at the EoC): ``inf``/``nan`` propagate through the kernels exactly
as on the CPU (``phi`` uses the CPU's ``max``/``min`` semantics), nothing stops early.
"""

from __future__ import annotations

import math

import numpy as np

from gpu.backend import GpuUnavailableError, gpu_available
from simulate import gpu_kernels as gk
from simulate.config import NetworkConfig, Sweep
from simulate.observables import recorded
from simulate.gpu_kernels import require_cupy
from simulate.seeding import network_keys

__all__ = ["DENSE_BATCH_BYTES", "GpuUnavailableError", "gpu_available", "simulate_chunk_gpu"]

#: largest size of one batch of dense weight matrices, bytes
DENSE_BATCH_BYTES = 1 << 30


def simulate_chunk_gpu(sweep: Sweep, config: NetworkConfig, width: int, start: int, stop: int) -> dict[str, np.ndarray]:
    """Observables of networks ``start..stop-1`` on the GPU, as
    :func:`simulate.cpu.simulate_chunk`: float64 arrays ``(stop - start, depth)`` and
    ``diverged_layer`` int32 ``(stop - start,)``. Raises :class:`GpuUnavailableError`
    without CuPy or a device, ``NotImplementedError`` for orthogonal weights."""
    if sweep.sampler == "dense" and sweep.weights != "gaussian":
        raise NotImplementedError(
            f"the GPU dense sampler draws Gaussian weights only (weights={sweep.weights!r}); "
            "run orthogonal weights on the CPU backend (simulate.cpu.simulate_chunk)"
        )
    cupy = require_cupy()
    n, depth = stop - start, sweep.depth
    names = recorded(sweep)
    if n <= 0:
        result = {name: np.empty((0, depth)) for name in names}
        result["diverged_layer"] = np.zeros(0, np.int32)
        return result
    keys = cupy.asarray(network_keys(sweep.seed, width, start, stop))
    out = {name: cupy.full((n, depth), cupy.nan) for name in names}
    if sweep.sampler == "reduced":
        _reduced(cupy, sweep, config, width, keys, out)
    else:
        _dense(cupy, sweep, config, width, keys, out)
    result = {name: cupy.asnumpy(out[name]) for name in names}
    bad = ~np.isfinite(result["q_cond"])
    result["diverged_layer"] = np.where(bad.any(axis=1), bad.argmax(axis=1) + 1, 0).astype(np.int32)
    return result


def _check_memory(cupy, nbytes: int, what: str):
    free, _ = cupy.cuda.runtime.memGetInfo()
    free += cupy.get_default_memory_pool().free_bytes()  # cached by CuPy, reusable
    if nbytes > free:
        raise MemoryError(
            f"the GPU {what} needs {nbytes / 2**30:.2f} GiB of device memory, {free / 2**30:.2f} GiB are free: "
            "use smaller chunks (Sweep.chunk)"
        )


def _reduced(cupy, sweep, config, width, keys, out):
    n, depth, inputs = keys.shape[0], sweep.depth, sweep.inputs
    dummy = cupy.empty(1)
    if sweep.backward:
        _check_memory(cupy, 8 * n * (depth * width * inputs + 3 * depth + 2 * width), "backward pass")
        hs = cupy.empty((n, depth, width, inputs))
        gs = cupy.empty((n, depth, 3))
        work = cupy.empty((n, 2, width))
    else:
        hs = gs = work = dummy
    gk.sim_reduced(gk.kernels(), keys, depth, width, inputs, gk.activation_args(config), config.solution,
                   sweep.rho0, sweep.backward, out, hs, gs, work, dummy)


def _dense(cupy, sweep, config, width, keys, out):
    """Explicit weights, ``S`` networks at a time (the weights of one batch fit in
    :data:`DENSE_BATCH_BYTES`; with ``backward`` the pre-activations of every layer too)."""
    sol = config.solution
    k = gk.kernels()
    n, depth, inputs = keys.shape[0], sweep.depth, sweep.inputs
    act = gk.activation_args(config)
    sw2, sb2, q_star = float(sol.sigma_w2), float(sol.sigma_b2), float(sol.q_star)
    per_network = 8 * (width * width + width + 4 * width * inputs + (depth * width * inputs if sweep.backward else 0))
    batch = max(1, min(n, DENSE_BATCH_BYTES // per_network))
    _check_memory(cupy, batch * per_network, "dense sampler")
    g00, g01, g11 = q_star, sweep.rho0 * q_star, q_star
    l00 = math.sqrt(g00)
    l10 = g01 / l00
    l11 = math.sqrt(max(g11 - l10 * l10, 0.0))
    out["q_cond"][:, 0] = g00
    if inputs == 2:
        out["rho"][:, 0] = g01 / math.sqrt(g00 * g11)
    dummy = cupy.empty(1)
    block = gk.threads_per_block(width, 2)  # a row per thread in dense_observe
    for a in range(0, n, batch):
        b = min(n, a + batch)
        s = b - a
        kb = keys[a:b]
        view = {name: out[name][a:b] for name in out}  # contiguous row blocks
        hs = cupy.empty((depth if sweep.backward else 1, s, width, inputs))
        x = cupy.empty((s, width, inputs))
        w = cupy.empty((s, width, width))
        bias = cupy.empty((s, width))
        h = hs[0]
        gk.dense_first_layer(k, kb, width, inputs, l00, l10, l11, h)
        for layer in range(depth):
            gk.dense_observe(k, depth, width, inputs, layer, act, sw2, sb2, h, x, view, dummy, block)
            if layer + 1 == depth:
                break
            gk.dense_weights(k, kb, width, layer + 1, sw2, math.sqrt(sb2), w, bias)
            nxt = hs[layer + 1] if sweep.backward else hs[0]
            cupy.matmul(w, x, out=nxt)  # writes nxt, the next layer's pre-activations
            nxt += bias[:, :, None]
            h = nxt
        if sweep.backward:
            _dense_backward(cupy, k, sweep, width, kb, hs, w, act, sw2, view["back_norm2"])


def _dense_backward(cupy, k, sweep, width, kb, hs, w, act, sw2, back_norm2):
    s, depth, inputs = kb.shape[0], sweep.depth, sweep.inputs
    delta = cupy.empty((s, width))
    gk.dense_delta(k, kb, width, depth, delta)
    delta /= cupy.sqrt(cupy.sum(delta * delta, axis=1, keepdims=True))
    back_norm2[:, depth - 1] = 1.0
    v = cupy.empty((s, width, 1))
    bias = cupy.empty((s, width))  # drawn again with the weights, unused
    for layer in range(depth - 1, 0, -1):
        gk.dense_weights(k, kb, width, layer, sw2, 0.0, w, bias)
        cupy.matmul(w.transpose(0, 2, 1), delta[:, :, None], out=v)  # writes v = W^T delta
        gk.dense_mask(k, width, inputs, act, hs[layer - 1], v, delta)
        back_norm2[:, layer - 1] = cupy.sum(delta * delta, axis=1)
