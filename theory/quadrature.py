"""Generic Gaussian averages of piecewise-smooth functions.

``gaussian_expect(f, kinks, mean, std)`` computes ``E f(mean + std * Z)``, ``Z ~ N(0, 1)``,
for a function ``f`` that is smooth between known kink points. The real line (in the
standardised variable ``z``) is cut at

* the kinks of ``f`` mapped to ``z`` (so every piece is smooth),
* a fixed grid on ``[-12, 12]`` with spacing 1/2 (the Gaussian bulk),
* a grid of spacing 1/2 within ``+-6`` of every kink (so mass that starts at a kink far in
  the tail is resolved, relative to itself),

and each piece gets an 8-node Gauss-Legendre rule. Pieces are at most 1/2 wide in the
region carrying the mass and the integrand is analytic on each, so the rule is exact to
rounding (relative ~1e-15 on the families of this package); the truncation at
``|z| = 40`` (or 6 beyond the farthest kink) drops less than ``1e-300`` of the mass.

Derivatives in the variance come without differentiating ``f``: with ``x = sqrt(q) z``,
``d^k/dq^k <f>_q = <f(x) He_2k(z)> / (2q)^k`` (differentiate the Gaussian density
in ``q``; ``He_2 = z^2 - 1``, ``He_4 = z^4 - 6 z^2 + 3``, ... ``He_8`` are probabilists'
Hermite polynomials). This is what the generic maps ``V'``, ``V''``, ``chi_1'`` use, and
the third and fourth derivatives of the next order (:mod:`theory.next_order`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
_BULK = np.arange(-12.0, 12.0 + 0.25, 0.5)
_LOCAL = np.arange(-6.0, 6.0 + 0.25, 0.5)
_Z_MAX = 40.0
_NORM = 1.0 / np.sqrt(2.0 * np.pi)
_CHUNK = 4096

#: probabilists' Hermite polynomials He_0, He_2, ..., He_8 used for q-derivatives 0..4
HERMITE = {
    0: lambda z: np.ones_like(z),
    1: lambda z: z * z - 1.0,
    2: lambda z: (z * z - 6.0) * z * z + 3.0,
    3: lambda z: ((z * z - 15.0) * z * z + 45.0) * z * z - 15.0,
    4: lambda z: (((z * z - 28.0) * z * z + 210.0) * z * z - 420.0) * z * z + 105.0,
}


def _breakpoints(kinks_z: np.ndarray) -> np.ndarray:
    """Sorted breakpoints, shape (P, nb), for kink positions ``kinks_z`` of shape (P, k)."""
    p = kinks_z.shape[0]
    finite = np.where(np.isfinite(kinks_z), kinks_z, 0.0)
    local = (finite[:, :, None] + _LOCAL).reshape(p, -1)
    pts = np.concatenate(
        [np.broadcast_to(_BULK, (p, _BULK.size)), finite, local, np.full((p, 2), [-_Z_MAX, _Z_MAX])],
        axis=1,
    )
    lo = np.minimum(-_Z_MAX, finite.min(axis=1, initial=0.0) - 6.0)[:, None]
    hi = np.maximum(_Z_MAX, finite.max(axis=1, initial=0.0) + 6.0)[:, None]
    pts = np.clip(pts, lo, hi)
    pts[:, -2:] = np.concatenate([lo, hi], axis=1)
    return np.sort(pts, axis=1)


def gaussian_expect(
    funcs: Sequence[Callable[..., np.ndarray]],
    kinks: Sequence[np.ndarray],
    params: Mapping[str, np.ndarray] | None = None,
    mean: np.ndarray | float = 0.0,
    std: np.ndarray | float = 1.0,
    hermite: int = 0,
) -> list[np.ndarray]:
    """``E[f(mean + std Z) He_2k(Z)]`` for each ``f`` in ``funcs``, vectorised.

    Parameters
    ----------
    funcs
        Callables ``f(x, **params)`` evaluated on ``x`` of shape ``(P, pieces, nodes)``
        with every parameter array of shape ``(P, 1, 1)``.
    kinks
        Kink positions in ``x`` (``+-inf`` allowed and ignored).
    params
        Parameter arrays passed to every ``f``.
    mean, std
        Location and scale of the Gaussian. Kinks, parameters, mean and std broadcast
        together to the output shape. ``std`` must be positive.
    hermite
        ``k`` in ``He_2k``: 0 for the plain average, 1 to 4 for the ``q``-derivatives
        of that order (see module docstring).
    """
    params = dict(params or {})
    names = list(params)
    mean, std, *rest = np.broadcast_arrays(
        np.asarray(mean, float),
        np.asarray(std, float),
        *[np.asarray(params[n], float) for n in names],
        *[np.asarray(k, float) for k in kinks],
    )
    flat = {n: a.reshape(-1, 1, 1) for n, a in zip(names, rest[: len(names)])}
    kinks_b = rest[len(names) :]
    shape = mean.shape
    mean_f, std_f = mean.reshape(-1), std.reshape(-1)
    kz = (
        np.stack([(k.reshape(-1) - mean_f) / std_f for k in kinks_b], axis=1)
        if kinks_b
        else np.zeros((mean_f.size, 0))
    )
    weight_fn = HERMITE[hermite]
    outs = [np.empty(mean_f.size) for _ in funcs]
    for start in range(0, mean_f.size, _CHUNK):
        sl = slice(start, start + _CHUNK)
        bp = _breakpoints(kz[sl])
        left, right = bp[:, :-1, None], bp[:, 1:, None]
        half = 0.5 * (right - left)
        z = left + half * (_GL_NODES + 1.0)
        w = half * _GL_WEIGHTS * _NORM * np.exp(-0.5 * z * z) * weight_fn(z)
        x = mean_f[sl, None, None] + std_f[sl, None, None] * z
        chunk_params = {n: a[sl] for n, a in flat.items()}
        for out, f in zip(outs, funcs):
            out[sl] = np.sum(f(x, **chunk_params) * w, axis=(1, 2))
    return [o.reshape(shape) for o in outs]
