"""At initialisation the trainer is the simulator: torch autograd's back-propagated error
through a fresh EnsembleDNN has the law of ``simulate.depth_sweep --backward``.

Two independent samples of ``log |delta^(l)|^2`` per layer (torch: ``M`` networks from
seeds ``0..M-1``; simulator: ``M`` networks of the exact reduced sampler) are compared
layer by layer, in mean and in variance (Welch z with the estimated standard errors,
5 sigma), and in law at layer 1, where the error has crossed every layer (two-sample
KS at p < 5.7e-7, the 5-sigma level). With ``2(L-1) + 1 = 23`` tests at 5.7e-7 each,
the false-failure probability is at most 1.4e-5 per configuration (Bonferroni).
Width 128 leaves no layer without an active unit: the chance of one among the networks
is 2e-4 (``theory.products.dead_layer_fraction``, per network 8.5e-8 at V' = 0.7).

The check can fail: the same torch sample against simulated networks at V'(q*) = 0.9
instead of 0.7 is rejected (variance z = 14.5 measured at layer 1).
"""

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

from simulate.config import Sweep  # noqa: E402
from simulate.cpu import simulate_chunk  # noqa: E402
from train.initial import back_norm2  # noqa: E402
from train.runs import RunSpec  # noqa: E402

WIDTH, DEPTH, NETWORKS = 128, 12, 2000
FIVE_SIGMA = 5.0
P_FIVE_SIGMA = 5.7e-7


def simulated(activation, sparsity, q_star, vprime):
    sweep = Sweep(activation=(activation,), sparsity=(sparsity,), q_star=(q_star,), vprime=(vprime,),
                  width=(WIDTH,), depth=DEPTH, samples=NETWORKS, backward=True, seed=1)
    return np.log(simulate_chunk(sweep, sweep.configs()[0], WIDTH, 0, NETWORKS)["back_norm2"][:, :-1])


def _variance_se(x):
    d = x - x.mean(0)
    return np.sqrt(((d**4).mean(0) - (d**2).mean(0) ** 2) / len(x))


def disagreement(a, b) -> dict:
    """The largest |z| of the per-layer means and variances, and the KS p at layer 1."""
    z_mean = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / len(a) + b.var(0) / len(b))
    z_var = (a.var(0) - b.var(0)) / np.hypot(_variance_se(a), _variance_se(b))
    return {"z_mean": float(np.max(np.abs(z_mean))), "z_var": float(np.max(np.abs(z_var))),
            "ks_p": float(stats.ks_2samp(a[:, 0], b[:, 0]).pvalue)}


@pytest.mark.parametrize("activation,sparsity,q_star,vprime", [("crelu", 0.85, 1.0, 0.7), ("cst", 0.7, 3.0, 0.9)])
def test_backpropagated_norms_agree_with_the_simulator(activation, sparsity, q_star, vprime):
    runs = [RunSpec(activation, sparsity, q_star, vprime=vprime, seed=k) for k in range(NETWORKS)]
    trainer = np.log(back_norm2(runs, DEPTH, WIDTH)[:, :-1])
    assert np.isfinite(trainer).all()
    got = disagreement(trainer, simulated(activation, sparsity, q_star, vprime))
    assert got["z_mean"] < FIVE_SIGMA and got["z_var"] < FIVE_SIGMA and got["ks_p"] > P_FIVE_SIGMA, got
    if vprime == 0.7:  # power: the neighbouring configuration is told apart
        other = disagreement(trainer, simulated(activation, sparsity, q_star, 0.9))
        assert max(other["z_mean"], other["z_var"]) > FIVE_SIGMA and other["ks_p"] < P_FIVE_SIGMA, other
