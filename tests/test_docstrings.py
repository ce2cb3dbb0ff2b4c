"""The examples in the docstrings run and print what they say, in every module of the
project's packages: the modules are discovered, not listed, so a new module's examples
are run without anyone remembering to add it here.

Discovery walks the packages' folders as :func:`pkgutil.walk_packages` does, but without
importing anything at collection (so the test ids are the same with or without the
optional extras). Each module is imported in its own test, which is skipped only when the
import needs an optional extra that is absent (CuPy for ``gpu``'s device paths, torch for
``train``); ``__main__`` modules are entry points and are not imported. A module passes
when it imports, every ``>>>`` line of its source (bar comment-only ones) is an example that
:class:`doctest.DocTestFinder` finds (none is silently left out), and every example
prints what it says.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "simulate", "analysis", "gpu", "train")
#: the optional extras: an import that fails for want of one of these is skipped, any other
#: failure to import fails the test
OPTIONAL = {"cupy", "cupyx", "torch", "torchvision"}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: a ``>>>`` line that doctest runs (one holding only a comment is not an example)
PROMPT = re.compile(r"^\s*>>>[ \t]*[^#\s]", re.MULTILINE)


def _walk(path: Path, prefix: str):
    for info in pkgutil.iter_modules([str(path)], prefix):
        leaf = info.name.rpartition(".")[2]
        if leaf == "__main__":
            continue
        yield info.name
        if info.ispkg:
            yield from _walk(path / leaf, info.name + ".")


def discover() -> list[str]:
    """Every module and subpackage of :data:`PACKAGES`, the packages included."""
    names = []
    for package in PACKAGES:
        names.append(package)
        names.extend(_walk(ROOT / package, package + "."))
    return sorted(names)


MODULES = discover()


def _missing_extra(err: BaseException | None) -> str | None:
    """The optional extra whose absence caused ``err`` (along its chain of causes), if any;
    ``train`` re-raises torch's ModuleNotFoundError as an ImportError with advice."""
    while err is not None:
        if isinstance(err, ModuleNotFoundError) and (err.name or "").partition(".")[0] in OPTIONAL:
            return err.name.partition(".")[0]
        err = err.__cause__ or err.__context__
    return None


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as err:
        missing = _missing_extra(err)
        if missing is None:
            raise
        pytest.skip(f"{name} needs the optional {missing}, which is not installed")


def test_discovery_finds_the_packages_modules():
    """Guards the walk itself: it reaches subpackages and every package named."""
    assert {"theory.eoc", "simulate.depth_sweep", "analysis.figures.theory", "gpu.bench.gpu",
            "train.trainer"} <= set(MODULES)
    assert not [n for n in MODULES if n.endswith("__main__")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    module = _import(name)
    source = Path(module.__file__).read_text(encoding="utf-8")
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    found = sum(len(t.examples) for t in tests)
    written = len(PROMPT.findall(source))
    assert found == written, f"{name}: {written} '>>>' lines in the source, {found} examples found by doctest"
    if not tests:
        return
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in sorted(tests, key=lambda t: t.name):
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples fail\n" + "".join(report)
