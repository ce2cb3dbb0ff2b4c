"""The report as a reader sees it: rendered by headless Chromium (Debian's ``chromium``;
``.ci/run`` installs it where missing; skipped cleanly where it cannot run).

Headless Chromium keeps its window at least 500 px wide, so the page is measured inside
an iframe of the phone's width: :data:`PROBE` holds the report (``srcdoc``, same origin, so
its script can read the report's DOM; the report itself runs no script), and after the
load event writes what it measured into its own DOM as JSON, which ``--dump-dom`` returns.
"""

import base64
import html
import json
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest

from analysis.report import build
from simulate.config import Sweep
from simulate.depth_sweep import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: phone widths in CSS px: a current phone (390) and the narrowest common one (320)
PHONE, NARROW_PHONE, PHONE_HEIGHT = 390, 320, 844
#: a directory name longer than a phone is wide, so that the report's paths are too
LONG_DIR = "a_directory_name_long_enough_to_overflow_a_phone_screen_" * 2

PROBE = """<!doctype html><html><head><meta charset='utf-8'><style>html,body{margin:0;padding:0}
iframe{border:0;display:block;width:WIDTHpx;height:HEIGHTpx}</style></head><body>
<iframe id='page' srcdoc="SRCDOC"></iframe><pre id='probe'></pre>
<script>
addEventListener('load', () => {
  const win = document.getElementById('page').contentWindow, doc = win.document, root = doc.documentElement;
  const spills = e => e.scrollWidth > e.clientWidth + 1 && win.getComputedStyle(e).overflowX === 'visible';
  const label = e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ': '
      + (e.textContent || '').trim().slice(0, 80);
  const img = doc.querySelector('img'), table = doc.querySelector('table');
  document.getElementById('probe').textContent = JSON.stringify({
    clientWidth: root.clientWidth,
    scrollWidth: root.scrollWidth,
    spilling: [...doc.body.querySelectorAll('*')].filter(spills).slice(0, 5).map(label),
    h1: doc.querySelector('h1') && doc.querySelector('h1').innerText,
    answer: [...doc.querySelectorAll('p.answer')].map(p => p.innerText),
    img: img && {complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
                 renderedWidth: img.getBoundingClientRect().width},
    imgBeforeTable: !!(img && table && (img.compareDocumentPosition(table) & Node.DOCUMENT_POSITION_FOLLOWING)),
    fetched: win.performance.getEntriesByType('resource').map(r => r.name),
    external: [...doc.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href'))
      .filter(u => !u.startsWith('data:') && !u.startsWith('#')),
  });
});
</script></body></html>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report") / LONG_DIR
    store = run(Sweep(activation=("crelu",), sparsity=(0.8,), q_star=(1.0, 2.0), vprime=(0.5, 0.9), width=(30, 60),
                      depth=12, samples=300, seed=1), tmp / "r.zarr", progress=False)
    result = build(store, tmp / "report")
    return tmp / "report", result


def _chromium(*args, timeout=120):
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"chromium could not run here: {err}")
    if proc.returncode != 0 and not proc.stdout:
        pytest.skip(f"chromium could not run here: {proc.stderr.strip().splitlines()[-1:]}")
    return proc


def _probe_page(out, width):
    """The report inside a ``width`` x 844 frame, as a file Chromium can open."""
    page = (out / "report.html").read_text()
    probe = (PROBE.replace("WIDTHpx", f"{width}px").replace("HEIGHTpx", f"{PHONE_HEIGHT}px")
             .replace("SRCDOC", html.escape(page, quote=True)))
    path = out.parent / f"probe_{width}.html"
    path.write_text(probe)
    return path


def _measure(out, width) -> dict:
    proc = _chromium("--window-size=500,900", "--dump-dom", _probe_page(out, width).as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert found and found.group(1), f"the probe wrote nothing: {proc.stdout[-500:]} {proc.stderr[-500:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def phone(report):
    return _measure(report[0], PHONE)


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _words(text: str) -> str:
    return " ".join(text.split())


def test_page_opens_with_the_answer_and_the_decoded_verdict_matrix(report, phone):
    """What Chromium laid out: the title, the three answer sentences as build() returned them
    (so the page's text is the answer), then the verdict matrix, decoded by the browser at
    the size of the PNG the report embeds and saved beside it, before any table."""
    out, result = report
    assert phone["h1"] == "Does the finite-width theory hold?"
    assert [_words(s) for s in phone["answer"]] == [_words(s) for s in result["answer"]]
    src = re.search(r"<img [^>]*src='data:image/png;base64,([^']+)'", (out / "report.html").read_text()).group(1)
    embedded = base64.b64decode(src, validate=True)
    assert embedded == (out / "verdict_matrix.png").read_bytes()
    width, height = _png_size(embedded)
    assert width > 300 and height > 200
    img = phone["img"]
    assert img["complete"] and (img["naturalWidth"], img["naturalHeight"]) == (width, height)  # 0 x 0 if undecodable
    assert 0 < img["renderedWidth"] <= phone["clientWidth"]  # scaled to the screen
    assert phone["imgBeforeTable"]


def test_nothing_is_fetched(phone):
    """The page is self-contained: Chromium fetched no resource and no element points at one."""
    assert phone["fetched"] == [] and phone["external"] == []


@pytest.mark.parametrize("width", [PHONE, NARROW_PHONE])
def test_nothing_is_wider_than_a_phone(report, phone, width):
    """No element makes the page wider than the screen (wide tables scroll inside their own
    box), with the store's and the report's paths longer than a phone is wide. The answer's
    command (``--out data/sweeps/...``, 383 px in DejaVu Sans) overflowed every width below
    that before analysis.render let long words wrap."""
    measured = phone if width == PHONE else _measure(report[0], width)
    assert measured["clientWidth"] == width
    wide = measured["scrollWidth"]
    assert wide <= width, f"page {wide} px wide at {width} px: {measured['spilling']}"


def test_first_screen_is_not_blank(report, tmp_path):
    """A screenshot at phone size shows text on the first screen: many distinct colours
    (antialiased glyphs) and a share of dark pixels that neither an empty page (0) nor a
    page drawn in one dark block (most of it) has."""
    Image = pytest.importorskip("PIL.Image")
    shot = tmp_path / "phone.png"
    _chromium("--window-size=500,900", f"--screenshot={shot}", _probe_page(report[0], PHONE).as_uri())
    with Image.open(shot) as im:
        assert im.size == (500, 900)
        top = np.asarray(im.convert("RGB").crop((0, 0, PHONE, 300)))
    colours = len(np.unique(top.reshape(-1, 3), axis=0))
    dark = float((top.mean(axis=2) < 128).mean())
    assert colours > 20, f"{colours} colours in the first 300 px"
    assert 0.005 < dark < 0.5, f"{dark:.3f} of the first 300 px is dark"


def test_answer_is_three_sentences_and_markdown_mirrors_the_page(report):
    out, result = report
    assert len(result["answer"]) == 3
    md = (out / "report.md").read_text()
    assert md.startswith("# Does the finite-width theory hold?")
    for sentence in result["answer"]:
        assert sentence in md
    html_text = (out / "report.html").read_text()
    assert html_text.count("<figure>") == md.count("![")
    claims = json.loads((out / "claims.json").read_text())
    ids = {c["config_id"] for c in claims}
    assert ids == {"C1", "C2"}  # q* = 1 and 2 are one entry per V'
    assert re.search(r"<td>C1</td><td>crelu</td>", html_text)
