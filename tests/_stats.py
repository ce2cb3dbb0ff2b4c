"""Statistical helpers shared by the CPU and GPU simulation tests."""

import numpy as np


def welch_z(a, b):
    """Difference of means in standard errors (Welch); |z| > 5 has probability 5.7e-7 under H0."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    diff = a.mean() - b.mean()
    return diff / se if se > 0 else (0.0 if diff == 0 else np.inf)


def assert_scale_covariant(one, scaled, c):
    """SPEC.md: a q* = c network is the q* = 1 network with every pre-activation times
    sqrt(c): variances scale by c, sparsity, chi1 and back-propagated norms do not change."""
    np.testing.assert_allclose(scaled["q_tilde"] / c, one["q_tilde"], rtol=1e-10)
    np.testing.assert_allclose(scaled["q_cond"] / c, one["q_cond"], rtol=1e-10)
    np.testing.assert_array_equal(scaled["sparsity"], one["sparsity"])
    np.testing.assert_allclose(scaled["chi1"], one["chi1"], rtol=1e-12)
    np.testing.assert_allclose(scaled["back_norm2"], one["back_norm2"], rtol=1e-9)
