"""The correlation ``rho`` of two inputs at finite width: its claims and its approach to ``rho = 1``.

Claims (issue 25, part 1; :mod:`theory.correlation` derives the theory). On a store
simulated with ``--inputs 2`` (which records ``rho^(l) = G01/sqrt(G00 G11)`` and input
0's ``q_cond = G00`` per layer), two claims per judged layer, in the registry's contract
(:class:`analysis.claims.ExpansionClaim`):

* ``rho_mean``: ``N (E rho^(l) - rho_inf^(l)) -> shift^(l)`` (eq. 3 of
  :mod:`theory.correlation`), null 0;
* ``rho_variance``: ``N Var rho^(l) -> nvar^(l)`` (eq. 4), null 0.

Their next order is not derived (``next_derived=False``). It is estimated by the regime
rule of :mod:`theory.correlation`: relative to the effect it is ``zeta^2`` with ``zeta =
sd_N(rho)/min(1 - rho_inf, 1 + rho_inf)``, scaled by ``RHO_MAX / ZETA_MAX^2`` so that a
width is in the registry's regime (next order ``<= RHO_MAX`` of the effect) exactly when
``zeta <= ZETA_MAX``: ``c = |P| (nvar / d^2) RHO_MAX / ZETA_MAX^2``, ``d = min(1 -
rho_inf, 1 + rho_inf)``. The ``q_cond`` chain's own expansion parameter (``beta``,
:attr:`theory.expansion.ConfigurationTheory.chain_background`) is the background.

The theory needs the store's ``rho0``, which :class:`theory.expansion.ConfigurationTheory`
does not carry: a claim takes it from ``ds.attrs["rho0"]`` (in :meth:`RhoClaim.evaluate`
and :meth:`RhoClaim.estimate`), or from the data (layer 1's ``rho`` is ``rho0`` exactly)
when its features are computed, or as the constructor's ``rho0``; the expansion is cached
per (configuration, depth, ``rho0``).

Control variate. ``G^(l+1) - F(G^(l))`` has conditional mean zero, but the store records
only ``G00`` (``q_cond``) and ``rho``, not ``G01`` and ``G11``: ``G01 = rho sqrt(G00
G11)`` needs ``G11``, which equals ``G00`` in law (the two inputs are exchangeable) but
not network by network, so no companion in ``G01`` or ``G11`` can be built. What can be
built exactly is the one-input companion: ``G00^(l+1)`` given everything up to layer
``l`` depends on ``G00^(l)`` only, so ``eps_k = q_cond^(k+1) - V(q_cond^(k))`` is a
martingale difference with ``N E[eps_k^2 | F_k] = S00(q_cond^(k))`` exactly
(:mod:`theory.companions`). With coefficients fixed in advance by the theory (the linear
response of ``rho^(l)`` to ``eps_k`` through the regression of the whole injected matrix
on its ``00`` entry, ``S_(.),00 / S_00,00`` at ``K^(k)``, propagated by the Jacobians
``J``), ``C_l = sum_(k<l) w_lk eps_k`` has mean exactly zero at every width: the
control variate of ``rho_mean`` is ``N (E[rho - C] - rho_inf)``. It removes only the part
of ``rho``'s noise carried by input 0's own variance, which is small (measured: a variance
reduction of 1.1 at layer 2 rising to 1.4 at layer 10, CReLU s = 0.85, V' = 0.7, N = 300,
4000 networks; the rest of the noise of ``rho`` is the part of the injected matrix that
``G00`` does not see); the registry uses it
only when its standard error is smaller. ``rho_variance`` has none (``controlled``
returns NaN: not applicable). To build the full companion ``C_l = sum_k grad g .
J...J (G^(k+1) - F(G^(k)))``, and ``Vc``'s compensated square, the sampler would have to
record ``G01`` and ``G11`` (or ``rho`` and ``G11``) per layer.

Depth (issue 25, part 3): :func:`depth_scan` measures ``1 - E rho^(l)`` against ``l`` and
the depth where finite width takes over (``docs/correlation.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from analysis.claims import ExpansionClaim, WidthEstimate
from analysis.features import FeatureMoments, NetworkBatch, gaussian_reason
from theory.companions import UnitMoments
from theory.correlation import ZETA_MAX, CorrelationExpansion, correlation_expansion
from theory.expansion import RHO_MAX, ConfigurationTheory, Expansion
from theory.kernel_map import KernelMap

#: the simulator's default ``rho0`` (:class:`simulate.config.Sweep`), used only when no store gives one
DEFAULT_RHO0 = 0.5

_CACHE: dict[tuple, "CorrelationTheory"] = {}


@dataclass(frozen=True)
class CorrelationTheory:
    """The ``O(1/N)`` expansion of ``rho`` along layers ``1..L`` of one configuration
    (:class:`theory.correlation.CorrelationExpansion`) and the weights ``W (L, L)`` of the
    ``G00`` companion: ``C_l = sum_(k<l) W[l-1, k-1] eps_k`` (module docstring)."""

    expansion: CorrelationExpansion
    weights: np.ndarray
    rho0: float

    @property
    def rho_inf(self) -> np.ndarray:
        return self.expansion.rho_inf

    def regime_next(self, layer: int, value: float) -> float:
        """The next-order estimate of a claim whose ``O(1/N)`` coefficient is ``value`` at
        ``layer`` (module docstring): ``|value| (nvar/d^2) RHO_MAX/ZETA_MAX^2``."""
        e = self.expansion
        i = layer - 1
        d = min(float(e.gap[i]), 2.0 - float(e.gap[i]))
        return abs(value) * max(float(e.nvar[i]), 0.0) / d**2 * RHO_MAX / ZETA_MAX**2


def _key(theory: ConfigurationTheory, rho0: float) -> tuple:
    sol = theory.solution
    return (sol.activation_name, float(sol.sparsity), float(sol.q_star), float(sol.vprime), float(sol.sigma_w2),
            float(sol.sigma_b2), theory.depth, round(float(rho0), 12))


def correlation_theory(theory: ConfigurationTheory, rho0: float) -> CorrelationTheory:
    """The correlation theory of ``theory``'s configuration at depth ``L`` for inputs of
    layer-1 correlation ``rho0`` (cached per configuration, depth and ``rho0``)."""
    key = _key(theory, rho0)
    if key not in _CACHE:
        sol = theory.solution
        exp = correlation_expansion(sol, float(rho0), theory.depth)
        _CACHE[key] = CorrelationTheory(exp, _companion_weights(KernelMap.from_eoc(sol), exp), float(rho0))
    return _CACHE[key]


def _companion_weights(kmap: KernelMap, exp: CorrelationExpansion) -> np.ndarray:
    """``W[l, i]``: the linear response of ``rho`` at 0-based layer ``l`` to ``eps_i =
    G00^(i+1) - V(G00^(i))`` (0-based ``i < l``), through ``E[eps | eps00] = S_(.),00/S_00,00
    eps00`` at ``K^(i)`` and the Jacobians (:mod:`theory.correlation` eq. 1's ``J``)."""
    from theory.correlation import _cross_from_gap, rho_gradient

    K = exp.K
    depth = K.shape[0]
    W = np.zeros((depth, depth))
    if depth < 2:
        return W
    src = K[:-1]
    J = kmap.J(src)
    S = kmap.S(src, cross=_cross_from_gap(kmap, src, exp.gap[:-1]))
    grad, _ = rho_gradient(K)
    for i in range(depth - 1):
        v = S[i, :, 0] / S[i, 0, 0] if S[i, 0, 0] > 0 else np.zeros(3)
        for l in range(i + 1, depth):
            W[l, i] = grad[l] @ v
            if l + 1 < depth:
                v = J[l] @ v
    return W


def store_rho0(ds) -> float:
    """The layer-1 correlation of a two-input store."""
    return float(ds.attrs.get("rho0", DEFAULT_RHO0))


class RhoClaim(ExpansionClaim):
    """Common parts of the two claims on ``rho`` (module docstring)."""

    needs: ClassVar[tuple[str, ...]] = ("q_cond", "rho")
    layers: ClassVar[str] = "judged"

    def __init__(self, layer: int | None = None, rho0: float | None = None):
        super().__init__(layer)
        self.rho0 = rho0

    @classmethod
    def present(cls, ds) -> bool:
        return super().present(ds) and int(ds.attrs.get("inputs", 2)) == 2

    def corr(self, theory: ConfigurationTheory) -> CorrelationTheory:
        return correlation_theory(theory, DEFAULT_RHO0 if self.rho0 is None else self.rho0)

    def center(self, theory):
        return float(self.corr(theory).rho_inf[self.layer - 1])

    def _from_data(self, batch: NetworkBatch) -> CorrelationTheory:
        if "rho" not in batch.arrays:
            raise KeyError("the batch has no 'rho': analysis.features.batches must read 'rho' from two-input stores")
        rho = batch.arrays["rho"]
        if self.rho0 is None and rho.size:
            self.rho0 = float(rho[0, 0])  # layer 1's rho is rho0 exactly
        return self.corr(batch.theory)

    def companion(self, batch: NetworkBatch) -> np.ndarray:
        """``(C_l, C_l^2 - Q_l)`` per network: the ``G00`` companion of ``rho^(l)`` and its
        compensated square (``Q_l = sum_k W_lk^2 S00(q_cond^(k)) / N``), both exactly mean zero."""
        ct = self._from_data(batch)
        i = self.layer - 1
        x = batch.arrays["q_cond"]
        if i == 0:
            zero = np.zeros(x.shape[0])
            return zero, zero
        unit = UnitMoments.at(batch.theory.vmap, x[:, :i])
        eps = x[:, 1 : i + 1] - unit.V
        w = ct.weights[i, :i]
        c = eps @ w
        return c, c * c - (unit.S * w**2).sum(axis=1) / batch.width

    def _prepare(self, ctx) -> None:
        if self.rho0 is None:
            self.rho0 = store_rho0(ctx.ds)

    def estimate(self, ctx, wi):
        self._prepare(ctx)
        return super().estimate(ctx, wi)

    def evaluate(self, ctx):
        self._prepare(ctx)
        rec = super().evaluate(ctx)
        rec.extra["rho0"] = self.rho0
        rec.extra["zeta_max"] = ZETA_MAX
        if not gaussian_reason(ctx.ds):
            rec.extra["control_variate"] = self.control_note
        return rec

    control_note: ClassVar[str] = ""


class RhoMean(RhoClaim):
    name = "rho_mean"
    statement = ("N (E rho^(l) - rho_inf^(l)) -> shift^(l), the O(1/N) shift of the two inputs' correlation "
                 "(theory.correlation)")
    label = r"$N\,(\mathrm{E}\,\rho - \rho_\infty)$"
    control_note = ("the G00 companion only (input 0's q_cond chain, exact mean zero); the full one needs G01, G11 "
                    "recorded")

    def expansion(self, theory):
        ct = self.corr(theory)
        shift = float(ct.expansion.shift[self.layer - 1])
        return Expansion(shift, 0.0, ct.regime_next(self.layer, shift), next_derived=False,
                         background=theory.chain_background)

    def features(self, batch):
        """``(rho - rho_inf, C)`` at the claim's layer."""
        ct = self._from_data(batch)
        i = self.layer - 1
        c, _ = self.companion(batch)
        return np.stack([batch.arrays["rho"][:, i] - ct.rho_inf[i], c], axis=1)

    def plain(self, m, n, width):
        return width * m[0]

    def controlled(self, m, n, width):
        return width * (m[0] - m[1])


class RhoVariance(RhoClaim):
    name = "rho_variance"
    statement = "N Var rho^(l) -> nvar^(l), the O(1/N) variance of the two inputs' correlation (theory.correlation)"
    label = r"$N\,\mathrm{Var}\,\rho$"
    control_note = "not applicable: an exact companion of Var rho needs G01 and G11 recorded per layer"

    def expansion(self, theory):
        ct = self.corr(theory)
        nvar = float(ct.expansion.nvar[self.layer - 1])
        return Expansion(nvar, 0.0, ct.regime_next(self.layer, nvar), next_derived=False,
                         background=theory.chain_background)

    def features(self, batch):
        """``(rho - rho_inf, its square)`` at the claim's layer."""
        ct = self._from_data(batch)
        i = self.layer - 1
        d = batch.arrays["rho"][:, i] - ct.rho_inf[i]
        return np.stack([d, d * d], axis=1)

    def plain(self, m, n, width):
        return width * n / (n - 1) * (m[1] - m[0] ** 2)

    def controlled(self, m, n, width):
        return math.nan


#: the claims of this module, for :data:`analysis.claims.REGISTRY`
CORRELATION_CLAIMS = (RhoMean, RhoVariance)


def batch_of(theory: ConfigurationTheory, width: int, arrays: dict[str, np.ndarray]) -> NetworkBatch:
    """A :class:`NetworkBatch` of simulated arrays (``simulate.cpu.simulate_chunk``'s
    output, or a store's), keeping the networks whose ``q_cond`` and ``rho`` stayed finite."""
    x = np.asarray(arrays["q_cond"], float)
    ok = np.all(np.isfinite(x) & (x > 0), axis=1)
    if "rho" in arrays:
        ok &= np.all(np.isfinite(arrays["rho"]), axis=1)
    names = [k for k in ("q_cond", "rho", "chi1", "q_tilde") if k in arrays]
    return NetworkBatch(theory, int(width), {k: np.asarray(arrays[k], float)[ok] for k in names}, int((~ok).sum()))


def estimate_batch(claim: RhoClaim, batch: NetworkBatch, controlled: bool = True) -> WidthEstimate:
    """Both estimators of ``claim`` on one batch (all networks of a width)."""
    return claim.estimate_from(FeatureMoments.of(claim.features(batch)), batch.width, controlled)


def measure_rho(ds, theories: dict | None = None, layers=None) -> list[dict]:
    """Per configuration, width and layer of a two-input store: ``E rho`` and ``N Var rho``
    measured (plain and, for the mean, with the ``G00`` companion) beside the theory, with
    ``zeta``; reads ``rho`` directly (independent of :func:`analysis.features.batches`).

    Returns a list of dicts with keys ``config, width, layer, networks, mean, mean_se,
    rho_inf, shift, shift_measured, shift_se, shift_cv, shift_cv_se, nvar, nvar_measured,
    nvar_se, zeta, in_regime``.
    """
    from analysis.sweep import theories_of

    theories = theories or theories_of(ds)
    rho0 = store_rho0(ds)
    out = []
    for ci, theory in theories.items():
        ct = correlation_theory(theory, rho0)
        sel = layers or theory.judged_layers
        for wi, width in enumerate(ds.width.values.astype(int)):
            sub = ds[["q_cond", "rho"]].isel(config=ci, width=wi)
            batch = batch_of(theory, width, {k: np.asarray(sub[k].values, float) for k in ("q_cond", "rho")})
            for layer in sel:
                mean_claim, var_claim = RhoMean(layer, rho0), RhoVariance(layer, rho0)
                em, ev = estimate_batch(mean_claim, batch), estimate_batch(var_claim, batch)
                zeta = float(ct.expansion.zeta(width)[layer - 1])
                out.append({
                    "config": int(ci), "width": int(width), "layer": int(layer), "networks": em.networks,
                    "rho_inf": float(ct.rho_inf[layer - 1]), "mean": float(ct.rho_inf[layer - 1] + em.plain / width),
                    "mean_se": em.plain_se / width, "shift": float(ct.expansion.shift[layer - 1]),
                    "shift_measured": em.plain, "shift_se": em.plain_se, "shift_cv": em.controlled,
                    "shift_cv_se": em.controlled_se, "nvar": float(ct.expansion.nvar[layer - 1]),
                    "nvar_measured": ev.plain, "nvar_se": ev.plain_se, "zeta": zeta, "in_regime": zeta <= ZETA_MAX})
    return out


# -- depth: the approach to rho = 1 at finite width (issue 25, part 3) ---------------------------
#: the grid of ``docs/correlation.md``
SCAN_VPRIMES = (0.5, 0.7, 0.9)
SCAN_WIDTHS = (100, 300, 1000)


@dataclass
class DepthCurve:
    """``1 - E rho^(l)`` over layers ``1..L`` of one (``V'``, ``N``): measured (``gap``,
    ``gap_se``), at infinite width (``gap_inf``, exact) and to ``O(1/N)`` (``gap_1n =
    gap_inf - shift/N``), with ``zeta`` and the binned one-step map (``pairs``: ``rho^(l)``
    and ``rho^(l+1)`` pooled over layers and networks, subsampled)."""

    vprime: float
    width: int
    networks: int
    gap: np.ndarray
    gap_se: np.ndarray
    gap_inf: np.ndarray
    gap_1n: np.ndarray
    zeta: np.ndarray
    median_gap: np.ndarray
    pairs: np.ndarray

    @property
    def layers(self) -> np.ndarray:
        return np.arange(1, self.gap.size + 1)

    def takeover(self, factor: float = 2.0) -> int | None:
        """The first layer from which the measured ``1 - E rho`` stays at least ``factor``
        times the infinite-width value (None: not within the depth)."""
        above = self.gap >= factor * self.gap_inf
        if not above[-1]:
            return None
        below = np.flatnonzero(~above)
        return int(below[-1]) + 2 if below.size else 1

    @property
    def gap_exp(self) -> np.ndarray:
        """The ``O(1/N)`` theory resummed as a log-normal factor: ``(1 - rho_inf)
        exp(-shift/(N (1 - rho_inf)))`` (``docs/correlation.md``: the noise on ``1 - rho`` is
        multiplicative, so its relative shift adds up in the logarithm)."""
        return self.gap_inf * np.exp((self.gap_1n - self.gap_inf) / self.gap_inf)

    def rate(self, lo: float = 0.02, hi: float = 0.3, median: bool = False) -> tuple[float, float]:
        """The measured slope of ``log((1 - E rho)/(1 - rho_inf))`` (or of the median's) in
        ``l/N`` over ``lo <= l/N <= hi``, least squares through the origin weighted by the
        standard errors (the mean's), with its standard error."""
        t = self.layers / self.width
        g = self.median_gap if median else self.gap
        sel = (t >= lo) & (t <= hi) & (g > 0)
        if sel.sum() < 3:
            return math.nan, math.nan
        y = np.log(g[sel] / self.gap_inf[sel])
        w = 1.0 / np.maximum(self.gap_se[sel] / g[sel], 1e-3) ** 2 if not median else np.ones(sel.sum())
        slope = float(np.sum(w * t[sel] * y) / np.sum(w * t[sel] ** 2))
        se = float(1.0 / math.sqrt(np.sum(w * t[sel] ** 2))) if not median else math.nan
        return slope, se

    def predicted_rate(self) -> float:
        """``lambda = -shift/(l (1 - rho_inf))`` at the last layer (times ``N``: per unit ``l/N``):
        the ``O(1/N)`` theory's rate of the log-normal factor."""
        return float((self.gap_1n[-1] - self.gap_inf[-1]) / self.gap_inf[-1] * self.width / self.layers[-1])

    def takeover_1n(self, factor: float = 2.0) -> int | None:
        """The same for the ``O(1/N)`` theory (first layer where ``gap_1n >= factor gap_inf``)."""
        above = np.flatnonzero(self.gap_1n >= factor * self.gap_inf)
        return int(above[0]) + 1 if above.size else None


def depth_scan(vprimes=SCAN_VPRIMES, widths=SCAN_WIDTHS, depth: int = 200, networks: int = 2000, rho0: float = 0.5,
               activation: str = "crelu", sparsity: float = 0.85, q_star: float = 1.0, seed: int = 0,
               pairs: int = 20_000) -> list[DepthCurve]:
    """Simulate two-input networks (reduced sampler, CPU) and measure ``1 - E rho^(l)`` per
    (``V'``, ``N``) against the infinite-width and ``O(1/N)`` theory (``docs/correlation.md``)."""
    from simulate.config import Sweep
    from simulate.cpu import simulate_chunk

    rng = np.random.default_rng(seed)
    out = []
    for vprime in vprimes:
        sweep = Sweep(activation=(activation,), sparsity=(sparsity,), q_star=(q_star,), vprime=(vprime,),
                      width=tuple(widths), depth=depth, samples=networks, inputs=2, rho0=rho0, seed=seed)
        config = sweep.configs()[0]
        exp = correlation_expansion(config.solution, rho0, depth)
        for width in widths:
            sim = simulate_chunk(sweep, config, int(width), 0, networks)
            rho = sim["rho"]
            ok = np.all(np.isfinite(rho), axis=1)
            g = 1.0 - rho[ok]
            x, y = rho[ok][:, :-1].ravel(), rho[ok][:, 1:].ravel()
            pick = rng.choice(x.size, size=min(pairs, x.size), replace=False)
            out.append(DepthCurve(float(vprime), int(width), int(ok.sum()), g.mean(axis=0),
                                  g.std(axis=0, ddof=1) / math.sqrt(ok.sum()), exp.gap.copy(),
                                  exp.gap - exp.shift / width, exp.zeta(width), np.median(g, axis=0),
                                  np.stack([x[pick], y[pick]], axis=1)))
    return out


def save_scan(curves: list[DepthCurve], path) -> None:
    """The curves as one ``.npz`` (read back by :func:`load_scan`)."""
    data = {}
    for k, c in enumerate(curves):
        for name in ("gap", "gap_se", "gap_inf", "gap_1n", "zeta", "median_gap", "pairs"):
            data[f"{k}_{name}"] = getattr(c, name)
        data[f"{k}_meta"] = np.array([c.vprime, c.width, c.networks])
    np.savez_compressed(path, count=len(curves), **data)


def load_scan(path) -> list[DepthCurve]:
    z = np.load(path)
    out = []
    for k in range(int(z["count"])):
        v, n, m = z[f"{k}_meta"]
        names = ("gap", "gap_se", "gap_inf", "gap_1n", "zeta", "median_gap", "pairs")
        out.append(DepthCurve(float(v), int(n), int(m), *(z[f"{k}_{name}"] for name in names)))
    return out
