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
- :mod:`analysis.plan`: the widths and network counts that resolve each claim (its
  function ``plan`` is not a name of the package, whose submodule has the same name);
- :func:`build`: the report of a store (:mod:`analysis.report`).

Command lines: ``python -m analysis.report``, ``python -m analysis.plan``.
"""

import lazy_loader

#: submodule -> the public names it defines, imported on first use
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "sweep": ["open_sweep"],
        "claims": ["Claim", "Record", "evaluate", "get_claim", "measure"],
        "estimators": ["moments"],
        "features": ["FeatureMoments", "NetworkBatch", "delta_method"],
        "verdicts": ["Verdict", "agreement", "combine", "upper_bound"],
        "report": ["build"],
    },
)
