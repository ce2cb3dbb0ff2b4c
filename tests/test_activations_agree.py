"""Every implementation of every activation family agrees with its one definition
(theory.activations): the Numba kernels of the CPU sampler and, for the families in
clamp form, the torch modules of the trainer (value and backward pass). The CUDA device
functions are checked on a GPU (tests/test_simulate.py, its gpu backend) and compiled by
tests/test_cuda_sources.py."""

import numba as nb
import numpy as np
import pytest

from simulate.kernels import activation_code, dphi, phi
from theory import FAMILIES, solve_eoc

#: one EoC initialisation per family (clipped ones at V'(q*) = 0.7 where reachable)
SOLUTIONS = {
    "relu": dict(sparsity=0.5),
    "relu_tau": dict(sparsity=0.7),
    "st": dict(sparsity=0.7),
    "crelu": dict(sparsity=0.7, vprime=0.7),
    "cst": dict(sparsity=0.7, vprime=0.7),
    "hardshrink": dict(sparsity=0.7),
    "chardshrink": dict(sparsity=0.7, vprime=0.3),
    "sawtooth": dict(sparsity=0.7, vprime=0.7),
}


def test_every_family_is_covered():
    assert set(SOLUTIONS) == set(FAMILIES)


def _grid(act):
    """A grid over [-4, 4] that avoids the kinks (where phi' is a convention)."""
    x = np.linspace(-4.0, 4.0, 4001)
    kinks = np.concatenate([np.ravel(k) for k in act.kinks])
    return x[np.min(np.abs(x[:, None] - kinks[None, :]), axis=1) > 1e-6]


@nb.njit
def _numba_eval(code, x, p):
    out = np.empty((2, x.size))
    for i in range(x.size):
        out[0, i] = phi(code, x[i], p)
        out[1, i] = dphi(code, x[i], p)
    return out


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_numba_kernels_match_theory(name):
    act = solve_eoc(name, q_star=1.3, **SOLUTIONS[name]).activation
    x = _grid(act)
    code, params = activation_code(act)
    got = _numba_eval(code, x, tuple(params))
    np.testing.assert_allclose(got[0], act.phi(x), rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(got[1], act.dphi(x))


@pytest.mark.parametrize("name", sorted(n for n, cls in FAMILIES.items() if cls.clamp_form))
def test_torch_modules_match_theory(name):
    torch = pytest.importorskip("torch")
    from train.activations import from_solution

    act_sol = solve_eoc(name, q_star=1.3, **SOLUTIONS[name])
    x = _grid(act_sol.activation)
    h = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    module = from_solution(act_sol).double()
    out = module(h[None])[0]
    out.sum().backward()
    # the module keeps its parameters in float32: compare at that precision
    np.testing.assert_allclose(out.detach().numpy(), act_sol.activation.phi(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(h.grad.numpy(), act_sol.activation.dphi(x))


def test_torch_covers_exactly_the_clamp_form_families():
    pytest.importorskip("torch")
    from train.activations import FAMILIES as TORCH

    assert TORCH == {n: cls.symmetric for n, cls in FAMILIES.items() if cls.clamp_form}
    assert set(TORCH) == {"relu", "relu_tau", "st", "crelu", "cst"}
