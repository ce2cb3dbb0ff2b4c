"""What the dispatcher and the launch geometry need to know about the current CUDA device."""
from functools import cache

from gpu.backend import require_cupy
from gpu.dispatch import DeviceModel

# cudaDeviceAttr values (driver_types.h; stable across CUDA 11-13).
_ATTR_MULTIPROCESSOR_COUNT = 16
_ATTR_MEMORY_CLOCK_KHZ = 36
_ATTR_MEMORY_BUS_WIDTH_BITS = 37
_ATTR_L2_CACHE_BYTES = 38


def _attribute(cupy, attr: int, device_id: int) -> int:
    return cupy.cuda.runtime.deviceGetAttribute(attr, device_id)


@cache
def device_model(device_id: int) -> DeviceModel:
    """Peak DRAM bandwidth (double data rate x bus width) and SM count of ``device_id``."""
    cupy = require_cupy()
    clock_hz = 1e3 * _attribute(cupy, _ATTR_MEMORY_CLOCK_KHZ, device_id)
    bus_bytes = _attribute(cupy, _ATTR_MEMORY_BUS_WIDTH_BITS, device_id) / 8
    return DeviceModel(
        dram_bytes_per_s=2.0 * clock_hz * bus_bytes,
        sm_count=_attribute(cupy, _ATTR_MULTIPROCESSOR_COUNT, device_id),
    )


def l2_cache_bytes(device_id: int) -> int:
    """L2 cache size of ``device_id`` in bytes."""
    return _attribute(require_cupy(), _ATTR_L2_CACHE_BYTES, device_id)
