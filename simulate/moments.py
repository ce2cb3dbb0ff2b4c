"""Streaming sufficient statistics: count, mean and central moment sums to 4th order.

A chunk of networks reduces to ``(n, mean, M2, M3, M4)`` per layer, with
``M_k = sum (x - mean)^k`` over its finite values; two such summaries merge exactly
(up to rounding) by the pairwise update of Pébay (2008, Sandia report SAND2008-6212,
eqs. 3.1-3.4; Chan, Golub & LeVeque 1979 for ``M2``). A store made with ``--keep K``
holds one summary per chunk and the merge is done at read time, so workers never
share a write and any chunking gives the same statistics to rounding.
"""

from __future__ import annotations

import numpy as np

MOMENTS = ("count", "mean", "m2", "m3", "m4")


def chunk_moments(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Summary of the finite values of ``x`` along ``axis``; moment index last."""
    x = np.moveaxis(np.asarray(x, float), axis, 0)
    finite = np.isfinite(x)
    n = finite.sum(axis=0).astype(float)
    safe = np.where(finite, x, 0.0)
    mean = np.divide(safe.sum(axis=0), n, out=np.zeros_like(n), where=n > 0)
    dev = np.where(finite, x - mean, 0.0)
    with np.errstate(over="ignore"):  # a diverging network's moments overflow to inf, honestly
        return np.stack([n, mean, (dev**2).sum(0), (dev**3).sum(0), (dev**4).sum(0)], axis=-1)


def merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact merge of two summaries (moment index last)."""
    na, ma, m2a, m3a, m4a = np.moveaxis(a, -1, 0)
    nb, mb, m2b, m3b, m4b = np.moveaxis(b, -1, 0)
    n = na + nb
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        d = mb - ma
        dn = np.where(n > 0, d / n, 0.0)
        mean = np.where(n > 0, ma + nb * dn, 0.0)
        m2 = m2a + m2b + d * dn * na * nb
        m3 = m3a + m3b + d * dn**2 * na * nb * (na - nb) + 3 * dn * (na * m2b - nb * m2a)
        m4 = (
            m4a
            + m4b
            + d * dn**3 * na * nb * (na * na - na * nb + nb * nb)
            + 6 * dn**2 * (na * na * m2b + nb * nb * m2a)
            + 4 * dn * (na * m3b - nb * m3a)
        )
    return np.stack([n, mean, m2, m3, m4], axis=-1)


def reduce(summaries: np.ndarray, axis: int) -> np.ndarray:
    """Merge the summaries along ``axis`` (pairwise, in order)."""
    parts = np.moveaxis(np.asarray(summaries, float), axis, 0)
    out = parts[0]
    for part in parts[1:]:
        out = merge(out, part)
    return out


def describe(summary: np.ndarray) -> dict[str, np.ndarray]:
    """``count, mean, var`` (unbiased), ``sem``, ``skewness`` and excess ``kurtosis``."""
    n, mean, m2, m3, m4 = np.moveaxis(summary, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        var = m2 / (n - 1)
        return {
            "count": n,
            "mean": mean,
            "var": var,
            "sem": np.sqrt(var / n),
            "skewness": np.sqrt(n) * m3 / m2**1.5,
            "kurtosis": n * m4 / m2**2 - 3.0,
        }
