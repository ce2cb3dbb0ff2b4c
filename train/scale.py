r"""Scale control: what a change of ``q*`` does to training, and the runs that isolate it.

**The identity** (SPEC "Scale covariance"). At fixed sparsity ``s`` and ``V'(q*)``, the
EoC solution at ``q* = c`` has ``tau, m, sigma_b`` multiplied by ``sqrt(c)`` and the same
``sigma_w^2``; inputs are normalised to variance ``q*``, so they are ``sqrt(c)`` times
larger too. With ``phi_c = phi_{sqrt(c) tau, sqrt(c) m}`` one has
``phi_c(sqrt(c) u) = sqrt(c) phi_1(u)`` for all five families. Write the ``q* = 1``
network's parameters ``theta = (W_l, b_l)`` and map them to ``P theta = (W_l, sqrt(c) b_l)``.
By induction over the layers, the ``q* = c`` network with parameters ``P theta`` has every
pre-activation, and its read-out ``z``, equal to ``sqrt(c)`` times that of the ``q* = 1``
network with ``theta`` (the first layer: ``W1 (sqrt(c) x) + sqrt(c) b1``). With one seed
the initial parameters are related by ``P`` exactly (same standard normals, first-layer
bias 0; :mod:`train.models`). Only the softmax read-out breaks the symmetry: the
``q* = c`` network's logits are ``sqrt(c)`` times larger.

**SGD under the rescaling.** With logit scale ``lambda`` the ``q* = c`` loss is
``L_c(P theta) = CE(lambda sqrt(c) z(theta)) =: G(theta)``. Its gradients are
``dL_c/dW = dG/dW`` and ``dL_c/d(sqrt(c) b) = c^{-1/2} dG/db``, so a step of size ``eta``
on the ``q* = c`` network is, in the ``theta`` coordinates::

    W <- W - eta dG/dW,        b <- b - (eta / c) dG/db

Hence (exactly, up to float rounding) a run at ``q* = c`` with logit scale ``lambda``,
learning rate ``eta`` and bias-step factor ``beta`` **is** the ``q* = 1`` run with logit
scale ``lambda sqrt(c)``, weight step ``eta`` and bias step ``beta eta / c`` (its
pre-activations ``sqrt(c)`` times larger, its sparsity and accuracy identical). ``q*``
acts through two things only: the logit scale and the step size of the biases.
:func:`equivalent` gives the pair ``(logit factor, bias-step factor) = (lambda sqrt(q*),
beta / q*)``; ``tests/test_train_model.py`` checks it as a trajectory (the same losses
step by step).

**The control runs** (:func:`control_runs`) complete a 2x2 design for each ``c`` and add
the exact copy of the ``q* = c`` run:

=================================  ============  ================  ===============================
run                                logit factor  bias-step factor  equivalent to
=================================  ============  ================  ===============================
q* = 1, lambda = 1                 1             1                 the papers' q* = 1 network
q* = 1, lambda = √c                √c            1                 q* = c with bias step × c
q* = c, lambda = 1/√c              1             1/c               q* = 1 with bias step / c
q* = c, lambda = 1                 √c            1/c               the papers' q* = c network
q* = 1, lambda = √c, bias step/c   √c            1/c               the papers' q* = c network
=================================  ============  ================  ===============================

If accuracy follows the logit factor, ``q*`` acts through the logit scale; if it follows
the bias-step factor, through the effective step size of the biases; there is nothing
else. Float rounding differs between equivalent runs, so long (chaotic) trajectories
drift apart: compare seed statistics, not single runs.
"""

from __future__ import annotations

import math
from dataclasses import replace

from train.runs import RunSpec


def equivalent(run: RunSpec) -> tuple[float, float]:
    """``(logit factor, bias-step factor)`` of the ``q* = 1`` run that ``run`` equals."""
    return run.logit_scale * math.sqrt(run.q_star), run.bias_step / run.q_star


#: the scale-control design for one ``c`` (module docstring): its column name and the
#: run's ``(q*, logit scale, bias step)`` as functions of ``c``; entries 0 and 3 are the
#: papers' runs, the others the control runs
DESIGN = (
    ("q*=1 (×1, ×1)", lambda c: (1.0, 1.0, 1.0)),
    ("q*=1, λ=√c (×√c, ×1)", lambda c: (1.0, math.sqrt(c), 1.0)),
    ("q*=c, λ=1/√c (×1, ×1/c)", lambda c: (c, 1 / math.sqrt(c), 1.0)),
    ("q*=c (×√c, ×1/c)", lambda c: (c, 1.0, 1.0)),
    ("q*=1, λ=√c, bias step/c (×√c, ×1/c)", lambda c: (1.0, math.sqrt(c), 1 / c)),
)
_CONTROLS = (1, 2, 4)


def control_runs(run: RunSpec) -> list[RunSpec]:
    """For a papers' run at ``q* = c != 1`` (logit scale and bias step 1) the control runs
    of :data:`DESIGN`: ``(q* = 1, lambda = sqrt(c))``, ``(q* = c, lambda = 1/sqrt(c))`` and
    the exact copy ``(q* = 1, lambda = sqrt(c), bias step 1/c)``; same family, ``s``,
    ``V'(q*)`` and seed."""
    if run.q_star == 1.0 or run.logit_scale != 1.0 or run.bias_step != 1.0:
        raise ValueError(f"control runs need a run at q* != 1 with logit scale and bias step 1, got {run}")
    if run.m is not None:
        raise ValueError("the rescaling holds at fixed V'(q*) (m proportional to sqrt(q*)), not at a fixed m")
    runs = []
    for i in _CONTROLS:
        q, lam, beta = DESIGN[i][1](run.q_star)
        runs.append(replace(run, q_star=q, logit_scale=lam, bias_step=beta))
    return runs


def with_control_runs(runs: list[RunSpec]) -> list[RunSpec]:
    """``runs`` and the control runs of each papers' run at ``q* != 1`` (logit scale and
    bias step 1), each run once; an error when there is none."""
    papers = [r for r in runs if r.q_star != 1.0 and r.logit_scale == 1.0 and r.bias_step == 1.0]
    if not papers:
        raise ValueError("--scale-control needs runs at q* != 1 with logit scale and bias step 1 (e.g. --qstar 1 3)")
    return list(dict.fromkeys(runs + [c for r in papers for c in control_runs(r)]))
