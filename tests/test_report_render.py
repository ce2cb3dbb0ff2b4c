"""The report as a reader sees it: rendered by headless Chromium (Debian's ``chromium``;
``.ci/run`` installs it where missing; skipped cleanly where it cannot run)."""

import json
import re
import shutil
import subprocess

import pytest

from analysis.report import build
from simulate.config import Sweep
from simulate.depth_sweep import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    store = run(Sweep(activation=("crelu",), sparsity=(0.8,), q_star=(1.0, 2.0), vprime=(0.5, 0.9), width=(30, 60),
                      depth=12, samples=300, seed=1), tmp / "r.zarr", progress=False)
    result = build(store, tmp / "report")
    return tmp / "report", result


def _chromium(*args, timeout=90):
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"chromium could not run here: {err}")
    if proc.returncode != 0 and not proc.stdout:
        pytest.skip(f"chromium could not run here: {proc.stderr.strip().splitlines()[-1:]}")
    return proc


def test_page_loads_without_console_errors_and_opens_with_a_figure(report):
    out, _ = report
    proc = _chromium("--dump-dom", (out / "report.html").as_uri())
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    dom = proc.stdout
    assert "<h1>Does the finite-width theory hold?</h1>" in dom
    first_figure, first_table = dom.find("<img"), dom.find("<table")
    assert 0 < first_figure < first_table
    assert "http://" not in dom and "https://" not in dom  # nothing is fetched


def test_page_reads_at_phone_width(report, tmp_path):
    out, _ = report
    shot = tmp_path / "phone.png"
    _chromium("--hide-scrollbars", "--window-size=390,844", f"--screenshot={shot}", (out / "report.html").as_uri())
    assert shot.stat().st_size > 10_000


def test_answer_is_three_sentences_and_markdown_mirrors_the_page(report):
    out, result = report
    assert len(result["answer"]) == 3
    md = (out / "report.md").read_text()
    assert md.startswith("# Does the finite-width theory hold?")
    for sentence in result["answer"]:
        assert sentence in md
    html = (out / "report.html").read_text()
    assert html.count("<figure>") == md.count("![")
    claims = json.loads((out / "claims.json").read_text())
    ids = {c["config_id"] for c in claims}
    assert ids == {"C1", "C2"}  # q* = 1 and 2 are one entry per V'
    assert re.search(r"<td>C1</td><td>crelu</td>", html)
