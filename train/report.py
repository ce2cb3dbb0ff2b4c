"""Measured against published: markdown tables from a results store.

``python -m train.report STORE.zarr`` prints, for the table the store was made for
(``attrs["target"]``):

1. one row per configuration, logit scale and bias step: the number of seeds, the theory's ``m``
   and ``V''(q*)`` beside the printed ones (a printed value further than one unit in its
   last place from the theory is marked ``*``), the test accuracy (mean or median over
   seeds, as the paper reports it, ± the standard deviation over seeds) and the test
   activation sparsity (mean over hidden layers, examples and seeds) beside the paper's;
2. with scale-control runs, the design of :mod:`train.scale` for each ``c``.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd

from train.published import NOTES, TABLES, lookup
from train.results import open_results

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


#: the scale-control design of :mod:`train.scale` for one ``c``: (column, q*, logit
#: scale, bias step) as functions of ``c``
DESIGN = (
    ("q*=1 (×1, ×1)", lambda c: (1.0, 1.0, 1.0)),
    ("q*=1, λ=√c (×√c, ×1)", lambda c: (1.0, math.sqrt(c), 1.0)),
    ("q*=c, λ=1/√c (×1, ×1/c)", lambda c: (c, 1 / math.sqrt(c), 1.0)),
    ("q*=c (×√c, ×1/c)", lambda c: (c, 1.0, 1.0)),
    ("q*=1, λ=√c, bias step/c (×√c, ×1/c)", lambda c: (1.0, math.sqrt(c), 1 / c)),
)


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
    scale = scale_table(summary)
    if scale is not None:
        parts += ["", "Scale control (train.scale): test accuracy of each run, headed by its (logit factor, bias-step factor) relative to q* = 1.", "", scale]
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.report", description=__doc__.splitlines()[0])
    parser.add_argument("store", help="zarr store written by python -m train.reproduce or train.write_zarr")
    parser.add_argument("--table", choices=sorted(TABLES), help="published table (default: the store's target)")
    parser.add_argument("--aggregate", choices=("mean", "median"), help="seed summary (default: the store's)")
    args = parser.parse_args(argv)
    ds = open_results(args.store)
    table = args.table or ds.attrs.get("target")
    if table is None:
        parser.error("the store names no target: give --table")
    print(render(ds, table, args.aggregate or ds.attrs.get("aggregate", "mean")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
