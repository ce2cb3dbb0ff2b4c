"""One command-line schema for every command of the suite.

A command's options are the fields of a frozen dataclass: the field's type gives the
option's values, its default the default, the string under it (an attribute docstring)
the help, and the dataclass's ``__post_init__`` the validation. `tyro
<https://brentyi.github.io/tyro/>`_ turns the dataclass into the parser. Tyro was chosen
over jsonargparse and typer because it keeps this suite's spelling of a multi-valued
option (``--qstar 1 3``; jsonargparse wants ``--qstar [1,3]``), reads the help from
the fields' docstrings (one definition), nests dataclasses without prefixes (a
:class:`simulate.config.Sweep` is the same options in every command that takes one),
and has been kept up (1.0, 2025-26).

Every command therefore behaves the same way, before any work starts:

- an unknown option, or a value of the wrong type, is tyro's message and exit code 2;
- a value the dataclass rejects in ``__post_init__`` (a :class:`UsageError`), or a
  problem found after parsing (an EoC that does not exist, a store that cannot be
  written), is one line ``error: ...`` on stderr and exit code 2 (:func:`fail`).
  :class:`UsageError` is deliberately not a ``ValueError``: tyro would draw its box
  around a ``ValueError`` and wrap long messages over several lines;
- ``--config FILE`` (where a command has it) reads the same options from a TOML file,
  keys as the long option names; the command line overrides the file (:func:`with_config`).

The one exception is ``python -m gpu.device_check`` (and its step ``samplers``): it runs on
a bare device machine before it installs the wheels it carries, tyro's among them, so it
keeps the standard library's argparse.

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Example:
...     depth: int = 100
...     '''number of layers L'''
>>> parse(Example, ["--depth", "7"], prog="example")
Example(depth=7)
>>> option_names(Example)
{'depth': 'depth'}
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path
from typing import TypeVar

import tyro

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

T = TypeVar("T")

#: boolean options are plain flags (``--backward``), not ``--backward/--no-backward`` pairs
CONFIG = (tyro.conf.FlagCreatePairsOff,)
#: the exit code of every command for bad input (as argparse's)
BAD_INPUT = 2


class UsageError(Exception):
    """Bad input found before any work: printed as one line, exit code 2 (:func:`fail`)."""


def parse(schema: type[T], argv: list[str] | None, *, prog: str, description: str | None = None) -> T:
    """The command line ``argv`` as an instance of ``schema``.

    Parameters
    ----------
    schema : type
        A dataclass (or a ``Union`` of subcommand dataclasses) whose fields are the options.
    argv : list of str or None
        The arguments after the program name; ``None``: ``sys.argv[1:]``.
    prog : str
        The command as the user types it, for the usage line.
    description : str, optional
        The help's first paragraph (default: the dataclass's docstring).

    Returns
    -------
    object
        The instance; a bad option exits with code 2 after tyro's message.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Example:
    ...     quiet: bool = False
    ...     '''no progress bar'''
    >>> parse(Example, ["--quiet"], prog="example").quiet
    True
    """
    if description is not None:
        description = description.replace("``", "")  # the module docstrings' literals, as plain text
    return tyro.cli(schema, args=argv, prog=prog, description=description, config=CONFIG)


def fail(err: BaseException | str) -> int:
    """Print ``error: <err>`` (one line) on stderr and return the bad-input exit code.

    Parameters
    ----------
    err : exception or str
        What went wrong.

    Returns
    -------
    int
        :data:`BAD_INPUT`.

    Examples
    --------
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     code = fail(UsageError("--depth must be an integer >= 2, got 1"))
    >>> code, err.getvalue()
    (2, 'error: --depth must be an integer >= 2, got 1\\n')
    """
    print(f"error: {err}", file=sys.stderr)
    return BAD_INPUT


def option_names(schema: type) -> dict[str, str]:
    """Field name -> long option name (without ``--``) of every field of ``schema``, nested
    dataclasses flattened: the field's name with ``-`` for ``_``, unless its annotation
    names the option (``Annotated[..., tyro.conf.arg(name=...)]``).

    Parameters
    ----------
    schema : type
        A dataclass.

    Returns
    -------
    dict
        ``{field name: option name}``.

    Examples
    --------
    >>> from theory.grid import Grid
    >>> option_names(Grid)
    {'activation': 'activation', 'sparsity': 'sparsity', 'q_star': 'qstar', 'vprime': 'vprime', 'm': 'm'}
    """
    hints = typing.get_type_hints(schema, include_extras=True)
    names = {}
    for field in dataclasses.fields(schema):
        hint = hints[field.name]
        bare = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
        if dataclasses.is_dataclass(bare):  # nested options (tyro.conf.OmitArgPrefixes): flattened
            names.update(option_names(bare))
            continue
        given = [m.name for m in getattr(hint, "__metadata__", ()) if getattr(m, "name", None)]
        names[field.name] = given[0] if given else field.name.replace("_", "-")
    return names


def to_argv(values: dict[str, object], names: dict[str, str]) -> list[str]:
    """Options that give ``values`` (field name -> value): a tuple or list is several
    values, ``True`` a flag, ``False`` and ``None`` nothing.

    Parameters
    ----------
    values : dict
        Field name -> value.
    names : dict
        Field name -> option name (:func:`option_names`).

    Returns
    -------
    list of str
        The command-line tokens.

    Examples
    --------
    >>> to_argv({"q_star": (1.0, 3.0), "backward": True, "m": None, "depth": 20}, {"q_star": "qstar", "backward": "backward", "m": "m", "depth": "depth"})
    ['--qstar', '1', '3', '--backward', '--depth', '20']
    """
    argv = []
    for name, value in values.items():
        flag = "--" + names[name]
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, (tuple, list)):
            argv += [flag, *(_plain(v) for v in value)]
        else:
            argv += [flag, _plain(value)]
    return argv


def _plain(value) -> str:
    """``1`` for 1.0 and ``0.85`` for 0.85, but every digit where ``g``'s six would lose one:
    the parser reads back exactly the value given."""
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def with_config(argv: list[str] | None, schema: type) -> list[str]:
    """``argv`` with the options of its ``--config FILE`` (a TOML file, keys as the long
    option names) put before it, so that the command line overrides the file.

    Parameters
    ----------
    argv : list of str or None
        The command line (``None``: ``sys.argv[1:]``).
    schema : type
        The command's dataclass: the file may set any of its options but ``config``.

    Returns
    -------
    list of str
        The file's options followed by ``argv``.

    Raises
    ------
    UsageError
        The file cannot be read, or names an option the command does not have.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from theory.grid import Grid
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "grid.toml"
    >>> _ = path.write_text('qstar = [1, 2]\\nvprime = 0.7\\n')
    >>> with_config(["--config", str(path), "--vprime", "0.9"], Grid)
    ['--qstar', '1', '2', '--vprime', '0.7', '--config', '...', '--vprime', '0.9']
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    path = _config_path(argv)
    if path is None:
        return argv
    try:
        with Path(path).open("rb") as f:
            table = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"cannot read --config {path}: {err}") from None
    names = {option: field for field, option in option_names(schema).items() if field != "config"}
    unknown = sorted(set(table) - set(names))
    if unknown:
        raise UsageError(f"unknown keys in {path}: {unknown} (the keys are the long option names: {sorted(names)})")
    return to_argv({names[key]: value for key, value in table.items()}, {names[k]: k for k in table}) + argv


def _config_path(argv: list[str]) -> str | None:
    for i, token in enumerate(argv):
        if token == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith("--config="):
            return token.partition("=")[2]
    return None
