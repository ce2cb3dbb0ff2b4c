"""Shared pytest configuration: the ``gpu`` marker skips cleanly without a device, and the
configuration the claim tests share."""
import pytest


@pytest.fixture(scope="session")
def theory():
    """CReLU s = 0.85, q* = 1, V' = 0.7, depth 100: every claim has a finite regime."""
    from theory import solve_eoc
    from theory.expansion import ConfigurationTheory

    return ConfigurationTheory.from_solution(solve_eoc("crelu", 0.85, 1.0, vprime=0.7), 100)


def pytest_collection_modifyitems(config, items):
    from gpu.backend import gpu_available

    if gpu_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device / CuPy available")
    for item in items:
        if item.get_closest_marker("gpu") is not None:  # the marker, not the keyword: "gpu" is also a test id
            item.add_marker(skip)
