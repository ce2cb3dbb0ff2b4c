"""The pipeline end to end on small stores, without statistics: the report writes every
record and file, the Gaussian-weight claims say they do not apply to orthogonal weights,
and the planner's command line (the statistical checks are tests/test_validation.py)."""

import json

from analysis.claims import evaluate
from analysis.report import build
from analysis.sweep import open_sweep
from simulate.config import Sweep
from simulate.depth_sweep import run


def test_report_writes_everything(tmp_path):
    store = run(Sweep(activation=("crelu",), sparsity=(0.8,), q_star=(1.0, 2.0), vprime=(0.5,), width=(30, 60), depth=12,
                      samples=300, seed=1, backward=True), tmp_path / "r.zarr", progress=False)
    counts = build(store, tmp_path / "report")
    claims = json.loads((tmp_path / "report" / "claims.json").read_text())
    assert len(claims) == counts["claims"] + counts["checks"] and counts["claims"] >= 10
    for c in claims:
        assert {"claim", "statement", "config", "layer", "prediction", "measurement", "uncertainty", "method", "verdict",
                "reason", "next_order_budget", "widths_used"} <= set(c)
        assert c["verdict"] in ("holds", "fails", "inconclusive", "outside regime", "not applicable")
        assert (c["command"] is not None) == (c["verdict"] in ("inconclusive", "outside regime"))
    html = (tmp_path / "report" / "report.html").read_text()
    assert "data:image/png;base64," in html and "<table>" in html
    assert (tmp_path / "report" / "report.md").read_text().startswith("# Does the finite-width theory hold?")
    for name in ("nlo_vs_layer", "stability_diagram_crelu", "variance_shares_crelu", "gradient_vs_product"):
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 10_000, name
    assert "D = log |delta^(1)|^2 - log prod_(l&lt;L) chi1" in html
    assert {"log_prod_chi1_variance", "stable_fraction", "back_norm2_mean", "back_norm2_variance"} <= {c["claim"] for c in claims}


def test_gaussian_weight_claims_are_not_applicable_to_orthogonal_stores(tmp_path):
    """The 1/N theory is derived for Gaussian weights: on an orthogonal-weight store every
    expansion claim says 'not applicable' (with the reason); the stability claim remains."""
    ds = open_sweep(run(Sweep(activation=("crelu",), sparsity=(0.8,), q_star=(1.0,), vprime=(0.5,), width=(16,), depth=6,
                              samples=60, sampler="dense", weights="orthogonal", seed=2), tmp_path / "o.zarr", progress=False))
    claims = evaluate(ds)
    expansion = [c for c in claims if c["claim"] not in ("stability", "scale_covariance")]
    assert expansion and all(c["verdict"] == "not applicable" and "orthogonal" in c["reason"] for c in expansion)
    assert [c["verdict"] for c in claims if c["claim"] == "stability"] != ["not applicable"]


def test_plan_command_line(capsys):
    """python -m analysis.plan prints a width, a network count and a runnable command per
    claim; the widths it proposes are in each claim's regime; bad input is one line."""
    from analysis.plan import main as plan_main

    import shlex

    from analysis.plan import planned
    from simulate.depth_sweep import command
    from theory import solve_eoc
    from theory.expansion import ConfigurationTheory

    assert plan_main(["--qstar", "1", "--vprime", "0.9", "--budget", "60", "--depth", "40", "--pilot", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [(lines[i].split(), lines[i + 1].strip()) for i in range(len(lines) - 1)
            if lines[i + 1].strip().startswith("python -m simulate.depth_sweep")]
    theory = ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.9), 40)
    claims = {claim.row_label.replace(" ", ""): claim for claim in planned(theory)}
    assert rows and len(rows) == len(claims)
    for fields, cmd in rows:
        mark = {"fits": 1, "budget": 2}.get(fields[-1], 0)  # "fits" or "over budget" after the numbers
        width, label = int(fields[-5 - mark]), "".join(fields[: -5 - mark])
        # the proposed width is in the claim's regime (the theory's own test of it), and the
        # command is one the depth sweep's parser reads back to that width and depth
        assert claims[label].expansion(theory).in_regime(width), (label, width)
        sweep = command(shlex.split(cmd)[3:]).sweep
        assert sweep.width == (width,) and sweep.depth == 40 and sweep.q_star == (1.0,)
    assert plan_main(["--vprime", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
