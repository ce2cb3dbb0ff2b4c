"""Markdown tables from results stores: measured against published, and the scale control.

``python -m train.report STORE.zarr [STORE.zarr ...]`` joins the stores along ``run`` and
prints, for stores of ``python -m train`` (no published table), one row per
configuration (:func:`results_table`), and for the table they were made for
(``attrs["target"]`` or ``--table``):

1. one row per configuration, logit scale and bias step: the number of seeds, the theory's ``m``
   and ``V''(q*)`` beside the printed ones (a printed value further than one unit in its
   last place from the theory is marked ``*``), the test accuracy (mean or median over
   seeds, as the paper reports it, ± the standard deviation over seeds) and the test
   activation sparsity (mean over hidden layers, examples and seeds) beside the paper's;
2. with scale-control runs, the design of :mod:`train.scale` for each ``c`` and its
   contrasts, paired by seed (:func:`scale_contrasts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

import tyro

from theory.cli import fail, parse
from train.published import NOTES, TABLES, lookup
from train.results import concat_runs, open_results
from train.scale import DESIGN

KEYS = ["activation", "sparsity", "vprime_target", "q_star", "logit_scale", "bias_step"]


def summarise(ds, aggregate: str) -> pd.DataFrame:
    """One row per configuration, logit scale and bias step, aggregated over seeds."""
    if aggregate not in ("mean", "median"):
        raise ValueError(f"aggregate must be 'mean' or 'median', got {aggregate!r}")
    frame = pd.DataFrame(
        {
            **{k: ds[k].values for k in KEYS + ["m", "vsecond", "tau"]},
            "accuracy": ds["test_accuracy"].values,
            "sparsity_measured": ds["test_sparsity"].mean("layer").values,
        }
    )
    frame["vprime_target"] = frame["vprime_target"].fillna(-1.0)  # groupby drops NaN keys
    grouped = frame.groupby(KEYS, sort=True)
    out = grouped.agg(
        n=("accuracy", "size"),
        m=("m", "first"),
        vsecond=("vsecond", "first"),
        tau=("tau", "first"),
        accuracy=("accuracy", aggregate),
        accuracy_sd=("accuracy", "std"),
        sparsity_measured=("sparsity_measured", "mean"),
    ).reset_index()
    out["vprime_target"] = out["vprime_target"].where(out["vprime_target"] >= 0, np.nan)
    return out


def _vp(v) -> float | None:
    return None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v)


def _printed(value, exact) -> str:
    if value is None:
        return ""
    flag = "*" if exact is not None and abs(exact - value) > value.unit + 1e-9 else ""
    return f"{value:.{value.decimals}f}{flag}"


def _fmt(x, digits=3) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def main_table(summary: pd.DataFrame, table: str) -> str:
    head = (
        "| family | s | V' | q* | logit scale | bias step | seeds | m | m (paper) | V'' | V'' (paper) "
        "| accuracy | accuracy (paper) | sparsity | sparsity (paper) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in summary.itertuples():
        vp = _vp(r.vprime_target)
        pub = lookup(table, r.activation, r.sparsity, vp, r.q_star) if (r.logit_scale, r.bias_step) == (1.0, 1.0) else None
        acc = f"{_fmt(r.accuracy)} ± {_fmt(r.accuracy_sd)}" if r.n > 1 else _fmt(r.accuracy)
        acc_pub = pub_sp = m_pub = v2_pub = ""
        if pub is not None:
            m_pub, v2_pub = _printed(pub.m, r.m), _printed(pub.vsecond, r.vsecond)
            acc_pub = _printed(pub.accuracy, None) + (f" ± {_printed(pub.accuracy_std, None)}" if pub.accuracy_std is not None else "")
            pub_sp = _printed(pub.sparsity_measured, None)
        m = "inf" if math.isinf(r.m) else _fmt(r.m)
        lines.append(
            f"| {r.activation} | {r.sparsity:g} | {'' if vp is None else f'{vp:g}'} | {r.q_star:g} | {r.logit_scale:.4g} | {r.bias_step:.4g} "
            f"| {r.n} | {m} | {m_pub} | {_fmt(r.vsecond)} | {v2_pub} | {acc} | {acc_pub} "
            f"| {_fmt(r.sparsity_measured)} | {pub_sp} |"
        )
    return "\n".join(lines)


def results_table(summary: pd.DataFrame) -> str:
    """One row per configuration, logit scale and bias step: the final test accuracy
    (mean ± sd over seeds) and test activation sparsity (mean over layers and seeds)."""
    head = "| family | s | V' | m | q* | logit scale | bias step | seeds | test accuracy | test sparsity |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in summary.itertuples():
        vp = _vp(r.vprime_target)
        acc = f"{_fmt(r.accuracy)} ± {_fmt(r.accuracy_sd)}" if r.n > 1 else _fmt(r.accuracy)
        m = "inf" if math.isinf(r.m) else _fmt(r.m)
        lines.append(
            f"| {r.activation} | {r.sparsity:g} | {'' if vp is None else f'{vp:g}'} | {m} | {r.q_star:g} "
            f"| {r.logit_scale:.4g} | {r.bias_step:.4g} | {r.n} | {acc} | {_fmt(r.sparsity_measured)} |"
        )
    return "\n".join(lines)


def scale_table(summary: pd.DataFrame) -> str | None:
    """The scale-control design per ``(family, s, V', c)``: test accuracy of each run,
    headed by its (logit factor, bias-step factor) relative to ``q* = 1``."""
    rows = []
    for key, grp in summary.groupby(["activation", "sparsity", "vprime_target"], dropna=False, sort=True):
        cells = {(round(r.q_star, 6), round(r.logit_scale, 6), round(r.bias_step, 6)): r for r in grp.itertuples()}
        for c in sorted(q for q in grp["q_star"].unique() if q != 1.0):
            got = [cells.get(tuple(round(v, 6) for v in run(c))) for _, run in DESIGN]
            if sum(g is not None for g in got) >= 3:
                rows.append((key, c, got))
    if not rows:
        return None
    head = "| family | s | V' | c | " + " | ".join(name for name, _ in DESIGN) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for (fam, s, vp), c, got in rows:
        vp = _vp(vp)
        cells = " | ".join(
            "" if g is None else f"{_fmt(g.accuracy)} ± {_fmt(g.accuracy_sd)}" if g.n > 1 else _fmt(g.accuracy) for g in got
        )
        lines.append(f"| {fam} | {s:g} | {'' if vp is None else f'{vp:g}'} | {c:g} | {cells} |")
    return "\n".join(lines)


#: the contrasts of the scale control: (name, run, reference run) as DESIGN columns
CONTRASTS = (
    ("q*=c against q*=1", 3, 0),
    ("logits ×√c alone (q*=1, λ=√c) against q*=1", 1, 0),
    ("bias step ×1/c alone (q*=c, λ=1/√c) against q*=1", 2, 0),
    ("exact copy (q*=1, λ=√c, bias step/c) against q*=c", 4, 3),
)


def scale_contrasts(ds) -> str | None:
    """The scale-control contrasts of :data:`CONTRASTS`, paired by seed (a pair shares its
    initial weights, up to the rescaling, and its order of mini-batches): the mean
    difference ± its standard error over seeds, their ratio t and its two-sided p-value
    (Student's t with seeds - 1 degrees of freedom: with few seeds a large t means
    little), of the final test accuracy and of the last epoch's mean training loss."""
    steps = int(ds.attrs["steps_per_epoch"])
    last_loss = ds.train_loss.values[:, -steps:].mean(1)
    lines = []
    for key, idx in _groups(ds, ["activation", "sparsity", "vprime_target"]).items():
        sub = {k: ds[k].values[idx] for k in ("q_star", "logit_scale", "bias_step", "seed")}
        for c in sorted(q for q in set(sub["q_star"]) if q != 1.0):
            cells = []
            for _, run in DESIGN:
                q, lam, beta = run(c)
                pick = np.isclose(sub["q_star"], q) & np.isclose(sub["logit_scale"], lam) & np.isclose(sub["bias_step"], beta)
                cells.append(dict(zip(sub["seed"][pick], idx[pick])))
            for name, a, b in CONTRASTS:
                seeds = sorted(set(cells[a]) & set(cells[b]))
                if len(seeds) < 2:
                    continue
                ia, ib = [cells[a][k] for k in seeds], [cells[b][k] for k in seeds]
                row = []
                for values in (ds.test_accuracy.values, last_loss):
                    d = values[ia] - values[ib]
                    se = d.std(ddof=1) / np.sqrt(len(d))
                    if se > 0:
                        t = d.mean() / se
                        p = 2 * stats.t.sf(abs(t), len(d) - 1)
                        row.append(f"{d.mean():+.4f} ± {se:.4f} | {t:+.1f} | {p:.2g}")
                    else:
                        row.append(f"{d.mean():+.4f} ± 0 | | ")
                fam, sp, vp = key
                vp = _vp(vp)
                lines.append(f"| {fam} | {sp:g} | {'' if vp is None else f'{vp:g}'} | {c:g} | {name} | {len(seeds)} | {row[0]} | {row[1]} |")
    if not lines:
        return None
    head = "| family | s | V' | c | contrast | seeds | Δ test accuracy | t | p | Δ training loss, last epoch | t | p |"
    return "\n".join([head, "|" + "---|" * (head.count("|") - 1), *lines])


def _groups(ds, keys) -> dict:
    frame = pd.DataFrame({k: ds[k].values for k in keys}).fillna(-1.0)
    return {tuple(np.nan if v == -1.0 else v for v in k): np.asarray(v) for k, v in frame.groupby(keys, sort=True).indices.items()}


def scale_sections(ds, summary: pd.DataFrame) -> list[str]:
    """The scale-control design and its contrasts, as markdown paragraphs (none without
    control runs)."""
    scale = scale_table(summary)
    if scale is None:
        return []
    parts = ["", "Scale control (train.scale): test accuracy of each run, headed by its (logit factor, bias-step factor) "
             "relative to q* = 1.", "", scale]
    contrasts = scale_contrasts(ds)
    if contrasts is not None:
        parts += ["", "Contrasts, paired by seed: mean difference ± s.e. over seeds, t = mean / s.e. and its two-sided "
                  "p (Student's t, seeds - 1 degrees of freedom).", "", contrasts]
    return parts


def render(ds, table: str, aggregate: str) -> str:
    """The full markdown report of a results data set."""
    summary = summarise(ds, aggregate)
    parts = [
        f"Test accuracy ({aggregate} ± sd over seeds) and test activation sparsity against {table}; "
        f"{ds.attrs.get('arch', '')} depth {ds.attrs.get('depth', '')} width {ds.attrs.get('width', '')}, "
        f"{ds.attrs.get('epochs', '')} epochs, {ds.attrs.get('dataset', '')} "
        f"({ds.attrs.get('n_train', '')} train / {ds.attrs.get('n_test', '')} test).",
        "",
        main_table(summary, table),
        "",
        "`*`: printed value further than one unit in its last place from theory.solve_eoc.",
    ]
    parts += [f"Paper note: {n}" for n in NOTES.get(table, [])]
    parts += scale_sections(ds, summary)
    return "\n".join(parts)


@dataclass(frozen=True)
class TrainReport:
    """The options of ``python -m train.report``.

    Parameters
    ----------
    store : tuple of str
        Zarr stores of python -m train or train.reproduce; several (the same training
        settings, e.g. other seeds) are joined along run.
    table : str or None
        Published table to compare with (default: the store's target).
    aggregate : str or None
        Seed summary, mean or median (default: the store's).
    """

    store: tyro.conf.Positional[tuple[str, ...]]
    table: str | None = None
    aggregate: Literal["mean", "median"] | None = None


def main(argv=None) -> int:
    args = parse(TrainReport, argv, prog="python -m train.report", description=__doc__.splitlines()[0])
    if args.table is not None and args.table not in TABLES:
        return fail(f"--table must be one of {sorted(TABLES)}, got {args.table!r}")
    parts = [open_results(path) for path in args.store]
    try:
        ds = parts[0] if len(parts) == 1 else concat_runs(parts)
    except ValueError as err:
        return fail(f"the stores cannot be joined: {err}")
    table = args.table or ds.attrs.get("target")
    aggregate = args.aggregate or ds.attrs.get("aggregate", "mean")
    if table is not None:
        print(render(ds, table, aggregate))
    else:
        summary = summarise(ds, aggregate)
        print("\n".join([results_table(summary), *scale_sections(ds, summary)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
