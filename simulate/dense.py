"""The ``dense`` sampler: explicit weight matrices and matrix products (NumPy / BLAS).

The cross-check of the reduced sampler, and the only sampler for weights that are not
Gaussian: ``weights="orthogonal"`` draws ``W = sqrt(sigma_w^2) Q`` with ``Q`` Haar
orthogonal (``scipy.stats.ortho_group``; square layers, so entries have variance
``1/N`` as for Gaussian weights). Layer 1 is drawn exactly as in the reduced sampler,
``N(0, q* C0)``. With ``backward`` every layer's weights of one network are kept
(``L N^2`` floats) to back-propagate through them.
"""

from __future__ import annotations

import numpy as np


def dense_network(rng, sol, depth, width, n_inputs, rho0, backward, weights, out, k):
    """Simulate one network; fill row ``k`` of the arrays in ``out`` (as the reduced kernel).

    The network draws its explicit weight matrices layer by layer (module docstring):
    layer 1 is ``N(0, q* C0)`` exactly, with ``C0`` unit variances and correlation
    ``rho0``; every later layer is ``h = W phi(h_prev) + b``. The observables refer to
    input 0 and are computed in the same operation order as the reduced kernel.

    Parameters
    ----------
    rng : numpy.random.Generator
        The network's own stream (:func:`simulate.seeding.network_rng`).
    sol : theory.eoc.EoCSolution
        The EoC initialisation: its ``activation``, ``q_star``, ``sigma_w2`` and ``sigma_b2``.
    depth : int
        Number of layers ``L``.
    width : int
        Width ``N`` of every layer.
    n_inputs : int
        Inputs per network, 1 or 2 (2: also records their correlation ``rho``).
    rho0 : float
        Layer-1 correlation of the two inputs (unused with one input).
    backward : bool
        Keep every layer's weights (``L N^2`` floats) and back-propagate a random unit
        error vector from layer ``L`` through them into ``back_norm2``.
    weights : {"gaussian", "orthogonal"}
        The weight law: i.i.d. ``N(0, sigma_w^2/N)`` entries, or ``sqrt(sigma_w^2) Q`` with
        ``Q`` Haar orthogonal.
    out : dict of str to numpy.ndarray
        Arrays ``(networks, depth)`` filled in place: ``q_tilde``, ``q_cond``, ``chi1`` and
        ``sparsity`` always, ``rho`` with two inputs, ``back_norm2`` with ``backward``.
    k : int
        The row of ``out`` this network fills.

    Returns
    -------
    None
        The results are written into row ``k`` of ``out``.

    Examples
    --------
    >>> from simulate.config import Sweep
    >>> from simulate.seeding import network_rng
    >>> sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8, sampler="dense")
    >>> sol = sweep.configs()[0].solution
    >>> names = ("q_tilde", "q_cond", "chi1", "sparsity", "rho", "back_norm2")
    >>> out = {name: np.full((1, 4), np.nan) for name in names}
    >>> dense_network(network_rng(0, 20, 0), sol, 4, 20, 1, 0.5, False, "gaussian", out, 0)
    >>> [round(float(x), 3) for x in out["q_cond"][0]]
    [1.0, 0.997, 0.838, 0.796]

    It is network 0 of the dense sampler's chunks (:func:`simulate.cpu.simulate_chunk`):

    >>> from simulate.cpu import simulate_chunk
    >>> bool(np.array_equal(simulate_chunk(sweep, sweep.configs()[0], 20, 0, 1)["q_cond"], out["q_cond"]))
    True
    """
    act = sol.activation
    q_star, sw2, sb2 = sol.q_star, sol.sigma_w2, sol.sigma_b2
    cov0 = q_star * (np.eye(n_inputs) + rho0 * (1 - np.eye(n_inputs)))
    h = rng.standard_normal((width, n_inputs)) @ np.linalg.cholesky(cov0).T
    q_cond = q_star
    stored_w, stored_h = [], [h]
    for layer in range(depth):
        if layer:
            x = act.phi(h)
            q_cond = sw2 * np.mean(x[:, 0] ** 2) + sb2
            if n_inputs == 2:
                g01 = sw2 * np.mean(x[:, 0] * x[:, 1]) + sb2
                g11 = sw2 * np.mean(x[:, 1] ** 2) + sb2
            if weights == "orthogonal":
                from scipy.stats import ortho_group  # scipy.stats only for orthogonal weights (start-up)

                w = np.sqrt(sw2) * ortho_group.rvs(width, random_state=rng)
            else:
                w = np.sqrt(sw2 / width) * rng.standard_normal((width, width))
            h = w @ x + np.sqrt(sb2) * rng.standard_normal((width, 1))
            if backward:
                stored_w.append(w)
                stored_h.append(h)
        elif n_inputs == 2:
            g01, g11 = cov0[0, 1], cov0[1, 1]
        out["q_cond"][k, layer] = q_cond
        if n_inputs == 2:
            out["rho"][k, layer] = g01 / np.sqrt(q_cond * g11)
        out["q_tilde"][k, layer] = np.mean(h[:, 0] ** 2)
        # same operation order as the reduced kernel: these observables live on a lattice
        out["chi1"][k, layer] = sw2 * np.sum(act.dphi(h[:, 0]) ** 2) / width
        out["sparsity"][k, layer] = np.count_nonzero(act.phi(h[:, 0]) == 0.0) / width
    if backward:
        delta = rng.standard_normal(width)
        delta /= np.linalg.norm(delta)
        out["back_norm2"][k, depth - 1] = 1.0
        for layer in range(depth - 1, 0, -1):
            delta = act.dphi(stored_h[layer - 1][:, 0]) * (stored_w[layer - 1].T @ delta)
            out["back_norm2"][k, layer - 1] = delta @ delta
