"""Ensembles of EoC-initialised DNNs and CNNs: one batched model, ``E`` independent networks.

Every weight has a leading member dimension: a fully connected layer is one
``torch.baddbmm`` over the members, a convolution one grouped convolution with
``groups = E``. No operation mixes members, so summing the members' losses and
back-propagating once gives each member exactly its own gradient.

Architecture (arXiv 2602.05779 Sec. 3; ICLR 2024 Sec. 4), ``depth = L`` activated layers::

    DNN:  h1 = W1 x + b1,  h_l = W_l phi(h_{l-1}) + b_l (l = 2..L),  z = W_out phi(h_L) + b_out
    CNN:  the same with 3x3 convolutions (stride 1, circular padding), then global average
          pooling over positions and a linear read-out

and the logits ``lambda * z`` with ``lambda = logit_scale`` (1 for the papers' nets).

Initialisation at the EoC of each member's :class:`~train.runs.RunSpec`
(``sigma_w^2, sigma_b^2`` from :func:`theory.solve_eoc`):

* layers 2..L and the read-out: ``W ~ N(0, sigma_w^2 / fan_in)``, ``b ~ N(0, sigma_b^2)``;
* the first layer preserves the input variance (SPEC "Networks"; ICLR App. D). Each
  input is normalised to mean 0 and variance 1 (:func:`train.data.normalise_examples`)
  and multiplied by ``sqrt(q*)`` here, so ``mean_j x_j^2 = q*``. With
  ``W1 ~ N(0, sigma_w1^2 / fan_in)`` and ``b1 ~ N(0, sigma_b1^2)``,
  ``Var(h1_i | x) = sigma_w1^2 mean_j x_j^2 + sigma_b1^2 = sigma_w1^2 q* + sigma_b1^2``.
  We choose ``sigma_w1^2 = 1, sigma_b1^2 = 0`` (``b1`` starts at 0 and is trained): then
  given the input ``h1`` is exactly ``N(0, q*)`` for the DNN. For the CNN ``mean_j x_j^2``
  runs over one 3x3 patch; with circular padding every pixel lies in exactly 9 patches,
  so the average over positions of ``Var(h1 | x)`` is exactly ``q*``.

Circular padding follows the mean-field theory of CNNs (Xiao et al. 2018, cited by both
papers), whose periodic boundary makes every position statistically alike; zero padding
lowers the variance at the border, and at depth 50 the border reaches every pixel of a
32x32 image.

Member ``e`` draws its standard normals from ``numpy.random.SeedSequence([seed, 0])``,
layer by layer (W then b), so its initial weights do not depend on the ensemble it is in,
nor on the device. With one seed the ``q* = c`` member is exactly the ``q* = 1`` member
with ``b, tau, m, x`` times ``sqrt(c)`` (see :mod:`train.scale`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from train.activations import SparseActivation, from_solution
from train.runs import RunSpec

KERNEL = 3
_INIT_STREAM = 0


class LayerStats:
    """Per member and hidden layer: the mean of ``h^2`` (``q_tilde``) and the fraction of
    ``phi(h) == 0`` (the activation sparsity), accumulated over batches."""

    def __init__(self, members: int, depth: int, device):
        self.sq = torch.zeros(members, depth, dtype=torch.float64, device=device)
        self.zeros = torch.zeros(members, depth, dtype=torch.float64, device=device)
        self.count = torch.zeros(members, depth, dtype=torch.float64, device=device)

    def update(self, layer: int, h: torch.Tensor, a: torch.Tensor, member_dim: int):
        dims = [d for d in range(h.dim()) if d != member_dim]
        self.sq[:, layer] += h.double().square().sum(dims)
        self.zeros[:, layer] += (a == 0).double().sum(dims)
        self.count[:, layer] += h.numel() // h.shape[member_dim]

    def q_tilde(self) -> np.ndarray:
        return (self.sq / self.count).cpu().numpy()

    def sparsity(self) -> np.ndarray:
        return (self.zeros / self.count).cpu().numpy()


class EnsembleNet(nn.Module):
    """Shared parts: EoC initialisation, input and logit scales, per-member activation."""

    def __init__(self, runs: Sequence[RunSpec], layer_shapes: list[tuple[int, ...]]):
        super().__init__()
        if not runs:
            raise ValueError("an ensemble needs at least one run")
        self.runs = tuple(runs)
        sols = [r.solve() for r in runs]
        self.phi = SparseActivation.stack([from_solution(s) for s in sols])
        self.register_buffer("input_scale", torch.tensor([math.sqrt(s.q_star) for s in sols]))
        self.register_buffer("logit_scale", torch.tensor([float(r.logit_scale) for r in runs]))
        self.register_buffer("bias_step", torch.tensor([float(r.bias_step) for r in runs]))
        self.depth = len(layer_shapes) - 1
        weights, biases = _eoc_init(runs, sols, layer_shapes)
        self.weights = nn.ParameterList(nn.Parameter(w) for w in weights)
        self.biases = nn.ParameterList(nn.Parameter(b) for b in biases)

    @property
    def members(self) -> int:
        return len(self.runs)


def _eoc_init(runs, sols, layer_shapes):
    """Weights ``(E, out, in, ...)`` and biases ``(E, out)``, float32 (see module doc)."""
    rngs = [np.random.default_rng(np.random.SeedSequence([r.seed, _INIT_STREAM])) for r in runs]
    weights, biases = [], []
    for layer, shape in enumerate(layer_shapes):
        fan_in = int(np.prod(shape[1:]))
        w = np.empty((len(runs), *shape), np.float32)
        b = np.zeros((len(runs), shape[0]), np.float32)
        for e, (rng, sol) in enumerate(zip(rngs, sols)):
            sw2 = 1.0 if layer == 0 else float(sol.sigma_w2)
            w[e] = rng.standard_normal(shape) * math.sqrt(sw2 / fan_in)
            if layer > 0:
                b[e] = rng.standard_normal(shape[0]) * math.sqrt(float(sol.sigma_b2))
        weights.append(torch.from_numpy(w))
        biases.append(torch.from_numpy(b))
    return weights, biases


def _bcast(v: torch.Tensor, dim: int, ndim: int) -> torch.Tensor:
    shape = [1] * ndim
    shape[dim] = -1
    return v.view(shape)


class EnsembleDNN(EnsembleNet):
    """Fully connected: ``depth`` hidden layers of ``width`` units, then the read-out.

    ``forward(x)`` takes ``x`` of shape ``(E, B, *input_shape)`` (one batch per member) or
    ``(B, *input_shape)`` (shared) and returns logits ``(E, B, n_classes)``.
    """

    def __init__(self, runs, input_shape, n_classes: int, depth: int, width: int):
        _check_sizes(depth, width, n_classes)
        self.input_shape = tuple(input_shape)
        d_in = int(np.prod(self.input_shape))
        shapes = [(width, d_in)] + [(width, width)] * (depth - 1) + [(n_classes, width)]
        super().__init__(runs, shapes)

    def forward(self, x: torch.Tensor, stats: LayerStats | None = None) -> torch.Tensor:
        x = _member_batch(x, self.input_shape, self.members).flatten(2)
        for layer in range(self.depth):
            w, b = self.weights[layer], self.biases[layer]
            if layer == 0:
                h = torch.bmm(x, w.transpose(1, 2)) * _bcast(self.input_scale, 0, 3) + b.unsqueeze(1)
            else:
                h = torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
            x = self.phi(h, member_dim=0)
            if stats is not None:
                stats.update(layer, h, x, member_dim=0)
        z = torch.baddbmm(self.biases[-1].unsqueeze(1), x, self.weights[-1].transpose(1, 2))
        return z * _bcast(self.logit_scale, 0, 3)


class EnsembleCNN(EnsembleNet):
    """Convolutional: ``depth`` 3x3 layers of ``width`` channels, average pooling, read-out.

    ``forward(x)`` takes images ``(E, B, C, H, W)`` or shared ``(B, C, H, W)`` and returns
    logits ``(E, B, n_classes)``.
    """

    def __init__(self, runs, input_shape, n_classes: int, depth: int, width: int):
        _check_sizes(depth, width, n_classes)
        if len(input_shape) != 3:
            raise ValueError(f"the CNN needs images (C, H, W), got input shape {tuple(input_shape)}")
        self.input_shape = tuple(input_shape)
        c_in = self.input_shape[0]
        conv = [(width, c_in, KERNEL, KERNEL)] + [(width, width, KERNEL, KERNEL)] * (depth - 1)
        super().__init__(runs, conv + [(n_classes, width)])

    def _conv(self, x: torch.Tensor, layer: int, groups: int) -> torch.Tensor:
        w = self.weights[layer]
        x = F.pad(x, (KERNEL // 2,) * 4, mode="circular")
        return F.conv2d(x, w.reshape(-1, *w.shape[2:]), groups=groups)

    def forward(self, x: torch.Tensor, stats: LayerStats | None = None) -> torch.Tensor:
        E = self.members
        if x.dim() == 4:  # shared batch: one dense convolution serves every member
            _member_batch(x, self.input_shape, E)  # checks the shape
            h = self._conv(x, 0, groups=1)
        else:
            x = _member_batch(x, self.input_shape, E)
            B, (C, H, W) = x.shape[1], self.input_shape
            h = self._conv(x.transpose(0, 1).reshape(B, E * C, H, W), 0, groups=E)
        B, _, H, W = h.shape
        for layer in range(self.depth):
            if layer > 0:
                h = self._conv(a.reshape(B, -1, H, W), layer, groups=E)
            h = h.view(B, E, -1, H, W)
            if layer == 0:
                h = h * _bcast(self.input_scale, 1, 5)
            h = h + self.biases[layer].view(1, E, -1, 1, 1)
            a = self.phi(h, member_dim=1)
            if stats is not None:
                stats.update(layer, h, a, member_dim=1)
        pooled = a.mean(dim=(-2, -1)).transpose(0, 1)  # (E, B, width)
        z = torch.baddbmm(self.biases[-1].unsqueeze(1), pooled, self.weights[-1].transpose(1, 2))
        return z * _bcast(self.logit_scale, 0, 3)


ARCHS = {"dnn": EnsembleDNN, "cnn": EnsembleCNN}


def build_model(arch: str, runs, input_shape, n_classes: int, depth: int, width: int) -> EnsembleNet:
    """The ensemble of ``runs`` for ``arch`` in ``{"dnn", "cnn"}``."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHS)}")
    return ARCHS[arch](runs, input_shape, n_classes, depth, width)


def _check_sizes(depth, width, n_classes):
    for name, v in (("depth", depth), ("width", width), ("n_classes", n_classes)):
        if not (isinstance(v, int) and v >= 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def _member_batch(x: torch.Tensor, input_shape, members: int) -> torch.Tensor:
    """``x`` as ``(E, B, *input_shape)``: a shared batch is broadcast to every member."""
    k = len(input_shape)
    if tuple(x.shape[-k:]) != tuple(input_shape) or x.dim() not in (k + 1, k + 2):
        raise ValueError(f"expected inputs (E, B, *{tuple(input_shape)}) or (B, ...), got {tuple(x.shape)}")
    if x.dim() == k + 1:
        return x.unsqueeze(0).expand(members, *x.shape)
    if x.shape[0] != members:
        raise ValueError(f"batch has {x.shape[0]} member slices for {members} members")
    return x
