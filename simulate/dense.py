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
    """Simulate one network; fill row ``k`` of the arrays in ``out`` (as the reduced kernel)."""
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
