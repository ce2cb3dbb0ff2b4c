"""Figures of the exact infinite-width theory (no simulation data).

One function per figure, each returning a :class:`matplotlib.figure.Figure` built
from :func:`theory.solve_eoc` and :class:`theory.VarianceMap` alone:

* :func:`variance_maps_qstar` -- arXiv 2602.05779 Fig. 1(b): ``V(q)`` at ``q* = 1, 2, 3``;
* :func:`eoc_sigma_curve` -- arXiv Fig. 1(c): ``sigma_b^2`` against ``sigma_w^2`` on the EoC;
* :func:`vsecond_heatmaps` -- arXiv Fig. 2: ``V''(q*)`` over ``(q*, m)``;
* :func:`bound_vs_qstar` -- arXiv Fig. 3: log of the Theorem 2.1 bound against ``q*``;
* :func:`chi1_prime_heatmaps` -- arXiv Fig. 4: ``chi_1'(q*)`` over ``(q*, m)``;
* :func:`iclr_vprime_vsecond_vs_m` -- ICLR 2024 Fig. 3: ``V'(q*)``, ``V''(q*)`` against ``m``;
* :func:`iclr_multiple_fixed_points` -- ICLR 2024 Fig. 4: variance maps with several fixed points.

Highlighted points are annotated with the values computed here, never the ones printed
in the captions (arXiv Fig. 2 prints 0.013 at ``q* = 2``; the exact value is 0.0115,
half the ``q* = 1`` value, since at fixed ``V'(q*)`` the EoC ``tau`` and ``m`` scale with
``sqrt(q*)`` and ``V''(q*)`` with ``1/q*``). Annotations of highlighted values carry
``gid = "highlight"`` and fixed-point markers ``gid = "fixed-point-stable"`` or
``"fixed-point-unstable"``, so that tests can read them back.

The figures are built on :class:`~matplotlib.figure.Figure` directly (no ``pyplot``
state, the Agg canvas on save). Command line::

    python -m analysis.figures.theory --out DIR
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colors
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from theory import solve_eoc
from theory.cli import parse

#: grid of the heat maps (points along ``q*`` and along ``m``)
HEATMAP_N = 300
#: ``q*`` range of arXiv Figs. 1(c), 2, 3 and 4
Q_RANGE = (0.05, 3.0)
#: ``m`` range of the heat maps (arXiv Figs. 2 and 4)
M_RANGE = (0.5, 4.0)
#: the highlighted points of arXiv Figs. 2 and 4: ``V'(q*) = 0.7`` at ``s = 0.85``
HIGHLIGHT_SPARSITY = 0.85
HIGHLIGHT_VPRIME = 0.7
HIGHLIGHT_QSTARS = (1.0, 2.0, 3.0)
#: the sparsities of arXiv Figs. 2, 3 and 4 (left to right)
ARXIV_SPARSITIES = (0.8, 0.85, 0.9)
#: resolution of the saved PNG files
DPI = 110
#: the linear half-width of the asinh colour scales of the heat maps
_ASINH_WIDTH = 0.01

_ARXIV = "arXiv 2602.05779"
_ICLR = "ICLR 2024"
_NAMES = {"crelu": r"$\mathrm{CReLU}_{\tau,m}$", "cst": r"$\mathrm{CST}_{\tau,m}$"}


def format_value(x: float) -> str:
    """The text of a highlighted value: three significant figures (``0.0229``, ``0.00764``)."""
    return f"{x:.3g}"


# -- a diverging colour scale centred at 0, compressed like asinh on either side -----
class CentredAsinhNorm(colors.Normalize):
    """Maps ``[vmin, 0, vmax]`` to ``[0, 0.5, 1]`` with ``asinh(x / width)`` on each side.

    A two-slope norm (0 always at the centre of a diverging colour map, the negative and
    positive sides scaled separately) that is linear within ``|x| < width`` and
    logarithmic beyond, so that heat maps spanning ``-0.4 .. 16`` stay readable near 0.
    With ``vmin >= 0`` only the upper half of the colour map is used.
    """

    def __init__(self, vmin: float, vmax: float, width: float):
        if not vmax > 0 or not vmin < vmax:
            raise ValueError("need vmax > 0 and vmin < vmax")
        super().__init__(vmin=vmin, vmax=vmax, clip=False)
        self.width = float(width)
        self._pos = math.asinh(vmax / width)
        self._neg = math.asinh(-vmin / width) if vmin < 0 else math.inf

    def __call__(self, value, clip=None):
        masked, is_scalar = self.process_value(value)
        x = np.ma.getdata(masked)
        t = np.arcsinh(x / self.width)
        y = np.where(x >= 0, 0.5 + 0.5 * t / self._pos, 0.5 + 0.5 * t / self._neg)
        out = np.ma.array(np.clip(y, 0.0, 1.0), mask=np.ma.getmask(masked))
        return out[0] if is_scalar else out

    def inverse(self, value):
        y = np.asarray(value, float)
        scale = np.where(y >= 0.5, self._pos, self._neg if math.isfinite(self._neg) else 0.0)
        return self.width * np.sinh(2.0 * (y - 0.5) * scale)


def _grid(q_range, m_range, n):
    return np.linspace(*q_range, n), np.linspace(*m_range, n)


def _heatmaps(
    quantity: str,
    label: str,
    title: str,
    sparsities: Sequence[float],
    q_range,
    m_range,
    n: int,
    diverging: bool,
    highlight: bool,
) -> Figure:
    """One ``(q*, m)`` heat map of ``EoCSolution.<quantity>`` per sparsity (CReLU).

    ``diverging``: :class:`CentredAsinhNorm` on ``RdBu_r`` (0 white, at the centre);
    otherwise an asinh-compressed sequential scale (``viridis``). The zero contour is
    dashed wherever the quantity changes sign.
    """
    q, m = _grid(q_range, m_range, n)
    fig = Figure(figsize=(5.0 * len(sparsities) + 0.4, 4.6), layout="constrained")
    axes = fig.subplots(1, len(sparsities), squeeze=False)[0]
    zero_colour = "k" if diverging else "C1"
    legend = {}
    for ax, s in zip(axes, sparsities):
        sol = solve_eoc("crelu", s, q[None, :], m=m[:, None])
        z = np.asarray(getattr(sol, quantity))
        lo, hi = float(z.min()), float(z.max())
        if diverging:
            norm, cmap = CentredAsinhNorm(min(lo, 0.0), hi, width=_ASINH_WIDTH), "RdBu_r"
        else:
            norm, cmap = colors.AsinhNorm(linear_width=_ASINH_WIDTH, vmin=lo, vmax=hi), "viridis"
        mesh = ax.pcolormesh(q, m, z, norm=norm, cmap=cmap, shading="nearest", rasterized=True)
        cbar = fig.colorbar(mesh, ax=ax, pad=0.02)
        cbar.set_ticks(_thin_ticks(asinh_ticks(norm.vmin, norm.vmax, _ASINH_WIDTH), norm))
        cbar.ax.yaxis.set_major_formatter(_tick_text)
        cbar.ax.minorticks_off()
        cbar.set_label(label)
        handles = []
        if lo < 0 < hi:
            ax.contour(q, m, z, levels=[0.0], colors=zero_colour, linewidths=1.4, linestyles="--")
            handles.append(Line2D([], [], color=zero_colour, ls="--", lw=1.4, label=f"${label.strip('$')} = 0$"))
        if highlight and math.isclose(s, HIGHLIGHT_SPARSITY):
            handles += _highlight(ax, q, m, sol, quantity)
        legend.update((h.get_label(), h) for h in handles)
        ax.set_title(rf"$s = {s:g}$")
        ax.set_xlabel(r"fixed point $q^*$")
        ax.set_ylabel(r"clipping $m$")
    if legend:
        # below the panels, so that it hides no part of a heat map
        fig.legend(handles=list(legend.values()), loc="outside lower center", ncols=len(legend), fontsize=9,
                   frameon=False)
    fig.suptitle(title)
    return fig


def asinh_ticks(vmin: float, vmax: float, width: float) -> list[float]:
    """Colour-bar ticks of an asinh scale on ``[vmin, vmax]``: 0 where it lies in the range,
    the powers of ten from ``10 * width`` on either side of 0, and each end of the range
    that is more than a factor 2.5 from the nearest power."""
    ticks = [0.0] if vmin <= 0.0 <= vmax else []
    k0 = math.ceil(math.log10(10.0 * width))
    sides = []
    if vmax > 0:
        sides.append((1.0, max(vmin, 0.0), vmax))
    if vmin < 0:
        sides.append((-1.0, max(-vmax, 0.0), -vmin))
    for sign, a, b in sides:
        powers = [10.0**k for k in range(k0, math.floor(math.log10(b)) + 1) if 10.0**k >= a]
        ticks += [sign * p for p in powers]
        if not powers or b / powers[-1] > 2.5:
            ticks.append(sign * b)
        if a > 0 and (not powers or powers[0] / a > 2.5):
            ticks.append(sign * a)
    return sorted(set(ticks))


def _thin_ticks(ticks: list[float], norm, gap: float = 0.07) -> list[float]:
    """Drop the end-of-range ticks that would print over a round tick (0 or a power of 10)."""
    def is_round(t):
        return t == 0 or math.isclose(math.log10(abs(t)), round(math.log10(abs(t))), abs_tol=1e-9)

    pos = {t: float(norm(t)) for t in ticks}
    keep = [t for t in ticks if is_round(t)]
    for t in ticks:
        if not is_round(t) and all(abs(pos[t] - pos[k]) > gap for k in keep):
            keep.append(t)
    return sorted(keep)


def _tick_text(x, pos=None) -> str:
    return "0" if x == 0 else f"{x:.2g}"


def _highlight(ax, q, m, grid_sol, quantity) -> list[Line2D]:
    """Mark ``V'(q*) = 0.7`` at ``q* = 1, 2, 3`` with the computed values, and its contour;
    returns the legend handles."""
    ax.contour(q, m, grid_sol.vprime, levels=[HIGHLIGHT_VPRIME], colors="0.1", linewidths=1.2, linestyles=":")
    for qs in HIGHLIGHT_QSTARS:
        sol = solve_eoc("crelu", HIGHLIGHT_SPARSITY, qs, vprime=HIGHLIGHT_VPRIME)
        value = float(getattr(sol, quantity))
        ax.plot([qs], [sol.m], "o", ms=7, mfc="red", mec="white", mew=1.2, clip_on=False, zorder=5)
        ax.annotate(
            format_value(value),
            (qs, sol.m),
            xytext=(-8, 9),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=9,
            color="darkred",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "darkred", "lw": 0.6, "alpha": 0.9},
            zorder=6,
            gid="highlight",
        )
    return [
        Line2D([], [], color="0.1", ls=":", lw=1.2, label=rf"$V'(q^*) = {HIGHLIGHT_VPRIME:g}$"),
        Line2D([], [], ls="", marker="o", ms=7, mfc="red", mec="white", label=r"$q^* = 1, 2, 3$ (computed values)"),
    ]


# -- arXiv 2602.05779 ------------------------------------------------------------------
def variance_maps_qstar(
    q_stars: Sequence[float] = HIGHLIGHT_QSTARS, m: float = 1.8, sparsity: float = 0.85, q_max: float = 5.0
) -> Figure:
    """arXiv Fig. 1(b): CReLU variance maps ``V(q)`` on the EoC with fixed points ``q*``."""
    fig = Figure(figsize=(5.8, 6.0), layout="constrained")
    ax = fig.subplots()
    q = np.linspace(1e-4, q_max, 600)
    ax.plot(q, q, "k--", lw=1, label=r"identity $V(q)=q$")
    points = []
    for i, qs in enumerate(q_stars):
        sol = solve_eoc("crelu", sparsity, qs, m=m)
        vmap = sol.variance_map
        colour = f"C{i}"
        ax.plot(
            q,
            vmap.V(q),
            color=colour,
            lw=1.8,
            label=rf"$q^*={qs:g}$: $V'(q^*)={sol.vprime:.3f}$, $V''(q^*)={sol.vsecond:.3g}$",
        )
        points += _mark_fixed_points(ax, vmap, q[0], q_max, colour)
    ax.set_xlim(0, q_max)
    ax.set_ylim(0, q_max)
    ax.set_aspect("equal")
    ax.set_xlabel(r"variance $q$")
    ax.set_ylabel(r"$V(q)$")
    ax.legend(handles=[*ax.get_legend_handles_labels()[0], *_fixed_point_handles(points)], fontsize=8, loc="upper left")
    fig.suptitle(
        f"{_ARXIV} Fig. 1(b):\n{_NAMES['crelu']} variance maps on the EoC, " rf"$m = {m:g}$, $s = {sparsity:g}$"
    )
    return fig


def eoc_sigma_curve(
    sparsities: Sequence[float] = ARXIV_SPARSITIES,
    m: float = 1.8,
    q_range=Q_RANGE,
    n: int = 300,
    marked_qstars: Sequence[float] = (Q_RANGE[0], *HIGHLIGHT_QSTARS),
) -> Figure:
    """arXiv Fig. 1(c): the EoC ``(sigma_w^2, sigma_b^2)`` traced by ``q*`` in ``q_range`` (CReLU)."""
    fig = Figure(figsize=(6.6, 5.0), layout="constrained")
    ax = fig.subplots()
    q = np.linspace(*q_range, n)
    for i, s in enumerate(sparsities):
        sol = solve_eoc("crelu", s, q, m=m)
        colour = f"C{i}"
        ax.plot(sol.sigma_w2, sol.sigma_b2, color=colour, lw=1.8, label=rf"$s = {s:g}$")
        marks = solve_eoc("crelu", s, np.asarray(marked_qstars, float), m=m)
        ax.plot(marks.sigma_w2, marks.sigma_b2, "o", color=colour, ms=5)
        if i == len(sparsities) // 2:
            for qs, x, y in zip(marked_qstars, np.atleast_1d(marks.sigma_w2), np.atleast_1d(marks.sigma_b2)):
                ax.annotate(
                    rf"$q^*={qs:g}$",
                    (x, y),
                    xytext=(-7, 0),
                    textcoords="offset points",
                    fontsize=8,
                    ha="right",
                    va="center",
                )
    ax.set_xlabel(r"weight variance $\sigma_w^2$")
    ax.set_ylabel(r"bias variance $\sigma_b^2$")
    ax.grid(alpha=0.3)
    dots = ", ".join(f"{qs:g}" for qs in marked_qstars)
    ax.legend(title=rf"$q^* \in [{q_range[0]:g}, {q_range[1]:g}]$" + f"\n(dots at $q^*$ = {dots})", fontsize=9)
    fig.suptitle(f"{_ARXIV} Fig. 1(c): EoC variances of {_NAMES['crelu']}, $m = {m:g}$")
    return fig


def vsecond_heatmaps(
    sparsities: Sequence[float] = ARXIV_SPARSITIES, q_range=Q_RANGE, m_range=M_RANGE, n: int = HEATMAP_N
) -> Figure:
    """arXiv Fig. 2: ``V''(q*)`` of CReLU on the EoC over ``(q*, m)``; diverging scale centred
    at 0, dashed ``V'' = 0`` contour, highlighted ``V'(q*) = 0.7`` points at ``s = 0.85``."""
    return _heatmaps(
        "vsecond",
        r"$V''(q^*)$",
        f"{_ARXIV} Fig. 2: curvature $V''(q^*)$ of {_NAMES['crelu']} on the EoC "
        rf"(red dots: $V'(q^*)={HIGHLIGHT_VPRIME:g}$ at $s={HIGHLIGHT_SPARSITY:g}$)",
        sparsities,
        q_range,
        m_range,
        n,
        diverging=True,
        highlight=True,
    )


def chi1_prime_heatmaps(
    sparsities: Sequence[float] = ARXIV_SPARSITIES, q_range=Q_RANGE, m_range=M_RANGE, n: int = HEATMAP_N
) -> Figure:
    """arXiv Fig. 4: ``chi_1'(q*)`` of CReLU on the EoC over ``(q*, m)``, same scale
    conventions as :func:`vsecond_heatmaps` (``chi_1' < 0`` in a corner at ``s = 0.8``)."""
    return _heatmaps(
        "chi1_prime",
        r"$\chi_1'(q^*)$",
        rf"{_ARXIV} Fig. 4: sensitivity $\chi_1'(q^*)$ of {_NAMES['crelu']} on the EoC "
        rf"(red dots: $V'(q^*)={HIGHLIGHT_VPRIME:g}$ at $s={HIGHLIGHT_SPARSITY:g}$)",
        sparsities,
        q_range,
        m_range,
        n,
        diverging=False,
        highlight=True,
    )


def bound_vs_qstar(
    sparsities: Sequence[float] = ARXIV_SPARSITIES,
    m: float = 3.0,
    q_range=Q_RANGE,
    n: int = 400,
    marked_qstars: Sequence[float] = HIGHLIGHT_QSTARS,
) -> Figure:
    """arXiv Fig. 3: ``ln`` of the Theorem 2.1 bound on ``|q~{1}|`` against ``q*`` at fixed ``m``."""
    q = np.linspace(*q_range, n)

    def log_bound(s, q_star):
        return np.log(solve_eoc("crelu", s, q_star, m=m).bound)

    fig = Figure(figsize=(5.0 * len(sparsities), 4.4), layout="constrained")
    axes = fig.subplots(1, len(sparsities), squeeze=False, sharey=True)[0]
    for i, (ax, s) in enumerate(zip(axes, sparsities)):
        ax.plot(q, log_bound(s, q), color=f"C{i}", lw=1.8)
        marks = np.atleast_1d(log_bound(s, np.asarray(marked_qstars, float)))
        ax.plot(marked_qstars, marks, "o", color=f"C{i}", ms=5)
        for qs, v in zip(marked_qstars, marks):
            ax.annotate(format_value(v), (qs, v), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=8)
        ax.set_title(rf"$s = {s:g}$, $m = {m:g}$")
        ax.set_xlabel(r"fixed point $q^*$")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$\ln$ of the bound on $|\tilde q^{\{1\}(\ell)}|$ (eq. 14)")
    fig.suptitle(f"{_ARXIV} Fig. 3: Theorem 2.1 bound on the next-to-leading-order variance term, {_NAMES['crelu']}")
    return fig


# -- ICLR 2024 (Price et al.) -----------------------------------------------------------
def iclr_vprime_vsecond_vs_m(
    crelu_sparsities: Sequence[float] = (0.6, 0.7, 0.8, 0.85, 0.9),
    cst_sparsities: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.85),
    q_star: float = 1.0,
    m_range=(0.05, 3.0),
    n: int = 400,
    vprime_levels: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9),
) -> Figure:
    """ICLR 2024 Fig. 3: ``V'(q*)`` (top) and ``V''(q*)`` (bottom) against ``m`` at ``q* = 1``
    for CReLU (left) and CST (right), dashed lines at ``V' = 0.5 .. 0.9``."""
    m = np.linspace(*m_range, n)
    fig = Figure(figsize=(11.5, 8.0), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    for col, (act, sparsities) in enumerate((("crelu", crelu_sparsities), ("cst", cst_sparsities))):
        top, bottom = axes[0, col], axes[1, col]
        for i, s in enumerate(sparsities):
            sol = solve_eoc(act, s, q_star, m=m)
            top.plot(m, sol.vprime, color=f"C{i}", lw=1.6, label=rf"$s = {s:g}$")
            bottom.plot(m, sol.vsecond, color=f"C{i}", lw=1.6, label=rf"$s = {s:g}$")
        for level in vprime_levels:
            top.axhline(level, color="k", ls="--", lw=0.8)
        bottom.axhline(0.0, color="0.4", ls=":", lw=0.8)
        top.set_title(rf"{_NAMES[act]}, $q^* = {q_star:g}$")
        top.set_ylabel(r"$V'(q^*)$")
        bottom.set_ylabel(r"$V''(q^*)$")
        bottom.set_xlabel(r"clipping $m$")
        top.set_ylim(0, 1.02)
        for ax in (top, bottom):
            ax.set_xlim(*m_range)
            ax.grid(alpha=0.3)
        top.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{_ICLR} Fig. 3: slope and curvature of the variance map at $q^*$ against the clipping $m$ (EoC)")
    return fig


def _fixed_point_handles(points) -> list[Line2D]:
    """Legend entries for the kinds of fixed point among ``points``."""
    kinds = {fp.stable for fp in points}
    handles = []
    if True in kinds:
        handles.append(Line2D([], [], ls="", marker="o", ms=7, mfc="k", mec="k", label="stable fixed point"))
    if False in kinds:
        handles.append(
            Line2D([], [], ls="", marker="o", ms=7, mfc="white", mec="k", mew=1.5, label="unstable fixed point")
        )
    return handles


def _mark_fixed_points(ax, vmap, q_min, q_max, colour, ms=7.0):
    """Filled circles at the stable fixed points of ``vmap``, open ones at the unstable."""
    points = vmap.fixed_points(q_min, q_max)
    for fp in points:
        ax.plot(
            [fp.q],
            [fp.q],
            "o",
            ms=ms,
            mec=colour,
            mfc=colour if fp.stable else "white",
            mew=1.5,
            zorder=5,
            gid="fixed-point-stable" if fp.stable else "fixed-point-unstable",
        )
    return points


def iclr_multiple_fixed_points(
    sparsity: float = 0.85,
    q_star: float = 1.0,
    crelu_vprimes: Sequence[float] = (0.9,),
    cst_vprimes: Sequence[float] = (0.8, 0.9),
    q_max: float = 7.0,
    inset_range=(0.5, 2.0),
) -> Figure:
    """ICLR 2024 Fig. 4: variance maps on the EoC with ``m`` set by ``V'(q*)``: (a) CReLU,
    (b) CST; every fixed point in ``(0, q_max]`` marked (filled stable, open unstable) and
    listed in the legend; the inset shows ``V(q) - q`` near ``q*``, where the curves hug the
    identity."""
    fig = Figure(figsize=(12.0, 6.9), layout="constrained")
    axes = fig.subplots(1, 2)
    q = np.linspace(1e-4, q_max, 800)
    qz = np.linspace(*inset_range, 400)
    for ax, tag, act, vprimes in ((axes[0], "(a)", "crelu", crelu_vprimes), (axes[1], "(b)", "cst", cst_vprimes)):
        ax.plot(q, q, "k--", lw=1, label=r"identity $V(q)=q$")
        inset = ax.inset_axes([0.57, 0.08, 0.40, 0.28])
        inset.axhline(0.0, color="k", ls="--", lw=0.8)
        point_handles = []
        for i, vp in enumerate(vprimes):
            sol = solve_eoc(act, sparsity, q_star, vprime=vp)
            vmap = sol.variance_map
            colour = f"C{i + 1}"
            ax.plot(
                q,
                vmap.V(q),
                color=colour,
                lw=1.8,
                label=rf"$V'(q^*)={vp:g}$: $m={sol.m:.3f}$, $V''(q^*)={sol.vsecond:.3g}$",
            )
            # shrinking markers, so that coinciding fixed points of several maps stay visible
            ms = max(9.0 - 2.5 * i, 4.0)
            points = _mark_fixed_points(ax, vmap, q[0], q_max, colour, ms=ms)
            inset.plot(qz, vmap.V(qz) - qz, color=colour, lw=1.4)
            for fp in points:
                face = colour if fp.stable else "white"
                if inset_range[0] <= fp.q <= inset_range[1]:
                    inset.plot([fp.q], [0.0], "o", ms=ms * 0.7, mec=colour, mfc=face, mew=1.2)
                kind = "stable" if fp.stable else "unstable"
                point_handles.append(
                    Line2D(
                        [], [], ls="", marker="o", ms=ms, mec=colour, mfc=face, mew=1.5,
                        label=rf"fixed point $q={fp.q:.4g}$, $V'(q)={fp.vprime:.3g}$ ({kind})",
                    )
                )
        inset.set_xlim(*inset_range)
        inset.set_title(r"$V(q)-q$ near $q^*$", fontsize=8, pad=3)
        inset.set_xlabel(r"$q$", fontsize=8, labelpad=1)
        inset.tick_params(labelsize=7)
        inset.grid(alpha=0.3)
        ax.set_xlim(0, q_max)
        ax.set_ylim(0, q_max)
        ax.set_aspect("equal")
        ax.set_xlabel(r"variance $q$")
        ax.set_ylabel(r"$V(q)$")
        ax.set_title(rf"{tag} {_NAMES[act]}, $s = {sparsity:g}$, $q^* = {q_star:g}$")
        ax.legend(handles=[*ax.get_legend_handles_labels()[0], *point_handles], fontsize=8, loc="upper left")
    fig.suptitle(
        f"{_ICLR} Fig. 4: variance maps on the EoC with $m$ chosen by $V'(q^*)$ (filled: stable, open: unstable)"
    )
    return fig


#: file stem -> figure function, in the order the papers number them
FIGURES: dict[str, Callable[[], Figure]] = {
    "arxiv_fig1b_variance_maps": variance_maps_qstar,
    "arxiv_fig1c_eoc_sigma": eoc_sigma_curve,
    "arxiv_fig2_vsecond_heatmaps": vsecond_heatmaps,
    "arxiv_fig3_bound_vs_qstar": bound_vs_qstar,
    "arxiv_fig4_chi1_prime_heatmaps": chi1_prime_heatmaps,
    "iclr_fig3_vprime_vsecond_vs_m": iclr_vprime_vsecond_vs_m,
    "iclr_fig4_multiple_fixed_points": iclr_multiple_fixed_points,
}


def write_theory_figures(out_dir, dpi: int = DPI) -> list[Path]:
    """Save every figure of :data:`FIGURES` as ``out_dir/<name>.png``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in FIGURES.items():
        path = out / f"{name}.png"
        make().savefig(path, dpi=dpi)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class TheoryFigures:
    """The options of ``python -m analysis.figures.theory``.

    Parameters
    ----------
    out : Path
        Output directory (created if missing).
    dpi : int
        Resolution.
    """

    out: Path
    dpi: int = DPI


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(TheoryFigures, None if argv is None else list(argv), prog="python -m analysis.figures.theory",
                 description="Write the exact-theory figures of both papers as PNG.")
    for path in write_theory_figures(args.out, dpi=args.dpi):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
