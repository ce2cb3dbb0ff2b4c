"""The public API of ``theory``, ``simulate`` and ``analysis`` (each package's ``__all__``,
and the public methods its classes define) is documented in numpydoc: a Parameters section naming exactly the signature's parameters (for a class, its
Parameters and Attributes together name its constructor's),
a Returns (or Yields) section for functions, and Examples that run (the examples
themselves are run by ``test_docstrings``). Constants and exceptions are exempt."""

from __future__ import annotations

import importlib
import inspect

import docstring_parser
import pytest

PACKAGES = ("theory", "simulate", "analysis")


def _public():
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            assert not inspect.ismodule(obj), f"{package}.{name} is shadowed by the submodule of the same name"
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (inspect.isclass(obj) and issubclass(obj, Exception)):
                yield pytest.param(obj, id=f"{package}.{name}")
            if inspect.isclass(obj) and not issubclass(obj, Exception):
                for attr, value in vars(obj).items():  # the methods the class itself defines
                    method = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
                    if not attr.startswith("_") and inspect.isfunction(method):
                        yield pytest.param(method, id=f"{package}.{name}.{attr}")


def _documented(names: list[str]) -> set[str]:
    """``"x, y"`` documents both ``x`` and ``y``; ``*args``, ``**kwargs`` lose their stars."""
    return {part.strip().lstrip("*") for name in names for part in name.split(",")}


def _parameters(obj) -> set[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    signature = inspect.signature(target)
    return {name for name in signature.parameters if name not in ("self", "cls")}


@pytest.mark.parametrize("obj", list(_public()))
def test_numpydoc_sections(obj):
    doc = docstring_parser.parse(inspect.getdoc(obj) or "", style=docstring_parser.DocstringStyle.NUMPYDOC)
    wanted = _parameters(obj)
    kinds = ("param", "attribute") if inspect.isclass(obj) else ("param",)  # a dataclass's fields: either section
    documented = _documented([p.arg_name for p in doc.params if p.args[0] in kinds])
    assert documented == wanted, f"Parameters section: documents {sorted(documented)}, signature has {sorted(wanted)}"
    if inspect.isfunction(obj):
        assert doc.many_returns, "no Returns (or Yields) section"
    assert any(e.snippet and e.snippet.lstrip().startswith(">>>") for e in doc.examples), "no Examples section with >>>"
