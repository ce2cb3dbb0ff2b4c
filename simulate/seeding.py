"""Per-network random streams.

Network ``sample`` of width ``width`` in a sweep with seed ``seed`` draws from its own
``numpy.random.SFC64`` stream seeded by ``SeedSequence([seed, width, sample])``: never by
the chunk, the worker or the order of the sweep, so a store depends only on (seed,
configuration, sample index). The key deliberately omits the activation and ``q*``: all
configurations of a sweep see the same Gaussian draws (common random numbers), which
makes comparisons across configurations sharper and the scale covariance of SPEC.md
exact to rounding (a ``q* = c`` network is the ``q* = 1`` network times ``sqrt(c)``,
draw for draw).
"""

from __future__ import annotations

import numpy as np


def network_rng(seed: int, width: int, sample: int) -> np.random.Generator:
    """The random stream of network ``sample`` at ``width`` (usable inside Numba kernels)."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence([seed, width, int(sample)])))
