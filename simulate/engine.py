"""Simulate one chunk of networks of one (configuration, width): the unit of work.

``simulate_chunk`` returns the per-network, per-layer observables of networks
``start .. stop - 1`` (SPEC.md, "What a simulation measures"):

* ``q_cond``: ``sigma_w^2 / N_(l-1) sum_j phi(h_j^(l-1))^2 + sigma_b^2`` (``q*`` at layer 1);
* ``q_tilde``: ``(1/N_l) sum_i (h_i^(l))^2``;
* ``chi1``: ``sigma_w^2 / N_l sum_i phi'(h_i^(l))^2``;
* ``sparsity``: the fraction of zero activations of layer ``l``;
* ``rho`` (two inputs): ``G_ab / sqrt(G_aa G_bb)`` of the conditional covariance;
* ``back_norm2`` (backward): ``|delta^(l)|^2`` of the error back-propagated from a
  random unit vector at layer ``L``;
* ``diverged_layer``: the first layer whose ``q_cond`` is not finite (0: none).

All of them refer to input 0. Networks run in parallel threads (the kernel releases
the GIL); each draws from its own stream, so nothing depends on ``threads``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from simulate.config import NetworkConfig, Sweep
from simulate.dense import dense_network
from simulate.kernels import activation_code, reduced_network
from simulate.seeding import network_rng

LAYER_VARIABLES = ("q_tilde", "q_cond", "chi1", "sparsity", "rho", "back_norm2")


def variables(sweep: Sweep) -> tuple[str, ...]:
    """The per-layer variables a sweep records."""
    names = ["q_tilde", "q_cond", "chi1", "sparsity"]
    if sweep.inputs == 2:
        names.append("rho")
    if sweep.backward:
        names.append("back_norm2")
    return tuple(names)


def simulate_chunk(
    sweep: Sweep, config: NetworkConfig, width: int, start: int, stop: int, threads: int | None = None
) -> dict[str, np.ndarray]:
    """Observables of networks ``start..stop-1``: arrays ``(stop - start, depth)`` and
    ``diverged_layer`` ``(stop - start,)``."""
    n = stop - start
    out = {name: np.full((n, sweep.depth), np.nan) for name in LAYER_VARIABLES}
    rngs = [network_rng(sweep.seed, width, s) for s in range(start, stop)]
    sol = config.solution
    if sweep.sampler == "reduced":
        code, params = activation_code(sol.activation)

        def work(indices):
            for k in indices:
                reduced_network(
                    rngs[k], sweep.depth, width, sweep.inputs, code, params, sol.sigma_w2, sol.sigma_b2,
                    sol.q_star, sweep.rho0, sweep.backward, out["q_tilde"], out["q_cond"], out["chi1"],
                    out["sparsity"], out["rho"], out["back_norm2"], k,
                )
    else:

        def work(indices):
            for k in indices:
                dense_network(rngs[k], sol, sweep.depth, width, sweep.inputs, sweep.rho0, sweep.backward, sweep.weights, out, k)

    threads = max(1, min(threads or os.cpu_count() or 1, n))
    if threads == 1:
        work(range(n))
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, np.array_split(np.arange(n), threads)))
    result = {name: out[name] for name in variables(sweep)}
    bad = ~np.isfinite(result["q_cond"])
    result["diverged_layer"] = np.where(bad.any(axis=1), bad.argmax(axis=1) + 1, 0).astype(np.int32)
    return result
