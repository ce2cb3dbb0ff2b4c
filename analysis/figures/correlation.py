"""Figures of the two inputs' correlation ``rho`` at finite width (issue 25).

* :func:`correlation_maps`: the papers' correlation map ``R(rho)`` (ICLR 2024 Figs. 6 and 7)
  for ReLU_tau, ST, CReLU and CST at the EoC (``chi_1 = 1``) and on either side of it
  (``sigma_w^2`` scaled by 0.8 and 1.2 with ``sigma_b^2`` moved so that ``q*`` stays the
  fixed point: ``chi_1 = 0.8, 1.2``), with the simulated finite-width one-step maps
  overlaid (``rho^(l+1)`` against ``rho^(l)`` pooled over layers and networks, binned
  means, ``N = 100, 300, 1000``); the lower row shows ``R(rho) - rho``, where the widths
  differ visibly.
* :func:`depth_curves`: ``1 - E rho^(l)`` against ``l`` (log-log) per ``V'`` with the
  infinite-width and ``O(1/N)`` curves, per width; and :func:`depth_collapse`: the ratio
  to the infinite-width value against ``l/N`` (the depth-to-width ratio of Li & Nica).
* :func:`correlation_section`: the report blocks for a two-input store.

``python -m analysis.figures.correlation --out DIR [--simulate NETWORKS] [--depth L]``
writes the three figures (the simulation: a few thousand networks per point, about a
minute and a half on two cores at the defaults).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from analysis.correlation import (
    SCAN_WIDTHS,
    DepthCurve,
    correlation_theory,
    depth_scan,
    load_scan,
    measure_rho,
    save_scan,
    store_rho0,
)
from theory import solve_eoc
from theory.cli import parse
from theory.correlation import ZETA_MAX
from theory.kernel_map import KernelMap
from theory.maps import VarianceMap

DPI = 110
#: the families of the map figure, with their EoC target (clipped families need V'(q*))
MAP_FAMILIES = (("relu_tau", None), ("st", None), ("crelu", 0.7), ("cst", 0.7))
MAP_SPARSITY = 0.6
#: ``sigma_w^2`` factors of the map figure (chi_1 at q* is the factor)
CHI_FACTORS = (0.8, 1.0, 1.2)
WIDTH_COLOURS = {100: "tab:red", 300: "tab:orange", 1000: "tab:blue"}
CHI_STYLES = {0.8: ":", 1.0: "-", 1.2: "--"}


def _colour(width: int) -> str:
    return WIDTH_COLOURS.get(int(width), "tab:green")


def _off_eoc(sol, factor: float) -> VarianceMap | None:
    """The map with ``sigma_w^2`` times ``factor`` and ``sigma_b^2`` such that ``V(q*) = q*``
    (None where that needs ``sigma_b^2 < 0``)."""
    sw2 = factor * sol.sigma_w2
    sb2 = float(sol.q_star) - sw2 * float(sol.activation.expect("phi2", float(sol.q_star)))
    return VarianceMap(sol.activation, sw2, sb2) if sb2 >= 0.0 else None


def _theory_map(vmap: VarianceMap, q: float, rho: np.ndarray) -> np.ndarray:
    """``R(rho) - rho`` without cancellation near ``rho = 1`` (``1 - rho - (1 - R)``)."""
    kmap = KernelMap.from_variance_map(vmap)
    one_minus_r = np.array([float(kmap.one_minus_R(1.0 - r, q)) for r in rho])
    return (1.0 - rho) - one_minus_r


def simulate_map_pairs(networks: int = 1000, depth: int = 30, widths=SCAN_WIDTHS, rho0s=(-0.5, 0.5),
                       seed: int = 0) -> dict:
    """``{(family, width): (rho^(l), rho^(l+1))}`` pooled over layers, networks and the
    inputs' ``rho0`` (reduced sampler at the EoC of :data:`MAP_FAMILIES`)."""
    from simulate.config import Sweep
    from simulate.cpu import simulate_chunk

    out = {}
    for family, vprime in MAP_FAMILIES:
        xs, ys = {}, {}
        for rho0 in rho0s:
            sweep = Sweep(activation=(family,), sparsity=(MAP_SPARSITY,), q_star=(1.0,),
                          vprime=None if vprime is None else (vprime,), width=tuple(widths), depth=depth,
                          samples=networks, inputs=2, rho0=rho0, seed=seed)
            config = sweep.configs()[0]
            for width in widths:
                rho = simulate_chunk(sweep, config, int(width), 0, networks)["rho"]
                rho = rho[np.all(np.isfinite(rho), axis=1)]
                xs.setdefault(width, []).append(rho[:, :-1].ravel())
                ys.setdefault(width, []).append(rho[:, 1:].ravel())
        for width in widths:
            out[(family, int(width))] = (np.concatenate(xs[width]), np.concatenate(ys[width]))
    return out


def _binned(x: np.ndarray, y: np.ndarray, edges: np.ndarray, min_count: int = 30):
    """Binned means of ``y - x`` with standard errors (bins with ``min_count`` pairs or more)."""
    idx = np.digitize(x, edges) - 1
    centres, means, ses = [], [], []
    for b in range(edges.size - 1):
        sel = idx == b
        if sel.sum() < min_count:
            continue
        d = y[sel] - x[sel]
        centres.append(x[sel].mean())
        means.append(d.mean())
        ses.append(d.std(ddof=1) / math.sqrt(sel.sum()))
    return np.array(centres), np.array(means), np.array(ses)


def one_step_shift(sol, rho: np.ndarray) -> np.ndarray:
    """``a(rho) = (1/2) Hess g(F(G)) : S(G)`` at ``G = q* [[1, rho], [rho, 1]]``: ``N (E[rho' | G] -
    R(rho))`` to ``O(1/N)`` for one layer started on the diagonal (:mod:`theory.correlation`;
    exact in ``rho`` alone for ReLU only)."""
    from theory.correlation import rho_gradient

    kmap = KernelMap.from_eoc(sol)
    q = float(sol.q_star)
    g = np.stack([np.full(rho.shape, q), q * rho, np.full(rho.shape, q)], axis=-1)
    _, hess = rho_gradient(np.asarray(kmap.F(g), float).reshape(g.shape))  # at G' = F(G): the noise enters there
    return 0.5 * np.einsum("lab,lab->l", hess, kmap.S(g))


def correlation_maps(pairs: dict | None = None) -> Figure:
    """ICLR Figs. 6-7 for the four families, with the simulated maps (module docstring).

    Upper row: ``R(rho)`` at the EoC and either side of it, with the simulated binned
    ``E[rho^(l+1) | rho^(l)]``. Lower row (EoC): ``N (E[rho^(l+1) | rho^(l)] - R(rho^(l)))``
    per width against the one-step coefficient :func:`one_step_shift` (the simulated
    layers have ``G00`` off ``q*`` and unequal variances, which this curve leaves out)."""
    fig = Figure(figsize=(15, 7.6), layout="constrained")
    axes = fig.subplots(2, len(MAP_FAMILIES), sharex=True)
    rho = np.linspace(-0.999, 0.999, 121)
    rho = np.concatenate([rho, 1.0 - np.logspace(-4, -3, 5)])
    rho.sort()
    edges = np.linspace(-0.6, 1.0, 33)
    for k, (family, vprime) in enumerate(MAP_FAMILIES):
        sol = solve_eoc(family, MAP_SPARSITY, 1.0, vprime=vprime)
        top, low = axes[0, k], axes[1, k]
        for factor in CHI_FACTORS:
            vmap = sol.variance_map if factor == 1.0 else _off_eoc(sol, factor)
            if vmap is None:
                continue
            d = _theory_map(vmap, float(sol.q_star), rho)
            label = rf"$\chi_1 = {factor:g}$" + (" (EoC)" if factor == 1.0 else "")
            colour = "black" if factor == 1.0 else "0.45"
            top.plot(rho, rho + d, CHI_STYLES[factor], color=colour, lw=1.4, label=label)
        top.plot([-1, 1], [-1, 1], color="0.8", lw=0.8, zorder=0)
        low.axhline(0.0, color="0.8", lw=0.8, zorder=0)
        low.plot(rho, one_step_shift(sol, rho), color="black", lw=1.4, label="one step from the diagonal (O(1/N))")
        eoc_rho = np.linspace(-0.6, 0.999, 81)
        eoc_d = _theory_map(sol.variance_map, float(sol.q_star), eoc_rho)
        for (fam, width), (x, y) in sorted((pairs or {}).items()):
            if fam != family:
                continue
            c, m, se = _binned(x, y, edges)
            top.plot(c, c + m, "o", ms=3.5, color=_colour(width), label=f"simulated, N = {width}")
            r = np.interp(c, eoc_rho, eoc_d)
            low.errorbar(c, width * (m - r), yerr=width * se, fmt="o", ms=3.5, color=_colour(width), capsize=0, lw=0.8,
                         label=f"N = {width}")
        name = {"relu_tau": r"ReLU$_\tau$", "st": "ST", "crelu": "CReLU", "cst": "CST"}[family]
        extra = f", V'(q*) = {vprime:g}" if vprime is not None else " (V'(q*) = 1)"
        top.set_title(f"{name}, s = {MAP_SPARSITY:g}{extra}", fontsize=10)
        top.set_xlim(-1, 1)
        top.set_ylim(-0.2, 1.02)
        low.set_xlabel(r"$\rho^{(l)}$")
        low.set_ylim(-3, 3)
        top.grid(alpha=0.3)
        low.grid(alpha=0.3)
        if k == 0:
            top.set_ylabel(r"$R(\rho)$; simulated $\mathrm{E}[\rho^{(l+1)} | \rho^{(l)}]$")
            low.set_ylabel(r"$N\,(\mathrm{E}[\rho^{(l+1)} | \rho^{(l)}] - R(\rho^{(l)}))$ at the EoC")
    axes[0, 0].legend(fontsize=7.5, loc="upper left")
    handles, labels = axes[1, 0].get_legend_handles_labels()
    axes[1, 1].legend(handles, labels, fontsize=7.5, loc="lower left")
    fig.suptitle("Correlation maps at q* = 1 on and off the EoC (ICLR 2024 Figs. 6-7), with finite-width one-step maps "
                 "(binned means over layers 1-30 from rho0 = -0.5 and 0.5; bars: 1 s.e.)", fontsize=10.5)
    return fig


def depth_curves(curves: list[DepthCurve]) -> Figure:
    """``1 - E rho^(l)`` against ``l``, log-log, one panel per ``V'``: measured (points with
    5-s.e. bars), infinite width (black), ``O(1/N)`` (dashed, drawn where it is positive,
    thick where ``zeta <= ZETA_MAX``)."""
    vprimes = sorted({c.vprime for c in curves})
    fig = Figure(figsize=(4.6 * len(vprimes), 4.4), layout="constrained")
    axes = fig.subplots(1, len(vprimes), squeeze=False, sharey=True)[0]
    for ax, vprime in zip(axes, vprimes):
        mine = [c for c in curves if c.vprime == vprime]
        layers = mine[0].layers
        ax.plot(layers, mine[0].gap_inf, color="black", lw=1.8, label="infinite width (exact)")
        for c in mine:
            colour = _colour(c.width)
            pos = c.gap_1n > 0
            ax.plot(layers[pos], c.gap_1n[pos], "--", color=colour, lw=0.9)
            ok = pos & (c.zeta <= ZETA_MAX)
            ax.plot(layers[ok], c.gap_1n[ok], "-", color=colour, lw=2.6, alpha=0.5)
            sel = np.unique(np.round(np.geomspace(1, layers[-1], 40)).astype(int)) - 1
            ax.errorbar(layers[sel], c.gap[sel], yerr=5 * c.gap_se[sel], fmt="o", ms=3, color=colour, lw=0.8,
                        label=f"N = {c.width} ({c.networks} networks)")
            ax.plot(layers[sel], c.median_gap[sel], "x", ms=3, color=colour, alpha=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-7, 1)
        ax.set_xlabel("layer l")
        ax.set_title(f"CReLU s = 0.85, V'(q*) = {vprime:g}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel(r"$1 - \mathrm{E}\,\rho^{(l)}$ (o, $\pm 5$ s.e.); median (x)")
    axes[0].legend(fontsize=7.5, loc="lower left")
    axes[-1].text(0.98, 0.98, "dashed: O(1/N) theory\nthick: zeta <= 0.3 (in regime)", transform=axes[-1].transAxes,
                  ha="right", va="top", fontsize=8)
    return fig


def depth_collapse(curves: list[DepthCurve]) -> Figure:
    """``(1 - E rho^(l)) / (1 - rho_inf^(l))`` against ``l/N`` per ``V'``: the curves of the
    three widths collapse where the finite-width effect is a function of the depth-to-width
    ratio (Li & Nica); the band ``[1/2, 2]`` marks where infinite width still describes
    the mean."""
    vprimes = sorted({c.vprime for c in curves})
    fig = Figure(figsize=(4.6 * len(vprimes), 4.2), layout="constrained")
    axes = fig.subplots(1, len(vprimes), squeeze=False)[0]
    for ax, vprime in zip(axes, vprimes):
        mine = [c for c in curves if c.vprime == vprime]
        first = mine[0]
        for c in mine:
            t = c.layers / c.width
            ratio = c.gap / c.gap_inf
            ax.fill_between(t, (c.gap - 2 * c.gap_se) / c.gap_inf, (c.gap + 2 * c.gap_se) / c.gap_inf,
                            color=_colour(c.width), alpha=0.25, lw=0)
            ax.plot(t, ratio, color=_colour(c.width), lw=1.2, label=f"N = {c.width}")
            ax.plot(t, c.gap_1n / c.gap_inf, ":", color=_colour(c.width), lw=1.0)
            ax.plot(t, c.gap_exp / c.gap_inf, "--", color="black", lw=0.9, label="exp(O(1/N))" if c is first else None)
        ax.axhspan(0.5, 2.0, color="0.9", zorder=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("l / N")
        ax.set_title(f"CReLU s = 0.85, V'(q*) = {vprime:g}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel(r"$(1 - \mathrm{E}\,\rho^{(l)}) / (1 - \rho_\infty^{(l)})$ ($\pm 2$ s.e.); dotted: O(1/N)")
    for ax, vprime in zip(axes, vprimes):
        ratios = np.concatenate([c.gap / c.gap_inf for c in curves if c.vprime == vprime])
        ratios = ratios[ratios > 0]
        ax.set_ylim(max(1e-3, 0.5 * ratios.min()), max(3.0, 3.0 * ratios.max()))
    axes[0].legend(fontsize=8)
    return fig


def takeover_rows(curves: list[DepthCurve]) -> list[list[str]]:
    """Per (``V'``, ``N``): the depth from which ``1 - E rho`` stays above twice (or below
    half) the infinite-width value, in layers and in ``l/N``, and the ``O(1/N)`` theory's."""
    rows = []
    for c in curves:
        up, up1 = c.takeover(2.0), c.takeover_1n(2.0)
        ratio = c.gap / c.gap_inf
        below = ratio <= 0.5
        down = None
        if below[-1]:
            above = np.flatnonzero(~below)
            down = int(above[-1]) + 2 if above.size else 1
        fmt = (lambda l: f"{l} ({l / c.width:.3g})" if l else f"> {c.layers[-1]}")
        rate, rate_se = c.rate()
        med, _ = c.rate(0.05, 0.5, median=True)
        rows.append([f"{c.vprime:g}", str(c.width), str(c.networks), fmt(up), fmt(up1), fmt(down),
                     f"{ratio[-1]:.3g} +- {c.gap_se[-1] / c.gap_inf[-1]:.2g}", f"{rate:.2f}",
                     f"{c.predicted_rate():.2f}", f"{med:.1f}"])
    return rows


TAKEOVER_HEADER = ["V'(q*)", "N", "networks", "1 - E rho >= 2 x inf: l (l/N)", "O(1/N) theory: l (l/N)",
                   "1 - E rho <= inf / 2: l (l/N)", "ratio at the last layer", "measured rate (l/N <= 0.3)",
                   "O(1/N) rate", "median's rate"]


# -- the report section -------------------------------------------------------------------------
def store_curves(ds, theories) -> list[DepthCurve]:
    """:class:`DepthCurve` of every (configuration, width) of a two-input store."""
    from analysis.sweep import theories_of

    theories = theories or theories_of(ds)
    rho0 = store_rho0(ds)
    out = []
    for ci, theory in theories.items():
        exp = correlation_theory(theory, rho0).expansion
        for wi, width in enumerate(ds.width.values.astype(int)):
            rho = np.asarray(ds.rho.isel(config=ci, width=wi).values, float)
            rho = rho[np.all(np.isfinite(rho), axis=1)]
            g = 1.0 - rho
            n = max(len(g), 2)
            out.append(DepthCurve(float(theory.vprime), int(width), len(g), g.mean(axis=0),
                                  g.std(axis=0, ddof=1) / math.sqrt(n), exp.gap.copy(), exp.gap - exp.shift / width,
                                  exp.zeta(width), np.median(g, axis=0), np.zeros((0, 2))))
    return out


def correlation_section(ds, theories, out) -> list[tuple]:
    """Report blocks (``analysis.report``'s format) for a store simulated with ``--inputs 2``
    (an empty list otherwise): the claims' measurements per judged layer against the
    ``O(1/N)`` theory, and ``1 - E rho`` against depth with the width at which it leaves
    the infinite-width value."""
    if int(ds.attrs.get("inputs", 1)) != 2 or "rho" not in ds:
        return []
    from analysis.sweep import theories_of

    theories = theories or theories_of(ds)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rho0 = store_rho0(ds)
    rows = []
    for r in measure_rho(ds, theories):
        theory = theories[r["config"]]
        rows.append([f"C{r['config'] + 1}", f"{theory.vprime:g}", str(r["width"]), str(r["layer"]),
                     f"{r['shift_measured']:.3g} +- {r['shift_se']:.2g}", f"{r['shift']:.3g}",
                     f"{r['nvar_measured']:.3g} +- {r['nvar_se']:.2g}", f"{r['nvar']:.3g}", f"{r['zeta']:.2f}",
                     "yes" if r["in_regime"] else "no"])
    curves = store_curves(ds, theories)
    by_v = {}
    for c in curves:
        by_v.setdefault(c.vprime, c)
    path = out / "correlation_depth.png"
    depth_curves(curves).savefig(path, dpi=100)
    return [
        ("h2", "Two inputs: the correlation rho"),
        ("p", f"The store has two inputs of layer-1 correlation rho0 = {rho0:g}. Per judged layer, N (E rho - rho_inf) "
              "against the O(1/N) shift and N Var rho against its coefficient (theory.correlation; plain estimators: "
              "the store does not record G01 and G11, so no full control variate exists). The expansion holds where "
              f"zeta = sd(rho)/(1 - rho_inf) <= {ZETA_MAX:g}; at depth the chain approaches rho = 1 and leaves it "
              "(the claims rho_mean and rho_variance carry the verdicts)."),
        ("table", (["config", "V'(q*)", "N", "layer", "N (E rho - rho_inf)", "theory", "N Var rho", "theory", "zeta",
                    "in regime"], rows)),
        ("figure", (path, "1 - E rho against depth per width: measured (points, 5 s.e.), medians (x), the exact "
                          "infinite-width iterate (black) and the O(1/N) theory (dashed; thick where zeta <= 0.3).")),
        ("table", (TAKEOVER_HEADER, takeover_rows(curves))),
    ]


@dataclass(frozen=True)
class CorrelationFigures:
    """The options of ``python -m analysis.figures.correlation``.

    Parameters
    ----------
    out : Path
        Output folder.
    simulate : int
        Networks per (V', N) of the depth scan (0: the map figure without simulation, and
        the depth figures from --scan if given).
    depth : int
        Depth of the scan.
    scan : Path or None
        An .npz written by a previous run (instead of simulating).
    """

    out: Path
    simulate: int = 0
    depth: int = 400
    scan: Path | None = None


def main(argv=None) -> int:
    args = parse(CorrelationFigures, argv, prog="python -m analysis.figures.correlation", description=__doc__.split("\n")[0])
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    start = time.perf_counter()
    pairs = simulate_map_pairs(networks=max(args.simulate // 2, 200)) if args.simulate else None
    fig = correlation_maps(pairs)
    written.append(args.out / "correlation_maps.png")
    fig.savefig(written[-1], dpi=DPI)
    curves = None
    if args.scan:
        curves = load_scan(args.scan)
    elif args.simulate:
        curves = depth_scan(depth=args.depth, networks=args.simulate)
        save_scan(curves, args.out / "correlation_depth.npz")
        written.append(args.out / "correlation_depth.npz")
    if curves:
        for name, make in (("correlation_depth", depth_curves), ("correlation_collapse", depth_collapse)):
            written.append(args.out / f"{name}.png")
            make(curves).savefig(written[-1], dpi=DPI)
        print(" | ".join(TAKEOVER_HEADER))
        for row in takeover_rows(curves):
            print(" | ".join(row))
    for path in written:
        print(path)
    print(f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
