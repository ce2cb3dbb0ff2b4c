"""Every CUDA path of the suite measured in one call on a lent device:
``python -m gpu.device_check OUTDIR`` (:mod:`gpu.device_check.__main__`; ``--dry-run``
checks it here first).

* :mod:`gpu.device_check.steps`: the steps, their commands, time budgets and parsers;
* :mod:`gpu.device_check.wheels`: whether the carried wheels, with the device's own
  packages, meet every requirement;
* :mod:`gpu.device_check.environment`: the interpreter, packages, driver and device, as
  JSON (a step);
* :mod:`gpu.device_check.samplers`: the GPU samplers against the CPU samplers, as
  z-scores (a step);
* :mod:`gpu.device_check.summary`: ``summary.md`` and ``summary.json``.

Imports only the standard library and ``packaging``: the project's own dependencies are
what the check installs.
"""
