"""``python -m analysis.report STORE --out DIR``: does the finite-width theory hold?

Writes ``DIR/report.md``, a self-contained ``DIR/report.html`` (figures embedded), the
PNG figures and ``DIR/claims.json`` (one entry per claim: prediction, measurement,
uncertainty, verdict). Failing claims are listed first, with their numbers, beside the
size of the expansion parameter ``eps = |V''| sqrt(r_inf / N) / (1 - V')``: the 1/N
theory needs ``eps << 1`` (the next order of the expansion is ``O(eps)`` relative).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from analysis.claims import evaluate
from analysis.figures import VALIDATION_FIGURES
from analysis.sweep import open_sweep


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, (list, tuple)):
        return "/".join(_fmt(v) for v in x)
    if isinstance(x, str):
        return x
    return f"{x:.4g}"


def _config_text(c: dict) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in c.items() if v is not None)


def expansion_parameters(ds) -> list[dict]:
    """``eps = |V''| sqrt(r_inf/N) / (1 - V')`` per configuration and width."""
    rows = []
    for ci in range(ds.sizes["config"]):
        vprime, vsec = float(ds.vprime[ci]), float(ds.vsecond[ci])
        r_inf = float(ds.r_theory.isel(config=ci, layer=-1))
        for width in ds.width.values:
            eps = abs(vsec) * np.sqrt(r_inf / width) / (1 - vprime) if vprime < 1 else np.inf
            rows.append({"config": ci, "q_star": float(ds.q_star[ci]), "vprime": vprime, "width": int(width), "eps": float(eps)})
    return rows


def build(store: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    ds = open_sweep(store)
    claims = evaluate(ds)
    (out / "claims.json").write_text(json.dumps(claims, indent=1))

    figures = []
    for name, fn in VALIDATION_FIGURES.items():
        fig = fn(ds)
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        figures.append((name, path))
    try:
        from analysis.theory_figures import write_theory_figures

        figures += [(p.stem, p) for p in write_theory_figures(out)]
    except ImportError:
        pass

    counts = Counter(c["verdict"] for c in claims)
    blocks = [
        ("h1", "Does the finite-width theory hold?"),
        ("p", f"Store `{store}`: {ds.sizes['config']} configurations, widths {list(map(int, ds.width.values))}, "
              f"depth {ds.sizes['layer']}, {ds.attrs.get('samples', ds.sizes['sample'])} networks each; "
              f"sampler {ds.attrs.get('sampler')}, backend {ds.attrs.get('backend')}, seed {ds.attrs.get('seed')}."),
        ("p", f"{len(claims)} claims: {counts.get('holds', 0)} hold, {counts.get('fails', 0)} fail, "
              f"{counts.get('inconclusive', 0)} inconclusive (agreement within 5 standard errors but too uncertain "
              "to tell the prediction from zero, or not applicable)."),
    ]
    header = ["claim", "configuration", "layer", "prediction", "measurement", "s.e.", "method", "verdict"]

    def rows(selected):
        return [[c["claim"], _config_text(c["config"]), _fmt(c["layer"]), _fmt(c["prediction"]), _fmt(c["measurement"]),
                 _fmt(c["uncertainty"]), c["method"], c["verdict"].upper() if c["verdict"] == "fails" else c["verdict"]]
                for c in selected]

    failing = [c for c in claims if c["verdict"] == "fails"]
    blocks.append(("h2", "Claims that fail"))
    blocks.append(("table", (header, rows(failing))) if failing else ("p", "None."))
    eps = expansion_parameters(ds)
    blocks.append(("h2", "Size of the next order"))
    blocks.append(("p", "The 1/N expansion of the variance is an expansion in eps = |V''| sqrt(r/N) / (1 - V'); "
                        "where eps is not small, disagreement at the widths simulated is expected at the next order."))
    blocks.append(("table", (["config", "q*", "V'", "N", "eps"],
                             [[str(e["config"]), _fmt(e["q_star"]), _fmt(e["vprime"]), str(e["width"]), _fmt(e["eps"])] for e in eps])))
    for kind in dict.fromkeys(c["claim"] for c in claims):
        selected = [c for c in claims if c["claim"] == kind]
        blocks.append(("h2", f"{kind}: {selected[0].get('statement', '')}"))
        blocks.append(("table", (header, rows(selected))))
    blocks.append(("h2", "Figures"))
    for name, path in figures:
        blocks.append(("img", (name, path)))

    (out / "report.md").write_text(_markdown(blocks))
    (out / "report.html").write_text(_html(blocks))
    return {"claims": len(claims), **counts}


def _markdown(blocks) -> str:
    lines = []
    for kind, body in blocks:
        if kind == "h1":
            lines += [f"# {body}", ""]
        elif kind == "h2":
            lines += [f"## {body}", ""]
        elif kind == "p":
            lines += [body, ""]
        elif kind == "table":
            head, rows = body
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
        elif kind == "img":
            name, path = body
            lines += [f"![{name}]({path.name})", ""]
    return "\n".join(lines)


def _html(blocks) -> str:
    parts = ["<!doctype html><meta charset='utf-8'><title>Finite-width validation report</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px}td:last-child{font-weight:bold}img{max-width:100%}</style>"]
    for kind, body in blocks:
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{html.escape(body)}</{kind}>")
        elif kind == "table":
            head, rows = body
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
            for r in rows:
                style = " style='background:#fdd'" if "FAILS" in r else ""
                parts.append(f"<tr{style}>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
            parts.append("</table>")
        elif kind == "img":
            name, path = body
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(f"<h3>{html.escape(name)}</h3><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>")
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="a depth-sweep zarr store")
    parser.add_argument("--out", type=Path, default=Path("data/report"), help="output directory (default data/report)")
    args = parser.parse_args(argv)
    if not args.store.exists():
        print(f"error: no store at {args.store}", file=sys.stderr)
        return 2
    counts = build(args.store, args.out)
    print(f"{counts['claims']} claims: {counts.get('holds', 0)} hold, {counts.get('fails', 0)} fail, "
          f"{counts.get('inconclusive', 0)} inconclusive")
    print(f"report: {args.out / 'report.md'}, {args.out / 'report.html'}, claims: {args.out / 'claims.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
