"""Figures of the distribution of ``prod chi1`` (:mod:`theory.products`).

* :func:`stability_diagram`: the predicted fraction of networks with ``prod chi1`` in
  ``[1/K, K]`` (arXiv Definition 2.1 made quantitative) over ``(V'(q*), L/N)``, one panel
  per sparsity, with simulated fractions overlaid and the line beyond which the next
  order exceeds 0.1 of the variance;
* :func:`variance_shares`: the share of ``N Var log prod chi1`` from each source
  (sampling noise, the papers' propagated mechanism, their covariance) against ``V'(q*)``.

Measured points come from a store (:func:`store_points`) or a small simulation
(:func:`simulate_points`). ``python -m analysis.figures.products --out DIR [--simulate N]``
writes both.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from theory.expansion import RHO_MAX, ConfigurationTheory
from theory import solve_eoc
from theory.products import SOURCES, log_prod_chi1_moments, stable_fraction

#: the sparsities and band of the issue's diagram
SPARSITIES = (0.6, 0.85, 0.9)
K = 10.0
DEPTH = 100
VPRIMES = np.linspace(0.05, 0.95, 19)
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


def stability_diagram(activation: str = "crelu", sparsities=SPARSITIES, points: list[SimulatedPoint] = (),
                      k: float = K, depth: int = DEPTH) -> Figure:
    """Predicted ``P(prod chi1 in [1/K, K])`` over ``(V'(q*), L/N)`` at depth ``L``
    (the moments are linear in ``1/N`` at fixed ``L``: ``E = mean_coef/N``,
    ``Var = var_coef/N`` at the fixed point), measured fractions as filled markers."""
    ratio = np.geomspace(0.01, 3.0, 120)
    fig = Figure(figsize=(4.6 * len(sparsities), 4.0), layout="constrained")
    axes = fig.subplots(1, len(sparsities), squeeze=False)
    levels = np.linspace(0.0, 1.0, 11)
    for ax, s in zip(axes[0], sparsities):
        prod = _moments(activation, s, VPRIMES, depth)
        inv_n = ratio[:, None] / depth
        frac = stable_fraction(prod.mean_coef[-1] * inv_n, prod.var_coef[-1] * inv_n, k)
        mesh = ax.contourf(VPRIMES, ratio, frac, levels=levels, cmap="viridis", vmin=0, vmax=1)
        lines = ax.contour(VPRIMES, ratio, frac, levels=[0.5, 0.9, 0.99], colors="w", linewidths=0.8)
        ax.clabel(lines, fmt="%.2g", fontsize=7)
        # the regime: next order of Var log prod chi1 below RHO_MAX of it, i.e. N >= |V2| / (RHO_MAX V1)
        edge = depth * RHO_MAX * prod.var_coef[-1] / np.abs(prod.var_coef2[-1])
        ax.plot(VPRIMES, edge, "r--", lw=1.2, label=rf"next order = {RHO_MAX:g} of Var (above: outside regime)")
        mine = [p for p in points if abs(p.sparsity - s) < 1e-9]
        for inside, edge, label in ((True, "r", "simulated (fill: measured fraction)"),
                                    (False, "0.6", "simulated, outside the regime")):
            sel = [p for p in mine if p.in_regime == inside]
            if sel:
                ax.scatter([p.vprime for p in sel], [p.depth_over_width for p in sel], c=[p.fraction for p in sel],
                           cmap="viridis", vmin=0, vmax=1, s=70, edgecolors=edge, linewidths=1.5, zorder=3, label=label)
            for p in mine:
                ax.annotate(f"{p.fraction:.2f}", (p.vprime, p.depth_over_width), xytext=(0, -12), textcoords="offset points",
                            ha="center", fontsize=7, color="k", bbox=dict(boxstyle="round,pad=0.15", fc="w", ec="none", alpha=0.8))
        ax.set_yscale("log")
        ax.set_ylim(ratio[0], ratio[-1])
        ax.set_xlabel(r"$V'(q^*)$")
        ax.set_ylabel(rf"$L/N$  ($L = {depth}$)")
        ax.set_title(f"{activation}, s = {s:g}", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    fig.colorbar(mesh, ax=axes[0, -1], label=rf"fraction with $\prod\chi_1 \in [1/{k:g}, {k:g}]$")
    fig.suptitle("Definition 2.1 at finite width: predicted fraction of stable networks\n"
                 r"(log-normal at $O(L/N)$; markers: simulated)", fontsize=10)
    return fig


def variance_shares(activation: str = "crelu", sparsities=SPARSITIES, depth: int = DEPTH) -> Figure:
    """Share of each source in ``N Var log prod chi1`` over ``depth`` layers against ``V'(q*)``."""
    vprimes = np.linspace(0.02, 0.97, 40)
    fig = Figure(figsize=(4.6 * len(sparsities), 3.6), layout="constrained")
    axes = fig.subplots(1, len(sparsities), squeeze=False, sharey=True)
    styles = {"sampling": "C0-", "propagated": "C3-", "covariance": "C2--"}
    labels = {"sampling": r"sampling noise of $\langle\phi'^2\rangle$", "propagated": r"propagated $q$ fluctuations (papers)",
              "covariance": "their covariance"}
    for ax, s in zip(axes[0], sparsities):
        prod = _moments(activation, s, vprimes, depth)
        total = prod.var_coef[-1]
        for name in SOURCES:
            ax.plot(vprimes, getattr(prod, name)[-1] / total, styles[name], label=labels[name])
        cross = vprimes[np.argmax(prod.propagated[-1] > prod.sampling[-1])] if np.any(prod.propagated[-1] > prod.sampling[-1]) else None
        if cross is not None:
            ax.axvline(cross, color="grey", lw=0.8, ls=":")
            ax.text(cross, 0.98, f"papers' mechanism dominates\nfrom V' = {cross:.2f} ", fontsize=7, va="top", ha="right")
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_xlabel(r"$V'(q^*)$")
        ax.set_title(f"{activation}, s = {s:g}, L = {depth}", fontsize=10)
    axes[0, 0].set_ylabel(r"share of $N\,\mathrm{Var}\log\prod\chi_1$")
    axes[0, 0].legend(fontsize=7, loc="center left")
    fig.suptitle(r"Where the spread of $\log\prod\chi_1$ comes from")
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.figures.products", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory (created if missing)")
    parser.add_argument("--simulate", type=int, default=0, metavar="NETWORKS",
                        help="overlay fractions simulated with this many networks per point on the stability diagram "
                             "(V' in 0.3/0.5/0.7/0.9, N in 100/300/1000, L = 100; default: none)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    points = simulate_points(samples=args.simulate) if args.simulate else []
    for name, make in THEORY_FIGURES.items():
        path = args.out / f"{name}.png"
        (make(points=points) if name == "stability_diagram" else make()).savefig(path, dpi=DPI)
        print(path)
    for p in points:
        n = round(DEPTH / p.depth_over_width)
        prod = _moments("crelu", p.sparsity, np.array([p.vprime]), DEPTH)
        predicted = float(stable_fraction(prod.mean_coef[-1, 0] / n, prod.var_coef[-1, 0] / n, K))
        rho = abs(prod.var_coef2[-1, 0]) / (n * prod.var_coef[-1, 0])
        where = "in the regime" if p.in_regime else "outside the regime"
        print(f"s={p.sparsity:g} V'={p.vprime:g} N={n}: measured {p.fraction:.4f} +- {p.se:.4f}, "
              f"predicted {predicted:.4f} (next order / Var = {rho:.2g}; {where})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
