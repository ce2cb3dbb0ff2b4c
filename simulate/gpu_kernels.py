"""The CUDA kernels of the GPU samplers (:mod:`simulate.gpu`): their compile options,
their loading, and one launch wrapper per kernel.

The kernel text is in ``simulate/cuda/`` (package data): ``samplers.cu``, the translation
unit with every kernel, includes ``philox.cuh`` (the Philox4x32-10 generator and
Box-Muller), ``activations.cuh`` (``phi`` and ``phi'`` of every family) and
``block_sums.cuh`` (the fixed-order block reduction). :func:`gpu.cuda_module.load_module`
compiles it once per device with :func:`compile_options`, which carry what Python decides
as ``-D`` definitions (:func:`generated_defines`):

* ``ACT_<FAMILY>=<kernel_code>`` for every family of :data:`theory.activations.FAMILIES`,
  the one definition of the codes (:func:`simulate.kernels.activation_code` passes the
  same ``kernel_code`` to the kernels);
* ``P_<PURPOSE>=<n>u``: Philox counter word 2, what a draw is for (:data:`PURPOSES`);
* ``SIM_MAX_THREADS`` (:data:`MAX_THREADS`).

This module imports without CuPy.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gpu.backend import require_cupy as _require_cupy
from gpu.cuda_module import load_module
from simulate.kernels import activation_code
from theory.activations import FAMILIES

#: threads per block of the per-network kernels (a multiple of 32, at most 256)
MAX_THREADS = 256
#: Philox counter word 2: what a draw is for (the streams never overlap)
PURPOSES = {"forward": 0, "delta": 1, "back_g": 2, "beta": 3, "weight": 4, "bias": 5}
#: the translation unit of the samplers
SOURCE_PATH = Path(__file__).resolve().parent / "cuda" / "samplers.cu"
#: threads per block of the grid-stride element kernels
ELEMENT_THREADS = 256

KERNELS = ("sim_reduced", "dense_first_layer", "dense_weights", "dense_observe", "dense_delta", "dense_mask",
           "philox_words", "philox_normals")


def activation_defines() -> tuple[tuple[str, str], ...]:
    """``(ACT_<NAME>, kernel_code)`` for every family of :data:`theory.activations.FAMILIES`
    (``NAME``: the family's ``name`` upper-cased)."""
    return tuple((f"ACT_{name.upper()}", str(cls.kernel_code)) for name, cls in FAMILIES.items())


def purpose_defines() -> tuple[tuple[str, str], ...]:
    """``(P_<PURPOSE>, "<n>u")`` for every stream of :data:`PURPOSES`."""
    return tuple((f"P_{name.upper()}", f"{value}u") for name, value in PURPOSES.items())


def generated_defines() -> tuple[tuple[str, str], ...]:
    """Every ``(name, value)`` that Python defines for ``samplers.cu``."""
    return (*purpose_defines(), *activation_defines(), ("SIM_MAX_THREADS", str(MAX_THREADS)))


def compile_options() -> tuple[str, ...]:
    """The ``-D`` options of :func:`generated_defines` (NVRTC and nvcc take them alike)."""
    return tuple(f"-D{name}={value}" for name, value in generated_defines())


def require_cupy():
    """The ``cupy`` module with a usable device, else :class:`GpuUnavailableError` saying why."""
    return _require_cupy("the GPU backend of the simulation", "use the CPU backend (simulate.cpu.simulate_chunk)")


def kernels() -> dict:
    """The compiled kernels of ``samplers.cu`` on the current device, by name."""
    module = load_module(SOURCE_PATH, options=compile_options(), cupy=require_cupy())
    return {name: module.get_function(name) for name in KERNELS}


def threads_per_block(width: int, inputs: int) -> int:
    """Threads of one network's block: about four draws per thread per layer, 32 to
    :data:`MAX_THREADS`. Depends on the width and the inputs only, so results (which
    depend on it through the summation order) do not depend on the chunking."""
    items = (width + 1) // 2 if inputs == 1 else width
    return 32 * min(MAX_THREADS // 32, max(1, math.ceil(items / 128)))


def grid(total: int, block: int = ELEMENT_THREADS) -> tuple[int]:
    """Blocks of a grid-stride element kernel over ``total`` items (at most 65535)."""
    return (max(1, min(math.ceil(total / block), 65535)),)


def activation_args(config) -> tuple:
    """``(code, p0, p1, p2, p3)`` of the configuration's activation, as kernel arguments."""
    code, params = activation_code(config.solution.activation)
    return (np.int32(code), *(np.float64(v) for v in params))


# ---------------------------------------------------------------- launch wrappers
# Arrays are CuPy float64 (keys: uint32 (networks, 2)), C-contiguous, on the current device.


def sim_reduced(k, keys, depth, width, inputs, act, sol, rho0, backward, out, hs, gs, work, dummy):
    """The reduced sampler of every network of ``keys``, one block each."""
    # writes out["q_tilde", "q_cond", "chi1", "sparsity"] (+ "rho", "back_norm2"); hs, gs, work with backward
    k["sim_reduced"](
        (keys.shape[0],), (threads_per_block(width, inputs),),
        (keys, np.int32(depth), np.int32(width), np.int32(inputs), *act,
         np.float64(sol.sigma_w2), np.float64(sol.sigma_b2), np.float64(sol.q_star), np.float64(rho0),
         np.int32(backward), out["q_tilde"], out["q_cond"], out["chi1"], out["sparsity"],
         out.get("rho", dummy), out.get("back_norm2", dummy), hs, gs, work),
    )


def dense_first_layer(k, keys, width, inputs, l00, l10, l11, h):
    """Layer 1's pre-activations ``h`` (networks, width, inputs): the reduced sampler's draws."""
    s = keys.shape[0]
    items = (width + 1) // 2 if inputs == 1 else width
    # writes h
    k["dense_first_layer"](grid(s * items), (ELEMENT_THREADS,),
                           (keys, np.int32(s), np.int32(width), np.int32(inputs), np.float64(l00), np.float64(l10),
                            np.float64(l11), h))


def dense_observe(k, depth, width, inputs, layer, act, sw2, sb2, h, x, view, dummy, block):
    """Observables of ``layer`` from ``h``, one block per network; ``x = phi(h)``."""
    # writes x, view["q_tilde", "chi1", "sparsity"][:, layer], view["q_cond" (, "rho")][:, layer + 1]
    k["dense_observe"]((h.shape[0],), (block,),
                       (np.int32(depth), np.int32(width), np.int32(inputs), np.int32(layer), *act,
                        np.float64(sw2), np.float64(sb2), h, x, view["q_tilde"], view["q_cond"], view["chi1"],
                        view["sparsity"], view.get("rho", dummy)))


def dense_weights(k, keys, width, layer, sw2, sd_b, w, bias):
    """The weights (``sqrt(sw2 / width) z``) and biases (``sd_b z``) of ``layer``."""
    s = keys.shape[0]
    # writes w (networks, width, width) and bias (networks, width)
    k["dense_weights"](grid(s * width * ((width + 1) // 2)), (ELEMENT_THREADS,),
                       (keys, np.int32(s), np.int32(width), np.int32(layer), np.float64(math.sqrt(sw2 / width)),
                        np.float64(sd_b), w, bias))


def dense_delta(k, keys, width, depth, delta):
    """The draws of the random vector back-propagated from layer ``depth``."""
    s = keys.shape[0]
    # writes delta (networks, width)
    k["dense_delta"](grid(s * ((width + 1) // 2)), (ELEMENT_THREADS,),
                     (keys, np.int32(s), np.int32(width), np.int32(depth), delta))


def dense_mask(k, width, inputs, act, h, v, delta):
    """``delta = phi'(h[..., 0]) * v``."""
    s = delta.shape[0]
    # writes delta (networks, width)
    k["dense_mask"](grid(s * width), (ELEMENT_THREADS,),
                    (np.int32(s), np.int32(width), np.int32(inputs), *act, h, v, delta))
