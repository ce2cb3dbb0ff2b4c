"""Finite-width measurements against the theory: claims with verdicts, plans and reports.

The public API, imported on first use (so ``import analysis`` loads neither Dask nor
matplotlib):

- :func:`open_sweep`: a store as a lazy dataset with the theory attached (:mod:`analysis.sweep`);
- :func:`evaluate`, :func:`measure`, :func:`get_claim`, :class:`Claim`, :class:`Record`: the
  claims and their verdicts (:mod:`analysis.claims`);
- :func:`moments`: per-layer means and variances of a store (:mod:`analysis.estimators`);
- :class:`FeatureMoments`, :class:`NetworkBatch`, :func:`delta_method`: the estimators'
  sample moments (:mod:`analysis.features`);
- :func:`agreement`, :func:`upper_bound`, :func:`combine`, :class:`Verdict`: the verdict
  rules (:mod:`analysis.verdicts`);
- :func:`plan`: the widths and network counts that resolve each claim (:mod:`analysis.plan`);
- :func:`build`: the report of a store (:mod:`analysis.report`).

Command lines: ``python -m analysis.report``, ``python -m analysis.plan``.
"""

import importlib

#: public name -> the module that defines it
_HOMES = {
    "open_sweep": "analysis.sweep",
    "evaluate": "analysis.claims",
    "measure": "analysis.claims",
    "get_claim": "analysis.claims",
    "Claim": "analysis.claims",
    "Record": "analysis.claims",
    "moments": "analysis.estimators",
    "FeatureMoments": "analysis.features",
    "NetworkBatch": "analysis.features",
    "delta_method": "analysis.features",
    "agreement": "analysis.verdicts",
    "upper_bound": "analysis.verdicts",
    "combine": "analysis.verdicts",
    "Verdict": "analysis.verdicts",
    "plan": "analysis.plan",
    "build": "analysis.report",
}

__all__ = sorted(_HOMES)


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
