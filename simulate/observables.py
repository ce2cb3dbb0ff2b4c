"""What a simulation measures: the one table of observables (SPEC.md, "What a simulation
measures").

Every per-network variable of a depth-sweep store is a row of :data:`OBSERVABLES`: its
name, dimensions, CF ``long_name`` and ``units``, the formula it records, and when it is
recorded. The CPU and GPU samplers fill the recorded ones (:func:`recorded`), the store
writes the table into each variable's attrs (so xarray labels its plots), and the
analysis derives ``log_prod_chi1`` and ``log_back_norm2`` with :func:`derive`, the same
function the store uses for the streaming summaries of ``--keep`` stores.

All observables refer to input 0 of each network.

Example
-------
>>> from simulate.observables import OBSERVABLES, recorded
>>> OBSERVABLES["chi1"].units
'1'
>>> from simulate.config import Sweep
>>> recorded(Sweep(backward=True))
('q_tilde', 'q_cond', 'chi1', 'sparsity', 'back_norm2')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PER_LAYER = ("config", "width", "sample", "layer")


@dataclass(frozen=True)
class Observable:
    """One row of the table. ``when``: ``"always"``, ``"two inputs"``, ``"backward"`` (a
    sampler records it under that condition) or ``"derived"`` (computed from ``source``
    by :func:`derive`, never stored raw)."""

    name: str
    long_name: str
    definition: str
    units: str
    when: str = "always"
    dims: tuple[str, ...] = PER_LAYER
    source: str | None = None

    @property
    def attrs(self) -> dict:
        """CF ``long_name`` and ``units`` with the formula as ``description``."""
        return {"long_name": self.long_name, "units": self.units, "description": self.definition}


OBSERVABLES: dict[str, Observable] = {o.name: o for o in (
    Observable("q_tilde", "empirical pre-activation variance",
               "(1/N_l) sum_i (h_i^(l))^2: empirical second moment of layer l's pre-activations", "input units^2"),
    Observable("q_cond", "conditional variance of the layer",
               "sigma_w^2/N_(l-1) sum_j phi(h_j^(l-1))^2 + sigma_b^2: variance of layer l given layer l-1 "
               "(q* at l = 1)", "input units^2"),
    Observable("chi1", "per-layer gradient gain chi1",
               "sigma_w^2/N_l sum_i phi'(h_i^(l))^2: per-layer gain of back-propagated squared errors", "1"),
    Observable("sparsity", "fraction of zero activations", "fraction of layer l's activations that are exactly zero", "1"),
    Observable("rho", "input correlation", "G_01/sqrt(G_00 G_11) of layer l's conditional covariance of the two inputs",
               "1", when="two inputs"),
    Observable("back_norm2", "squared norm of the back-propagated error",
               "|delta^(l)|^2, error back-propagated through the same weights from a random unit vector at layer L",
               "1", when="backward"),
    Observable("diverged_layer", "first diverged layer",
               "first layer whose q_cond is not finite (0: the network did not diverge)", "layer",
               dims=("config", "width", "sample")),
    Observable("log_prod_chi1", "log of the product of chi1",
               "log prod_{k<=l} chi1^(k) (NaN from the first layer with chi1 = 0)", "1", when="derived", source="chi1"),
    Observable("log_back_norm2", "log squared norm of the back-propagated error",
               "log |delta^(l)|^2 (NaN where the error vanished)", "1", when="derived", source="back_norm2"),
)}


def recorded(sweep) -> tuple[str, ...]:
    """The per-layer variables a sweep's samplers record, in table order."""
    wanted = {"always", "two inputs" if sweep.inputs == 2 else "always", "backward" if sweep.backward else "always"}
    return tuple(o.name for o in OBSERVABLES.values() if o.dims == PER_LAYER and o.when in wanted)


def derived(sweep) -> tuple[str, ...]:
    """The derived variables a sweep's store can give (their source is recorded)."""
    names = recorded(sweep)
    return tuple(o.name for o in OBSERVABLES.values() if o.when == "derived" and o.source in names)


def derive(name: str, source: np.ndarray) -> np.ndarray:
    """The derived observable ``name`` from its source values (layer on the last axis)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(source > 0, np.log(np.where(source > 0, source, 1.0)), np.nan)
    if name == "log_prod_chi1":
        return np.cumsum(logs, axis=-1)
    if name == "log_back_norm2":
        return logs
    raise ValueError(f"{name!r} is not a derived observable; derived: "
                     f"{[o.name for o in OBSERVABLES.values() if o.when == 'derived']}")
