"""Per-network random streams.

Network ``sample`` of width ``width`` in a sweep with seed ``seed`` draws from its own
stream seeded by ``SeedSequence([seed, width, sample])``: never by the chunk, the worker
or the order of the sweep, so a store depends only on (seed, configuration, sample
index). The reduced CPU sampler's stream is xoshiro256++ (:mod:`simulate.normals`), the
dense sampler's ``numpy.random.SFC64`` (:func:`network_rng`). The key deliberately omits the activation and ``q*``: all
configurations of a sweep see the same Gaussian draws (common random numbers), which
makes comparisons across configurations sharper and the scale covariance of SPEC.md
exact to rounding (a ``q* = c`` network is the ``q* = 1`` network times ``sqrt(c)``,
draw for draw).

The GPU backend (:mod:`simulate.gpu`) keys its counter-based Philox streams with the same
``SeedSequence([seed, width, sample])``: :func:`seed_sequence_words` is a vectorised NumPy
port of ``SeedSequence.generate_state`` giving those words for a whole chunk at once.
"""

from __future__ import annotations

import numpy as np


def network_rng(seed: int, width: int, sample: int) -> np.random.Generator:
    """The NumPy stream of network ``sample`` at ``width`` (the dense sampler's)."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence([seed, width, int(sample)])))


def network_keys(seed: int, width: int, start: int, stop: int) -> np.ndarray:
    """The Philox keys of networks ``start..stop-1``: ``(n, 2)`` uint32, equal to
    ``SeedSequence([seed, width, sample]).generate_state(2, np.uint32)`` (never the
    configuration or the chunk), computed for all samples at once."""
    return seed_sequence_words(seed, width, start, stop, 2)


def seed_sequence_words(seed: int, width: int, start: int, stop: int, n_words: int) -> np.ndarray:
    """``SeedSequence([seed, width, sample]).generate_state(n_words, np.uint32)`` for the
    samples ``start..stop-1`` at once: ``(n, n_words)`` uint32."""
    samples = np.arange(start, max(start, stop), dtype=np.uint64)
    if samples.size and int(samples[-1]) >= 2**32:
        return np.array([np.random.SeedSequence([seed, width, int(s)]).generate_state(n_words, np.uint32)
                         for s in samples], np.uint32).reshape(-1, n_words)
    words = [np.full(samples.size, w, np.uint32) for w in (*_uint32_words(seed), *_uint32_words(width))]
    return _seed_sequence_state([*words, samples.astype(np.uint32)], n_words)


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
