"""Torch activations against the theory's numpy reference (values, gradients, zeros)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from theory import get_activation, solve_eoc  # noqa: E402

from train.activations import CST, ST, CReLU, ReLU, ReLUTau, SparseActivation, from_solution  # noqa: E402

EOC_CASES = [
    ("relu", dict(sparsity=0.5, q_star=1.0)),
    ("relu_tau", dict(sparsity=0.7, q_star=2.0)),
    ("st", dict(sparsity=0.6, q_star=1.0)),
    ("crelu", dict(sparsity=0.85, q_star=1.0, vprime=0.7)),
    ("cst", dict(sparsity=0.8, q_star=3.0, vprime=0.5)),
]


def _phi_and_grad(act, x: np.ndarray):
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    y = act(xt)
    y.sum().backward()
    return y.detach().double().numpy(), xt.grad.double().numpy()


@pytest.mark.parametrize("name,kw", EOC_CASES)
def test_values_gradients_and_zeros_match_theory(name, kw):
    sol = solve_eoc(name, **kw)
    act = from_solution(sol)
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(5000) * 2 * math.sqrt(sol.q_star)).astype(np.float32).astype(np.float64)
    # keep clear of the kinks, where float32 rounding of tau and m decides the side
    kinks = [float(sol.tau), float(sol.tau + sol.m)] if math.isfinite(sol.m) else [float(sol.tau)]
    x = x[np.min([np.abs(np.abs(x) - k) for k in kinks], axis=0) > 1e-5]
    phi, grad = _phi_and_grad(act, x)
    ref = sol.activation
    np.testing.assert_allclose(phi, ref.phi(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(grad, ref.dphi(x))
    np.testing.assert_array_equal(phi == 0, ref.phi(x) == 0)


@pytest.mark.parametrize(
    "module,name,params",
    [
        (ReLU(), "relu", {}),
        (ReLUTau(0.5), "relu_tau", dict(tau=0.5)),
        (ST(0.5), "st", dict(tau=0.5)),
        (CReLU(0.5, 1.25), "crelu", dict(tau=0.5, m=1.25)),
        (CST(0.5, 1.25), "cst", dict(tau=0.5, m=1.25)),
    ],
)
def test_family_modules_and_kinks(module, name, params):
    """Exactly representable parameters: values everywhere, derivative 0 at the kinks."""
    ref = get_activation(name, **params)
    x = np.linspace(-3, 3, 481)  # step 1/80: hits 0, +-0.5 and +-1.75 exactly
    phi, grad = _phi_and_grad(module, x)
    np.testing.assert_allclose(phi, ref.phi(x), atol=1e-7)
    kink = np.zeros_like(x, dtype=bool)
    for k in ref.kinks:
        kink |= np.isclose(np.abs(x), float(k), atol=0, rtol=0) | np.isclose(x, float(k), atol=0, rtol=0)
    assert kink.sum() >= 1
    assert np.all(grad[kink] == 0)
    np.testing.assert_array_equal(grad[~kink], ref.dphi(x[~kink]))


def test_mixed_ensemble_applies_each_members_parameters():
    acts = [ReLU(), ST(0.3), CReLU(0.2, 1.0), CST(0.4, 0.7)]
    stacked = SparseActivation.stack(acts)
    h = torch.randn(4, 7, 5)
    out = stacked(h, member_dim=0)
    for e, act in enumerate(acts):
        torch.testing.assert_close(out[e], act(h[e]), rtol=0, atol=0)
    out1 = stacked(h.transpose(0, 1), member_dim=1)  # member dimension elsewhere
    torch.testing.assert_close(out1.transpose(0, 1), out, rtol=0, atol=0)


@pytest.mark.parametrize("cls", [CReLU, CST])
def test_scale_covariance(cls):
    """phi_{c tau, c m}(c x) = c phi_{tau, m}(x) (SPEC "Scale covariance")."""
    c = 2.0  # a power of two: exact in float32
    x = torch.randn(1000)
    torch.testing.assert_close(cls(0.75 * c, 1.5 * c)(c * x), c * cls(0.75, 1.5)(x), rtol=0, atol=0)


def test_bad_parameters_fail():
    with pytest.raises(ValueError, match="tau"):
        ReLUTau(-0.1)
    with pytest.raises(ValueError, match="m must be"):
        CReLU(0.1, 0.0)
    with pytest.raises(ValueError, match="one entry per member"):
        SparseActivation([0.1, 0.2], [1.0], [False, False])
