"""The depth-sweep simulation on an NVIDIA GPU (CuPy): ``simulate_chunk_gpu``.

Same contract as :func:`simulate.engine.simulate_chunk` (keys, shapes, dtypes and the
definitions of SPEC.md, "What a simulation measures"; every observable refers to input
0; ``diverged_layer`` is the first layer whose ``q_cond`` is not finite, 0 if none),
float64 throughout. CuPy is optional: this module imports without it, and
:func:`gpu_available` says whether a device can be used.

Reduced sampler (``sweep.sampler == "reduced"``): one fused kernel, :data:`CUDA_SOURCE`,
``sim_reduced``. One thread block per network loops over the layers exactly as
:func:`simulate.kernels.reduced_network` does (its docstring has the derivation): given
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
``SeedSequence([seed, width, sample]).generate_state(2, uint32)`` (:func:`network_keys`):
the same (seed, width, sample) as :func:`simulate.seeding.network_rng`, never the
configuration or the chunk. Every normal is a pure function of (key, what it is for,
layer, neuron index): a counter-based Philox4x32-10 generator (Salmon et al. 2011, the
Random123 / cuRAND ``Philox4_32_10`` round function and constants; checked against
Random123's known-answer vectors) turns one counter ``(index, layer, purpose, row)`` into
four 32-bit words, hence two 53-bit uniforms, hence two standard normals by Box-Muller.
The generator is written out in the source instead of ``#include <curand_kernel.h>`` so
that the kernel compiles under NVRTC (CuPy) and nvcc without the cuRAND headers (which
pip-installed CuPy and this project's CUDA toolkit do not carry) and so that a draw does
not depend on which thread makes it. Consequences:

* GPU results depend only on (seed, configuration, sample): they are identical, bit for
  bit, whatever the chunking (the block size depends on the width and the number of
  inputs only). As on the CPU, all configurations see the same draws (common random
  numbers), so the scale covariance of SPEC.md holds on the GPU to rounding.
* GPU results are NOT bit-identical to the CPU backend (a different generator, and a
  different summation order): the two agree in distribution, which
  ``tests/test_simulate_gpu.py`` checks (two-sample KS and Welch tests).
* The Box-Muller uniforms are multiples of ``2^-53`` in ``(0, 1]``, so ``|z| <= 8.57``:
  the same truncation as cuRAND's ``curand_normal2_double`` (probability ~1e-17).
* The dense sampler's layer 1 uses the reduced sampler's draws, so for one seed both
  samplers have the same first layer; the weights are separate streams.

Divergence (ReLU_tau at the EoC): ``inf``/``nan`` propagate through the kernels exactly
as on the CPU (``phi`` uses the CPU's ``max``/``min`` semantics), nothing stops early.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from gpu.backend import GpuUnavailableError, gpu_available, optional_cupy
from gpu.backend import require_cupy as _require_cupy
from simulate.config import NetworkConfig, Sweep
from simulate.engine import variables
from simulate.kernels import activation_code

#: threads per block of the per-network kernels (a multiple of 32, at most 256)
MAX_THREADS = 256
#: largest size of one batch of dense weight matrices, bytes
DENSE_BATCH_BYTES = 1 << 30
#: Philox counter word 2: what a draw is for (the streams never overlap)
PURPOSES = {"forward": 0, "delta": 1, "back_g": 2, "beta": 3, "weight": 4, "bias": 5}

CUDA_SOURCE = r"""
// simulate/gpu.py: the reduced and dense samplers of the depth sweep, float64.
// Compiles under NVRTC (CuPy) and nvcc alike: no #include, only built-in math.
#ifndef SIM_MAX_THREADS
#define SIM_MAX_THREADS 256
#endif
#if SIM_MAX_THREADS % 32 != 0 || SIM_MAX_THREADS > 1024
#error "SIM_MAX_THREADS must be a multiple of 32, at most 1024"
#endif
#define SIM_MAX_WARPS (SIM_MAX_THREADS / 32)
#define SIM_MAX_SUMS 6

#define P_FORWARD 0u
#define P_DELTA 1u
#define P_BACK_G 2u
#define P_BETA 3u
#define P_WEIGHT 4u
#define P_BIAS 5u

typedef unsigned int u32;
typedef unsigned long long u64;

// ---------------------------------------------------------------- Philox4x32-10
// Salmon, Moraes, Dror, Shaw (SC 2011); the constants of Random123 and cuRAND.
struct Words { u32 x, y, z, w; };

__device__ __forceinline__ Words philox4x32_10(Words c, u32 k0, u32 k1)
{
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        const u32 lo0 = 0xD2511F53u * c.x, hi0 = __umulhi(0xD2511F53u, c.x);
        const u32 lo1 = 0xCD9E8D57u * c.z, hi1 = __umulhi(0xCD9E8D57u, c.z);
        Words n;
        n.x = hi1 ^ c.y ^ k0;
        n.y = lo1;
        n.z = hi0 ^ c.w ^ k1;
        n.w = lo0;
        c = n;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

// A multiple of 2^-53 in [0, 1) from 27 + 26 random bits.
__device__ __forceinline__ double uniform53(u32 a, u32 b)
{
    return ((double)(a >> 5) * 67108864.0 + (double)(b >> 6)) * (1.0 / 9007199254740992.0);
}

// Two independent standard normals (Box-Muller) from the counter (index, layer, purpose, row).
__device__ __forceinline__ void normal2(u32 k0, u32 k1, u32 index, u32 layer, u32 purpose, u32 row,
                                        double* z0, double* z1)
{
    Words c;
    c.x = index;
    c.y = layer;
    c.z = purpose;
    c.w = row;
    const Words r = philox4x32_10(c, k0, k1);
    const double u1 = 1.0 - uniform53(r.x, r.y);  // (0, 1]
    const double u2 = uniform53(r.z, r.w);
    const double radius = sqrt(-2.0 * log(u1));
    double s, co;
    sincospi(2.0 * u2, &s, &co);
    *z0 = radius * co;
    *z1 = radius * s;
}

// Philox words for the known-answer test, and normals for the generator test.
extern "C" __global__ void philox_words(const u32* __restrict__ input, u32* __restrict__ output, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    Words c;
    c.x = input[6 * i];
    c.y = input[6 * i + 1];
    c.z = input[6 * i + 2];
    c.w = input[6 * i + 3];
    const Words r = philox4x32_10(c, input[6 * i + 4], input[6 * i + 5]);
    output[4 * i] = r.x;
    output[4 * i + 1] = r.y;
    output[4 * i + 2] = r.z;
    output[4 * i + 3] = r.w;
}

extern "C" __global__ void philox_normals(const u32* __restrict__ input, double* __restrict__ output, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    normal2(input[6 * i + 4], input[6 * i + 5], input[6 * i], input[6 * i + 1], input[6 * i + 2],
            input[6 * i + 3], &output[2 * i], &output[2 * i + 1]);
}

// ---------------------------------------------------------------- activations
// simulate.kernels.phi / dphi, the same definitions and the CPU's max/min semantics
// (max(a, b) = a unless b > a), so inf/nan propagate as on the CPU.
struct Act { int code; double p0, p1, p2, p3; };

__device__ __forceinline__ Act make_act(int code, double p0, double p1, double p2, double p3)
{
    Act a;
    a.code = code;
    a.p0 = p0;
    a.p1 = p1;
    a.p2 = p2;
    a.p3 = p3;
    return a;
}

__device__ __forceinline__ double pmax(double a, double b) { return b > a ? b : a; }
__device__ __forceinline__ double pmin(double a, double b) { return b < a ? b : a; }

__device__ __forceinline__ double act_phi(const Act& a, double x)
{
    switch (a.code) {
    case 0:
        return pmax(x - a.p0, 0.0);
    case 1: {
        const double v = pmax(fabs(x) - a.p0, 0.0);
        return x >= 0 ? v : -v;
    }
    case 2:
        return pmin(pmax(x - a.p0, 0.0), a.p1);
    case 3: {
        const double v = pmin(pmax(fabs(x) - a.p0, 0.0), a.p1);
        return x >= 0 ? v : -v;
    }
    case 4:
    case 5: {
        const double xx = a.code == 5 ? pmin(x, a.p3) : x;
        return a.p1 * pmin(pmax(xx - a.p0 + a.p2, 0.0), 2 * a.p2) + pmax(xx - a.p0 - a.p2, 0.0);
    }
    default:
        return pmax(a.p1 - fabs(x - a.p0), 0.0);
    }
}

__device__ __forceinline__ double act_dphi(const Act& a, double x)
{
    switch (a.code) {
    case 0:
        return x > a.p0 ? 1.0 : 0.0;
    case 1:
        return fabs(x) > a.p0 ? 1.0 : 0.0;
    case 2:
        return (a.p0 < x && x < a.p0 + a.p1) ? 1.0 : 0.0;
    case 3:
        return (a.p0 < fabs(x) && fabs(x) < a.p0 + a.p1) ? 1.0 : 0.0;
    case 4:
    case 5:
        if (a.code == 5 && x > a.p3) return 0.0;
        if (x < a.p0 - a.p2) return 0.0;
        return x <= a.p0 + a.p2 ? a.p1 : 1.0;
    default: {
        const double d = x - a.p0;
        if (fabs(d) < a.p1) return d > 0 ? -1.0 : 1.0;
        return 0.0;
    }
    }
}

// ---------------------------------------------------------------- block sums
// Sum K values over the block in a fixed order (warp shuffles, then warp 0 adds the
// warps in order); every thread gets the totals. blockDim.x: a multiple of 32.
template <int K>
__device__ __forceinline__ void block_sum(double (&v)[K], double (*red)[SIM_MAX_SUMS], double* tot)
{
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
#pragma unroll
    for (int k = 0; k < K; ++k) {
        double s = v[k];
#pragma unroll
        for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_down_sync(0xffffffffu, s, offset);
        v[k] = s;
    }
    if (lane == 0) {
#pragma unroll
        for (int k = 0; k < K; ++k) red[warp][k] = v[k];
    }
    __syncthreads();
    if (threadIdx.x < K) {
        double s = 0.0;
        for (int w = 0; w < warps; ++w) s += red[w][threadIdx.x];
        tot[threadIdx.x] = s;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < K; ++k) v[k] = tot[k];
}

// Per-row sums of one layer for input 0 (and the Gram sums of both inputs):
// s = {sum h0^2, sum phi'(h0)^2, #zeros of phi(h0), sum f0^2, sum f0 f1, sum f1^2}.
template <int B>
__device__ __forceinline__ void accumulate(const Act& act, double h0, double h1, double* s)
{
    const double f0 = act_phi(act, h0);
    const double d = act_dphi(act, h0);
    s[0] += h0 * h0;
    s[1] += d * d;
    s[2] += f0 == 0.0 ? 1.0 : 0.0;
    s[3] += f0 * f0;
    if (B == 2) {
        const double f1 = act_phi(act, h1);
        s[4] += f0 * f1;
        s[5] += f1 * f1;
    }
}

// simulate.kernels._chol2
__device__ __forceinline__ void chol2(double g00, double g01, double g11, double* l00, double* l10, double* l11)
{
    *l00 = sqrt(g00);
    *l10 = *l00 > 0 ? g01 / *l00 : 0.0;
    *l11 = sqrt(pmax(g11 - *l10 * *l10, 0.0));
}

// simulate.kernels._solve_psd: y = G^+ c for the (at most 2x2) PSD G.
template <int B>
__device__ __forceinline__ void solve_psd(double g00, double g01, double g11, double c0, double c1,
                                          double* y0, double* y1)
{
    if (B == 1) {
        *y0 = g00 > 0 ? c0 / g00 : 0.0;
        *y1 = 0.0;
        return;
    }
    const double trace = g00 + g11;
    const double det = g00 * g11 - g01 * g01;
    if (det > 1e-10 * trace * trace) {
        *y0 = (g11 * c0 - g01 * c1) / det;
        *y1 = (g00 * c1 - g01 * c0) / det;
        return;
    }
    if (trace == 0.0) {
        *y0 = 0.0;
        *y1 = 0.0;
        return;
    }
    const double inv = 1.0 / (trace * trace);  // rank one: G^+ = G / trace^2
    *y0 = inv * (g00 * c0 + g01 * c1);
    *y1 = inv * (g01 * c0 + g11 * c1);
}

// ---------------------------------------------------------------- reduced sampler
// One block per network (blockIdx.x), looping over the layers (simulate.kernels).
// Row j of a layer: B == 1, draw pair c gives rows 2c and 2c + 1; B == 2, draw c gives
// row c (both inputs). Outputs are (networks, depth) row-major; hs (networks, depth,
// width, B), gs (networks, depth, 3) and work (networks, 2, width) only with backward.
template <int B>
__device__ void reduced_network(u32 k0, u32 k1, int depth, int width, const Act& act, double sw2,
                                double sb2, double q_star, double rho0, int backward,
                                double* __restrict__ q_tilde, double* __restrict__ q_cond,
                                double* __restrict__ chi1, double* __restrict__ sparsity,
                                double* __restrict__ rho, double* __restrict__ back_norm2,
                                double* __restrict__ hs, double* __restrict__ gs, double* __restrict__ work,
                                double (*red)[SIM_MAX_SUMS], double* tot)
{
    const int tid = threadIdx.x;
    const int nthreads = blockDim.x;
    const u64 net = blockIdx.x;
    const u64 row = net * (u64)depth;
    const u64 layer_size = (u64)width * B;
    double* h_net = backward ? hs + net * (u64)depth * layer_size : 0;
    double* g_net = backward ? gs + row * 3 : 0;
    const int items = B == 1 ? (width + 1) / 2 : width;

    double g00 = q_star, g01 = rho0 * q_star, g11 = q_star;
    for (int layer = 0; layer < depth; ++layer) {
        if (tid == 0) {
            q_cond[row + layer] = g00;
            if (B == 2) rho[row + layer] = g01 / sqrt(g00 * g11);
            if (backward) {
                g_net[3 * layer] = g00;
                g_net[3 * layer + 1] = g01;
                g_net[3 * layer + 2] = g11;
            }
        }
        double l00, l10, l11;
        if (B == 1) {
            l00 = sqrt(g00);
            l10 = 0.0;
            l11 = 0.0;
        } else {
            chol2(g00, g01, g11, &l00, &l10, &l11);
        }
        double* h_layer = backward ? h_net + (u64)layer * layer_size : 0;
        double s[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
        for (int c = tid; c < items; c += nthreads) {
            double z0, z1;
            normal2(k0, k1, (u32)c, (u32)layer, P_FORWARD, 0u, &z0, &z1);
            if (B == 1) {
                const double ha = l00 * z0;
                const double hb = l00 * z1;
                accumulate<1>(act, ha, 0.0, s);
                if (backward) h_layer[2 * c] = ha;
                if (2 * c + 1 < width) {
                    accumulate<1>(act, hb, 0.0, s);
                    if (backward) h_layer[2 * c + 1] = hb;
                }
            } else {
                const double h0 = l00 * z0;
                const double h1 = l10 * z0 + l11 * z1;
                accumulate<2>(act, h0, h1, s);
                if (backward) {
                    h_layer[2 * c] = h0;
                    h_layer[2 * c + 1] = h1;
                }
            }
        }
        if (B == 1) {
            double t[4] = {s[0], s[1], s[2], s[3]};
            block_sum<4>(t, red, tot);
            s[0] = t[0]; s[1] = t[1]; s[2] = t[2]; s[3] = t[3];
        } else {
            block_sum<6>(s, red, tot);
        }
        if (tid == 0) {
            q_tilde[row + layer] = s[0] / width;
            chi1[row + layer] = sw2 * s[1] / width;
            sparsity[row + layer] = s[2] / width;
        }
        g00 = sw2 * s[3] / width + sb2;
        if (B == 2) {
            g01 = sw2 * s[4] / width + sb2;
            g11 = sw2 * s[5] / width + sb2;
        }
    }
    if (!backward) return;

    // Conditional back-propagation (simulate.kernels._backward). Thread tid owns rows
    // 2c, 2c + 1 for c = tid, tid + nthreads, ...: delta and g of its rows live in work.
    __syncthreads();
    const int pairs = (width + 1) / 2;
    double* delta = work + net * 2 * (u64)width;
    double* zg = delta + width;
    {
        double t[1] = {0.0};
        for (int c = tid; c < pairs; c += nthreads) {
            double z[2];
            normal2(k0, k1, (u32)c, (u32)(depth - 1), P_DELTA, 0u, &z[0], &z[1]);
            for (int e = 0; e < 2 && 2 * c + e < width; ++e) {
                delta[2 * c + e] = z[e];
                t[0] += z[e] * z[e];
            }
        }
        block_sum<1>(t, red, tot);
        const double norm = sqrt(t[0]);
        for (int c = tid; c < pairs; c += nthreads)
            for (int e = 0; e < 2 && 2 * c + e < width; ++e) delta[2 * c + e] /= norm;
    }
    if (tid == 0) back_norm2[row + depth - 1] = 1.0;
    const double scale = sw2 / width;
    for (int layer = depth - 1; layer >= 1; --layer) {
        const double* h_now = h_net + (u64)layer * layer_size;
        const double* h_prev = h_net + (u64)(layer - 1) * layer_size;
        // {|delta|^2, H^T delta (B), X^T z (B)}, g = sd_g z
        double t[1 + 2 * B];
#pragma unroll
        for (int k = 0; k < 1 + 2 * B; ++k) t[k] = 0.0;
        for (int c = tid; c < pairs; c += nthreads) {
            double z[2];
            normal2(k0, k1, (u32)c, (u32)layer, P_BACK_G, 0u, &z[0], &z[1]);
            for (int e = 0; e < 2 && 2 * c + e < width; ++e) {
                const int j = 2 * c + e;
                const double d = delta[j];
                zg[j] = z[e];
                t[0] += d * d;
#pragma unroll
                for (int b = 0; b < B; ++b) {
                    t[1 + b] += h_now[j * B + b] * d;
                    t[1 + B + b] += act_phi(act, h_prev[j * B + b]) * z[e];
                }
            }
        }
        block_sum<1 + 2 * B>(t, red, tot);
        const double d2 = t[0];
        if (tid == 0 && layer < depth - 1) back_norm2[row + layer] = d2;
        const double sd_g = sqrt(sw2 * d2 / width);
        double zb0, zb1;
        normal2(k0, k1, 0u, (u32)layer, P_BETA, 0u, &zb0, &zb1);
        const double beta = sqrt(sb2 * d2) * zb0;
        const double c0 = t[1] - sd_g * t[1 + B] - beta;
        const double c1 = B == 2 ? t[2] - sd_g * t[2 + B] - beta : 0.0;
        double y0, y1;
        solve_psd<B>(g_net[3 * layer], g_net[3 * layer + 1], g_net[3 * layer + 2], c0, c1, &y0, &y1);
        for (int c = tid; c < pairs; c += nthreads) {
            for (int e = 0; e < 2 && 2 * c + e < width; ++e) {
                const int j = 2 * c + e;
                const double x0 = act_phi(act, h_prev[j * B]);
                const double x1 = B == 2 ? act_phi(act, h_prev[j * B + 1]) : 0.0;
                const double v = sd_g * zg[j] + scale * (x0 * y0 + x1 * y1);
                delta[j] = act_dphi(act, h_prev[j * B]) * v;
            }
        }
    }
    double t[1] = {0.0};
    for (int c = tid; c < pairs; c += nthreads)
        for (int e = 0; e < 2 && 2 * c + e < width; ++e) t[0] += delta[2 * c + e] * delta[2 * c + e];
    block_sum<1>(t, red, tot);
    if (tid == 0) back_norm2[row] = t[0];
}

extern "C" __global__ void __launch_bounds__(SIM_MAX_THREADS)
sim_reduced(const u32* __restrict__ keys, int depth, int width, int n_inputs, int code, double p0,
            double p1, double p2, double p3, double sw2, double sb2, double q_star, double rho0,
            int backward, double* __restrict__ q_tilde, double* __restrict__ q_cond,
            double* __restrict__ chi1, double* __restrict__ sparsity, double* __restrict__ rho,
            double* __restrict__ back_norm2, double* __restrict__ hs, double* __restrict__ gs,
            double* __restrict__ work)
{
    __shared__ double red[SIM_MAX_WARPS][SIM_MAX_SUMS];
    __shared__ double tot[SIM_MAX_SUMS];
    const Act act = make_act(code, p0, p1, p2, p3);
    const u32 k0 = keys[2 * blockIdx.x], k1 = keys[2 * blockIdx.x + 1];
    if (n_inputs == 1)
        reduced_network<1>(k0, k1, depth, width, act, sw2, sb2, q_star, rho0, backward, q_tilde, q_cond,
                           chi1, sparsity, rho, back_norm2, hs, gs, work, red, tot);
    else
        reduced_network<2>(k0, k1, depth, width, act, sw2, sb2, q_star, rho0, backward, q_tilde, q_cond,
                           chi1, sparsity, rho, back_norm2, hs, gs, work, red, tot);
}

// ---------------------------------------------------------------- dense sampler
// Layer 1, h (networks, width, B): the reduced sampler's layer-1 draws, h = chol(q* C0) z.
extern "C" __global__ void dense_first_layer(const u32* __restrict__ keys, int networks, int width,
                                             int n_inputs, double l00, double l10, double l11,
                                             double* __restrict__ h)
{
    const int items = n_inputs == 1 ? (width + 1) / 2 : width;
    const u64 total = (u64)networks * items;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        const u64 net = i / items;
        const int c = (int)(i % items);
        double z0, z1;
        normal2(keys[2 * net], keys[2 * net + 1], (u32)c, 0u, P_FORWARD, 0u, &z0, &z1);
        double* hn = h + net * (u64)width * n_inputs;
        if (n_inputs == 1) {
            hn[2 * c] = l00 * z0;
            if (2 * c + 1 < width) hn[2 * c + 1] = l00 * z1;
        } else {
            hn[2 * c] = l00 * z0;
            hn[2 * c + 1] = l10 * z0 + l11 * z1;
        }
    }
}

// Weights of layer `layer` (networks, width, width), W_ij = scale z_ij with the pair of
// row i, columns 2c, 2c + 1 from the counter (c, layer, P_WEIGHT, i); bias b_i = sd_b z_i.
extern "C" __global__ void dense_weights(const u32* __restrict__ keys, int networks, int width, int layer,
                                         double scale, double sd_b, double* __restrict__ w,
                                         double* __restrict__ bias)
{
    const int pairs = (width + 1) / 2;
    const u64 total = (u64)networks * width * pairs;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        const u64 net = i / ((u64)width * pairs);
        const u64 rest = i % ((u64)width * pairs);
        const int r = (int)(rest / pairs);
        const int c = (int)(rest % pairs);
        const u32 k0 = keys[2 * net], k1 = keys[2 * net + 1];
        double z0, z1;
        normal2(k0, k1, (u32)c, (u32)layer, P_WEIGHT, (u32)r, &z0, &z1);
        double* wr = w + (net * width + r) * (u64)width;
        wr[2 * c] = scale * z0;
        if (2 * c + 1 < width) wr[2 * c + 1] = scale * z1;
        if (bias != 0 && r == 0) {  // row 0's threads also draw the bias pairs
            normal2(k0, k1, (u32)c, (u32)layer, P_BIAS, 0u, &z0, &z1);
            bias[net * width + 2 * c] = sd_b * z0;
            if (2 * c + 1 < width) bias[net * width + 2 * c + 1] = sd_b * z1;
        }
    }
}

// Observables of layer `layer` from h (networks, width, B), one block per network:
// q_tilde, chi1, sparsity of layer `layer`; x = phi(h); q_cond (and rho) of layer + 1.
template <int B>
__device__ void dense_observe_network(int depth, int width, int layer, const Act& act, double sw2,
                                      double sb2, const double* __restrict__ h, double* __restrict__ x,
                                      double* __restrict__ q_tilde, double* __restrict__ q_cond,
                                      double* __restrict__ chi1, double* __restrict__ sparsity,
                                      double* __restrict__ rho, double (*red)[SIM_MAX_SUMS], double* tot)
{
    const u64 net = blockIdx.x;
    const u64 row = net * (u64)depth;
    const double* hn = h + net * (u64)width * B;
    double* xn = x + net * (u64)width * B;
    double s[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (int j = threadIdx.x; j < width; j += blockDim.x) {
        const double h0 = hn[j * B];
        const double h1 = B == 2 ? hn[j * B + 1] : 0.0;
        accumulate<B>(act, h0, h1, s);
        xn[j * B] = act_phi(act, h0);
        if (B == 2) xn[j * B + 1] = act_phi(act, h1);
    }
    block_sum<6>(s, red, tot);
    if (threadIdx.x == 0) {
        q_tilde[row + layer] = s[0] / width;
        chi1[row + layer] = sw2 * s[1] / width;
        sparsity[row + layer] = s[2] / width;
        if (layer + 1 < depth) {
            const double g00 = sw2 * s[3] / width + sb2;
            q_cond[row + layer + 1] = g00;
            if (B == 2) {
                const double g01 = sw2 * s[4] / width + sb2;
                const double g11 = sw2 * s[5] / width + sb2;
                rho[row + layer + 1] = g01 / sqrt(g00 * g11);
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(SIM_MAX_THREADS)
dense_observe(int depth, int width, int n_inputs, int layer, int code, double p0, double p1, double p2,
              double p3, double sw2, double sb2, const double* __restrict__ h, double* __restrict__ x,
              double* __restrict__ q_tilde, double* __restrict__ q_cond, double* __restrict__ chi1,
              double* __restrict__ sparsity, double* __restrict__ rho)
{
    __shared__ double red[SIM_MAX_WARPS][SIM_MAX_SUMS];
    __shared__ double tot[SIM_MAX_SUMS];
    const Act act = make_act(code, p0, p1, p2, p3);
    if (n_inputs == 1)
        dense_observe_network<1>(depth, width, layer, act, sw2, sb2, h, x, q_tilde, q_cond, chi1, sparsity,
                                 rho, red, tot);
    else
        dense_observe_network<2>(depth, width, layer, act, sw2, sb2, h, x, q_tilde, q_cond, chi1, sparsity,
                                 rho, red, tot);
}

// Backward: the random unit vector's draws at layer L (the reduced sampler's), (networks, width).
extern "C" __global__ void dense_delta(const u32* __restrict__ keys, int networks, int width, int depth,
                                       double* __restrict__ delta)
{
    const int pairs = (width + 1) / 2;
    const u64 total = (u64)networks * pairs;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        const u64 net = i / pairs;
        const int c = (int)(i % pairs);
        double z0, z1;
        normal2(keys[2 * net], keys[2 * net + 1], (u32)c, (u32)(depth - 1), P_DELTA, 0u, &z0, &z1);
        delta[net * width + 2 * c] = z0;
        if (2 * c + 1 < width) delta[net * width + 2 * c + 1] = z1;
    }
}

// delta = phi'(h0) * v for h (networks, width, B), v and delta (networks, width).
extern "C" __global__ void dense_mask(int networks, int width, int n_inputs, int code, double p0, double p1,
                                      double p2, double p3, const double* __restrict__ h,
                                      const double* __restrict__ v, double* __restrict__ delta)
{
    const Act act = make_act(code, p0, p1, p2, p3);
    const u64 total = (u64)networks * width;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x)
        delta[i] = act_dphi(act, h[i * n_inputs]) * v[i];
}
"""

KERNELS = ("sim_reduced", "dense_first_layer", "dense_weights", "dense_observe", "dense_delta", "dense_mask",
           "philox_words", "philox_normals")


def require_cupy():
    """The ``cupy`` module with a usable device, else :class:`GpuUnavailableError` saying why."""
    return _require_cupy("the GPU backend of the simulation", "use the CPU backend (simulate.engine.simulate_chunk)")


def compile_options() -> tuple[str, ...]:
    """Options that NVRTC (CuPy) and nvcc both accept."""
    return (f"-DSIM_MAX_THREADS={MAX_THREADS}",)


@functools.lru_cache(maxsize=None)
def _module(device_id: int):
    cupy = require_cupy()
    with cupy.cuda.Device(device_id):
        module = cupy.RawModule(code=CUDA_SOURCE, options=compile_options())
        return {name: module.get_function(name) for name in KERNELS}


def kernels() -> dict:
    """The compiled kernels of :data:`CUDA_SOURCE` on the current device, by name."""
    cupy = require_cupy()
    return _module(cupy.cuda.Device().id)


def network_keys(seed: int, width: int, start: int, stop: int) -> np.ndarray:
    """The Philox keys of networks ``start..stop-1``: ``(n, 2)`` uint32, equal to
    ``SeedSequence([seed, width, sample]).generate_state(2, np.uint32)`` (never the
    configuration or the chunk), computed for all samples at once."""
    samples = np.arange(start, max(start, stop), dtype=np.uint64)
    if samples.size and int(samples[-1]) >= 2**32:
        return np.array([np.random.SeedSequence([seed, width, int(s)]).generate_state(2, np.uint32) for s in samples],
                        np.uint32).reshape(-1, 2)
    words = [np.full(samples.size, w, np.uint32) for w in (*_uint32_words(seed), *_uint32_words(width))]
    return _seed_sequence_state([*words, samples.astype(np.uint32)], 2)


def _uint32_words(value: int) -> list[int]:
    """``numpy.random.SeedSequence``'s little-endian uint32 words of a non-negative int."""
    value = int(value)
    if value < 0:
        raise ValueError(f"seeds must be non-negative, got {value}")
    out = [value & 0xFFFFFFFF]
    value >>= 32
    while value:
        out.append(value & 0xFFFFFFFF)
        value >>= 32
    return out


def _seed_sequence_state(entropy: list[np.ndarray], n_words: int) -> np.ndarray:
    """``SeedSequence(entropy).generate_state(n_words, uint32)`` for many entropies at once
    (numpy/random/bit_generator.pyx: pool size 4, no spawn key), one per array element."""
    pool_size, xshift = 4, np.uint32(16)
    hash_const = np.uint32(0x43B0D7E5)

    def hashmix(value):
        nonlocal hash_const
        value = value ^ hash_const
        hash_const = np.uint32((int(hash_const) * 0x931E8875) & 0xFFFFFFFF)
        value = value * hash_const
        return value ^ (value >> xshift)

    def mix(x, y):
        result = np.uint32(0xCA01F9DD) * x - np.uint32(0x4973F715) * y
        return result ^ (result >> xshift)

    with np.errstate(over="ignore"):
        zero = np.zeros_like(entropy[0])
        mixer = [hashmix(entropy[i] if i < len(entropy) else zero) for i in range(pool_size)]
        for i_src in range(pool_size):
            for i_dst in range(pool_size):
                if i_src != i_dst:
                    mixer[i_dst] = mix(mixer[i_dst], hashmix(mixer[i_src]))
        for i_src in range(pool_size, len(entropy)):
            for i_dst in range(pool_size):
                mixer[i_dst] = mix(mixer[i_dst], hashmix(entropy[i_src]))
        hash_const = 0x8B51F9DD
        state = np.empty((entropy[0].size, n_words), np.uint32)
        for i in range(n_words):
            value = mixer[i % pool_size] ^ np.uint32(hash_const)
            hash_const = (hash_const * 0x58F38DED) & 0xFFFFFFFF
            value = value * np.uint32(hash_const)
            state[:, i] = value ^ (value >> xshift)
    return state


def threads_per_block(width: int, inputs: int) -> int:
    """Threads of one network's block: about four draws per thread per layer, 32 to
    :data:`MAX_THREADS`. Depends on the width and the inputs only, so results (which
    depend on it through the summation order) do not depend on the chunking."""
    items = (width + 1) // 2 if inputs == 1 else width
    return 32 * min(MAX_THREADS // 32, max(1, math.ceil(items / 128)))


def simulate_chunk_gpu(sweep: Sweep, config: NetworkConfig, width: int, start: int, stop: int) -> dict[str, np.ndarray]:
    """Observables of networks ``start..stop-1`` on the GPU, as
    :func:`simulate.engine.simulate_chunk`: float64 arrays ``(stop - start, depth)`` and
    ``diverged_layer`` int32 ``(stop - start,)``. Raises :class:`GpuUnavailableError`
    without CuPy or a device, ``NotImplementedError`` for orthogonal weights."""
    if sweep.sampler == "dense" and sweep.weights != "gaussian":
        raise NotImplementedError(
            f"the GPU dense sampler draws Gaussian weights only (weights={sweep.weights!r}); "
            "run orthogonal weights on the CPU backend (simulate.engine.simulate_chunk)"
        )
    cupy = require_cupy()
    n, depth = stop - start, sweep.depth
    names = variables(sweep)
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


def _activation_args(config):
    code, params = activation_code(config.solution.activation)
    return (np.int32(code), *(np.float64(v) for v in params))


def _check_memory(cupy, nbytes: int, what: str):
    free, _ = cupy.cuda.runtime.memGetInfo()
    free += cupy.get_default_memory_pool().free_bytes()  # cached by CuPy, reusable
    if nbytes > free:
        raise MemoryError(
            f"the GPU {what} needs {nbytes / 2**30:.2f} GiB of device memory, {free / 2**30:.2f} GiB are free: "
            "use smaller chunks (Sweep.chunk)"
        )


def _reduced(cupy, sweep, config, width, keys, out):
    sol = config.solution
    n, depth, inputs = keys.shape[0], sweep.depth, sweep.inputs
    dummy = cupy.empty(1)
    if sweep.backward:
        _check_memory(cupy, 8 * n * (depth * width * inputs + 3 * depth + 2 * width), "backward pass")
        hs = cupy.empty((n, depth, width, inputs))
        gs = cupy.empty((n, depth, 3))
        work = cupy.empty((n, 2, width))
    else:
        hs = gs = work = dummy
    kernels()["sim_reduced"](
        (n,), (threads_per_block(width, inputs),),
        (keys, np.int32(depth), np.int32(width), np.int32(inputs), *_activation_args(config),
         np.float64(sol.sigma_w2), np.float64(sol.sigma_b2), np.float64(sol.q_star), np.float64(sweep.rho0),
         np.int32(sweep.backward), out["q_tilde"], out["q_cond"], out["chi1"], out["sparsity"],
         out.get("rho", dummy), out.get("back_norm2", dummy), hs, gs, work),
    )


def _grid(total: int, block: int = 256) -> tuple[int]:
    return (max(1, min(math.ceil(total / block), 65535)),)


def _dense(cupy, sweep, config, width, keys, out):
    """Explicit weights, ``S`` networks at a time (the weights of one batch fit in
    :data:`DENSE_BATCH_BYTES`; with ``backward`` the pre-activations of every layer too)."""
    sol = config.solution
    k = kernels()
    n, depth, inputs = keys.shape[0], sweep.depth, sweep.inputs
    act = _activation_args(config)
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
    block = threads_per_block(width, 2)  # a row per thread in dense_observe
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
        items = (width + 1) // 2 if inputs == 1 else width
        k["dense_first_layer"](_grid(s * items), (256,),
                               (kb, np.int32(s), np.int32(width), np.int32(inputs), np.float64(l00), np.float64(l10),
                                np.float64(l11), h))
        for layer in range(depth):
            k["dense_observe"]((s,), (block,),
                               (np.int32(depth), np.int32(width), np.int32(inputs), np.int32(layer), *act,
                                np.float64(sw2), np.float64(sb2), h, x, view["q_tilde"], view["q_cond"], view["chi1"],
                                view["sparsity"], view.get("rho", dummy)))
            if layer + 1 == depth:
                break
            k["dense_weights"](_grid(s * width * ((width + 1) // 2)), (256,),
                               (kb, np.int32(s), np.int32(width), np.int32(layer + 1), np.float64(math.sqrt(sw2 / width)),
                                np.float64(math.sqrt(sb2)), w, bias))
            nxt = hs[layer + 1] if sweep.backward else hs[0]
            cupy.matmul(w, x, out=nxt)
            nxt += bias[:, :, None]
            h = nxt
        if sweep.backward:
            _dense_backward(cupy, k, sweep, width, kb, hs, w, act, sw2, view["back_norm2"])


def _dense_backward(cupy, k, sweep, width, kb, hs, w, act, sw2, back_norm2):
    s, depth, inputs = kb.shape[0], sweep.depth, sweep.inputs
    delta = cupy.empty((s, width))
    k["dense_delta"](_grid(s * ((width + 1) // 2)), (256,), (kb, np.int32(s), np.int32(width), np.int32(depth), delta))
    delta /= cupy.sqrt(cupy.sum(delta * delta, axis=1, keepdims=True))
    back_norm2[:, depth - 1] = 1.0
    v = cupy.empty((s, width, 1))
    bias = cupy.empty((s, width))  # drawn again with the weights, unused
    for layer in range(depth - 1, 0, -1):
        k["dense_weights"](_grid(s * width * ((width + 1) // 2)), (256,),
                           (kb, np.int32(s), np.int32(width), np.int32(layer), np.float64(math.sqrt(sw2 / width)),
                            np.float64(0.0), w, bias))
        cupy.matmul(w.transpose(0, 2, 1), delta[:, :, None], out=v)
        k["dense_mask"](_grid(s * width), (256,),
                        (np.int32(s), np.int32(width), np.int32(inputs), *act, hs[layer - 1], v, delta))
        back_norm2[:, layer - 1] = cupy.sum(delta * delta, axis=1)
