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

import lazy_loader

#: submodule -> the public names it defines, imported on first use
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "config": ["Sweep", "SweepError"],
        "depth_sweep": ["run"],
        "store": ["SweepStore"],
        "cpu": ["simulate_chunk"],
        "dense": ["dense_network"],
        "summary": ["summarise"],
    },
)
