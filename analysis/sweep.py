"""Open a depth-sweep store lazily, with the theory attached on the same coordinates.

``open_sweep(path)`` returns the store as a Dask-backed ``xarray.Dataset`` (nothing is
read until asked for) with, per configuration and layer:

* ``q_theory``: ``q^(l)`` from the variance map, started at ``q*`` (eq. 3);
* ``q1_theory``, ``r_theory``: the recursions for ``q~{1}^(l)``, ``r^(l)`` (eqs. 12-13);
* ``log_chi1_lead``, ``log_chi1_coef``: ``E log chi1^(l) = lead + coef / N``
  (:func:`theory.log_chi1_drift`);
* the next order (:mod:`theory.next_order`): ``q2_theory``, ``r2_theory``,
  ``q_tilde_r2_theory`` and ``log_chi1_coef2``, the ``1/N`` corrections to
  ``q~{1}``, ``r``, ``r + 2 q^2`` and ``coef`` (what sets the regime of each claim);
* ``log_prod_chi1_var_coef``: ``lim N Var log prod_{k<=l} chi1^(k)`` (:mod:`theory.products`);

per configuration, width and layer the predicted means ``q_cond_pred = q + q~{1}/N``,
``var_q_cond_pred = r/N`` and ``var_q_tilde_pred = (r + 2 q^2)/N``; and, for raw
stores, ``chi1_at_q_cond``: ``chi_1(q_cond)`` at every measured ``q_cond`` (lazy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from theory import solve_eoc
from simulate.store import SweepStore
from theory.expansion import ConfigurationTheory


def solution_of(ds: xr.Dataset, ci: int):
    """The EoC solution of configuration ``ci`` (re-solved from the stored ``m``)."""
    c = ds.isel(config=ci)
    m = float(c.m)
    return solve_eoc(str(c.activation.values), float(c.sparsity_target), float(c.q_star), m=m if np.isfinite(m) else None)


def theories_of(ds: xr.Dataset) -> dict[int, ConfigurationTheory]:
    """The :class:`theory.expansion.ConfigurationTheory` of every configuration of a store:
    the ones :func:`open_sweep` solved (``ds.attrs["theories"]``), else solved now."""
    if "theories" in ds.attrs:
        return ds.attrs["theories"]
    return {ci: ConfigurationTheory.from_solution(solution_of(ds, ci), ds.sizes["layer"]) for ci in range(ds.sizes["config"])}


def open_sweep(path: str | Path | SweepStore) -> xr.Dataset:
    """The store at ``path`` as a lazy dataset with the theory attached (module docstring);
    the configurations are solved once (:class:`simulate.store.SweepStore`) and their
    theories kept in ``ds.attrs["theories"]``.

    Parameters
    ----------
    path : str or pathlib.Path or simulate.store.SweepStore
        The depth-sweep store, or the store already opened.

    Returns
    -------
    xarray.Dataset
        The store, Dask-backed (nothing read until asked for), with the theory variables
        of the module docstring (``q_theory``, ``q1_theory``, ``r_theory``, ...,
        ``q_cond_pred``, ``var_q_cond_pred``, ``var_q_tilde_pred`` and, for raw stores,
        ``chi1_at_q_cond``) and ``attrs["theories"]``: the
        :class:`theory.expansion.ConfigurationTheory` of each configuration index.

    Raises
    ------
    simulate.config.SweepError
        ``path`` is missing, not a zarr store, or not a depth sweep.

    Examples
    --------
    >>> import tempfile
    >>> from simulate import Sweep, run
    >>> store = run(Sweep(q_star=(1.0,), vprime=(0.7,), width=(20,), depth=5, samples=10),
    ...             tempfile.mkdtemp() + "/s.zarr", progress=False)
    >>> ds = open_sweep(store)
    >>> ds.q_cond.dims, float(ds.q_theory.isel(config=0, layer=0))
    (('config', 'width', 'sample', 'layer'), 1.0)
    """
    store = path if isinstance(path, SweepStore) else SweepStore(path)
    ds = store.dataset()
    ds.attrs["theories"] = store.theories
    depth = ds.sizes["layer"]
    names = ("q_theory", "q1_theory", "r_theory", "log_chi1_lead", "log_chi1_coef",
             "q2_theory", "r2_theory", "q_tilde_r2_theory", "log_chi1_coef2", "log_prod_chi1_var_coef")
    theory = {name: np.empty((ds.sizes["config"], depth)) for name in names}
    fields = ("q", "q1", "r", "lead", "coef", "q2", "r2", "q_tilde_r2", "coef2")
    theories = theories_of(ds)
    for ci, claim_theory in theories.items():
        for name, field_name in zip(names, fields):
            theory[name][ci] = getattr(claim_theory, field_name)
        theory["log_prod_chi1_var_coef"][ci] = claim_theory.products.var_coef
    descriptions = {
        "q_theory": "q^(l): infinite-width variance from V, started at q*",
        "q1_theory": "q~{1}^(l): next-to-leading-order coefficient (recursion, arXiv eq. 13)",
        "r_theory": "r^(l): limit of N Var(q_cond^(l)) (recursion, arXiv eq. 12)",
        "log_chi1_lead": "log chi_1(q^(l)): leading order of E log chi1^(l)",
        "log_chi1_coef": "coefficient of 1/N in E log chi1^(l) (theory.log_chi1_drift)",
        "q2_theory": "q~{2}^(l): coefficient of 1/N^2 in E q_cond - q^(l) (theory.next_order)",
        "r2_theory": "r2^(l): coefficient of 1/N^2 in Var q_cond^(l) (theory.next_order)",
        "q_tilde_r2_theory": "coefficient of 1/N in N Var q_tilde^(l) - (r + 2 q^2) (theory.next_order)",
        "log_chi1_coef2": "coefficient of 1/N^2 in E log chi1^(l) (theory.next_order)",
        "log_prod_chi1_var_coef": "limit of N Var log prod_{k<=l} chi1^(k): sampling + propagated + covariance (theory.products)",
    }
    for name, values in theory.items():
        ds[name] = (("config", "layer"), values, {"description": descriptions[name]})
    inv_n = 1.0 / ds.width.astype(float)
    ds["q_cond_pred"] = (ds.q_theory + ds.q1_theory * inv_n).assign_attrs(description="q^(l) + q~{1}^(l)/N")
    ds["var_q_cond_pred"] = (ds.r_theory * inv_n).assign_attrs(description="r^(l)/N")
    ds["var_q_tilde_pred"] = ((ds.r_theory + 2 * ds.q_theory**2) * inv_n).assign_attrs(description="(r^(l) + 2 q^(l)^2)/N")
    if "q_cond" in ds:
        chi1 = [
            xr.apply_ufunc(theories[ci].vmap.chi1, ds.q_cond.isel(config=ci), dask="parallelized", output_dtypes=[float])
            for ci in range(ds.sizes["config"])
        ]
        ds["chi1_at_q_cond"] = xr.concat(chi1, dim="config", coords="minimal", compat="override").assign_attrs(description="chi_1(q_cond^(l)) at the measured q_cond")
    ds.attrs["theories"] = theories
    return ds
