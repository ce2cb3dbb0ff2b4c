"""Exact finite-width random networks at the Edge of Chaos, written to zarr stores.

The public API, imported on first use (so ``import simulate`` compiles and loads nothing):

- :class:`Sweep`, :class:`SweepError`: what a depth-sweep store holds (:mod:`simulate.config`);
- :func:`run`: simulate a sweep into a store (:mod:`simulate.depth_sweep`);
- :class:`SweepStore`: a store, opened once (:mod:`simulate.store`);
- :func:`simulate_chunk`: one chunk of networks on the CPU (:mod:`simulate.cpu`);
- :func:`dense_network`: one network with explicit weight matrices (:mod:`simulate.dense`);
- :func:`summarise`: the text summary of a store (:mod:`simulate.summary`).

Command line: ``python -m simulate.depth_sweep``.
"""

import importlib

#: public name -> the module that defines it
_HOMES = {
    "Sweep": "simulate.config",
    "SweepError": "simulate.config",
    "run": "simulate.depth_sweep",
    "SweepStore": "simulate.store",
    "simulate_chunk": "simulate.cpu",
    "dense_network": "simulate.dense",
    "summarise": "simulate.summary",
}

__all__ = sorted(_HOMES)


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'simulate' has no attribute {name!r}")
