"""One command-line schema (theory.cli): every command takes the configurations the same
way, with the same defaults, and rejects bad input the same way (one line, exit code 2)."""

from __future__ import annotations

import dataclasses
import importlib
import io
from contextlib import redirect_stdout

import pytest

from theory.cli import UsageError, option_names, parse, with_config
from theory.grid import Grid

#: (module whose ``main`` is the command, the subcommand or target first, its schema's dotted name)
COMMANDS = [
    ("simulate.depth_sweep", [], "simulate.depth_sweep:DepthSweep"),
    ("analysis.plan", [], "analysis.plan:PlanOptions"),
    ("theory.__main__", ["eoc"], "theory.__main__:Eoc"),
    ("theory.__main__", ["products", "--width", "300", "--depth", "10"], "theory.__main__:Products"),
    ("theory.__main__", ["correlation", "--width", "300", "--depth", "10"], "theory.__main__:Correlation"),
    ("train.__main__", [], "train.__main__:Train"),
]


def _load(dotted: str):
    module, _, name = dotted.partition(":")
    if module.startswith("train"):
        pytest.importorskip("torch")
    return getattr(importlib.import_module(module), name)


def _ids():
    return [f"{m}:{' '.join(first[:1])}".rstrip(":") for m, first, _ in COMMANDS]


@pytest.mark.parametrize(("module", "first", "schema"), COMMANDS, ids=_ids())
def test_help_lists_every_field_as_an_option(module, first, schema):
    """The options are the schema's fields (the names TOML files and Sweep.to_argv use too)."""
    cls = _load(schema)
    main = _load(f"{module}:main")
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as done:
        main([*first[:1], "--help"])
    assert done.value.code == 0
    for name in option_names(cls).values():
        assert f"--{name}" in out.getvalue(), name


@pytest.mark.parametrize(("module", "first", "schema"), COMMANDS, ids=_ids())
def test_every_command_takes_the_configurations_with_the_same_defaults(module, first, schema):
    cls = _load(schema)
    def grid(argv):
        parsed = parse(cls, argv, prog="test")
        return getattr(parsed, "sweep", parsed)  # depth_sweep: the sweep beside the run options

    parsed, default = grid(first[1:]), Grid()
    for field in dataclasses.fields(Grid):
        assert getattr(parsed, field.name) == getattr(default, field.name), field.name
    again = grid([*first[1:], "--activation", "crelu", "cst", "--qstar", "2", "--vprime", "0.6"])
    assert (again.activation, again.q_star, again.vprime) == (("crelu", "cst"), (2.0,), (0.6,))


@pytest.mark.parametrize(("module", "first", "schema"), COMMANDS, ids=_ids())
@pytest.mark.parametrize(("bad", "message"), [
    (["--sparsity", "1.5"], "error: sparsity s must lie in (0, 1), got 1.5"),
    (["--activation", "gelu"], "error: unknown activation 'gelu'"),
    (["--vprime", "0.7", "--m", "1.2"], "error: clipped families ['crelu'] need exactly one of --vprime or --m"),
])
def test_bad_input_is_one_line_and_exit_code_2_everywhere(module, first, schema, bad, message, capsys, tmp_path):
    main = _load(f"{module}:main")
    extra = ["--out", str(tmp_path / "never")] if module != "theory.__main__" and module != "analysis.plan" else []
    assert main([*first, *bad, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "never").exists()


def test_a_value_of_the_wrong_type_is_the_parsers_exit_code_2(capsys):
    from simulate.depth_sweep import main

    with pytest.raises(SystemExit) as done:
        main(["--depth", "deep"])
    assert done.value.code == 2 and "--depth" in capsys.readouterr().err


def test_config_file_is_overridden_by_the_command_line(tmp_path):
    from simulate.depth_sweep import DepthSweep, command

    path = tmp_path / "sweep.toml"
    path.write_text('qstar = [1, 2]\nvprime = [0.7]\nwidth = [16]\ndepth = 6\nbackward = true\nquiet = true\n')
    cmd = command(["--config", str(path), "--depth", "8"])
    assert (cmd.sweep.q_star, cmd.sweep.width, cmd.sweep.depth, cmd.sweep.backward, cmd.run.quiet) == (
        (1.0, 2.0), (16,), 8, True, True)
    path.write_text("depth = 6\nlayers = 3\n")
    with pytest.raises(UsageError, match=r"unknown keys in .*\['layers'\]"):
        with_config(["--config", str(path)], DepthSweep)


def test_sweep_to_argv_is_read_back_by_the_parser():
    """The planner's commands come from Sweep.to_argv: the parser gives the same sweep back."""
    from simulate.config import Sweep
    from simulate.depth_sweep import command

    for sweep in (Sweep(), Sweep(activation=("cst", "st"), sparsity=(0.6,), m=(1.5, 2.0), width=(40,), depth=7,
                                 samples=30, inputs=2, rho0=0.25, seed=3, backward=True, keep=10, chunk=7),
                  Sweep(q_star=(1.2345678,), vprime=(0.7123456789,))):  # more digits than "%g" keeps
        assert command(sweep.to_argv()).sweep == sweep
