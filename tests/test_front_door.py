"""What a newcomer meets first: the commands' answers to repeated runs and bad input.

Every bad input is one line on stderr, exit code 2, before any work and with nothing left
behind; running the main job twice is never an error.
"""

import zarr

from analysis.plan import main as plan_main
from analysis.report import main as report_main
from simulate.depth_sweep import main as sweep_main
from simulate.store import SweepStore

SMALL = ["--qstar", "1", "--vprime", "0.7", "--width", "20", "--depth", "5", "--samples", "12"]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_running_the_same_sweep_twice_says_it_is_complete(tmp_path, capsys):
    out = tmp_path / "s.zarr"
    assert sweep_main([*SMALL, "--out", str(out)]) == 0
    first = capsys.readouterr().out
    written = zarr.open_group(out, mode="r").attrs["wall_seconds"]
    assert sweep_main([*SMALL, "--out", str(out)]) == 0
    again = capsys.readouterr().out
    assert "is complete (the same sweep): nothing to simulate" in again
    assert first.splitlines()[-3] in again  # the same summary
    assert zarr.open_group(out, mode="r").attrs["wall_seconds"] >= written


def test_another_sweep_into_an_existing_store_is_refused(tmp_path, capsys):
    out = tmp_path / "s.zarr"
    assert sweep_main([*SMALL, "--out", str(out), "--quiet"]) == 0
    assert sweep_main([*SMALL, "--samples", "13", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "different sweep" in err


def test_unwritable_out_is_one_line_and_leaves_nothing(capsys):
    assert sweep_main([*SMALL, "--out", "/proc/eoc-test.zarr", "--quiet"]) == 2
    assert "cannot write the store /proc/eoc-test.zarr" in _one_line_error(capsys)


def test_report_of_something_that_is_not_a_sweep(tmp_path, capsys):
    folder = tmp_path / "plain"
    folder.mkdir()
    assert report_main([str(folder), "--out", str(tmp_path / "rep")]) == 2
    assert "not a zarr store" in _one_line_error(capsys)
    zarr.open_group(tmp_path / "other.zarr", mode="w").attrs["title"] = "something else"
    assert report_main([str(tmp_path / "other.zarr"), "--out", str(tmp_path / "rep")]) == 2
    assert "not a depth sweep" in _one_line_error(capsys)
    assert not (tmp_path / "rep").exists()


def test_report_goes_beside_its_store_by_default(tmp_path, capsys):
    out = tmp_path / "data" / "depth_sweep.zarr"
    assert sweep_main([*SMALL, "--out", str(out)]) == 0
    assert f"--out {tmp_path / 'data' / 'depth_sweep_report'}" in capsys.readouterr().out
    assert SweepStore(out).report_dir() == tmp_path / "data" / "depth_sweep_report"


def test_plan_with_an_unknown_family(capsys):
    assert plan_main(["--activation", "nosuch"]) == 2
    assert "unknown activation 'nosuch'" in _one_line_error(capsys)


def test_a_stability_sweep_leads_with_its_escapes_and_counts_what_does_not_apply():
    """The report's first sentences (analysis.report.answer) on records shaped as the claims
    of a stability sweep: the escape fractions come first, and a claim that holds wherever it
    applies is not said to hold 'in every configuration'."""
    from analysis.report import answer

    def record(act, claim, verdict, escaped=None):
        rec = {"claim": claim, "row": claim, "kind": "claim", "verdict": verdict, "config_id": act, "layer": 200,
               "config": {"activation": act, "sparsity": 0.6}, "reason": "", "command": None}
        return {**rec, "escaped": escaped} if escaped is not None else rec

    claims = [record("relu_tau", "stability", "holds", 0.581), record("crelu", "stability", "holds", 0.0),
              record("relu_tau", "q1_recursion", "not applicable"), record("crelu", "q1_recursion", "holds")]
    sentences = answer(claims)
    assert sentences[0].startswith("By layer 200") and "relu_tau (s = 0.6) 58.1%" in sentences[0]
    assert "in every configuration where it applies" in sentences[1] and "1 are not applicable" in sentences[1]
