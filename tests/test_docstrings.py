"""The examples in the public functions' docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = [
    "theory.eoc",
    "theory.products",
    "theory.kernel_map",
    "theory.correlation",
    "simulate.config",
    "simulate.observables",
    "simulate.cpu",
    "simulate.depth_sweep",
    "analysis.sweep",
    "analysis.estimators",
    "analysis.plan",
    "train.trainer",
    "train.initial",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name.startswith("train."):
        pytest.importorskip("torch")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
