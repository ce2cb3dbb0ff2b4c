"""The CPU sampler's host code: simulate one chunk of networks of one (configuration,
width), the unit of work (its GPU twin is :mod:`simulate.gpu`).

``simulate_chunk`` returns the per-network, per-layer observables of networks
``start .. stop - 1``, as defined once in :data:`simulate.observables.OBSERVABLES`
(those :func:`simulate.observables.recorded` names for the sweep, and
``diverged_layer``: the first layer whose ``q_cond`` is not finite, 0: none).
Networks run in parallel threads (the kernel releases the GIL); each draws from its own
stream, so nothing depends on ``threads``. :func:`simulate.gpu.simulate_chunk_gpu` has
the same contract.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from simulate.config import NetworkConfig, Sweep
from simulate.dense import dense_network
from simulate.kernels import activation_code, reduced_network
from simulate.observables import OBSERVABLES, PER_LAYER, recorded
from simulate.normals import network_states
from simulate.seeding import network_rng

#: every per-layer array a sampler kernel fills (the ones not recorded stay unused)
_KERNEL_OUTPUTS = tuple(o.name for o in OBSERVABLES.values() if o.dims == PER_LAYER and o.when != "derived")


def simulate_chunk(
    sweep: Sweep, config: NetworkConfig, width: int, start: int, stop: int, threads: int | None = None
) -> dict[str, np.ndarray]:
    """Observables of networks ``start..stop-1``: arrays ``(stop - start, depth)`` and
    ``diverged_layer`` ``(stop - start,)``.

    Each network draws from its own stream keyed by (seed, width, sample), so the result
    depends neither on the chunking nor on ``threads`` (module docstring).

    Parameters
    ----------
    sweep : simulate.config.Sweep
        The sweep: its depth, inputs, ``rho0``, seed, sampler (``"reduced"`` or
        ``"dense"``), weight law and ``backward``.
    config : simulate.config.NetworkConfig
        The configuration, with its solved EoC initialisation.
    width : int
        The width ``N`` of every layer.
    start, stop : int
        The networks simulated: sample indices ``start .. stop - 1``.
    threads : int, optional
        Threads to run the networks on (default: all cores, at most one per network).

    Returns
    -------
    dict of str to numpy.ndarray
        The observables :func:`simulate.observables.recorded` names for the sweep, each
        ``(stop - start, depth)``, and ``diverged_layer`` ``(stop - start,)`` int32: the
        first layer whose ``q_cond`` is not finite (0: none).

    Examples
    --------
    >>> from simulate.config import Sweep
    >>> sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=5, samples=10)
    >>> out = simulate_chunk(sweep, sweep.configs()[0], 20, 0, 10)
    >>> out["chi1"].shape, bool((out["q_cond"][:, 0] == 1.0).all())
    ((10, 5), True)
    >>> import numpy as np  # the same networks, whatever the chunking
    >>> bool(np.array_equal(simulate_chunk(sweep, sweep.configs()[0], 20, 5, 10)["chi1"], out["chi1"][5:]))
    True
    """
    n = stop - start
    out = {name: np.full((n, sweep.depth), np.nan) for name in _KERNEL_OUTPUTS}
    sol = config.solution
    if sweep.sampler == "reduced":
        states = network_states(sweep.seed, width, start, stop)
        code, params = activation_code(sol.activation)
        kernel = reduced_network(code, sweep.inputs, sweep.backward)

        def work(indices):
            for k in indices:
                kernel(
                    states[k], sweep.depth, width, params, sol.sigma_w2, sol.sigma_b2, sol.q_star, sweep.rho0,
                    out["q_tilde"], out["q_cond"], out["chi1"], out["sparsity"], out["rho"], out["back_norm2"], k,
                )
    else:
        rngs = [network_rng(sweep.seed, width, s) for s in range(start, stop)]

        def work(indices):
            for k in indices:
                dense_network(rngs[k], sol, sweep.depth, width, sweep.inputs, sweep.rho0, sweep.backward, sweep.weights, out, k)

    threads = max(1, min(threads or os.cpu_count() or 1, n))
    if threads == 1:
        work(range(n))
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, np.array_split(np.arange(n), threads)))
    result = {name: out[name] for name in recorded(sweep)}
    bad = ~np.isfinite(result["q_cond"])
    result["diverged_layer"] = np.where(bad.any(axis=1), bad.argmax(axis=1) + 1, 0).astype(np.int32)
    return result
