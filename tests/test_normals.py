"""The CPU sampler's generator (simulate.normals): xoshiro256++ against its reference
algorithm, the ziggurat's exactness, and the streams' keys."""

import numba as nb
import numpy as np
import pytest
from scipy import special, stats

from simulate.normals import ZIGGURAT_R, fill_normals, network_states, next_u64, ziggurat_tables

MASK = (1 << 64) - 1


def _reference_xoshiro256pp(state, n):
    """xoshiro256++ as in Blackman & Vigna's xoshiro256plusplus.c, in plain Python ints."""
    s = [int(x) for x in state]
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & MASK  # noqa: E731
    out = []
    for _ in range(n):
        out.append((rotl((s[0] + s[3]) & MASK, 23) + s[0]) & MASK)
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out


@nb.njit
def _draw_u64(state, n):
    out = np.empty(n, np.uint64)
    for i in range(n):
        out[i] = next_u64(state)
    return out


def test_xoshiro256pp_known_answer():
    """From the state (1, 2, 3, 4) the first output is rotl(5, 23) + 1 = 41943041, and the
    next 999 equal the reference algorithm's."""
    state = np.array([1, 2, 3, 4], np.uint64)
    got = _draw_u64(state.copy(), 1000)
    assert int(got[0]) == 41943041
    assert [int(x) for x in got] == _reference_xoshiro256pp([1, 2, 3, 4], 1000)


def test_streams_are_keyed_by_seed_width_and_sample():
    states = network_states(7, 300, 5, 9)
    expected = [np.random.SeedSequence([7, 300, s]).generate_state(4, np.uint64) for s in range(5, 9)]
    np.testing.assert_array_equal(states, np.array(expected))
    assert not np.array_equal(network_states(7, 301, 5, 6), states[:1])


def test_ziggurat_tables_are_the_equal_area_construction():
    """Every layer (rectangle plus wedge) holds the same area v, and the top edge is 0."""
    ki, wi, fi = ziggurat_tables()
    x = wi * 2.0**52
    assert x[255] == pytest.approx(ZIGGURAT_R) and fi[0] == 1.0
    v = 4.92867323399e-3
    # layer i (i >= 1) spans y in [fi[i], fi[i-1]] at width x[i]: area x[i] (fi[i-1] - fi[i]) = v
    np.testing.assert_allclose(x[1:255] * (fi[:254] - fi[1:255]), v, rtol=1e-6)
    assert np.all(np.diff(x[1:]) > 0) and np.all(ki[2:] > 0)


@pytest.fixture(scope="module")
def normals():
    out = np.empty(4_000_000)
    fill_normals(network_states(2024, 1, 0, 1)[0].copy(), out)
    return out


def test_moments_of_the_normals(normals):
    """Mean, variance, skewness and kurtosis of 4e6 draws within 5 standard errors of the
    normal's (each test: false-failure probability 5.7e-7)."""
    n = normals.size
    z = normals
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(np.mean(z**3)) < 5 * np.sqrt(15 / n)
    assert abs(np.mean(z**4) - 3) < 5 * np.sqrt(96 / n)


def test_normals_pass_kolmogorov_smirnov(normals):
    """KS against N(0, 1) on 4e6 draws; rejected at p < 1e-6 (false-failure probability 1e-6)."""
    assert stats.kstest(normals, "norm").pvalue > 1e-6


def test_the_tail_beyond_the_base_is_sampled_exactly(normals):
    """P(|z| > r) for the ziggurat's base r = 3.654: the draws that take the tail algorithm,
    within 5 binomial standard errors of 2 Phi(-r) (false-failure probability 5.7e-7)."""
    p = 2 * special.ndtr(-ZIGGURAT_R)
    count = np.count_nonzero(np.abs(normals) > ZIGGURAT_R)
    n = normals.size
    assert abs(count - n * p) < 5 * np.sqrt(n * p * (1 - p))
    assert np.abs(normals).max() > ZIGGURAT_R  # the tail is reached
