"""The papers' claims, evaluated on a depth-sweep store.

Each claim is a dict with the claim's name, the configuration, the layer, the
prediction, the measurement, its standard error and a verdict:

* ``holds``: the measurement agrees with the prediction within 5 standard errors and
  is precise enough to tell the prediction from zero (``5 se <= |prediction|``);
* ``fails``: it differs by more than 5 standard errors;
* ``inconclusive``: it agrees, but the uncertainty is too large to tell; or the claim's
  hypothesis fails (claims that expand about ``q*`` need ``V'(q*) < 1``; at ``V' = 1``,
  ReLU_tau and ST, the fixed point is unstable and only the stability claim applies).

Width-dependent estimates are extrapolated to infinite width by a fit in ``1/N``
(:func:`analysis.estimators.extrapolate`); with a single width the largest width's
estimate is used as it is (and the claim says so).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from analysis.estimators import (
    divergence_curve,
    extrapolate,
    moments,
    nlo_coefficient,
    scaled_variance,
    stationary_nlo,
)

SIGMAS = 5.0
#: claims that rest on the 1/N expansion about a stable fixed point
EXPANSION_CLAIMS = ("q1_recursion", "r_recursion", "q_tilde_variance", "q1_recursion_stationary", "log_prod_chi1_drift")


def verdict(measured: float, se: float, predicted: float) -> str:
    if not (np.isfinite(measured) and np.isfinite(se) and np.isfinite(predicted)):
        return "inconclusive"
    if abs(measured - predicted) > SIGMAS * se:
        return "fails"
    return "holds" if SIGMAS * se <= abs(predicted) else "inconclusive"


def _config_label(ds, ci) -> dict:
    c = ds.isel(config=ci)
    return {
        "activation": str(c.activation.values),
        "sparsity": float(c.sparsity_target),
        "q_star": float(c.q_star),
        "vprime": float(c.vprime),
        "m": float(c.m) if np.isfinite(c.m) else None,
    }


def _limit(estimate: xr.Dataset) -> tuple[xr.Dataset, str]:
    if estimate.sizes["width"] >= 2:
        return extrapolate(estimate), "extrapolated to infinite width (fit a + b/N)"
    return estimate.isel(width=-1), f"at the only width N = {int(estimate.width[-1])}"


def _entry(name, ds, ci, layer, predicted, measured, se, method, **extra):
    record = {
        "claim": name,
        "config": _config_label(ds, ci),
        "layer": int(layer) if layer is not None else None,
        "prediction": float(predicted),
        "measurement": float(measured),
        "uncertainty": float(se),
        "method": method,
        "verdict": verdict(measured, se, predicted),
    }
    record.update(extra)
    return record


def evaluate(ds: xr.Dataset) -> list[dict]:
    """All claims on the store opened by :func:`analysis.sweep.open_sweep`."""
    depth = ds.sizes["layer"]
    layers = sorted({min(depth, 10), depth})
    claims: list[dict] = []
    nlo, nlo_method = _limit(nlo_coefficient(ds))
    var_c, var_c_method = _limit(scaled_variance(ds, "q_cond"))
    var_t, var_t_method = _limit(scaled_variance(ds, "q_tilde"))
    for ci in range(ds.sizes["config"]):
        c = ds.isel(config=ci)
        for layer in layers:
            claims.append(_entry(
                "q1_recursion", ds, ci, layer, c.q1_theory.sel(layer=layer),
                nlo.value.isel(config=ci).sel(layer=layer), nlo.se.isel(config=ci).sel(layer=layer), nlo_method,
                statement="N (E q_cond - q^(l)) -> q~{1}^(l) (arXiv eq. 13)",
                fit_chi2_dof=float(nlo.chi2_dof.isel(config=ci).sel(layer=layer)) if "chi2_dof" in nlo else None,
            ))
            claims.append(_entry(
                "r_recursion", ds, ci, layer, c.r_theory.sel(layer=layer),
                var_c.value.isel(config=ci).sel(layer=layer), var_c.se.isel(config=ci).sel(layer=layer), var_c_method,
                statement="N Var(q_cond^(l)) -> r^(l) (arXiv eq. 12)",
            ))
            claims.append(_entry(
                "q_tilde_variance", ds, ci, layer, (c.r_theory + 2 * c.q_theory**2).sel(layer=layer),
                var_t.value.isel(config=ci).sel(layer=layer), var_t.se.isel(config=ci).sel(layer=layer), var_t_method,
                statement="N Var(q_tilde^(l)) -> r^(l) + 2 (q^(l))^2",
            ))
        if "q_cond" in ds:
            claims.append(_stationary_claim(ds, ci))
        claims.append(_bound_claim(ds, ci, nlo, nlo_method, depth))
        claims.append(_stability_claim(ds, ci))
        claims.extend(_drift_claims(ds, ci))
        if float(ds.vprime[ci]) >= 1.0 - 1e-12:
            for claim in claims:
                if claim["config"] == _config_label(ds, ci) and claim["claim"] in EXPANSION_CLAIMS:
                    claim["verdict"] = "inconclusive"
                    claim["note"] = "V'(q*) = 1: the expansion about the (unstable) fixed point does not apply"
    claims.extend(_scale_covariance_claims(ds))
    return claims


def _stationary_claim(ds, ci):
    """q~{1} once converged, from each network's q_cond averaged over those layers."""
    est = stationary_nlo(ds, ci)
    limit, method = _limit(est)
    start = est.attrs["start_layer"]
    return _entry(
        "q1_recursion_stationary", ds, ci, start, est.attrs["prediction"], limit.value, limit.se,
        f"per-network mean over layers {start}..{ds.sizes['layer']}, {method}",
        statement="N (E q_cond - q*) -> q~{1} at the fixed point (layers where the recursion has converged)",
    )


def _bound_claim(ds, ci, nlo, method, depth):
    """Theorem 2.1: |q~{1}^(l)| <= bound for l >= 3 (only where 0 < V'(q*) < 1). The bound
    is the limit of |q~{1}^(l)|, so it holds when not violated by more than 5 se and the
    measurement resolves it (5 se below the bound)."""
    bound = float(ds.bound[ci])
    value = float(nlo.value.isel(config=ci).sel(layer=depth))
    se = float(nlo.se.isel(config=ci).sel(layer=depth))
    if not np.isfinite(bound):
        result = "inconclusive"
    elif abs(value) - SIGMAS * se > bound:
        result = "fails"
    elif SIGMAS * se < bound:
        result = "holds"
    else:
        result = "inconclusive"
    return {
        "claim": "nlo_bound",
        "statement": "|N (E q_cond - q^(L))| <= Theorem 2.1 bound (hypothesis 0 < V'(q*) < 1)",
        "config": _config_label(ds, ci),
        "layer": depth,
        "prediction": bound,
        "measurement": abs(value),
        "uncertainty": se,
        "method": method,
        "verdict": result,
    }


def _stability_claim(ds, ci, factor: float = 10.0):
    """ReLU_tau and ST are unstable at the EoC (q drifts up: E q_cond^(L) - q* > 0 beyond
    5 se); CReLU and CST are stable (no network leaves [q*/10, 10 q*])."""
    act = str(ds.activation[ci].values)
    q_star = float(ds.q_star[ci])
    depth = ds.sizes["layer"]
    m = moments(ds.isel(config=[ci]), "q_cond").isel(config=0).sel(layer=depth)
    wi = int(np.argmax(ds.width.values))
    drift = float(m["mean"].isel(width=wi)) - q_star
    se = float(m["sem"].isel(width=wi))
    escaped = float(divergence_curve(ds.isel(config=[ci]), factor).isel(config=0, width=wi).sel(layer=depth))
    n = int(ds.attrs.get("raw_samples", ds.sizes["sample"]))
    if act in ("relu_tau", "st", "relu"):
        unstable = drift > SIGMAS * se or escaped > 0
        result = "holds" if unstable else ("fails" if abs(drift) <= SIGMAS * se and se * SIGMAS < 0.1 * q_star else "inconclusive")
        statement = "unstable at the EoC: q_cond drifts above q* (ICLR 2024 App. B)"
    else:
        result = "holds" if escaped == 0 else "fails"
        statement = f"stable at the EoC: no network's q_cond leaves [q*/{factor:g}, {factor:g} q*] by layer L"
    return {
        "claim": "stability",
        "statement": statement,
        "config": _config_label(ds, ci),
        "layer": depth,
        "prediction": 0.0,
        "measurement": escaped,
        "uncertainty": float(np.sqrt(max(escaped * (1 - escaped), 1.0 / n) / n)),
        "mean_q_cond_minus_q_star": drift,
        "mean_q_cond_se": se,
        "width": int(ds.width[wi]),
        "method": f"fraction of {n} networks escaped by layer {depth} at N = {int(ds.width[wi])}",
        "verdict": result,
    }


def _drift_claims(ds, ci):
    """E log prod_{k<=L} chi1 = sum lead + (sum coef) / N (theory.log_chi1_drift), per width;
    only on networks with no dead layer, so inconclusive if any died."""
    out = []
    m = moments(ds.isel(config=[ci]), "log_prod_chi1").isel(config=0)
    depth = ds.sizes["layer"]
    lead = float(ds.log_chi1_lead.isel(config=ci).sum())
    coef = float(ds.log_chi1_coef.isel(config=ci).sum())
    n_total = int(ds.attrs.get("samples", ds.sizes["sample"]))
    for wi, width in enumerate(ds.width.values):
        alive = float(m["count"].isel(width=wi).sel(layer=depth))
        entry = _entry(
            "log_prod_chi1_drift", ds, ci, depth, lead + coef / width,
            m["mean"].isel(width=wi).sel(layer=depth), m["sem"].isel(width=wi).sel(layer=depth),
            f"mean over networks at N = {int(width)}",
            statement="E log prod chi1 over depth L = sum log chi_1(q^(l)) + (1/N) sum coef^(l), O(L/N) drift",
            width=int(width), dead_or_diverged=n_total - alive,
        )
        if alive < n_total:
            entry["verdict"] = "inconclusive"
        out.append(entry)
    return out


def _scale_covariance_claims(ds):
    """SPEC.md: with common random numbers a q* = c network is the q* = 1 network times
    sqrt(c): q_tilde / q* agree to rounding across q* at fixed (activation, s, V')."""
    out = []
    if "q_tilde" not in ds:
        return out
    keys = {}
    for ci in range(ds.sizes["config"]):
        key = (str(ds.activation[ci].values), round(float(ds.sparsity_target[ci]), 12), round(float(ds.vprime[ci]), 9))
        keys.setdefault(key, []).append(ci)
    for key, members in keys.items():
        if len(members) < 2:
            continue
        ref = ds.q_tilde.isel(config=members[0]) / ds.q_star[members[0]]
        worst = 0.0
        for ci in members[1:]:
            other = ds.q_tilde.isel(config=ci) / ds.q_star[ci]
            rel = (abs(other - ref) / abs(ref)).where(np.isfinite(ref) & np.isfinite(other))
            worst = max(worst, float(rel.max().compute()))  # lazy: bounded memory
        out.append({
            "claim": "scale_covariance",
            "statement": "q_tilde/q* is the same across q* at fixed activation, s, V'(q*) (exact identity)",
            "config": {"activation": key[0], "sparsity": key[1], "vprime": key[2], "q_star": [float(ds.q_star[c]) for c in members]},
            "layer": None,
            "prediction": 0.0,
            "measurement": worst,
            "uncertainty": 1e-12,
            "method": "largest relative difference over networks, widths and layers (tolerance 1e-9)",
            "verdict": "holds" if worst <= 1e-9 else "fails",
        })
    return out
