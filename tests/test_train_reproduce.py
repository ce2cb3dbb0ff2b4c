"""Grids, published tables, the reproduce and report command lines, the bench."""

import gzip
import math
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from train import bench, reproduce  # noqa: E402
from train.grids import TARGETS, build_runs, select_configs  # noqa: E402
from train.published import TABLES, Printed, lookup  # noqa: E402
from train.report import main as report_main  # noqa: E402
from train.results import open_results  # noqa: E402


def write_tiny_mnist(directory, n=150, seed=0):
    """A t10k IDX pair of n random 28x28 digits (gzipped)."""
    rng = np.random.default_rng(seed)
    for stem, arr in (
        ("t10k-images-idx3-ubyte", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)),
        ("t10k-labels-idx1-ubyte", rng.integers(0, 10, size=n, dtype=np.uint8)),
    ):
        header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
        (directory / f"{stem}.gz").write_bytes(gzip.compress(header + arr.tobytes()))


def test_printed_precision():
    v = Printed("0.020")
    assert v == 0.02 and v.decimals == 3 and v.unit == pytest.approx(1e-3)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_grid_configuration_has_a_published_row(name):
    target = TARGETS[name]
    for activation, s, vprime, q in target.configs:
        assert lookup(name, activation, s, vprime, q) is not None, (activation, s, vprime, q)
    assert len(TABLES[name]) == len(target.configs)


def test_grid_sizes_and_scale_control():
    configs = select_configs(TARGETS["table1"])
    assert len(configs) == 3 + 27
    runs = build_runs(configs, seeds=2, scale_control=True)
    # 30 configurations x 2 seeds, and three control runs for each of the 20 at q* != 1
    assert len(runs) == 60 + 3 * 20 * 2
    assert sum(r.bias_step != 1.0 for r in runs) == 20 * 2
    controls = [r for r in runs if r.logit_scale != 1.0]
    assert {(r.q_star, round(r.logit_scale, 6)) for r in controls} == {
        (1.0, round(math.sqrt(2), 6)), (1.0, round(math.sqrt(3), 6)), (2.0, round(2**-0.5, 6)), (3.0, round(3**-0.5, 6))
    }
    iclr = select_configs(TARGETS["iclr"], activations=["cst"], vprimes=[0.7], q_stars=[1, 2])
    assert {c[3] for c in iclr} == {1.0, 2.0} and len(iclr) == 10
    with pytest.raises(ValueError, match="not in its grid"):
        select_configs(TARGETS["table1"], sparsities=[0.7])
    with pytest.raises(ValueError, match="q\\* != 1"):
        build_runs(select_configs(TARGETS["iclr"]), seeds=1, scale_control=True)


def test_reproduce_end_to_end(tmp_path, capsys):
    write_tiny_mnist(tmp_path)
    out = tmp_path / "t1.zarr"
    argv = [
        "table1", "--data-dir", str(tmp_path), "--depth", "2", "--width", "8", "--epochs", "1", "--samples", "2",
        "--sparsity", "0.85", "--vprime", "0.7", "--qstar", "1", "2", "--scale-control",
        "--max-ensemble", "5", "--out", str(out), "--quiet",
    ]
    assert reproduce.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| crelu | 0.85 | 0.7 | 2 | 1 | 1 | 2 | 1.655 | 1.66 |" in printed
    assert "Scale control" in printed
    ds = open_results(out)
    assert ds.sizes["run"] == 2 * 2 + 3 * 2  # configurations x seeds, and the three controls per q* = 2 run
    assert ds.attrs["target"] == "table1" and ds.attrs["complete"] == 1
    assert set(np.unique(ds.activation.values)) == {"crelu"}
    assert np.all(np.isfinite(ds.test_accuracy.values))
    assert ds.train_loss.dims == ("run", "step") and ds.grad_norm.sizes["weight_layer"] == 3
    assert ds.lr.dims == ("epoch",)  # two ensembles joined along run only
    assert report_main([str(out)]) == 0
    assert "| crelu | 0.85 | 0.7 | 1 | 1 |" in capsys.readouterr().out
    # the store is not replaced without --overwrite; with it, the finished checkpoints are resumed
    assert reproduce.main(argv) == 2
    assert "exists; give --overwrite" in capsys.readouterr().err
    assert reproduce.main(argv + ["--overwrite"]) == 0


def test_reproduce_fails_before_training(tmp_path, capsys):
    def fails(argv, message):
        assert reproduce.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.startswith("error: ") and err.count("\n") == 1

    fails(["table1", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x.zarr")], "no mnist IDX files")
    fails(["table1", "--data-dir", str(tmp_path), "--qstar", "-1"], "q* must be positive")
    fails(["table2", "--data-dir", str(tmp_path), "--vprime", "0.6"], "not in its grid")
    if not torch.cuda.is_available():
        fails(["table1", "--device", "cuda:0"], "CUDA is not available")


def test_bench_runs(capsys):
    assert bench.main(["--members", "2", "--depth", "2", "--width", "8", "--steps", "1", "--repeats", "1", "--devices", "cpu"]) == 0
    assert "| cpu |" in capsys.readouterr().out
