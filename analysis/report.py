"""``python -m analysis.report STORE --out DIR``: does the finite-width theory hold?

Writes ``DIR/report.html`` (one self-contained file: figures embedded, nothing fetched),
``DIR/report.md`` (the same blocks in Markdown), the PNG figures and ``DIR/claims.json``
(one record per claim: prediction, measurement, uncertainty, verdict, reason, next-order
budget, widths used, per-width estimates and, for every open question, the command
that would settle it with its estimated cost).

The page opens with the answer: a verdict matrix (claims x configurations) and a few
sentences: where networks escaped (a stability sweep), what holds, what fails with its
numbers, and what is open with the run that would settle it. Then the configurations
(each named once, with a short id; q* copies that are the same networks by scale
covariance are one entry), the open questions with
their commands, one section per claim (its figure, then its table folded, the
surprising rows first), the distribution of ``prod chi1``, the layer-by-layer and theory
figures, the checks of the engine, and the run itself. The rules are in
:mod:`analysis.verdicts`.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import tyro
from tqdm.auto import tqdm

from analysis import estimators
from analysis.claims import evaluate, scale_classes, tally
from analysis.plan import Settle
from analysis.figures.claims import claim_figure, row_label, verdict_matrix
from analysis.figures.correlation import correlation_section
from analysis.figures.products import stability_diagram, store_points, variance_shares
from analysis.figures.theory import write_theory_figures
from analysis.figures.validation import VALIDATION_FIGURES, gradient_vs_product
from analysis.render import to_html, to_markdown
from analysis.sweep import open_sweep, theories_of
from simulate.store import SweepStore
from theory.cli import UsageError, fail, parse

#: the order of surprise: what a reader should see first in a claim's table
SURPRISE = ("fails", "outside regime", "inconclusive", "holds", "not applicable")
FOLD_ROWS = 6


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, (list, tuple)):
        return ", ".join(_fmt(v) for v in x)
    if isinstance(x, str):
        return x
    return f"{x:.4g}"


def escapes(claims: list[dict]) -> str | None:
    """The stability sweep's punchline, where networks escaped: the fraction per configuration
    whose variance left [q*/10, 10 q*] by the last layer (None when none escaped)."""
    rows = [c for c in claims if c["claim"] == "stability" and c.get("escaped") is not None]
    if not any(c["escaped"] > 0 for c in rows):
        return None
    parts = ", ".join(f"{c['config']['activation']} (s = {c['config']['sparsity']:g}) {100 * c['escaped']:.1f}%" for c in rows)
    return f"By layer {rows[0]['layer']}, networks whose variance left [q*/10, 10 q*] (widest width): {parts}."


def answer(claims: list[dict]) -> list[str]:
    """The sentences a reader needs first: where networks escaped (a stability sweep), what
    holds, what fails (with its numbers), what is open and the run that would settle it."""
    papers = [c for c in claims if c.get("kind", "claim") == "claim"]
    counts = tally(claims)
    rows: dict[str, list[str]] = {}
    for c in papers:
        if c["verdict"] != "not applicable":
            rows.setdefault(row_label(c), []).append(c["verdict"])
    everywhere = [r for r, v in rows.items() if all(x == "holds" for x in v)]
    skipped = counts.get("not applicable", 0)
    where = "in every configuration where it applies" if skipped else "in every configuration"
    holds = (f"{counts.get('holds', 0)} of {len(papers)} claims hold (within 5 s.e. of the prediction and resolved from "
             f"the null)" + (f"; {where}: {', '.join(everywhere)}" if everywhere else "")
             + (f"; {skipped} are not applicable (their hypothesis fails, e.g. V'(q*) = 1)." if skipped else "."))
    failing = [c for c in papers if c["verdict"] == "fails"]
    if failing:
        shown = "; ".join(f"{row_label(c)} on {c['config_id']} measures {c['measurement']:.4g} +- {c['uncertainty']:.2g} "
                          f"against {c['prediction']:.4g}" for c in failing[:2])
        fails = f"{len(failing)} fail: {shown}" + (f", and {len(failing) - 2} more." if len(failing) > 2 else ".")
    else:
        fails = "None fails."
    open_ = [c for c in papers if c.get("command")]
    if open_:
        common = Counter(c["claim"] for c in open_).most_common(1)[0][0]
        cheapest = min(open_, key=lambda c: c["command_seconds"])
        runs = {c["command"]: c["command_seconds"] for c in open_}
        total = sum(runs.values())
        pending = ", ".join(f"{counts[v]} {v}" for v in ("inconclusive", "outside regime") if counts.get(v))
        still = (f"Open: {pending} (most often {common}); the cheapest run that settles one ({row_label(cheapest)} on "
                 f"{cheapest['config_id']}) is `{cheapest['command']}`, about {cheapest['command_seconds']:.0f} s, and "
                 f"all {len(runs)} runs listed below take about {total:.0f} s on the 2-core CPU machine.")
    else:
        still = "Nothing is left open."
    punchline = escapes(claims)
    return ([punchline] if punchline else []) + [holds, fails, still]


def _config_rows(claims: list[dict]) -> list[list[str]]:
    seen = {}
    for c in claims:
        seen.setdefault(c["config_id"], c)
    return [[cid, c["config"]["activation"], _fmt(c["config"]["sparsity"]), _fmt(c["config"]["vprime"]),
             _fmt(c["config"]["m"]), _fmt(c.get("equivalent_q_star") or c["config"]["q_star"])]
            for cid, c in seen.items()]


def _claim_rows(selected: list[dict]) -> list[list[str]]:
    ordered = sorted(selected, key=lambda c: SURPRISE.index(c["verdict"]))
    return [[c["config_id"], _fmt(c["layer"]), _fmt(c["prediction"]), _fmt(c["measurement"]), _fmt(c["uncertainty"]),
             _fmt(c.get("plain_uncertainty")), _fmt(c.get("variance_reduction")),
             c["verdict"].upper() if c["verdict"] == "fails" else c["verdict"], c["reason"], c["method"]]
            for c in ordered]


CLAIM_HEADER = ["config", "layer", "prediction", "measurement", "s.e.", "plain s.e.", "variance reduction", "verdict",
                "reason", "method"]


def _fold(summary: str, blocks: list, rows: int) -> list:
    return [("details", (summary, blocks))] if rows > FOLD_ROWS else blocks


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100)
    return path


def _product_figures(ds, out: Path) -> list[tuple[Path, str]]:
    """The stability diagram (with this store's fractions) and the variance shares for the
    store's (family, s) with ``V' < 1``; the gradient scatter for ``--backward`` stores."""
    families: dict[str, list[float]] = {}
    for ci in range(ds.sizes["config"]):
        if float(ds.vprime[ci]) < 1.0:
            s = float(ds.sparsity_target[ci])
            act = str(ds.activation[ci].values)
            if s not in families.setdefault(act, []):
                families[act].append(s)
    made = []
    points = store_points(ds) if "chi1" in ds else []
    depth = ds.sizes["layer"]
    for act, sparsities in families.items():
        mine = [p for p in points if p.sparsity in sparsities]
        made.append((_save(stability_diagram(act, sparsities, mine, depth=depth), out / f"stability_diagram_{act}.png"),
                     f"{act}: predicted fraction of networks with prod chi1 in [1/10, 10] over (V'(q*), L/N); markers "
                     "and numbers: this store's measured fractions."))
        made.append((_save(variance_shares(act, sparsities, depth=depth), out / f"variance_shares_{act}.png"),
                     f"{act}: share of N Var log prod chi1 from each source against V'(q*)."))
    if "back_norm2" in ds:
        made.append((_save(gradient_vs_product(ds), out / "gradient_vs_product.png"),
                     "The back-propagated norm against prod chi1 on the same networks (widest width)."))
    return made


def _gradient_table(ds, ids: dict[int, str]) -> list:
    """What the real back-propagated norm adds to prod chi1 on the same networks."""
    rows = []
    for ci, cid in ids.items():
        if not float(ds.vprime[ci]) < 1.0:
            continue
        back = theories_of(ds)[ci].back
        for r in estimators.gradient_vs_product(ds, ci):
            rows.append([cid, str(r["width"]), f"{r['mean']:.4g} +- {r['mean_se']:.2g}",
                         f"{back.gradient_drift + back.conditioning:.4g}", f"{r['var']:.4g} +- {r['var_se']:.2g}",
                         f"{back.gradient_var:.4g}", f"{r['correlation']:.3f}"])
    table = ("table", (["config", "N", "N E D", "theory", "N Var D", "theory", "corr(log prod chi1, log |delta|^2)"], rows))
    return [("p", "D = log |delta^(1)|^2 - log prod_(l<L) chi1 on the same networks: the back-propagated norm has "
                  "its own sampling noise (-(1 + c2)/N per layer in mean, 2 (1 + c2)/N in variance) and the "
                  "conditioning of the weights on the forward pass (theory.products).")] + _fold(
        "what the gradient adds to prod chi1, per configuration and width", [table], len(rows))


def _run_rows(store: Path, ds) -> list[list[str]]:
    a = ds.attrs
    versions = json.loads(a.get("versions", "{}"))
    wall = a.get("wall_seconds")
    return [
        ["store", str(store.path)],
        ["command", a.get("command", "-")],
        ["configurations x widths", f"{ds.sizes['config']} x {list(map(int, ds.width.values))}"],
        ["depth, networks", f"{ds.sizes['layer']}, {a.get('samples', ds.sizes['sample'])} each"],
        ["sampler, weights, backend", f"{a.get('sampler')}, {a.get('weights', 'gaussian')}, {a.get('backend')}"],
        ["seed", str(a.get("seed"))],
        ["simulation wall time", "-" if wall is None else f"{float(wall):.1f} s"],
        ["versions", ", ".join(f"{k} {v}" for k, v in versions.items())],
    ]


def build(store: Path | SweepStore, out: Path, progress: bool = False) -> dict:
    """Write the report of ``store`` into ``out`` (module docstring).

    Parameters
    ----------
    store : Path or SweepStore
        A depth-sweep store, or the store already opened.
    out : Path
        The report's folder (created): report.html, report.md, claims.json and the PNGs.
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        ``claims`` and ``checks`` (how many of each), ``answer`` (the opening sentences)
        and the count of each verdict.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from simulate import Sweep, run
    >>> folder = Path(tempfile.mkdtemp())
    >>> path = run(Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=4, samples=8), folder / "s.zarr", progress=False)
    >>> result = build(path, folder / "report")
    >>> sorted(p.name for p in (folder / "report").glob("report.*")), result["claims"] > 0
    (['report.html', 'report.md'], True)
    """
    store = store if isinstance(store, SweepStore) else SweepStore(store)
    ds = open_sweep(store)
    out.mkdir(parents=True, exist_ok=True)
    claims = evaluate(ds, progress=progress, settle=Settle())
    (out / "claims.json").write_text(json.dumps(claims, indent=1))
    papers = [c for c in claims if c.get("kind", "claim") == "claim"]
    checks = [c for c in claims if c.get("kind") == "engine check"]
    ids = {members[0]: f"C{k}" for k, members in enumerate(scale_classes(ds), start=1)}
    sentences = answer(claims)
    steps = tqdm(total=4, desc="figures", disable=not progress)

    blocks = [("h1", "Does the finite-width theory hold?"), *[("answer", s) for s in sentences],
              ("figure", (_save(verdict_matrix(claims), out / "verdict_matrix.png"),
                          "Every claim (rows) on every configuration (columns): \u2713 holds, \u2717 fails, ? inconclusive, "
                          "N\u2265n outside its regime (the width that would qualify), - not applicable. Rules: "
                          "analysis.verdicts."))]
    steps.update()
    blocks += [("h2", "Configurations"),
               ("p", "Configurations that differ only in q* are the same networks scaled by sqrt(q*) (scale covariance) "
                     "and are one entry, with every q* listed."),
               ("table", (["id", "activation", "s", "V'(q*)", "m", "q*"], _config_rows(papers)))]

    open_ = sorted((c for c in papers if c.get("command")), key=lambda c: c["command_seconds"])
    blocks.append(("h2", "Open questions and the runs that would settle them"))
    if open_:
        by_command: dict[str, list[dict]] = {}
        for c in open_:
            by_command.setdefault(c["command"], []).append(c)
        rows = [[", ".join(f"{row_label(c)} ({c['config_id']})" for c in group), "; ".join(dict.fromkeys(c["verdict"] for c in group)),
                 "; ".join(dict.fromkeys(c["reason"] for c in group)), _fmt(group[0]["command_seconds"]), command]
                for command, group in by_command.items()]
        blocks.append(("p", "Each command simulates the narrowest width in the claim's regime with the networks that "
                            "resolve it at 5 sigma, sized with the standard deviation a pilot run measures for the "
                            "estimator the verdict uses (analysis.plan; estimated time on the 2-core CPU machine), "
                            "cheapest first; claims that one run settles share its row."))
        blocks += _fold(f"{len(rows)} runs", [("table", (["claims", "verdict", "why", "est. s", "command"], rows))],
                        len(rows))
    else:
        blocks.append(("p", "None."))

    blocks.append(("h2", "The claims, one by one"))
    for label in dict.fromkeys(row_label(c) for c in papers):
        selected = [c for c in papers if row_label(c) == label]
        verdicts = Counter(c["verdict"] for c in selected)
        blocks += [("h3", label), ("p", selected[0]["statement"])]
        fig = claim_figure(selected)
        if fig is not None:
            name = label.replace(" ", "").replace("(", "_").replace(")", "").replace("=", "")
            blocks.append(("figure", (_save(fig, out / f"claim_{name}.png"),
                                      "Per width: the control-variate estimate with its 5-s.e. band (faint: outside the "
                                      "regime) and the plain estimator (grey); the O(1/N) prediction P (solid), with the "
                                      "next order P + c/N (dashed), and the estimate of P from the widths in the regime "
                                      "(square) that the verdict compares with P.")))
        summary = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items(), key=lambda kv: SURPRISE.index(kv[0])))
        blocks.append(("details", (summary, [("table", (CLAIM_HEADER, _claim_rows(selected)))])))
    steps.update()

    blocks += correlation_section(ds, theories_of(ds), out)
    blocks.append(("h2", "The distribution of prod chi1"))
    blocks += [("figure", fig) for fig in _product_figures(ds, out)]
    if "back_norm2" in ds:
        blocks += _gradient_table(ds, ids)
    steps.update()

    layer_figs = []
    per_layer = {"est": estimators.nlo_coefficient(ds)}  # one pass over the networks for both figures that draw it
    for name, fn in VALIDATION_FIGURES.items():
        if name != "gradient_vs_product":
            kwargs = per_layer if name in ("nlo_vs_layer", "variance_vs_r") else {}
            layer_figs.append(("figure", (_save(fn(ds, **kwargs), out / f"{name}.png"), name.replace("_", " "))))
    blocks += [("h2", "Layer by layer"), *layer_figs]
    blocks += [("h2", "The papers' theory figures"),
               ("details", ("arXiv Figs 1-4 and ICLR Figs 3-4, computed exactly (no simulation)",
                            [("figure", (p, p.stem.replace("_", " "))) for p in write_theory_figures(out)]))]
    steps.update()
    steps.close()
    blocks += [("h2", "Checks of the engine (not claims of the papers)"),
               ("table", (["check", *CLAIM_HEADER], [[c["claim"], *r] for c, r in zip(
                   sorted(checks, key=lambda c: SURPRISE.index(c["verdict"])), _claim_rows(checks))]))
               if checks else ("p", "None in this store (one q* per class)."),
               ("h2", "The run"), ("table", (["", ""], _run_rows(store, ds)))]

    (out / "report.md").write_text(to_markdown(blocks))
    (out / "report.html").write_text(to_html(blocks, "Does the finite-width theory hold?"))
    return {"claims": len(papers), "checks": len(checks), "answer": sentences, **tally(claims)}


@dataclass(frozen=True)
class ReportOptions:
    """The options of ``python -m analysis.report``.

    Parameters
    ----------
    store : Path
        A depth-sweep zarr store.
    out : Path or None
        Output directory (default: beside the store, STORE_report).
    quiet : bool
        No progress bar.
    """

    store: tyro.conf.Positional[Path]
    out: Path | None = None
    quiet: bool = False


def main(argv=None) -> int:
    args = parse(ReportOptions, argv, prog="python -m analysis.report", description=__doc__.splitlines()[0])
    try:
        store = SweepStore(args.store)
    except UsageError as err:
        return fail(err)
    out = args.out or store.report_dir()
    try:
        result = build(store, out, progress=not args.quiet and sys.stderr.isatty())
    except OSError as err:
        return fail(f"cannot write the report to {out}: {err.strerror or err}")
    print(f"report: {out / 'report.html'} (and report.md, claims.json)")
    print("\n".join(result["answer"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
