"""Per-network features of a store and their mergeable moments: what every claim's estimator reads.

A claim's statistic is a smooth function of the means of a few per-network *features*
(the statistic itself, its exact companion of :mod:`theory.companions`, an indicator of
the networks it is defined on). The features of one (configuration, width) are computed
batch by batch (:func:`batches`, bounded memory whatever the store's size) and reduced to
their count, mean vector and co-moment matrix (:class:`FeatureMoments`, merged exactly
across batches); the estimate and its standard error then follow by the delta method
(:func:`delta_method`), so any chunking gives the same result to rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import xarray as xr

from theory.companions import Companions, companions
from theory.expansion import ConfigurationTheory

#: networks read per batch (a batch of depth-100 networks holds a few arrays of this many rows)
BATCH = 50_000


def gaussian_reason(ds: xr.Dataset) -> str | None:
    """Why neither the ``1/N`` theory nor the companions apply to a store (None: they do)."""
    if ds.attrs.get("weights", "gaussian") != "gaussian":
        return f"derived for Gaussian weights; this store has {ds.attrs['weights']} weights"
    return None


@dataclass(frozen=True)
class FeatureMoments:
    """Count, mean vector and co-moment matrix ``sum (f - mean)(f - mean)^T`` of ``F`` features.

    Built from rows of features by :meth:`of` and merged exactly across batches by
    :meth:`merge`, so any chunking of the networks gives the same moments to rounding.

    Parameters
    ----------
    count : int
        The number of networks ``n``.
    mean : numpy.ndarray
        The mean feature vector, shape ``(F,)``.
    comoment : numpy.ndarray
        The co-moment matrix ``sum (f - mean)(f - mean)^T``, shape ``(F, F)``; the
        :attr:`covariance` is ``comoment / (n - 1)``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.standard_normal((1000, 2))
    >>> whole = FeatureMoments.of(x)
    >>> parts = FeatureMoments.of(x[:300]).merge(FeatureMoments.of(x[300:]))
    >>> bool(np.allclose(whole.covariance, parts.covariance)), parts.count
    (True, 1000)
    """

    count: int
    mean: np.ndarray
    comoment: np.ndarray

    @classmethod
    def of(cls, rows: np.ndarray) -> "FeatureMoments":
        """The moments of ``rows`` (shape ``(networks, F)``).

        Parameters
        ----------
        rows : numpy.ndarray
            The features, one row per network, shape ``(networks, F)``.

        Returns
        -------
        FeatureMoments
            Their count, mean vector and co-moment matrix (overflow to inf is kept, not
            warned about).

        Examples
        --------
        >>> fm = FeatureMoments.of(np.array([[1.0, 2.0], [3.0, 6.0]]))
        >>> fm.count, fm.mean.tolist(), fm.comoment.tolist()
        (2, [2.0, 4.0], [[2.0, 4.0], [4.0, 8.0]])
        """
        rows = np.asarray(rows, float)
        with np.errstate(over="ignore", invalid="ignore"):  # huge networks overflow to inf, honestly
            mean = rows.mean(axis=0) if len(rows) else np.zeros(rows.shape[1])
            dev = rows - mean
            return cls(len(rows), mean, dev.T @ dev)

    def merge(self, other: "FeatureMoments") -> "FeatureMoments":
        """Exact merge (Chan, Golub & LeVeque 1979, the pairwise update of the co-moments).

        Parameters
        ----------
        other : FeatureMoments
            The moments of other networks, of the same ``F`` features.

        Returns
        -------
        FeatureMoments
            The moments of both sets of networks together (either one when the other is
            empty).

        Examples
        --------
        >>> a = FeatureMoments.of(np.array([[1.0], [2.0]]))
        >>> b = FeatureMoments.of(np.array([[3.0], [4.0]]))
        >>> both = a.merge(b)
        >>> both.count, both.mean.tolist(), both.comoment.tolist()
        (4, [2.5], [[5.0]])
        >>> a.merge(FeatureMoments(0, np.zeros(0), np.zeros((0, 0)))) is a
        True
        """
        n = self.count + other.count
        if not self.count or not other.count:
            return self if other.count == 0 else other
        d = other.mean - self.mean
        mean = self.mean + d * other.count / n
        return FeatureMoments(n, mean, self.comoment + other.comoment + np.outer(d, d) * self.count * other.count / n)

    @property
    def covariance(self) -> np.ndarray:
        return self.comoment / max(self.count - 1, 1)


def delta_method(g: Callable[[np.ndarray, int], float], fm: FeatureMoments) -> tuple[float, float]:
    """``g(mean features, count)`` and its standard error by the delta method to second order,
    ``se^2 = grad^T C grad / n + tr((H C)^2) / (2 n^2)`` (``C`` the features' covariance, ``H``
    the Hessian of ``g``; central differences with steps of 1e-3 of each feature's spread,
    exact for the quadratic and rational ``g`` of the claims to ~1e-6). The second-order term
    matters where a control variate has removed the linear noise: a sample variance's
    ``-(mean - mu)^2`` then fluctuates as much as everything else. NaN without networks.

    Parameters
    ----------
    g : callable
        ``g(m, n) -> float``: the statistic as a smooth function of the mean feature vector
        ``m`` (shape ``(F,)``) and the number of networks ``n``.
    fm : FeatureMoments
        The features' moments.

    Returns
    -------
    value : float
        ``g(fm.mean, fm.count)`` (NaN with fewer than 2 networks).
    se : float
        Its standard error by the delta method to second order (NaN with fewer than 2
        networks).

    Examples
    --------
    The mean of the first feature:

    >>> fm = FeatureMoments.of(np.array([[1.0], [2.0], [3.0], [4.0]]))
    >>> value, se = delta_method(lambda m, n: m[0], fm)
    >>> value, round(se, 4)
    (2.5, 0.6455)
    """
    if fm.count < 2:
        return float("nan"), float("nan")
    cov, m, n = fm.covariance, fm.mean, fm.count
    value = float(g(m, n))
    f = m.size
    step = 1e-3 * np.sqrt(np.maximum(np.diag(cov), 0.0)) + 1e-9 * np.maximum(np.abs(m), 1.0)
    eye = np.diag(step)
    grad = np.array([(g(m + eye[i], n) - g(m - eye[i], n)) / (2.0 * step[i]) for i in range(f)])
    hess = np.empty((f, f))
    for i in range(f):
        for j in range(i, f):
            hess[i, j] = hess[j, i] = (g(m + eye[i] + eye[j], n) - g(m + eye[i] - eye[j], n) - g(m - eye[i] + eye[j], n)
                                       + g(m - eye[i] - eye[j], n)) / (4.0 * step[i] * step[j])
    hc = hess @ cov
    var = grad @ cov @ grad / n + np.trace(hc @ hc) / (2.0 * n * n)
    return value, float(np.sqrt(max(var, 0.0)))


@dataclass
class NetworkBatch:
    """One batch of networks of one (configuration, width): the recorded arrays
    ``(networks, L)``, restricted to the networks whose ``q_cond`` stayed finite and
    positive (:attr:`excluded` counts the others), and their companions.

    A store is read as such batches by :func:`batches`; the companions
    (:func:`theory.companions.companions`) and ``log prod chi1`` are computed once, on
    first use.

    Parameters
    ----------
    theory : theory.expansion.ConfigurationTheory
        The finite-width theory of the configuration.
    width : int
        The width ``N``.
    arrays : dict of str to numpy.ndarray
        The recorded arrays ``(networks, L)`` of the batch (``q_cond`` always; ``chi1``,
        ``q_tilde``, ``back_norm2``, ``rho`` where the store has them).
    excluded : int
        The networks of the batch left out because their ``q_cond`` was not finite and
        positive at some layer.

    Examples
    --------
    A batch of 8 simulated networks; the companion ``D1 + D2`` of ``q_cond`` removes most
    of its noise:

    >>> from simulate.config import Sweep
    >>> from simulate.cpu import simulate_chunk
    >>> from theory.expansion import ConfigurationTheory
    >>> sweep = Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8)
    >>> config = sweep.configs()[0]
    >>> arrays = simulate_chunk(sweep, config, 20, 0, 8)
    >>> theory = ConfigurationTheory.from_solution(config.solution, 4)
    >>> batch = NetworkBatch(theory, 20, {"q_cond": arrays["q_cond"], "chi1": arrays["chi1"]}, 0)
    >>> batch.log_prod_chi1.shape, batch.companions.q_cond.shape
    ((8, 4), (8, 4))
    >>> x = batch.arrays["q_cond"] - theory.q
    >>> bool((x - batch.companions.q_cond)[:, -1].std() < x[:, -1].std() / 10)
    True
    """

    theory: ConfigurationTheory
    width: int
    arrays: dict[str, np.ndarray]
    excluded: int

    @cached_property
    def companions(self) -> Companions:
        t = self.theory
        return companions(t.vmap, t.a, t.b, t.g, t.g2, self.width, self.arrays["q_cond"], self.arrays.get("chi1"))

    @cached_property
    def log_prod_chi1(self) -> np.ndarray:
        """``log prod_(k<=l) chi1`` per network and layer (``-inf`` from a layer with ``chi1 = 0``)."""
        with np.errstate(divide="ignore"):
            return np.cumsum(np.log(self.arrays["chi1"]), axis=1)


def batches(ds: xr.Dataset, ci: int, wi: int, theory: ConfigurationTheory, size: int = BATCH) -> Iterator[NetworkBatch]:
    """The stored networks of configuration ``ci`` at width ``wi``, ``size`` at a time."""
    names = [name for name in ("q_cond", "chi1", "q_tilde", "back_norm2", "rho") if name in ds]
    sub = ds[names].isel(config=ci, width=wi)
    width = int(ds.width[wi])
    total = sub.sizes["sample"]
    for start in range(0, total, size):
        part = sub.isel(sample=slice(start, start + size))
        arrays = {name: np.asarray(part[name].values, float) for name in names}
        x = arrays["q_cond"]
        ok = np.all(np.isfinite(x) & (x > 0), axis=1)
        yield NetworkBatch(theory, width, {k: v[ok] for k, v in arrays.items()}, int((~ok).sum()))
