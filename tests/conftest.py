"""Shared pytest configuration: the ``gpu`` marker skips cleanly without a device."""
import pytest


def _gpu_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _gpu_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device / CuPy available")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
