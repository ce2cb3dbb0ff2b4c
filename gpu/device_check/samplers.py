"""``python -m gpu.device_check.samplers``: the GPU samplers against the CPU samplers, as
figures (one JSON line), not only pass or fail.

Agreement. For the reduced and the dense sampler, CReLU (V'(q*) = 0.9) and ReLU_tau at the
EoC, one and two inputs, with the backward pass (width 24, depth 10): the GPU sampler
(4000 networks) against the same CPU sampler (2500, another seed). At layers 2, 6 and L,
for q_tilde, q_cond, chi1, sparsity, rho (two inputs), log back_norm2 (the positive ones)
and the zero fraction of back_norm2: the difference of the means and of the variances in
standard errors (Welch; the variance's standard error from the fourth moment,
``se^2 = (m4 - (n-3)/(n-1) s^4) / n``). A correct GPU sampler has every |z| below 5 but
with probability ~2e-4 (about 300 z-scores at 5.7e-7 each).

Scale covariance (SPEC.md). On the GPU, with one seed, the q* = 3 network is the q* = 1
network times sqrt(3), draw for draw: the largest relative deviation of each observable
from the exact relation, against the tolerances of the test suite (tests/_stats.py).

Exit status 0 when every |z| < 5 and every deviation is within tolerance, 1 otherwise.
``--backend cpu`` runs the same comparison CPU against CPU (a check of this script on a
machine without a GPU); ``--quick`` uses a tenth of the networks.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from simulate.config import Sweep
from simulate.cpu import simulate_chunk
from simulate.moments import chunk_moments

#: networks per (case, backend): (compared backend, CPU)
NETWORKS = (4000, 2500)
LAYERS = (1, 5, 9)
#: |z| at or above which a difference is resolved
Z_LIMIT = 5.0
#: largest relative deviation from the scale covariance per observable (tests/_stats.py)
SCALE_TOLERANCE = {"q_tilde": 1e-10, "q_cond": 1e-10, "sparsity": 0.0, "chi1": 1e-12, "back_norm2": 1e-9}


def cases():
    """(label, sweep keywords) of every compared configuration."""
    out = []
    for sampler in ("reduced", "dense"):
        for activation, vprime in (("crelu", (0.9,)), ("relu_tau", None)):
            for inputs in (1, 2):
                out.append((f"{sampler} {activation} B={inputs}",
                            dict(sampler=sampler, activation=(activation,), vprime=vprime, inputs=inputs,
                                 sparsity=(0.7,), q_star=(1.0,), width=(24,), depth=10, backward=True)))
    return out


def observables(out: dict, layer: int) -> dict[str, np.ndarray]:
    """The compared per-network values at ``layer``."""
    values = {name: out[name][:, layer] for name in ("q_tilde", "q_cond", "chi1", "sparsity", "rho") if name in out}
    back = out["back_norm2"][:, layer]
    values["log back_norm2"] = np.log(back[back > 0])
    values["P(back_norm2 = 0)"] = (back == 0).astype(float)
    return values


def _moments(x: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, variance, and the squared standard errors of both, of the finite values of ``x``."""
    n, mean, m2, _, m4 = chunk_moments(x)
    var = m2 / (n - 1)
    return mean, var, var / n, max(m4 / n - (n - 3) / (n - 1) * var**2, 0.0) / n


def moment_z(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Differences of the means and of the variances of ``a`` and ``b`` in standard errors."""
    (mean_a, var_a, se2_mean_a, se2_var_a), (mean_b, var_b, se2_mean_b, se2_var_b) = _moments(a), _moments(b)

    def z(diff, se2):
        return float(diff / np.sqrt(se2)) if se2 > 0 else (0.0 if diff == 0 else float("inf"))

    return z(mean_a - mean_b, se2_mean_a + se2_mean_b), z(var_a - var_b, se2_var_a + se2_var_b)


def compare(a_out: dict, b_out: dict, layers=LAYERS) -> list[dict]:
    """One record per (observable, layer): the two z-scores of :func:`moment_z`."""
    records = []
    for layer in layers:
        a_values, b_values = observables(a_out, layer), observables(b_out, layer)
        for name, a in a_values.items():
            z_mean, z_var = moment_z(a, b_values[name])
            records.append({"observable": name, "layer": layer + 1, "z_mean": z_mean, "z_var": z_var})
    return records


def scale_deviation(one: dict, scaled: dict, c: float) -> dict[str, float]:
    """Largest relative deviation of each observable of the q* = c networks from the
    q* = 1 networks scaled as SPEC.md says (variances by c, the rest unchanged)."""
    factor = {"q_tilde": c, "q_cond": c}
    out = {}
    for name in SCALE_TOLERANCE:
        a, b = scaled[name] / factor.get(name, 1.0), one[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = float(np.nanmax(np.where(a == b, 0.0, np.abs(a - b) / np.abs(b))))
    return out


def run(chunk, networks=NETWORKS) -> dict:
    """The figures for the chunk function ``chunk`` (the compared backend) against the CPU."""
    def sample(fn, seed, samples, **kw):
        sweep = Sweep(seed=seed, samples=samples, **kw)
        return fn(sweep, sweep.configs()[0], sweep.width[0], 0, samples)

    agreement = []
    for label, kw in cases():
        records = compare(sample(chunk, 21, networks[0], **kw), sample(simulate_chunk, 1, networks[1], **kw))
        worst = max(records, key=lambda r: max(abs(r["z_mean"]), abs(r["z_var"])))
        agreement.append({"case": label, "max_abs_z": max(abs(worst["z_mean"]), abs(worst["z_var"])),
                          "worst": worst, "records": records})
    scale = []
    for sampler in ("reduced", "dense"):
        base = dict(activation=("crelu",), sparsity=(0.85,), vprime=(0.7,), width=(50,), depth=12, backward=True,
                    sampler=sampler)
        deviation = scale_deviation(sample(chunk, 5, 40, q_star=(1.0,), **base),
                                    sample(chunk, 5, 40, q_star=(3.0,), **base), 3.0)
        scale.append({"sampler": sampler, "deviation": deviation,
                      "within": all(deviation[k] <= tol for k, tol in SCALE_TOLERANCE.items())})
    passed = all(a["max_abs_z"] < Z_LIMIT for a in agreement) and all(s["within"] for s in scale)
    return {"networks": list(networks), "z_limit": Z_LIMIT, "agreement": agreement, "scale_covariance": scale,
            "passed": passed}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu.device_check.samplers", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("gpu", "cpu"), default="gpu", help="the backend compared with the CPU")
    parser.add_argument("--quick", action="store_true", help="a tenth of the networks")
    args = parser.parse_args(argv)
    if args.backend == "gpu":
        from simulate.gpu import simulate_chunk_gpu as chunk
    else:
        chunk = simulate_chunk
    figures = run(chunk, tuple(n // 10 for n in NETWORKS) if args.quick else NETWORKS)
    print(json.dumps(figures))
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
