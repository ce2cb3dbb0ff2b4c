"""Figures of the claims themselves, drawn from their records (:mod:`analysis.claims`).

* :func:`verdict_matrix`: claims x configurations, each cell coloured by its verdict,
  with the width at which an ``outside regime`` claim would enter its regime;
* :func:`claim_figure`: one claim across widths and configurations: every width's
  estimate with its 5-sigma band (the control variate, and the plain estimator in grey),
  the ``O(1/N)`` prediction, the prediction with the next order ``P + c/N``, the widths
  outside the regime shaded, and the estimate of ``P`` the verdict was made from.

Validation figures in the sense of :mod:`analysis.figures` (they need a store's claims).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis.verdicts import SIGMAS, VERDICTS

#: colour and mark of each verdict, in the order of :data:`analysis.verdicts.VERDICTS`
STYLE = {
    "holds": ("#2e7d32", "\u2713"),
    "fails": ("#c62828", "\u2717"),
    "inconclusive": ("#f9a825", "?"),
    "outside regime": ("#90a4ae", "N"),
    "not applicable": ("#e0e0e0", "-"),
}


def row_label(claim: dict) -> str:
    """A claim's row in the matrix: its name, with the layer where one claim has several
    (:attr:`analysis.claims.Claim.row_label`, recorded with the claim)."""
    return claim.get("row") or claim["claim"]


def verdict_matrix(claims: list[dict]) -> Figure:
    """Claims (rows) x configurations (columns, by ``config_id``), coloured by verdict."""
    papers = [c for c in claims if c.get("kind", "claim") == "claim"]
    rows = list(dict.fromkeys(row_label(c) for c in papers))
    cols = list(dict.fromkeys(c["config_id"] for c in papers))
    index = {v: i for i, v in enumerate(VERDICTS)}
    grid = np.full((len(rows), len(cols)), np.nan)
    marks = {}
    for c in papers:
        i, j = rows.index(row_label(c)), cols.index(c["config_id"])
        grid[i, j] = index[c["verdict"]]
        mark = STYLE[c["verdict"]][1]
        if c["verdict"] == "outside regime" and c.get("regime_width"):
            mark = f"N\u2265{c['regime_width']}"
        marks[i, j] = mark
    label_width = 0.075 * max(len(r) for r in rows)  # inches of the longest row label at 8 pt
    fig = Figure(figsize=(1.2 + label_width + 0.9 * len(cols), 1.6 + 0.34 * len(rows)), layout="constrained")
    ax = fig.subplots()
    cmap = ListedColormap([STYLE[v][0] for v in VERDICTS])
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-0.5, vmax=len(VERDICTS) - 0.5, aspect="auto")
    for (i, j), mark in marks.items():
        ax.text(j, i, mark, ha="center", va="center", fontsize=8 if len(mark) > 2 else 11,
                color="white" if grid[i, j] in (index["holds"], index["fails"]) else "black")
    first = {c["config_id"]: c["config"] for c in reversed(papers)}
    ax.set_xticks(range(len(cols)), [f"{cid}\n{first[cid]['activation']}\ns={first[cid]['sparsity']:g}\n"
                                     f"V'={first[cid]['vprime']:.2g}" for cid in cols], fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.xaxis.tick_top()
    ax.set_xticks(np.arange(len(cols) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(rows) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=2)
    ax.tick_params(which="minor", length=0)
    present = [v for v in VERDICTS if v in {c["verdict"] for c in papers}]
    ax.legend(handles=[Patch(color=STYLE[v][0], label=f"{STYLE[v][1]}  {v}") for v in present],
              loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=min(3, len(present)), fontsize=8, frameon=False)
    return fig


def _band(ax, x, y, se, **kw):
    ax.errorbar(x, y, yerr=SIGMAS * np.asarray(se), fmt="o", ms=4, capsize=3, **kw)


def claim_figure(claims: list[dict]) -> Figure | None:
    """One claim (all records of one row) across configurations: per width the estimate with
    its 5-sigma band against the prediction; ``None`` when the records carry no per-width
    data (then the table says everything)."""
    drawn = [c for c in claims if c.get("per_width") and c["verdict"] != "not applicable"]
    if not drawn:
        return None
    n = len(drawn)
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.2 * cols, 3.3 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax, c in zip(axes, drawn):
        pts = c["per_width"]
        widths = np.array([p["width"] for p in pts], float)
        vals = np.array([p["value"] for p in pts], float)
        ses = np.array([p["se"] for p in pts], float)
        regime = np.array([p.get("in_regime", True) for p in pts], bool)
        lo, hi = widths.min() / 1.8, widths.max() * 1.8
        grid = np.geomspace(lo, hi, 100)
        shown = [vals - SIGMAS * ses, vals + SIGMAS * ses]
        if "next_coefficient" in c:
            p0 = c["expansion_prediction"]
            ax.axhline(p0, color="k", lw=1.2, label="prediction $P$, O(1/N)")
            curve = p0 + c["next_coefficient"] / grid
            ax.plot(grid, curve, "k--", lw=1,
                    label="$P + c/N$ (next order)" if c.get("next_derived", True) else "$P + c/N$ (next order estimated)")
            shown.append(np.array([p0]))
            if c.get("regime_width"):
                ax.axvspan(lo, min(hi, c["regime_width"]), color="0.88", zorder=0, label="outside the regime")
        else:
            ax.plot(widths, [p["predicted"] for p in pts], "k-", lw=1.2, label="prediction")
        if any("plain" in p for p in pts):
            plain = np.array([p["plain"] for p in pts], float)
            plain_se = np.array([p["plain_se"] for p in pts], float)
            ok = np.isfinite(plain)
            _band(ax, widths[ok] * 1.12, plain[ok], plain_se[ok], color="0.55", alpha=0.7, label="plain estimator")
        ok = np.isfinite(vals)
        _band(ax, widths[ok & regime], vals[ok & regime], ses[ok & regime], color="C0", label="control variate, 5 s.e.")
        _band(ax, widths[ok & ~regime], vals[ok & ~regime], ses[ok & ~regime], color="C0", alpha=0.35)
        if c.get("widths_used") and np.isfinite(c.get("measurement") or math.nan) and "next_coefficient" in c:
            ax.errorbar([hi / 1.25], [c["measurement"] if c["claim"] != "nlo_bound" else c["measurement"]],
                        yerr=[SIGMAS * c["uncertainty"]], fmt="s", color="C3", ms=5, capsize=3,
                        label="estimate of $P$ (widths in the regime)")
        finite = np.concatenate([np.ravel(x)[np.isfinite(np.ravel(x))] for x in shown])
        if finite.size:
            span = finite.max() - finite.min() or abs(finite.max()) or 1.0
            ax.set_ylim(finite.min() - 0.25 * span, finite.max() + 0.25 * span)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_xticks(widths, [f"{int(w)}" for w in widths], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel("width N")
        ax.set_ylabel(c.get("label") or c["claim"], fontsize=8)
        ax.set_title(f"{c['config_id']}: {c['verdict']}", fontsize=9, color=STYLE[c["verdict"]][0])
    axes[0].legend(fontsize=6.5, loc="best")
    return fig
