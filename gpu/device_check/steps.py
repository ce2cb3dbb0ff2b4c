"""The steps of the device check: each one's command, time budget, dry-run check, and the
parser that turns its output into figures.

Every step is a subprocess of the interpreter that runs the check, from the repository
root. ``{out}`` in a command stands for the output folder (what comes back from the
device) and ``{work}`` for a scratch folder (stores, reports). Parsers are pure functions
of the step's output text and those folders, use nothing beyond the standard library, and
raise on output that lacks what they look for; the dry run feeds them the recorded sample
outputs of ``tests/device_check_samples/``.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: the budget every step's share is stated for (seconds); they add up to it
DEFAULT_BUDGET_S = 450.0


@dataclass(frozen=True)
class Dirs:
    """Where a step writes: ``out`` comes back from the device, ``work`` does not."""

    out: Path
    work: Path


@dataclass(frozen=True)
class Step:
    """One measured step.

    ``args``: the command after ``python -m``; ``budget_s``: its time limit within
    :data:`DEFAULT_BUDGET_S`; ``check``: the arguments that the dry run runs instead (the
    module's ``--help`` by default, and every ``--option`` of ``args`` must appear in it);
    ``parse(output, dirs)``: the figures; ``keep``: files of ``{work}`` copied to
    ``{out}``."""

    name: str
    what: str
    args: tuple[str, ...]
    budget_s: float
    parse: Callable[[str, Dirs], dict]
    check: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()

    def command(self, dirs: Dirs) -> list[str]:
        return [sys.executable, "-m", *(a.format(out=dirs.out, work=dirs.work) for a in self.args)]

    def check_command(self) -> list[str]:
        return [sys.executable, "-m", *(self.check or (self.args[0], "--help"))]

    def options(self) -> list[str]:
        """The ``--options`` of the step's command (checked against its ``--help``)."""
        return [a for a in self.args if a.startswith("--")] if not self.check else []


def last_json(output: str, _dirs: Dirs | None = None) -> dict:
    """The last line of ``output`` that is a JSON object."""
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output")


def parse_pytest(output: str, _dirs: Dirs) -> dict:
    """Counts of pytest's closing line (``-q``), its wall time, and the failed tests."""
    closing = [line for line in output.splitlines() if re.search(r"\bin [0-9.]+s\b", line)
               and re.search(r"\d+ (passed|failed|skipped|deselected|errors?)", line)]
    if not closing:
        raise ValueError("no pytest closing line")
    counts = {{"error": "errors", "warning": "warnings"}.get(word, word): int(n)
              for n, word in re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?|warnings?|xfailed|xpassed)",
                                        closing[-1])}
    failed = [line.split()[1] for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    return {**counts, "seconds": float(re.search(r"in ([0-9.]+)s", closing[-1]).group(1)), "failed_tests": failed}


def parse_samplers(output: str, dirs: Dirs) -> dict:
    """Per case the largest |z| and where; per sampler the scale-covariance deviations."""
    figures = last_json(output)
    return {
        "passed": figures["passed"],
        "networks": figures["networks"],
        "max_abs_z": {a["case"]: round(a["max_abs_z"], 2) for a in figures["agreement"]},
        "worst": {a["case"]: f"{a['worst']['observable']} layer {a['worst']['layer']}" for a in figures["agreement"]},
        "scale_covariance": {s["sampler"]: s["deviation"] for s in figures["scale_covariance"]},
        "z": {a["case"]: a["records"] for a in figures["agreement"]},
    }


_RATE = re.compile(r"^([a-z][\w-]*)\s+([0-9.]+e[+-]\d+)\s+([0-9.]+)x$")


def parse_simulate_bench(output: str, _dirs: Dirs) -> dict:
    """Neuron-layer samples per second of every path, and the GPU ratios."""
    rates = {m.group(1): float(m.group(2)) for line in output.splitlines() if (m := _RATE.match(line.strip()))}
    if not rates:
        raise ValueError("no rate lines")
    figures = {"samples_per_s": rates}
    if "reduced-gpu" in rates:
        figures |= {
            "reduced_gpu_of_normal_floor": rates["reduced-gpu"] / rates["gpu-normals-floor"],
            "reduced_gpu_over_cpu": rates["reduced-gpu"] / rates["reduced-cpu"],
            "dense_gpu_over_cpu": rates["dense-gpu"] / rates["dense-cpu"],
        }
    return figures


def parse_gpu_bench(_output: str, dirs: Dirs) -> dict:
    """From ``gpu_bench.json``: the machine, the targets met, and per cell the speed-ups,
    the fraction of the ideal ``1/(1-s)`` reached, the bandwidth fractions and the energy."""
    result = json.loads((dirs.out / "gpu_bench.json").read_text())
    cells = []
    for row in result["rows"]:
        cell = {k: row[k] for k in ("section", "m", "n", "batch", "s", "speedup") if k in row}
        cell["of_ideal"] = row["speedup"] * (1.0 - row["s"])
        cell |= {k: row[k] for k in ("dispatch_speedup", "bw_sparse", "bw_dense", "energy_fraction") if k in row}
        cells.append(cell)
    return {"mode": result["mode"], "machine": result["machine"],
            "targets": {name: f"{met}/{total}" for name, (met, total) in result["summary"].items()}, "cells": cells}


_TRAIN_ROW = re.compile(r"^\| ([^|]+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|$")


def parse_train_bench(output: str, _dirs: Dirs) -> dict:
    """Member-steps per second of the ensemble and of the separate networks, per device."""
    rows = [m.groups() for line in output.splitlines() if (m := _TRAIN_ROW.match(line.strip()))]
    if not rows:
        raise ValueError("no result row")
    return {"setting": output.splitlines()[0],
            "devices": {d.strip(): {"ensemble": float(e), "separate": float(s), "ratio": float(r)}
                        for d, e, s, r in rows}}


def parse_depth_sweep(output: str, dirs: Dirs) -> dict:
    """The store's own record of the run (its root ``zarr.json`` attributes)."""
    attrs = json.loads((dirs.work / "depth_sweep.zarr" / "zarr.json").read_text())["attributes"]
    return {k: attrs.get(k) for k in ("backend", "sampler", "samples", "wall_seconds", "generator")}


def parse_report(output: str, dirs: Dirs) -> dict:
    """Verdict counts of the papers' claims and of the engine checks, and the answer."""
    claims = json.loads((dirs.work / "report" / "claims.json").read_text())
    kinds = Counter(c.get("kind", "claim") for c in claims)
    verdicts = {kind: dict(Counter(c["verdict"] for c in claims if c.get("kind", "claim") == kind)) for kind in kinds}
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("report: ")) + 1
    return {"verdicts": verdicts, "answer": lines[start:]}


STEPS = (
    Step("environment", "interpreter, packages, driver and device",
         ("gpu.device_check.environment",), 15, last_json, check=("gpu.device_check.environment",)),
    Step("pytest", "pytest -m gpu: sparse GEMV, samplers, generator, trainer",
         ("pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors", "tests"), 110,
         parse_pytest,
         check=("pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "--collect-only", "tests")),
    Step("samplers", "GPU samplers against CPU samplers: moments in standard errors, scale covariance",
         ("gpu.device_check.samplers",), 45, parse_samplers),
    Step("simulate-bench", "simulate.bench: neuron-layer samples/s, GPU against its normal floor and the CPU",
         ("simulate.bench", "--no-memory", "--no-whole", "--repeats", "3"), 45, parse_simulate_bench),
    Step("gpu-bench", "gpu.bench --quick: Table 3, large and batched cells",
         ("gpu.bench", "--quick", "--out", "{out}/gpu_bench.json"), 60, parse_gpu_bench),
    Step("train-dnn", "train.bench on CUDA: DNN ensemble against one network (E = 8, 100 x 300)",
         ("train.bench", "--devices", "cuda"), 25, parse_train_bench),
    Step("train-cnn", "train.bench on CUDA: CNN ensemble against one network (E = 4, 5 x 32)",
         ("train.bench", "--devices", "cuda", "--arch", "cnn", "--members", "4", "--depth", "5", "--width", "32",
          "--steps", "2", "--repeats", "3"), 20, parse_train_bench),
    Step("depth-sweep", "the default depth sweep, end to end, on the GPU",
         ("simulate.depth_sweep", "--backend", "gpu", "--out", "{work}/depth_sweep.zarr"), 65, parse_depth_sweep),
    Step("report", "analysis.report of that store",
         ("analysis.report", "{work}/depth_sweep.zarr", "--out", "{work}/report"), 45, parse_report,
         keep=("report/report.md", "report/claims.json")),
)
#: the time the install of the carried wheels may take, within :data:`DEFAULT_BUDGET_S`
INSTALL_BUDGET_S = DEFAULT_BUDGET_S - sum(step.budget_s for step in STEPS)
