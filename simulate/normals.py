"""Exact standard normals for the CPU sampler: xoshiro256++ and a 256-layer ziggurat, in Numba.

The reduced sampler draws one normal per neuron-layer, so the generator is its floor.
NumPy's ``Generator`` inside Numba pays an indirect call into the bit generator for every
draw; here both the bit generator and the transform are inlined into the kernel's hot
loop: :func:`normal` by Numba (``inline="always"``), the small functions it calls by LLVM
(they are compiled once and cached, so each kernel that inlines :func:`normal` compiles
only the transform; see :mod:`simulate.kernels`, "Compilation").

* Bit generator: xoshiro256++ (Blackman & Vigna, "Scrambled linear pseudorandom number
  generators", ACM TOMS 2021; the reference ``xoshiro256plusplus.c``): 256 bits of state,
  period ``2^256 - 1``, one 64-bit output per step. The first output from the state
  ``(1, 2, 3, 4)`` is ``41943041`` (tested against the reference algorithm written out in
  plain Python).
* Normal transform: the ziggurat of Marsaglia & Tsang (J. Stat. Softw. 5(8), 2000) with
  256 layers, base ``r = 3.6541528853610088`` and layer area ``v = 4.92867323399e-3``, in
  the 52-bit form NumPy uses (``random_standard_normal``): 8 bits pick the layer, 1 the
  sign and 52 the abscissa, so 99.3% of draws cost one 64-bit output, a multiplication and
  a comparison. The wedges are accepted against ``exp(-x^2/2)`` and the tail beyond ``r``
  is sampled by Marsaglia's (1964) method: the transform is exact, not an approximation
  (tested: moments, Kolmogorov-Smirnov against the normal, the tail mass beyond ``r``).
* Streams: network ``sample`` at ``width`` starts from
  ``SeedSequence([seed, width, sample]).generate_state(4, np.uint64)``
  (:func:`network_states`, vectorised), the same key as every other stream of the
  project, so results depend only on (seed, configuration, sample).

:data:`GENERATOR` names this generator in the stores it writes (``--resume`` refuses a
store written by another generator).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from simulate.seeding import seed_sequence_words

#: what the stores record for the CPU reduced sampler's random numbers (bump on any change)
GENERATOR = "xoshiro256++ with a 256-layer ziggurat (simulate.normals v1)"

ZIGGURAT_R = 3.6541528853610088
ZIGGURAT_V = 4.92867323399e-3
_M52 = float(2**52)


def ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ki, wi, fi)`` of the 256-layer ziggurat in its 52-bit form (Marsaglia & Tsang's
    ``zigset`` with ``m = 2^52``): layer ``i`` has right edge ``x_i``, ``wi = x_i / 2^52``,
    ``fi = exp(-x_i^2 / 2)`` and ``ki`` the integer threshold below which a draw lies in
    the layer's rectangle."""
    ki = np.zeros(256, np.uint64)
    wi = np.zeros(256)
    fi = np.zeros(256)
    dn = tn = ZIGGURAT_R
    q = ZIGGURAT_V / math.exp(-0.5 * dn * dn)
    ki[0] = np.uint64((dn / q) * _M52)
    wi[0], wi[255] = q / _M52, dn / _M52
    fi[0], fi[255] = 1.0, math.exp(-0.5 * dn * dn)
    for i in range(254, 0, -1):
        dn = math.sqrt(-2.0 * math.log(ZIGGURAT_V / dn + math.exp(-0.5 * dn * dn)))
        ki[i + 1] = np.uint64((dn / tn) * _M52)
        tn = dn
        fi[i] = math.exp(-0.5 * dn * dn)
        wi[i] = dn / _M52
    return ki, wi, fi


_KI, _WI, _FI = ziggurat_tables()


def network_states(seed: int, width: int, start: int, stop: int) -> np.ndarray:
    """The xoshiro256++ states of networks ``start..stop-1``: ``(n, 4)`` uint64, equal to
    ``SeedSequence([seed, width, sample]).generate_state(4, np.uint64)``."""
    return np.ascontiguousarray(seed_sequence_words(seed, width, start, stop, 8)).view(np.uint64).reshape(-1, 4)


@nb.njit(cache=True)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@nb.njit(cache=True)
def step(s0, s1, s2, s3):
    """One xoshiro256++ step on a state held in four local variables (registers):
    ``(output, s0, s1, s2, s3)``."""
    result = _rotl(s0 + s3, 23) + s0
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@nb.njit(cache=True)
def _unit(bits):
    """A uniform double in ``[0, 1)`` from the top 53 of 64 bits (through int64: one
    conversion instruction)."""
    return float(np.int64(bits >> np.uint64(11))) * (1.0 / 9007199254740992.0)


@nb.njit(inline="always")
def normal(s0, s1, s2, s3):
    """One exact standard normal from a state in registers: ``(z, s0, s1, s2, s3)``
    (module docstring)."""
    while True:
        r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
        idx = np.int64(r & np.uint64(0xFF))
        r >>= np.uint64(8)
        rabs = (r >> np.uint64(1)) & np.uint64(0x000FFFFFFFFFFFFF)
        x = float(np.int64(rabs)) * _WI[idx]
        if r & np.uint64(1):
            x = -x
        if rabs < _KI[idx]:
            return x, s0, s1, s2, s3
        if idx == 0:
            while True:
                u, s0, s1, s2, s3 = step(s0, s1, s2, s3)
                v, s0, s1, s2, s3 = step(s0, s1, s2, s3)
                xx = -math.log1p(-_unit(u)) / ZIGGURAT_R
                yy = -math.log1p(-_unit(v))
                if yy + yy > xx * xx:
                    z = -(ZIGGURAT_R + xx) if (rabs >> np.uint64(8)) & np.uint64(1) else ZIGGURAT_R + xx
                    return z, s0, s1, s2, s3
        else:
            u, s0, s1, s2, s3 = step(s0, s1, s2, s3)
            if (_FI[idx - 1] - _FI[idx]) * _unit(u) + _FI[idx] < math.exp(-0.5 * x * x):
                return x, s0, s1, s2, s3


@nb.njit(inline="always")
def next_u64(s):
    """One xoshiro256++ step on the state array ``s`` (4 uint64), returning 64 bits."""
    r, s[0], s[1], s[2], s[3] = step(s[0], s[1], s[2], s[3])
    return r


@nb.njit(cache=True)
def standard_normal(s):
    """One exact standard normal from the state array ``s`` (4 uint64): a call, compiled
    once and cached (the one-input hot loop uses :func:`normal`, inlined)."""
    z, s[0], s[1], s[2], s[3] = normal(s[0], s[1], s[2], s[3])
    return z


@nb.njit(nogil=True, cache=True)
def fill_normals(state, out):
    """Fill ``out`` with standard normals from ``state`` (tests and benchmarks)."""
    for i in range(out.size):
        out.flat[i] = standard_normal(state)


@nb.njit(nogil=True, cache=True)
def sum_normals(state, count):
    """Draw ``count`` normals and return their sum: the sampler's floor in
    :mod:`simulate.bench` (the same draws, the state in registers as in the sampler)."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    total = 0.0
    for _ in range(count):
        z, s0, s1, s2, s3 = normal(s0, s1, s2, s3)
        total += z
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return total
