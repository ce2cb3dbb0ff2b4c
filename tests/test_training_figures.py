"""Figures of a training store: ICLR Fig. 5 with the theory at step 1, learning curves."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from analysis.figures import training as figures  # noqa: E402
from test_train_model import synthetic_splits  # noqa: E402
from theory import solve_eoc  # noqa: E402
from theory.products import back_norm2_moments  # noqa: E402
from train.runs import RunSpec  # noqa: E402
from train.trainer import TrainConfig, train  # noqa: E402


@pytest.fixture(scope="module")
def store():
    runs = [RunSpec("crelu", 0.85, q, vprime=v, seed=k) for v in (0.7, 0.9) for q in (1.0, 3.0) for k in range(3)]
    cfg = TrainConfig(depth=6, width=48, epochs=2, lr=0.05, batch_size=32, grad_norm_steps=4)
    return train(runs, synthetic_splits(300, (1, 6, 6)), cfg, progress=False)


def test_step1_theory_is_the_back_norm_law(store):
    theory = figures.first_step_theory(store, run=0)
    assert theory["layer"].tolist() == [2, 3, 4, 5, 6]
    # layer L is the anchor; layer 2 has crossed L - 2 = 4 steps of the back-norm law
    assert theory["median"][-1] == theory["low"][-1] == theory["high"][-1] == 1.0
    sol = solve_eoc("crelu", 0.85, 1.0, vprime=0.7)
    m = back_norm2_moments(sol.variance_map, np.full(5, 1.0))
    assert theory["median"][0] == pytest.approx(np.exp(m.mean(48) / 2))
    assert theory["high"][0] / theory["median"][0] == pytest.approx(np.exp(1.6448536 * np.sqrt(m.var(48)) / 2), rel=1e-6)
    assert np.all(np.diff(theory["high"] / theory["low"]) < 0)  # the band narrows towards layer L
    assert 0.0 <= figures.band_coverage(store, 0) <= 1.0


def test_figures_render(store, tmp_path):
    fig = figures.gradient_norms(store, run=3)
    left, right = fig.axes[:2]
    assert left.get_yscale() == "log" and len(left.lines) >= 4  # one line per logged step and the theory
    assert "3 seeds" in right.get_title()
    curves = figures.learning_curves(store)
    assert len(curves.axes) == 4  # loss and accuracy for each V'
    from train.results import write_zarr

    path = write_zarr(store, tmp_path / "s.zarr")
    assert figures.main([str(path), "--out", str(tmp_path / "img")]) == 0
    assert {p.name for p in (tmp_path / "img").iterdir()} == {"s-gradient-norms.png", "s-learning-curves.png"}
