"""Every CUDA path of the suite measured in one call on a lent device:
``python -m gpu.device_check OUTDIR [--dry-run] [--wheels DIR] [--budget-s SECONDS]``.

On the device (no network, a bare machine): installs the carried wheels (``--wheels``,
``.whl`` at the repository root by default) into :data:`SITE`, puts it on ``PYTHONPATH``,
then runs every step of :data:`gpu.device_check.steps.STEPS` as a subprocess with its own
time limit, going on past failures, and writes ``OUTDIR/summary.md``,
``OUTDIR/summary.json`` (every step's status, wall time, figures and output tail) after
each step, the whole output to ``OUTDIR/device_check.log``, and the few files the steps
keep. The steps' limits scale with ``--budget-s`` (default 450 s); a step that would start
with less than :data:`MIN_STEP_S` left is skipped.

``--dry-run`` (seconds, on any machine): checks that the wheel folder with the device's
own packages meets every requirement (:mod:`gpu.device_check.wheels`), that the working
tree and the wheels fit the device tool's 64 MiB, that every step's command parses (its
``--help``, or pytest's collection), and that every parser and the summary writer work on
the recorded sample outputs; prints each problem on one line and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gpu.device_check import summary, wheels
from gpu.device_check.steps import DEFAULT_BUDGET_S, INSTALL_BUDGET_S, STEPS, Dirs, Step

ROOT = Path(__file__).resolve().parents[2]
#: where the carried wheels are installed on the device
SITE = Path("/tmp/site")
#: recorded outputs of every step, for the dry run (and the tests)
SAMPLES = ROOT / "tests" / "device_check_samples"
#: a step is not started with less time than this left
MIN_STEP_S = 5.0
#: what the device tool carries at most per call (working tree and carried paths)
TRAVEL_LIMIT_BYTES = 64 << 20


def execute(argv: list[str], env: dict, timeout: float, log) -> tuple[str, int | None, float]:
    """Run ``argv`` from the repository root in a session of its own, its output (stdout
    and stderr together) copied to ``log`` as it comes; at ``timeout`` seconds kill the
    whole session. Returns the output, the exit code (None when killed) and the wall time."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", start_new_session=True)
    lines = []

    def pump():
        for line in proc.stdout:
            lines.append(line)
            log.write(line)
            log.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        returncode = None
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the step, or what it left running (workers, servers)
    except ProcessLookupError:
        pass
    proc.wait()
    reader.join(timeout=10)
    return "".join(lines), returncode, time.perf_counter() - start


def record(step: Step, dirs: Dirs, output: str, returncode: int | None, wall_s: float, limit_s: float) -> dict:
    """The summary's entry of one step: the parser's figures (or why there are none)."""
    status = "ok" if returncode == 0 else "timeout" if returncode is None else "failed"
    try:
        figures = step.parse(output, dirs)
    except Exception as err:  # any parser failure is a finding, not a crash of the check
        figures = {"parse_error": f"{type(err).__name__}: {err}"}
        status = "unparsed" if status == "ok" else status
    return {"name": step.name, "what": step.what, "command": step.command(dirs), "status": status,
            "returncode": returncode, "wall_s": wall_s, "limit_s": limit_s, "figures": figures,
            "tail": summary.tail(output)}


def install_step(wheel_dir: Path) -> Step:
    """``pip install`` of the carried wheels into :data:`SITE` (no index, no dependencies)."""
    found = sorted(wheel_dir.glob("*.whl"))
    return Step("install", f"{len(found)} carried wheels into {SITE}",
                ("pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir", "--upgrade",
                 "--target", str(SITE), *map(str, found)),
                INSTALL_BUDGET_S, lambda output, dirs: {"wheels": [p.name for p in found]})


def run(out: Path, wheel_dir: Path, budget_s: float, steps=STEPS) -> dict:
    """Install the wheels of ``wheel_dir`` (if any), then run ``steps`` within ``budget_s``
    (their scratch folder is removed at the end: what a step keeps is copied to ``out``)."""
    started = time.perf_counter()
    deadline = started + budget_s
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")]))}
    result = {"mode": "device run", "started": datetime.datetime.now().isoformat(timespec="seconds"),
              "budget_s": budget_s, "wall_s": 0.0, "steps": []}
    todo = ([install_step(wheel_dir)] if any(wheel_dir.glob("*.whl")) else []) + list(steps)
    with open(out / "device_check.log", "w") as log, tempfile.TemporaryDirectory(prefix="device_check_") as work:
        dirs = Dirs(out, Path(work))
        for step in todo:
            limit = min(step.budget_s * budget_s / DEFAULT_BUDGET_S, deadline - time.perf_counter())
            print(f"[device_check] {step.name}: {step.what} (limit {limit:.0f} s)", flush=True)
            if limit < MIN_STEP_S:
                entry = {**record(step, dirs, "", None, 0.0, limit), "status": "skipped", "figures": {}}
            else:
                log.write(f"\n===== {step.name}: {' '.join(step.command(dirs))}\n")
                entry = record(step, dirs, *execute(step.command(dirs), env, limit, log), limit)
                for name in step.keep:
                    if (dirs.work / name).is_file():
                        shutil.copy(dirs.work / name, out / Path(name).name)
            print(f"[device_check] {step.name}: {entry['status']} in {entry['wall_s']:.1f} s", flush=True)
            result["steps"].append(entry)
            result["wall_s"] = time.perf_counter() - started
            summary.write(out, result)
    return result


def travel_bytes(wheel_dir: Path) -> int:
    """What one device call carries: the files git tracks or does not ignore, and the wheels."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    tree = sum((ROOT / name).stat().st_size for name in listed if name and (ROOT / name).is_file())
    return tree + sum(p.stat().st_size for p in wheel_dir.glob("*.whl"))


def check_command(step: Step) -> str | None:
    """Why the dry-run command of ``step`` fails, or None."""
    try:
        result = subprocess.run(step.check_command(), cwd=ROOT, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "MPLBACKEND": "Agg"})
    except subprocess.TimeoutExpired:
        return f"{step.name}: `python {' '.join(step.check_command()[1:])}` did not finish in 120 s"
    if result.returncode != 0:
        last = summary.tail(result.stderr or result.stdout, 3).replace("\n", " | ")
        return f"{step.name}: `python {' '.join(step.check_command()[1:])}` exits {result.returncode}: {last}"
    missing = [o for o in step.options() if o not in result.stdout]
    return f"{step.name}: options not in --help: {' '.join(missing)}" if missing else None


def dry_run(out: Path, wheel_dir: Path, budget_s: float, samples: Path = SAMPLES, steps=STEPS) -> dict:
    """The checks of the module docstring; the summary is built from the samples."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    problems, notes = [], []
    if wheel_dir.is_dir():
        found, noted = wheels.check(wheel_dir, wheels.project_requirements(ROOT / "pyproject.toml"))
        problems += found
        notes += noted
        size = travel_bytes(wheel_dir)
        (problems if size > TRAVEL_LIMIT_BYTES else notes).append(
            f"one device call carries {size / 2**20:.1f} MiB (working tree and wheels) of {TRAVEL_LIMIT_BYTES >> 20}")
    else:
        problems.append(f"no wheel folder {wheel_dir}")
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        problems += [p for p in pool.map(check_command, steps) if p]
    dirs = Dirs(samples / "out", samples / "work")
    entries = []
    for step in [install_step(wheel_dir), *steps]:
        sample = samples / f"{step.name}.txt"
        output = sample.read_text() if sample.is_file() else ""
        entry = record(step, dirs, output, 0, 0.0, step.budget_s * budget_s / DEFAULT_BUDGET_S)
        if entry["status"] != "ok":
            problems.append(f"{step.name}: the parser fails on {sample.name}: {entry['figures']['parse_error']}")
        entries.append({**entry, "status": "sample"})
    result = {"mode": "dry run", "started": datetime.datetime.now().isoformat(timespec="seconds"),
              "budget_s": budget_s, "wall_s": time.perf_counter() - started, "problems": problems, "notes": notes,
              "steps": entries}
    summary.write(out, result)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu.device_check", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder: summary.md, summary.json, device_check.log")
    parser.add_argument("--dry-run", action="store_true", help="check the wheels, commands and parsers, run nothing")
    parser.add_argument("--wheels", type=Path, default=ROOT / ".whl", help="folder of carried wheels (default .whl)")
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S,
                        help=f"time for everything, seconds (default {DEFAULT_BUDGET_S:.0f})")
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error("--budget-s must be positive")
    if args.dry_run:
        result = dry_run(args.out, args.wheels, args.budget_s)
        for line in [*result["problems"], *(f"note: {n}" for n in result["notes"])]:
            print(line)
        print(f"dry run: {len(result['problems']) or 'no'} problems ({result['wall_s']:.1f} s); "
              f"summary in {args.out / 'summary.md'}")
        return 1 if result["problems"] else 0
    result = run(args.out, args.wheels, args.budget_s)
    print("\n".join(summary.table(result)))
    print(f"summary in {args.out / 'summary.md'}, output in {args.out / 'device_check.log'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
