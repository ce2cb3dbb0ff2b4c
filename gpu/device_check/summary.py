"""The device check's summary: ``summary.json`` (everything) and ``summary.md`` (to read),
rewritten after every step so that a run cut short still leaves one."""

from __future__ import annotations

import json
from pathlib import Path

#: lines of each step's output kept in the summary (the log keeps all of it)
TAIL_LINES = 40
#: characters of one figure shown in summary.md
FIGURE_CHARS = 400


def tail(output: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``output``."""
    return "\n".join(output.rstrip("\n").splitlines()[-lines:])


def _figure(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= FIGURE_CHARS else text[:FIGURE_CHARS] + " ... (all of it in summary.json)"


def table(run: dict) -> list[str]:
    """The steps' statuses and times, as Markdown table lines."""
    return ["| step | status | wall (s) | limit (s) |", "|---|---|---|---|",
            *(f"| {s['name']} | {s['status']} | {s['wall_s']:.1f} | {s['limit_s']:.0f} |" for s in run["steps"])]


def markdown(run: dict) -> str:
    """``summary.md`` of the record ``run`` (see :func:`write`)."""
    lines = [f"# Device check ({run['mode']})", ""]
    if run["mode"] == "dry run":
        lines += ["DRY RUN: the figures below are parsed from recorded sample outputs "
                  "(tests/device_check_samples/), not measured.", ""]
    lines += [f"Started {run['started']}; {run['wall_s']:.1f} s of a {run['budget_s']:.0f} s budget.", ""]
    for kind in ("problems", "notes"):
        if run.get(kind):
            lines += [f"{kind.capitalize()}:", "", *(f"- {p}" for p in run[kind]), ""]
    lines += table(run)
    for step in run["steps"]:
        lines += ["", f"## {step['name']}: {step['what']}", "", f"`{' '.join(step['command'])}`", "",
                  f"status {step['status']}, exit code {step['returncode']}, {step['wall_s']:.1f} s", ""]
        lines += [f"- {key}: {_figure(value)}" for key, value in step["figures"].items()]
        if step["tail"] and step["status"] not in ("ok", "sample"):  # summary.json keeps every tail
            lines += ["", "```text", step["tail"], "```"]
    return "\n".join(lines) + "\n"


def write(out: Path, run: dict) -> None:
    """Write ``run`` (mode, started, budget_s, wall_s, problems, notes, and per step: name,
    what, command, status, returncode, wall_s, limit_s, figures, tail) to ``out``."""
    (out / "summary.json").write_text(json.dumps(run, indent=1, default=str))
    (out / "summary.md").write_text(markdown(run))
