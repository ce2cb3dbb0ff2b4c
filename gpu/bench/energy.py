"""GPU energy per call from NVML's ``nvmlDeviceGetTotalEnergyConsumption`` (millijoules).

Needs ``pynvml`` (the ``nvidia-ml-py`` package); without it, or on a GPU
without the counter, :class:`EnergyMeter` reports why and the bench prints
n/a.  The counter is coarse, so energy is measured over a time window of
repeated calls rather than per call.
"""
import importlib
import time


class EnergyMeter:
    """Total-energy counter of the GPU at ``pci_bus_id`` (as CuPy's ``Device.pci_bus_id`` gives it).

    ``available`` is False, with ``reason``, when the counter cannot be read.
    """

    def __init__(self, pci_bus_id: str):
        self.available = False
        self.reason = ""
        try:
            self._nvml = importlib.import_module("pynvml")
        except ImportError:
            self.reason = "pynvml (nvidia-ml-py) is not installed"
            return
        try:
            self._nvml.nvmlInit()
            self._handle = self._nvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id)
            self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except Exception as exc:  # pynvml raises NVMLError subclasses per status code
            self.reason = f"NVML energy counter unavailable: {exc}"
            return
        self.available = True

    def joules_per_call(self, fn, synchronize, window_s: float) -> float:
        """Energy per call of ``fn(i)``, repeated for at least ``window_s`` seconds."""
        synchronize()
        start_mj = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        t0 = time.perf_counter()
        calls = 0
        while time.perf_counter() - t0 < window_s:
            for _ in range(16):
                fn(calls)
                calls += 1
            synchronize()
        end_mj = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        return 1e-3 * (end_mj - start_mj) / calls
