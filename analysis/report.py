"""``python -m analysis.report STORE --out DIR``: does the finite-width theory hold?

Writes ``DIR/report.md``, a self-contained ``DIR/report.html`` (figures embedded), the
PNG figures and ``DIR/claims.json`` (one entry per claim: prediction, measurement,
uncertainty, verdict, reason, the next-order budget, the widths used and, for every
open question, the command that would settle it). Failing claims are listed first, then
the open ones with their commands, then every claim; the engine's exactness checks are
reported apart from the papers' claims. The rules are stated in
:mod:`analysis.verdicts`.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
from pathlib import Path

from analysis import estimators
from analysis.claims import config_label, evaluate, scale_classes, tally
from analysis.expansions import ClaimTheory
from analysis.figures.validation import VALIDATION_FIGURES, gradient_vs_product
from analysis.figures.products import stability_diagram, store_points, variance_shares
from analysis.sweep import open_sweep, solution_of


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
        figures.append((name, path))
    figures += _product_figures(ds, out)
    try:
        from analysis.figures.theory import write_theory_figures

        figures += [(p.stem, p) for p in write_theory_figures(out)]
    except ImportError:
        pass

    counts = tally(claims)
    papers = [c for c in claims if c.get("kind", "claim") == "claim"]
    checks = [c for c in claims if c.get("kind") == "engine check"]
    blocks = [
        ("h1", "Does the finite-width theory hold?"),
        ("p", f"Store `{store}`: {ds.sizes['config']} configurations, widths {list(map(int, ds.width.values))}, "
              f"depth {ds.sizes['layer']}, {ds.attrs.get('samples', ds.sizes['sample'])} networks each; "
              f"sampler {ds.attrs.get('sampler')}, backend {ds.attrs.get('backend')}, seed {ds.attrs.get('seed')}."),
        ("p", f"{summary_line(claims)} Configurations that differ only in q* are the same networks scaled "
              "by sqrt(q*) and count once (equivalent q* listed). holds: within 5 s.e. of the prediction and "
              "resolved from the null; fails: off by more than 5 s.e. plus the theory's next order; outside "
              "regime: no simulated width has the next order below 0.1 of the effect (rules: analysis.verdicts)."),
    ]
    header = ["claim", "configuration", "layer", "prediction", "measurement", "s.e.", "verdict", "reason", "method"]

    def rows(selected):
        return [[c["claim"], _config_text({**c["config"], "q_star": c.get("equivalent_q_star") or c["config"]["q_star"]}),
                 _fmt(c["layer"]), _fmt(c["prediction"]), _fmt(c["measurement"]), _fmt(c["uncertainty"]),
                 c["verdict"].upper() if c["verdict"] == "fails" else c["verdict"], c["reason"], c["method"]]
                for c in selected]

    failing = [c for c in papers if c["verdict"] == "fails"]
    blocks.append(("h2", "Claims that fail"))
    blocks.append(("table", (header, rows(failing))) if failing else ("p", "None."))
    open_ = [c for c in papers if c.get("command")]
    blocks.append(("h2", "Open questions and the runs that would settle them"))
    blocks.append(("p", "Each command simulates the narrowest width in the claim's regime with the networks that "
                        "resolve it at 5 sigma (analysis.plan; estimated time on the 2-core CPU machine)."))
    blocks.append(("table", (["claim", "configuration", "layer", "verdict", "why", "est. s", "command"],
                             [[c["claim"], _config_text(c["config"]), _fmt(c["layer"]), c["verdict"], c["reason"],
                               _fmt(c["command_seconds"]), c["command"]] for c in open_])) if open_ else ("p", "None."))
    for kind in dict.fromkeys(c["claim"] for c in papers):
        selected = [c for c in papers if c["claim"] == kind]
        blocks.append(("h2", f"{kind}: {selected[0].get('statement', '')}"))
        blocks.append(("table", (header, rows(selected))))
    if "back_norm2" in ds:
        blocks += _gradient_blocks(ds)
    blocks.append(("h2", "Checks of the engine (not claims of the papers)"))
    blocks.append(("table", (header, rows(checks))) if checks else ("p", "None in this store (one q* per class)."))
    blocks.append(("h2", "Figures"))
    for name, path in figures:
        blocks.append(("img", (name, path)))

    (out / "report.md").write_text(_markdown(blocks))
    (out / "report.html").write_text(_html(blocks))
    return {"claims": len(papers), "checks": len(checks), **counts}


def _product_figures(ds, out: Path) -> list[tuple[str, Path]]:
    """The stability diagram (with this store's fractions) and the variance shares for the
    store's (family, s) with ``V' < 1``; the gradient scatter for ``--backward`` stores."""
    families: dict[str, list[float]] = {}
    for ci in range(ds.sizes["config"]):
        if float(ds.vprime[ci]) < 1.0:
            families.setdefault(str(ds.activation[ci].values), [])
            s = float(ds.sparsity_target[ci])
            if s not in families[str(ds.activation[ci].values)]:
                families[str(ds.activation[ci].values)].append(s)
    made = []
    points = store_points(ds) if "chi1" in ds else []
    for act, sparsities in families.items():
        mine = [p for p in points if p.sparsity in sparsities]
        for name, fig in ((f"stability_diagram_{act}", stability_diagram(act, sparsities, mine, depth=ds.sizes["layer"])),
                          (f"variance_shares_{act}", variance_shares(act, sparsities, depth=ds.sizes["layer"]))):
            made.append((name, _save(fig, out / f"{name}.png")))
    if "back_norm2" in ds:
        made.append(("gradient_vs_product", _save(gradient_vs_product(ds), out / "gradient_vs_product.png")))
    return made


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100)
    return path


def _gradient_blocks(ds) -> list[tuple]:
    """What the real back-propagated norm adds to prod chi1 on the same networks."""
    rows = []
    for ci in (members[0] for members in scale_classes(ds)):
        if not float(ds.vprime[ci]) < 1.0:
            continue
        back = ClaimTheory.from_solution(solution_of(ds, ci), ds.sizes["layer"]).back
        for r in estimators.gradient_vs_product(ds, ci):
            rows.append([_config_text(config_label(ds, ci)), str(r["width"]),
                         f"{r['mean']:.4g} +- {r['mean_se']:.2g}", f"{back.gradient_drift + back.conditioning:.4g}",
                         f"{r['var']:.4g} +- {r['var_se']:.2g}", f"{back.gradient_var:.4g}", f"{r['correlation']:.3f}"])
    return [("h2", "The gradient norm against prod chi1 on the same networks"),
            ("p", "D = log |delta^(1)|^2 - log prod_(l<L) chi1: the back-propagated norm has its own sampling noise "
                  "(-(1 + c2)/N per layer in mean, 2 (1 + c2)/N in variance) and the conditioning of the weights on the "
                  "forward pass (theory.products); N E D and N Var D measured against that theory."),
            ("table", (["configuration", "N", "N E D", "theory", "N Var D", "theory", "corr(log prod chi1, log |delta|^2)"],
                       rows))]


def summary_line(claims: list[dict]) -> str:
    counts = tally(claims)
    n = sum(counts.values())
    parts = ", ".join(f"{counts[v]} {v}" for v in ("holds", "fails", "inconclusive", "outside regime", "not applicable") if counts.get(v))
    return f"{n} claims: {parts}."


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
             "td,th{border:1px solid #ccc;padding:2px 6px}td.verdict{font-weight:bold}img{max-width:100%}</style>"]
    for kind, body in blocks:
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{html.escape(body)}</{kind}>")
        elif kind == "table":
            head, rows = body
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
            for r in rows:
                style = " style='background:#fdd'" if "FAILS" in r else ""
                parts.append(f"<tr{style}>" + "".join(
                    f"<td class='verdict'>{html.escape(c)}</td>" if h == "verdict" else f"<td>{html.escape(c)}</td>"
                    for h, c in zip(head, r)) + "</tr>")
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
    build(args.store, args.out)
    print(summary_line(json.loads((args.out / "claims.json").read_text())))
    print(f"report: {args.out / 'report.md'}, {args.out / 'report.html'}, claims: {args.out / 'claims.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
