"""``python -m gpu.device_check.environment``: what the device check ran on, as one JSON line.

The interpreter; the version of every package the project needs (and of CuPy, torch and
the NVIDIA libraries it uses there) with the project's requirements resolved against the
installed distributions (:func:`gpu.device_check.wheels.resolve`, as the dry run resolves
them against the carried wheels); the driver as ``nvidia-smi`` reports it; and the CUDA
device as CuPy and torch see it. Every part that cannot be read says why instead, so the
command runs, and is tested, on a machine without a GPU.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

from gpu.device_check.wheels import Distribution, project_requirements, resolve

ROOT = Path(__file__).resolve().parents[2]
#: packages reported beside the project's requirements
ALSO = ("cupy-cuda13x", "cupy-cuda12x", "nvidia-ml-py", "packaging")
#: CuPy device attributes reported (``cudaDevAttr`` names, as ``Device.attributes`` keys them)
ATTRIBUTES = ("MultiProcessorCount", "ComputeCapabilityMajor", "ComputeCapabilityMinor", "MemoryClockRate",
              "GlobalMemoryBusWidth", "L2CacheSize", "ClockRate")


def installed(name: str) -> Distribution | None:
    """The installed distribution ``name`` (canonical), or None."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    return Distribution(canonicalize_name(dist.metadata["Name"]), dist.version, tuple(dist.requires or ()),
                        where="installed")


def _cupy() -> dict:
    import cupy

    device = cupy.cuda.Device()
    attributes = device.attributes
    name = cupy.cuda.runtime.getDeviceProperties(device.id)["name"]
    return {
        "name": name.decode() if isinstance(name, bytes) else str(name),
        "memory_GiB": device.mem_info[1] / 2**30,
        "runtime": cupy.cuda.runtime.runtimeGetVersion(),
        "driver": cupy.cuda.runtime.driverGetVersion(),
        "nvrtc": ".".join(map(str, cupy.cuda.nvrtc.getVersion())),
        **{name: attributes.get(name) for name in ATTRIBUTES},
    }


def _torch() -> dict:
    import torch

    return {"version": torch.__version__, "cuda": torch.version.cuda,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _nvidia_smi() -> str:
    query = "name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit"
    result = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                            capture_output=True, text=True, timeout=30)
    return (result.stdout or result.stderr).strip()


def _guarded(fn):
    try:
        return fn()
    except Exception as err:  # no CuPy, no device, no driver: say so and go on
        return f"unavailable: {type(err).__name__}: {err}"


def report() -> dict:
    """The environment, as the summary records it."""
    problems, used = resolve(project_requirements(ROOT / "pyproject.toml"), installed, {})  # markers: this interpreter's
    versions = {name: dist.version for name in sorted(used | set(ALSO)) if (dist := installed(name))}
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "requirement_problems": problems,
        "versions": versions,
        "nvidia_smi": _guarded(_nvidia_smi),
        "cupy": _guarded(_cupy),
        "torch": _guarded(_torch),
    }


def main() -> int:
    print(json.dumps(report()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
