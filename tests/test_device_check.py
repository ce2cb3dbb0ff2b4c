"""The device check (``python -m gpu.device_check``) on the CPU: the wheel-set check on
synthetic wheel folders, every step's parser on the recorded samples, the runner's time
limits and summary, and the sampler comparison's statistics. Needs no GPU, no network and
no ``.whl`` folder."""

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import gpu.device_check.__main__ as device_check
from gpu.device_check import samplers, summary, wheels
from gpu.device_check.steps import DEFAULT_BUDGET_S, STEPS, Dirs, Step, parse_gpu_bench
from simulate.config import Sweep
from simulate.cpu import simulate_chunk

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(__file__).resolve().parent / "device_check_samples"
PYPROJECT = ROOT / "pyproject.toml"

#: the packages the device lacks, with their Requires-Dist as published
CARRIED = {
    "zarr": ("3.1.6", ["donfig>=0.8", "google-crc32c>=1.5", "numcodecs>=0.14", "numpy>=2.0", "packaging>=22.0",
                       "typing-extensions>=4.12", "fsspec>=2023.10.0; extra == 'remote'"]),
    "numcodecs": ("0.16.6", ["numpy>=1.24", "typing_extensions", 'crc32c>=2.7; extra == "crc32c"']),
    "google_crc32c": ("1.9.0", []),
    "donfig": ("0.8.1.post1", ["pyyaml", "sphinx >=4.0.0 ; extra == 'docs'"]),
    "dask": ("2026.8.0", ["click>=8.1", "cloudpickle>=3.0.0", "fsspec>=2021.09.0", "packaging>=20.0", "partd>=1.4.0",
                          "pyyaml>=5.4.1", "toolz>=0.12.0", 'importlib_metadata>=4.13.0; python_version < "3.12"',
                          'numpy>=1.24; extra == "array"', 'distributed<2026.8.1,>=2026.8.0; extra == "distributed"',
                          'pyarrow>=16.0; extra == "dataframe"']),
    "distributed": ("2026.8.0", ["click>=8.0", "cloudpickle>=3.0.0", "dask<2026.8.1,>=2026.8.0", "jinja2>=2.10.3",
                                 "locket>=1.0.0", "msgpack>=1.0.2", "packaging>=20.0", "psutil>=5.8.0",
                                 "pyyaml>=5.4.1", "sortedcontainers>=2.0.5", "tblib!=3.2.0,!=3.2.1,>=1.6.0",
                                 "toolz>=0.12.0", "tornado>=6.2.0", "zict>=3.0.0"]),
    "partd": ("1.4.2", ["locket", "toolz", "pyzmq ; extra == 'complete'"]),
    "locket": ("1.0.0", []),
    "tblib": ("3.2.2", []),
    "zict": ("3.0.0", []),
    "tornado": ("6.6.1", []),
    "tyro": ("1.0.17", ["docstring-parser>=0.16", "eval-type-backport>=0.1.3; python_version < '3.10'",
                        "typeguard>=4.0.0", "typing-extensions>=4.13.0", "pytest>=7.1.2; extra == 'dev'"]),
    "docstring_parser": ("0.18.0", ["pytest; extra == 'test'"]),
    "typeguard": ("4.6.1", ["typing_extensions>=4.14.0"]),
}


def make_wheel(folder: Path, name: str, version: str, requires=(), tag="py3-none-any", requires_python=None) -> Path:
    """A minimal wheel: a zip holding ``<name>-<version>.dist-info/METADATA``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-{tag}.whl"
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-{version}.dist-info/METADATA", "\n".join(lines) + "\n")
    return path


def complete_set(folder: Path, skip=()) -> Path:
    for name, (version, requires) in CARRIED.items():
        if name not in skip:
            make_wheel(folder, name, version, requires)
    return folder


def check(folder):
    return wheels.check(folder, wheels.project_requirements(PYPROJECT))


# ---------------------------------------------------------------- the wheel set


def test_the_complete_set_meets_every_requirement(tmp_path):
    """Transitively, markers for CPython 3.12 on Linux (importlib_metadata is for < 3.12,
    whatever runs the check), extras only where asked for (dask[array,distributed])."""
    assert check(complete_set(tmp_path)) == ([], [])


def test_missing_packages_are_reported_one_line_each(tmp_path):
    problems, _ = check(complete_set(tmp_path, skip=("tornado", "zict", "donfig")))
    assert sorted(problems) == [
        "missing: donfig>=0.8 (needed by zarr)",
        "missing: tornado>=6.2.0 (needed by distributed)",
        "missing: zict>=3.0.0 (needed by distributed)",
    ]


def test_two_versions_of_one_package_are_reported(tmp_path):
    complete_set(tmp_path)
    make_wheel(tmp_path, "zarr", "3.1.5", CARRIED["zarr"][1])
    problems, _ = check(tmp_path)
    assert problems == ["2 versions of zarr (zarr-3.1.5-py3-none-any.whl, zarr-3.1.6-py3-none-any.whl): keep one"]


def test_versions_tags_and_python_are_checked(tmp_path):
    complete_set(tmp_path, skip=("dask", "tblib", "numcodecs", "locket"))
    make_wheel(tmp_path, "dask", "2024.1.0", CARRIED["dask"][1])
    make_wheel(tmp_path, "tblib", "3.2.1")
    make_wheel(tmp_path, "numcodecs", "0.16.6", CARRIED["numcodecs"][1], tag="cp313-cp313-win_amd64")
    make_wheel(tmp_path, "locket", "1.0.0", requires_python=">=3.13")
    problems, _ = check(tmp_path)
    assert sorted(problems) == sorted([
        "dask 2024.1.0 (dask-2024.1.0-py3-none-any.whl) does not satisfy dask[array,distributed]>=2024.8 "
        "(needed by the project)",
        "dask 2024.1.0 (dask-2024.1.0-py3-none-any.whl) does not satisfy dask<2026.8.1,>=2026.8.0 "
        "(needed by distributed)",
        "tblib 3.2.1 (tblib-3.2.1-py3-none-any.whl) does not satisfy tblib!=3.2.0,!=3.2.1,>=1.6.0 "
        "(needed by distributed)",
        "numcodecs-0.16.6-cp313-cp313-win_amd64.whl: no tag installable by CPython 3.12 on manylinux x86_64",
        "locket-1.0.0-py3-none-any.whl: Requires-Python >=3.13 excludes 3.12.3",
    ])


def test_device_versions_are_checked_where_known(tmp_path):
    complete_set(tmp_path)
    problems, _ = wheels.check(tmp_path, ["numpy>=2.6", "xarray>=2099"])
    assert problems == ["numpy 2.5.2 (on the device) does not satisfy numpy>=2.6 (needed by the project)"]


def test_unneeded_and_shadowing_wheels_are_noted(tmp_path):
    complete_set(tmp_path)
    make_wheel(tmp_path, "numpy", "2.4.6", tag="cp312-cp312-manylinux_2_28_x86_64")
    make_wheel(tmp_path, "obstore", "0.5.1")
    problems, notes = check(tmp_path)
    assert problems == []
    assert notes == ["numpy 2.4.6 shadows the device's numpy 2.5.2", "obstore is carried but nothing needs it"]


def test_a_file_that_is_no_wheel_is_reported(tmp_path):
    complete_set(tmp_path)
    (tmp_path / "broken-1.0-py3-none-any.whl").write_text("not a zip")
    problems, _ = check(tmp_path)
    assert len(problems) == 1 and problems[0].startswith("unreadable wheel broken-1.0-py3-none-any.whl")


def test_the_device_list_holds_what_the_project_takes_from_it():
    assert {"numpy", "scipy", "numba", "xarray", "matplotlib", "tqdm", "torch", "pytest", "hypothesis",
            "cupy-cuda13x", "nvidia-ml-py", "packaging"} <= set(wheels.PREINSTALLED)
    assert wheels.PREINSTALLED["numpy"] == "2.5.2" and wheels.PREINSTALLED["xarray"] is None


# ---------------------------------------------------------------- parsers on the samples


def _figures(step_name):
    step = next(s for s in STEPS if s.name == step_name)
    output = (SAMPLES / f"{step.name}.txt").read_text()
    return step.parse(output, Dirs(SAMPLES / "out", SAMPLES / "work"))


def test_every_step_has_a_sample_its_parser_reads():
    for step in STEPS:
        entry = device_check.record(step, Dirs(SAMPLES / "out", SAMPLES / "work"),
                                    (SAMPLES / f"{step.name}.txt").read_text(), 0, 1.0, 10.0)
        assert entry["status"] == "ok", (step.name, entry["figures"])


def test_parsers_read_the_figures():
    pytest_figures = _figures("pytest")
    assert {k: pytest_figures[k] for k in ("failed", "passed", "skipped", "deselected", "warnings")} == {
        "failed": 1, "passed": 141, "skipped": 2, "deselected": 432, "warnings": 3}
    assert pytest_figures["failed_tests"] == ["tests/test_simulate.py::test_sampler_comparison_has_power[gpu]"]
    bench = _figures("simulate-bench")
    assert bench["samples_per_s"]["reduced-gpu"] == 2e10 and bench["reduced_gpu_of_normal_floor"] == pytest.approx(0.4)
    assert set(bench["samples_per_s"]) >= {"reduced-cpu", "dense-cpu", "numpy-generator-floor", "gpu-normals-floor"}
    cells = _figures("gpu-bench")["cells"]
    assert cells[1]["of_ideal"] == pytest.approx(0.5) and _figures("gpu-bench")["targets"]["traffic"] == "0/1"
    assert _figures("train-dnn")["devices"] == {"NVIDIA H200": {"ensemble": 1000.0, "separate": 250.0, "ratio": 4.0}}
    assert _figures("report")["verdicts"] == {"claim": {"holds": 2, "inconclusive": 1}, "engine check": {"holds": 1}}
    assert _figures("depth-sweep")["backend"] == "cpu"
    assert _figures("samplers")["passed"] is True
    assert _figures("environment")["requirement_problems"] == []


def test_gpu_bench_parser_reads_the_cpu_fallback_too(tmp_path):
    rows = [{"section": "table3", "m": 50, "n": 100, "batch": 1, "s": 0.9, "speedup": 0.3, "max_rel_err": 1e-7,
             "targets": {"correct": True}}]
    (tmp_path / "gpu_bench.json").write_text(json.dumps(
        {"mode": "cpu", "machine": {"device": "CPU"}, "rows": rows, "summary": {"correct": [1, 1]}}))
    figures = parse_gpu_bench("", Dirs(tmp_path, tmp_path))
    assert figures["mode"] == "cpu" and figures["cells"][0]["of_ideal"] == pytest.approx(0.03)


def test_a_parser_failure_is_a_finding_not_a_crash(tmp_path):
    step = next(s for s in STEPS if s.name == "pytest")
    entry = device_check.record(step, Dirs(tmp_path, tmp_path), "Traceback: ImportError\n", 1, 2.0, 10.0)
    assert entry["status"] == "failed" and entry["figures"]["parse_error"].startswith("ValueError")
    assert device_check.record(step, Dirs(tmp_path, tmp_path), "no tests\n", 0, 2.0, 10.0)["status"] == "unparsed"


# ---------------------------------------------------------------- the runner


def _step(name, budget_s, *args, parse=lambda output, dirs: {"lines": len(output.splitlines())}):
    return Step(name, f"test step {name}", args, budget_s, parse)


def test_run_limits_each_step_and_writes_the_summary(tmp_path, monkeypatch):
    """Scaled limits (here 1/225 of the default), a failure and a time-out do not stop the
    run, a step with no time left is skipped, and the summary is complete."""
    monkeypatch.setattr(device_check, "MIN_STEP_S", 0.5)
    steps = [
        _step("quick", 225, "timeit", "-n1", "-r1", "pass"),
        _step("fails", 225, "json.tool", str(tmp_path / "absent.json")),
        _step("sleeps", 450, "timeit", "-n1", "-r1", "import time; time.sleep(30)"),
        _step("late", 450, "timeit", "-n1", "-r1", "pass"),
    ]
    start = time.perf_counter()
    result = device_check.run(tmp_path, tmp_path / "no-wheels", DEFAULT_BUDGET_S / 225, steps)
    assert time.perf_counter() - start < 10
    assert [s["status"] for s in result["steps"]] == ["ok", "failed", "timeout", "skipped"]
    assert result["steps"][0]["figures"] == {"lines": 1} and result["steps"][2]["returncode"] is None
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == result["steps"]
    text = (tmp_path / "summary.md").read_text()
    assert "| sleeps | timeout |" in text and "| late | skipped |" in text
    assert "loop" in (tmp_path / "device_check.log").read_text()


def test_a_timed_out_step_leaves_nothing_running(tmp_path):
    pid_file = tmp_path / "pid"
    code = ("import subprocess, sys, time\n"
            f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
            "time.sleep(60)\n")
    with open(tmp_path / "log", "w") as log:
        output, returncode, wall = device_check.execute([sys.executable, "-c", code], dict(os.environ), 5.0, log)
    assert returncode is None and wall < 15
    proc = Path(f"/proc/{pid_file.read_text()}")
    try:  # gone, a zombie, or the number already reused by another process
        state = (proc / "stat").read_text().split(")")[1].split()[0]
        alive = b"time.sleep(60)" in (proc / "cmdline").read_bytes() and state not in "ZX"
    except FileNotFoundError:
        alive = False
    assert not alive


def test_the_install_step_installs_the_carried_wheels():
    step = device_check.install_step(SAMPLES)  # no wheels there: the command names none
    assert step.args[:10] == ("pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
                              "--upgrade", "--target", str(device_check.SITE))


# ---------------------------------------------------------------- the dry run


def test_dry_run_reports_problems_and_writes_a_summary(tmp_path):
    """With a complete wheel set and one command to check: no problems, a summary made of
    the samples; with tornado missing and an option the command lacks: one line each."""
    gpu_bench = next(s for s in STEPS if s.name == "gpu-bench")
    result = device_check.dry_run(tmp_path / "a", complete_set(tmp_path / "complete"), DEFAULT_BUDGET_S,
                                  steps=[gpu_bench])
    assert result["problems"] == [] and any("MiB" in note for note in result["notes"])
    assert "DRY RUN" in (tmp_path / "a" / "summary.md").read_text()
    wrong = Step("gpu-bench", "x", ("gpu.bench", "--no-such-option"), 1, parse_gpu_bench)
    result = device_check.dry_run(tmp_path / "b", complete_set(tmp_path / "partial", skip=("tornado",)),
                                  DEFAULT_BUDGET_S, steps=[wrong])
    assert result["problems"] == ["missing: tornado>=6.2.0 (needed by distributed)",
                                  "gpu-bench: options not in --help: --no-such-option"]


def test_the_command_line_runs_a_dry_run(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gpu.device_check", str(tmp_path), "--dry-run", "--wheels",
                             str(tmp_path / "none"), "--budget-s", "-1"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "--budget-s must be positive" in result.stderr


# ---------------------------------------------------------------- the sampler comparison


def _cpu(seed, samples, **kw):
    sweep = Sweep(seed=seed, samples=samples, **kw)
    return simulate_chunk(sweep, sweep.configs()[0], sweep.width[0], 0, samples, threads=2)


def test_moment_z_is_standard_normal_and_sees_shifts():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(4000), rng.standard_normal(3000)
    z_mean, z_var = samplers.moment_z(a, b)
    assert abs(z_mean) < 4 and abs(z_var) < 4
    assert samplers.moment_z(a + 0.2, b)[0] > 5 and samplers.moment_z(1.2 * a, b)[1] > 5


def test_scale_deviation_is_rounding_for_the_cpu_and_large_when_broken():
    base = dict(activation=("crelu",), sparsity=(0.85,), vprime=(0.7,), width=(50,), depth=12, backward=True)
    one, three = _cpu(5, 40, q_star=(1.0,), **base), _cpu(5, 40, q_star=(3.0,), **base)
    deviation = samplers.scale_deviation(one, three, 3.0)
    assert all(deviation[k] <= tol for k, tol in samplers.SCALE_TOLERANCE.items()), deviation
    assert samplers.scale_deviation(one, {**three, "chi1": three["chi1"] * 1.01}, 3.0)["chi1"] > 1e-3


def test_samplers_script_against_the_cpu_itself(capsys):
    assert samplers.main(["--backend", "cpu", "--quick"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert len(figures["agreement"]) == len(samplers.cases()) == 8
    assert {s["sampler"] for s in figures["scale_covariance"]} == {"reduced", "dense"}
    assert summary.markdown({"mode": "device run", "started": "now", "budget_s": 1, "wall_s": 0.0, "steps": []})
