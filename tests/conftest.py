"""Shared pytest configuration: the ``gpu`` marker skips cleanly without a device."""
import pytest


def pytest_collection_modifyitems(config, items):
    from gpu.backend import gpu_available

    if gpu_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device / CuPy available")
    for item in items:
        if item.get_closest_marker("gpu") is not None:  # the marker, not the keyword: "gpu" is also a test id
            item.add_marker(skip)
