"""Figures of the distribution of ``prod chi1`` (:mod:`theory.products`).

* :func:`stability_diagram`: the predicted fraction of networks with ``prod chi1`` in
  ``[1/K, K]`` (arXiv Definition 2.1 made quantitative) over ``(V'(q*), L/N)``, one panel
  per sparsity, with simulated fractions overlaid and the edge of the regime of the
  ``stable_fraction`` claim (``ConfigurationTheory.fraction_in_regime``: a marker is
  outside the regime exactly when it lies above the line);
* :func:`variance_shares`: the share of ``N Var log prod chi1`` from each source
  (sampling noise, the papers' propagated mechanism, their covariance) against ``V'(q*)``.

Measured points come from a store (:func:`store_points`) or a small simulation
(:func:`simulate_points`). ``python -m analysis.figures.products --out DIR [--simulate N]``
writes both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from theory.expansion import ConfigurationTheory
from theory import solve_eoc
from theory.cli import parse
from theory.products import SOURCES, log_prod_chi1_moments, stable_fraction

#: the sparsities and band of the issue's diagram
SPARSITIES = (0.6, 0.85, 0.9)
K = 10.0
DEPTH = 100
VPRIMES = np.linspace(0.05, 0.95, 31)
DPI = 110


@dataclass(frozen=True)
class SimulatedPoint:
    """A measured Definition 2.1 fraction: configuration, ``L/N`` and the fraction with its s.e."""

    sparsity: float
    vprime: float
    depth_over_width: float
    fraction: float
    se: float
    in_regime: bool = True


def _moments(activation: str, sparsity: float, vprimes: np.ndarray, depth: int):
    sol = solve_eoc(activation, sparsity, 1.0, vprime=vprimes)
    return log_prod_chi1_moments(sol.variance_map, np.ones((depth, vprimes.size)))


def _theories(activation: str, sparsity: float, vprimes, depth: int) -> list[ConfigurationTheory]:
    """The finite-width theory of each ``V'`` at ``q* = 1`` (the fraction and its regime do not
    depend on ``q*``: scale covariance)."""
    return [ConfigurationTheory.from_solution(solve_eoc(activation, sparsity, 1.0, vprime=float(v)), depth)
            for v in vprimes]


def predicted_fraction(theory: ConfigurationTheory, width, k: float = K) -> np.ndarray:
    """The log-normal ``P(prod chi1 in [1/K, K])`` at depth ``L`` with the next orders of the
    mean and the variance of ``log prod chi1`` (what the ``stable_fraction`` claim tests);
    NaN where the variance with its next order is not positive (far outside the regime)."""
    prod, n = theory.products, np.asarray(width, float)
    mean = prod.lead[-1] + prod.mean_coef[-1] / n + prod.mean_coef2[-1] / n**2
    var = prod.var_coef[-1] / n + prod.var_coef2[-1] / n**2
    frac = stable_fraction(mean, np.where(var > 0, var, 1.0), k)
    return np.where(var > 0, frac, np.nan)


def leading_fraction(theory: ConfigurationTheory, width, k: float = K) -> np.ndarray:
    """The same at ``O(L/N)`` (the next orders left out)."""
    prod, n = theory.products, np.asarray(width, float)
    return stable_fraction(prod.lead[-1] + prod.mean_coef[-1] / n, prod.var_coef[-1] / n, k)


def regime_width(theory: ConfigurationTheory) -> int:
    """The narrowest width at which the Definition 2.1 fraction is in its regime: exactly
    where :meth:`ConfigurationTheory.fraction_in_regime` starts to hold (the mean and the
    variance of ``log prod chi1`` judged with their next order included, the order after
    it at most ``RHO_MAX`` of the effect, the ``q_cond`` chain in its own regime, at least
    30 ``c2`` units carrying the gradient per layer and no layer passing none)."""
    return max(e.min_width() for e in theory.fraction_regime())


def _label_positions(ax, contours, avoid) -> list[tuple[float, float]]:
    """One spot per contour level for its label: on the contour, inside the axes (away
    from the edges, so no label is cut) and as far as possible from ``avoid`` (data points:
    markers, the regime line) and from the labels already placed."""
    to_axes = ax.transData + ax.transAxes.inverted()
    taken = [to_axes.transform(np.asarray(avoid, float))] if len(avoid) else []
    spots = []
    for segs in contours.allsegs:
        segs = [seg for seg in segs if len(seg)]
        if not segs:
            continue
        pts = np.concatenate(segs, axis=0)
        a = to_axes.transform(pts)
        inside = (a[:, 0] > 0.1) & (a[:, 0] < 0.88) & (a[:, 1] > 0.08) & (a[:, 1] < 0.92)
        if not inside.any():
            continue
        pts, a = pts[inside], a[inside]
        score = np.minimum.reduce([a[:, 0] - 0.1, 0.88 - a[:, 0], a[:, 1] - 0.08, 0.92 - a[:, 1]]) * 0.5
        for t in taken:
            score = np.minimum(score, np.min(np.hypot(a[:, None, 0] - t[None, :, 0], a[:, None, 1] - t[None, :, 1]), axis=1))
        best = int(np.argmax(score))
        spots.append(tuple(pts[best]))
        taken.append(a[best][None, :])
    return spots


def _title(lines: list[str], fig_width: float) -> str:
    """Join title pieces two to a line on wide figures, one to a line on narrow ones."""
    if fig_width >= 9.0:
        return "\n".join(" ".join(lines[i:i + 2]) for i in range(0, len(lines), 2))
    return "\n".join(lines)


def stability_diagram(activation: str = "crelu", sparsities=SPARSITIES, points: list[SimulatedPoint] = (),
                      k: float = K, depth: int = DEPTH) -> Figure:
    """Predicted ``P(prod chi1 in [1/K, K])`` over ``(V'(q*), L/N)`` at depth ``L``.

    The red line is ``L`` over :func:`regime_width`, so that a marker lies above it exactly
    when ``theory.fraction_in_regime`` puts it outside the regime (grey edge). Below it the
    colours are the ``stable_fraction`` claim's prediction, the log-normal with the next
    orders of the mean and variance of ``log prod chi1`` (:func:`predicted_fraction`);
    above it (hatched) the expansion is not trusted and they are the ``O(L/N)`` log-normal
    (:func:`leading_fraction`). Measured fractions are the markers' fill and the numbers."""
    ratio = np.geomspace(0.01, 3.0, 120)
    width_in = 4.6 * len(sparsities) + 1.0
    fig = Figure(figsize=(width_in, 4.9 if len(sparsities) > 1 else 5.6), layout="constrained")
    axes = fig.subplots(1, len(sparsities), squeeze=False, sharey=True)
    levels = np.linspace(0.0, 1.0, 11)
    handles = {}
    for ax, s in zip(axes[0], sparsities):
        theories = _theories(activation, s, VPRIMES, depth)
        edge = np.array([depth / regime_width(t) for t in theories])
        # in the regime (below the edge): the claim's prediction, next orders included; outside
        # it (hatched) the expansion is not trusted and the O(L/N) log-normal is shown instead
        frac = np.stack([np.where(ratio <= e, predicted_fraction(t, depth / ratio, k),
                                  leading_fraction(t, depth / ratio, k)) for t, e in zip(theories, edge)], axis=1)
        ax.set_yscale("log")
        ax.set_xlim(VPRIMES[0], VPRIMES[-1])
        ax.set_ylim(ratio[0], ratio[-1])
        mesh = ax.contourf(VPRIMES, ratio, frac, levels=levels, cmap="viridis", vmin=0, vmax=1)
        lines = ax.contour(VPRIMES, ratio, frac, levels=[0.5, 0.9, 0.99], colors="w", linewidths=0.8)
        # the regime of the stable_fraction claim (theory.expansion); above the line: outside
        ax.fill_between(VPRIMES, np.minimum(edge, ratio[-1]), ratio[-1], facecolor="none", edgecolor="w",
                        hatch="///", linewidth=0.0, alpha=0.5, zorder=2)
        (line,) = ax.plot(VPRIMES, edge, "r--", lw=1.4, zorder=2.5)
        handles["regime"] = ((Patch(facecolor="0.45", edgecolor="w", hatch="///", lw=0), line),
                             "edge of the regime (theory.fraction_in_regime); hatched:\n"
                             "outside it, colours at O(L/N) only")
        mine = [p for p in points if abs(p.sparsity - s) < 1e-9]
        for inside, colour, label in ((True, "r", "simulated, in the regime (fill: measured fraction)"),
                                      (False, "0.6", "simulated, outside the regime")):
            sel = [p for p in mine if p.in_regime == inside]
            if sel:
                handles[inside] = (ax.scatter([p.vprime for p in sel], [p.depth_over_width for p in sel],
                                              c=[p.fraction for p in sel], cmap="viridis", vmin=0, vmax=1, s=70,
                                              edgecolors=colour, linewidths=1.5, zorder=3), label)
        for p in mine:
            ax.annotate(f"{p.fraction:.2f}", (p.vprime, p.depth_over_width), xytext=(0, -12), textcoords="offset points",
                        ha="center", va="center", fontsize=7, color="k", zorder=4,
                        bbox=dict(boxstyle="round,pad=0.15", fc="w", ec="none", alpha=0.8))
        avoid = [(p.vprime, p.depth_over_width) for p in mine] + [(p.vprime, p.depth_over_width / 1.35) for p in mine]
        fine = np.linspace(VPRIMES[0], VPRIMES[-1], 400)
        on_line = np.exp(np.interp(fine, VPRIMES, np.log(edge)))
        avoid += [(v, e) for v, e in zip(fine, on_line) if ratio[0] <= e <= ratio[-1]]
        ax.clabel(lines, fmt="%.2g", fontsize=7, inline_spacing=4, manual=_label_positions(ax, lines, avoid))
        ax.set_xlabel(r"$V'(q^*)$")
        ax.set_title(f"{activation}, s = {s:g}", fontsize=10)
    axes[0, 0].set_ylabel(rf"$L/N$  ($L = {depth}$)")
    fig.colorbar(mesh, ax=axes[0, -1], label=rf"fraction with $\prod\chi_1 \in [1/{k:g}, {k:g}]$")
    order = [key for key in ("regime", True, False) if key in handles]
    fig.legend([handles[key][0] for key in order], [handles[key][1] for key in order], loc="outside lower center",
               ncols=len(order) if len(sparsities) > 1 else 1, fontsize=8, frameon=False)
    title = ["Definition 2.1 at finite width:", rf"predicted fraction of networks with $\prod\chi_1 \in [1/{k:g}, {k:g}]$",
             "(colours: log-normal with next order in the regime;", "markers: simulated)"]
    fig.suptitle(_title(title, width_in), fontsize=10)
    return fig


def variance_shares(activation: str = "crelu", sparsities=SPARSITIES, depth: int = DEPTH) -> Figure:
    """Share of each source in ``N Var log prod chi1`` over ``depth`` layers against ``V'(q*)``."""
    vprimes = np.linspace(0.02, 0.97, 40)
    fig = Figure(figsize=(4.6 * len(sparsities), 4.2), layout="constrained")
    axes = fig.subplots(1, len(sparsities), squeeze=False, sharey=True)
    styles = {"sampling": "C0-", "propagated": "C3-", "covariance": "C2--"}
    labels = {"sampling": r"sampling noise of $\langle\phi'^2\rangle$", "propagated": r"propagated $q$ fluctuations (papers)",
              "covariance": "their covariance"}
    top = 1.0
    for ax, s in zip(axes[0], sparsities):
        prod = _moments(activation, s, vprimes, depth)
        total = prod.var_coef[-1]
        for name in SOURCES:
            share = getattr(prod, name)[-1] / total
            ax.plot(vprimes, share, styles[name], label=labels[name])
            top = max(top, float(np.max(share)))
        cross = vprimes[np.argmax(prod.propagated[-1] > prod.sampling[-1])] if np.any(prod.propagated[-1] > prod.sampling[-1]) else None
        if cross is not None:
            ax.axvline(cross, color="grey", lw=0.8, ls=":")
            # in the headroom above every curve (the y limits below leave it free)
            ax.text(cross, 0.985, f"papers' mechanism dominates\nfrom V' = {cross:.2f} ", transform=ax.get_xaxis_transform(),
                    fontsize=7, va="top", ha="right" if cross > 0.5 else "left")
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_xlabel(r"$V'(q^*)$")
        ax.set_title(f"{activation}, s = {s:g}, L = {depth}", fontsize=10)
    low = min(-0.05, *(ax.get_ylim()[0] for ax in axes[0]))
    axes[0, 0].set_ylim(low, top + 0.22 * (top - low))
    axes[0, 0].set_ylabel(r"share of $N\,\mathrm{Var}\,\log\prod\chi_1$")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncols=3 if len(sparsities) > 1 else 1,
               fontsize=8, frameon=False)
    fig.suptitle(r"Where the spread of $\log\prod\chi_1$ comes from", fontsize=11)
    return fig


def store_points(ds, k: float = K) -> list[SimulatedPoint]:
    """The measured Definition 2.1 fraction of every configuration (``V' < 1``, one per
    ``q*`` class) and width of a store, at its last layer."""
    from analysis.estimators import log_prod_chi1
    from analysis.sweep import theories_of

    points, seen = [], set()
    depth = ds.sizes["layer"]
    for ci in range(ds.sizes["config"]):
        key = (str(ds.activation[ci].values), round(float(ds.sparsity_target[ci]), 9), round(float(ds.vprime[ci]), 6))
        if not float(ds.vprime[ci]) < 1.0 or key in seen:
            continue
        seen.add(key)
        theory = theories_of(ds)[ci]
        for wi, width in enumerate(ds.width.values):
            x = log_prod_chi1(ds.isel(config=ci, width=wi, sample=slice(0, 100_000))).sel(layer=depth).values
            frac = float(np.mean(np.abs(np.nan_to_num(x, nan=np.inf)) <= np.log(k)))
            points.append(SimulatedPoint(key[1], float(ds.vprime[ci]), depth / float(width), frac,
                                         float(np.sqrt(max(frac * (1 - frac), 1 / x.size) / x.size)),
                                         theory.fraction_in_regime(int(width))))
    return points


def simulate_points(activation="crelu", sparsities=SPARSITIES, vprimes=(0.3, 0.5, 0.7, 0.9), widths=(100, 300, 1000),
                    depth=DEPTH, samples=1000, seed=0, k: float = K) -> list[SimulatedPoint]:
    """Simulate the fraction at a grid of configurations (the reduced sampler, CPU)."""
    from simulate.config import NetworkConfig, Sweep
    from simulate.cpu import simulate_chunk

    points = []
    for s in sparsities:
        for v in vprimes:
            sol = solve_eoc(activation, s, 1.0, vprime=v)
            config = NetworkConfig(activation, s, 1.0, v, None, sol)
            theory = ConfigurationTheory.from_solution(sol, depth)
            for n in widths:
                sweep = Sweep(activation=(activation,), sparsity=(s,), q_star=(1.0,), vprime=(v,), width=(n,),
                              depth=depth, samples=samples, seed=seed)
                chi1 = simulate_chunk(sweep, config, n, 0, samples)["chi1"]
                with np.errstate(divide="ignore"):
                    x = np.log(chi1).sum(axis=1)
                frac = float(np.mean(np.abs(np.nan_to_num(x, nan=np.inf, neginf=np.inf)) <= np.log(k)))
                points.append(SimulatedPoint(s, v, depth / n, frac, float(np.sqrt(max(frac * (1 - frac), 1 / samples) / samples)),
                                             theory.fraction_in_regime(n)))
    return points


THEORY_FIGURES = {"stability_diagram": stability_diagram, "variance_shares": variance_shares}


@dataclass(frozen=True)
class ProductFigures:
    """The options of ``python -m analysis.figures.products``.

    Parameters
    ----------
    out : Path
        Output directory (created if missing).
    simulate : int
        Overlay fractions simulated with this many networks per point on the stability
        diagram (V' in 0.3/0.5/0.7/0.9, N in 100/300/1000, L = 100; 0: none).
    """

    out: Path
    simulate: int = 0


def main(argv=None) -> int:
    args = parse(ProductFigures, argv, prog="python -m analysis.figures.products", description=__doc__.splitlines()[0])
    args.out.mkdir(parents=True, exist_ok=True)
    points = simulate_points(samples=args.simulate) if args.simulate else []
    for name, make in THEORY_FIGURES.items():
        path = args.out / f"{name}.png"
        (make(points=points) if name == "stability_diagram" else make()).savefig(path, dpi=DPI)
        print(path)
    for p in points:
        n = round(DEPTH / p.depth_over_width)
        theory = _theories("crelu", p.sparsity, [p.vprime], DEPTH)[0]
        predicted, leading = float(predicted_fraction(theory, n)), float(leading_fraction(theory, n))
        if p.in_regime:
            where = "in the regime"
        else:
            exp = max(theory.fraction_regime(), key=lambda e: (n < e.floor, e.left_out(n)))
            where = "outside the regime: " + exp.outside_reason(n)
        print(f"s={p.sparsity:g} V'={p.vprime:g} N={n}: measured {p.fraction:.4f} +- {p.se:.4f}, predicted "
              f"{predicted:.4f} with the next order ({leading:.4f} at O(L/N)); {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
