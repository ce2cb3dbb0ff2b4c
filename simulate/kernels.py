"""Numba kernels: the exact ``reduced`` sampler on the CPU, fused and parallel over networks.

One call simulates one network fed ``B`` inputs (``B = 1`` or ``2``), drawing every
random number from the xoshiro256++ state it is given (its own stream, keyed by (seed,
width, sample); the normals of :mod:`simulate.normals`); the kernel releases the GIL, so
threads run networks in parallel and the results do not depend on the chunking or the
thread.

Compilation: one kernel per (family, ``B``, backward pass), compiled when a run first asks
for it and cached on disk by Numba (:func:`reduced_network`), so a run compiles only what
it uses. Numba inlines only the normal transform into the hot loop (``inline="always"``,
which keeps the generator's state in registers); every other function is compiled on its
own, specialised to the kernel's family by a literal ``code``, and LLVM inlines the small
ones (:func:`phi`, :func:`dphi`, the generator's step). Numba copies an inlined function's
IR at each call site, at a cost that grows with the square of its size: one kernel for
every family, inlining all of them, took ~50 s to compile (``docs/benchmarks.md``).

Forward (exact in distribution). Layer 1 is ``N(0, q* C0)`` with ``C0`` the unit-diagonal
input correlation (``rho0`` off the diagonal). Given the ``n x B`` post-activations
``X`` of layer ``l-1``, the ``N`` rows of layer ``l``'s pre-activations are independent
``N(0, G)`` with ``G = sigma_w^2 X^T X / n + sigma_b^2`` (each row is ``w_i X + b_i``
with Gaussian ``w_i, b_i``). Drawing ``h_i = chol(G) z_i`` costs ``O(N B^2)`` per layer
and needs no weight matrix; for ``B = 1`` nothing ``N``-sized is kept unless the
backward pass is asked for.

Backward (exact in distribution). The weights of layer ``l`` given the forward pass are
Gaussian conditioned on ``W X + b 1^T = H``. By Matheron's rule, with an unconditioned
draw ``(W~, b~)``: ``w_i = w~_i + (sigma_w^2/n) X G^-1 (h_i - X^T w~_i - b~_i 1)``, so for
an error vector ``delta``

    W^T delta = g + (sigma_w^2 / n) X G^-1 (H^T delta - X^T g - beta 1),

where ``g = W~^T delta ~ N(0, sigma_w^2 |delta|^2 / n I_n)`` and
``beta = b~ . delta ~ N(0, sigma_b^2 |delta|^2)``: ``O(n B)`` per layer. The error is
back-propagated for input 0: ``delta^(l-1) = phi'(h^(l-1)) * W^(l)T delta^(l)``, from a
uniformly random unit vector ``delta^(L)``.
"""

from __future__ import annotations

import functools
import math

import numba as nb
import numpy as np

from simulate.normals import normal, standard_normal

def activation_code(activation) -> tuple[int, np.ndarray]:
    """``(code, params[4])`` for a :class:`theory.Activation` instance: the family's
    ``kernel_code`` and its parameters in ``param_names`` order (the one definition,
    :mod:`theory.activations`)."""
    params = np.zeros(4)
    for i, name in enumerate(activation.param_names):
        params[i] = float(activation.params[name])
    return activation.kernel_code, params


@nb.njit(cache=True)
def phi(code, x, p):
    """The activations of :mod:`theory.activations` by ``kernel_code``, elementwise (same
    definitions; ``tests/test_activations_agree.py`` checks every implementation). ``p``
    is the tuple of the four parameters (a tuple stays in registers in the hot loop). The
    kernels call it with a literal ``code``: compiled for that family alone, it folds to
    one line, which LLVM inlines."""
    if code == 0:
        return max(x - p[0], 0.0)
    if code == 1:
        a = max(abs(x) - p[0], 0.0)
        return a if x >= 0 else -a
    if code == 2:
        return min(max(x - p[0], 0.0), p[1])
    if code == 3:
        a = min(max(abs(x) - p[0], 0.0), p[1])
        return a if x >= 0 else -a
    if code == 4 or code == 5:
        xx = min(x, p[3]) if code == 5 else x
        return p[1] * min(max(xx - p[0] + p[2], 0.0), 2 * p[2]) + max(xx - p[0] - p[2], 0.0)
    return max(p[1] - abs(x - p[0]), 0.0)


@nb.njit(cache=True)
def dphi(code, x, p):
    """``phi'`` almost everywhere (as :meth:`theory.Activation.dphi`); the comparisons are
    combined with ``&`` (no short circuit), so the hot loop has no unpredictable branch."""
    if code == 0:
        return 1.0 if x > p[0] else 0.0
    if code == 1:
        return 1.0 if abs(x) > p[0] else 0.0
    if code == 2:
        return 1.0 if (x > p[0]) & (x < p[0] + p[1]) else 0.0
    if code == 3:
        a = abs(x)
        return 1.0 if (a > p[0]) & (a < p[0] + p[1]) else 0.0
    if code == 4 or code == 5:
        dead = (x < p[0] - p[2]) | ((code == 5) & (x > p[3]))
        return 0.0 if dead else (p[1] if x <= p[0] + p[2] else 1.0)
    d = x - p[0]
    return (-1.0 if d > 0 else 1.0) if abs(d) < p[1] else 0.0


@nb.njit(error_model="numpy")
def _chol2(g00, g01, g11):
    """Cholesky factor of a 2x2 covariance (clamped at a singular one)."""
    l00 = math.sqrt(g00)
    l10 = g01 / l00 if l00 > 0 else 0.0
    l11 = math.sqrt(max(g11 - l10 * l10, 0.0))
    return l00, l10, l11


@nb.njit(error_model="numpy")
def _one_input_layer(code, state, sd, width, p, hs, slot, keep):
    """One layer fed one input (the hot loop of the sampler): draw its ``N``
    pre-activations ``h = sd z`` and return ``(sum h^2, sum phi'^2, sum phi^2, zeros)``;
    the generator's state stays in registers for the whole layer."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    s_h2 = 0.0
    s_d2 = 0.0
    a00 = 0.0
    zeros = 0
    for j in range(width):
        z, s0, s1, s2, s3 = normal(s0, s1, s2, s3)
        h = sd * z
        if keep:
            hs[slot, j, 0] = h
        f = phi(code, h, p)
        d = dphi(code, h, p)
        s_h2 += h * h
        s_d2 += d * d
        a00 += f * f
        zeros += f == 0.0
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return s_h2, s_d2, a00, zeros


@nb.njit(error_model="numpy")
def _two_input_layer(code, state, g00, g01, g11, width, p, hs, slot, keep):
    """One layer fed two inputs: draw its ``N`` rows ``(h0, h1) = chol(G) z`` and return
    ``(sum h0^2, sum phi'(h0)^2, sum phi(h0)^2, sum phi(h0) phi(h1), sum phi(h1)^2,
    zeros of phi(h0))``."""
    l00, l10, l11 = _chol2(g00, g01, g11)
    s_h2 = 0.0
    s_d2 = 0.0
    zeros = 0
    a00 = 0.0
    a01 = 0.0
    a11 = 0.0
    for j in range(width):
        z0 = standard_normal(state)
        z1 = standard_normal(state)
        h0 = l00 * z0
        h1 = l10 * z0 + l11 * z1
        if keep:
            hs[slot, j, 0] = h0
            hs[slot, j, 1] = h1
        f0 = phi(code, h0, p)
        f1 = phi(code, h1, p)
        s_h2 += h0 * h0
        d = dphi(code, h0, p)
        s_d2 += d * d
        a00 += f0 * f0
        a01 += f0 * f1
        a11 += f1 * f1
        zeros += f0 == 0.0
    return s_h2, s_d2, a00, a01, a11, zeros


@functools.cache
def reduced_network(code: int, n_inputs: int, backward: bool):
    """The compiled kernel that simulates one network of the family ``code`` (its
    ``kernel_code``) fed ``n_inputs`` inputs, with the backward pass or without:
    ``kernel(state, depth, width, p, sigma_w2, sigma_b2, q_star, rho0, q_tilde, q_cond,
    chi1, sparsity, rho, back_norm2, k)`` fills row ``k`` of the ``(networks, depth)``
    outputs.

    The three keys are constants of the kernel (a closure; Numba's disk cache keys it by
    their values): Numba prunes the branches it does not take before typing, and types the
    functions it calls with them as literals, so they too are compiled for this family,
    input count and backward setting alone."""
    code, n_inputs, backward = int(code), int(n_inputs), bool(backward)  # the literals' types

    @nb.njit(nogil=True, cache=True, error_model="numpy")
    def kernel(state, depth, width, p, sigma_w2, sigma_b2, q_star, rho0, q_tilde, q_cond, chi1, sparsity, rho,
               back_norm2, k):
        p = (p[0], p[1], p[2], p[3])
        keep = backward
        hs = np.empty((depth if keep else 1, width, n_inputs))
        gs = np.empty((depth, 3))
        g00 = q_star
        g11 = q_star
        g01 = rho0 * q_star
        for layer in range(depth):
            gs[layer, 0] = g00
            gs[layer, 1] = g01
            gs[layer, 2] = g11
            q_cond[k, layer] = g00
            slot = layer if keep else 0
            if n_inputs == 1:
                s_h2, s_d2, a00, zeros = _one_input_layer(code, state, math.sqrt(g00), width, p, hs, slot, keep)
                a01 = 0.0
                a11 = 0.0
            else:
                rho[k, layer] = g01 / math.sqrt(g00 * g11)
                s_h2, s_d2, a00, a01, a11, zeros = _two_input_layer(code, state, g00, g01, g11, width, p, hs, slot, keep)
            q_tilde[k, layer] = s_h2 / width
            chi1[k, layer] = sigma_w2 * s_d2 / width
            sparsity[k, layer] = zeros / width
            g00 = sigma_w2 * a00 / width + sigma_b2
            g01 = sigma_w2 * a01 / width + sigma_b2
            g11 = sigma_w2 * a11 / width + sigma_b2
        if backward:
            _backward(state, hs, gs, width, n_inputs, code, p, sigma_w2, sigma_b2, back_norm2[k])

    return kernel


@nb.njit(error_model="numpy")
def _solve_psd(n_inputs, g00, g01, g11, c0, c1):
    """``y = G^+ c`` for the (at most 2x2) PSD ``G``. ``G`` is singular when a layer's
    activations are all zero (or the inputs' coincide); ``c`` lies in the range of ``G``
    (module docstring), so the pseudo-inverse keeps Matheron's rule exact."""
    if n_inputs == 1:
        return (c0 / g00 if g00 > 0 else 0.0), 0.0
    trace = g00 + g11
    det = g00 * g11 - g01 * g01
    if det > 1e-10 * trace * trace:
        return (g11 * c0 - g01 * c1) / det, (g00 * c1 - g01 * c0) / det
    if trace == 0.0:
        return 0.0, 0.0
    inv = 1.0 / (trace * trace)  # rank one: G^+ = G / trace^2
    return inv * (g00 * c0 + g01 * c1), inv * (g01 * c0 + g11 * c1)


@nb.njit(error_model="numpy")
def _backward(state, hs, gs, width, n_inputs, code, p, sigma_w2, sigma_b2, out):
    """Back-propagate a random unit vector from layer ``L`` to 1 (module docstring)."""
    depth = hs.shape[0]
    delta = np.empty(width)
    norm2 = 0.0
    for i in range(width):
        delta[i] = standard_normal(state)
        norm2 += delta[i] * delta[i]
    for i in range(width):
        delta[i] /= math.sqrt(norm2)
    out[depth - 1] = 1.0
    g = np.empty(width)
    x = np.empty((width, 2))
    for layer in range(depth - 1, 0, -1):
        d2 = 0.0
        for i in range(width):
            d2 += delta[i] * delta[i]
        sd_g = math.sqrt(sigma_w2 * d2 / width)
        beta = math.sqrt(sigma_b2 * d2) * standard_normal(state)
        c0 = 0.0
        c1 = 0.0
        for i in range(width):
            g[i] = sd_g * standard_normal(state)
            c0 += hs[layer, i, 0] * delta[i]
            if n_inputs == 2:
                c1 += hs[layer, i, 1] * delta[i]
        for j in range(width):
            x[j, 0] = phi(code, hs[layer - 1, j, 0], p)
            c0 -= x[j, 0] * g[j]
            if n_inputs == 2:
                x[j, 1] = phi(code, hs[layer - 1, j, 1], p)
                c1 -= x[j, 1] * g[j]
        c0 -= beta
        c1 -= beta
        g00 = gs[layer, 0]
        g01 = gs[layer, 1]
        g11 = gs[layer, 2]
        y0, y1 = _solve_psd(n_inputs, g00, g01, g11, c0, c1)
        scale = sigma_w2 / width
        total = 0.0
        for j in range(width):
            v = g[j] + scale * (x[j, 0] * y0 + (x[j, 1] * y1 if n_inputs == 2 else 0.0))
            delta[j] = dphi(code, hs[layer - 1, j, 0], p) * v
            total += delta[j] * delta[j]
        out[layer - 1] = total
