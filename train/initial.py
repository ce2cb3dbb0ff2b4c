"""The trainer's networks at initialisation, measured as the simulator measures them.

:func:`back_norm2` is the observable ``back_norm2`` of ``python -m simulate.depth_sweep
--backward`` (:mod:`simulate.observables`), computed the trainer's way: a freshly
initialised :class:`~train.models.EnsembleDNN` (weights from each run's seed, as in
training) is fed one input per member, a uniformly random unit vector ``delta^(L)`` is
injected at the last hidden layer's pre-activations, and torch autograd back-propagates
it, ``delta^(l-1) = phi'(h^(l-1)) * W^(l)T delta^(l)``. The simulator draws the same
quantity exactly in distribution without weight matrices (Matheron's rule,
:mod:`simulate.kernels`), so the two must agree in law: ``tests/test_train_vs_simulator.py``
checks it. Given any input normalised to mean 0 and variance 1, ``h^(1)`` is exactly
``N(0, q*)`` unit by unit (:mod:`train.models`), the simulator's first layer.
"""

from __future__ import annotations

import numpy as np
import torch

from train.models import EnsembleDNN

_INPUT_STREAM = 3


class _Keep:
    """A :class:`~train.models.LayerStats` stand-in that keeps the pre-activations."""

    def __init__(self):
        self.h = []

    def update(self, layer, h, a, member_dim):
        self.h.append(h)


def back_norm2(runs, depth: int, width: int, input_dim: int = 64, seed: int = 0) -> np.ndarray:
    """``|delta^(l)|^2`` for ``l = 1..L`` of each run's fresh DNN, shape ``(E, depth)``
    (``1`` at ``l = L``).

    Member ``e`` is fed a standard normal input of ``input_dim`` features, normalised, and
    starts from a unit vector, both drawn from ``SeedSequence([seed, 3, e])``.

    Examples
    --------
    >>> from train.runs import RunSpec
    >>> out = back_norm2([RunSpec("crelu", 0.85, 1.0, vprime=0.7, seed=k) for k in range(3)], depth=4, width=32)
    >>> out.shape, bool(np.allclose(out[:, -1], 1.0))
    ((3, 4), True)
    """
    runs = list(runs)
    model = EnsembleDNN(runs, (input_dim,), 10, depth, width)
    rngs = [np.random.default_rng(np.random.SeedSequence([seed, _INPUT_STREAM, e])) for e in range(len(runs))]
    x = np.stack([rng.standard_normal(input_dim) for rng in rngs])
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    u = np.stack([rng.standard_normal(width) for rng in rngs])
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    keep = _Keep()
    model(torch.from_numpy(x.astype(np.float32))[:, None], stats=keep)
    injected = (keep.h[-1][:, 0] * torch.from_numpy(u.astype(np.float32))).sum()
    deltas = torch.autograd.grad(injected, keep.h)
    return np.stack([d[:, 0].double().square().sum(1).numpy() for d in deltas], axis=1)
