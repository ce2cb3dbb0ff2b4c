"""``python -m train``: one command for one or more configurations."""

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

from test_train_reproduce import write_tiny_mnist  # noqa: E402
from train.__main__ import main  # noqa: E402

SMALL = ["--depth", "2", "--width", "8", "--epochs", "1", "--quiet"]


def test_trains_writes_and_prints(tmp_path, capsys):
    write_tiny_mnist(tmp_path)
    out = tmp_path / "r.zarr"
    argv = ["--data-dir", str(tmp_path), *SMALL, "--qstar", "1", "3", "--vprime", "0.7", "0.9", "--samples", "2",
            "--scale-control", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| family | s | V' | m | q* | logit scale | bias step | seeds | test accuracy | test sparsity |" in printed
    assert "| crelu | 0.85 | 0.7 | 2.027 | 3 | 1 | 1 | 2 |" in printed
    assert "Scale control" in printed and "Contrasts, paired by seed" in printed
    # the exact copy repeats the q* = 3 run: no difference in accuracy, seed by seed
    assert "| crelu | 0.85 | 0.7 | 3 | exact copy (q*=1, λ=√c, bias step/c) against q*=c | 2 | +0.0000 ± 0" in printed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(out)
    # 2 V' x 2 q* x 2 seeds, and 3 control runs for each of the 4 runs at q* = 3
    assert ds.sizes["run"] == 8 + 12
    assert set(np.round(ds.bias_step.values, 6)) == {1.0, round(1 / 3, 6)}
    assert ds.attrs["command"].startswith("python -m train --data-dir")
    assert ds.test_accuracy.attrs["long_name"] == "test accuracy" and np.isfinite(ds.test_accuracy.values).all()


def test_logit_scale_bias_step_and_families(tmp_path, capsys):
    write_tiny_mnist(tmp_path)
    out = tmp_path / "f.zarr"
    argv = ["--data-dir", str(tmp_path), *SMALL, "--activation", "relu", "st", "cst", "--sparsity", "0.6",
            "--m", "1.5", "--qstar", "1", "--logit-scale", "1", "2", "--bias-step", "0.5", "--out", str(out)]
    assert main(argv) == 0
    ds = xr.open_zarr(out)
    # relu (its one sparsity), st (no clipping), cst (m = 1.5): 3 configurations x 2 logit scales
    assert ds.sizes["run"] == 6
    assert sorted(set(ds.activation.values)) == ["cst", "relu", "st"]
    assert set(ds.sparsity.values) == {0.5, 0.6} and set(ds.logit_scale.values) == {1.0, 2.0}
    assert np.all(ds.bias_step.values == 0.5)


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--vprime", "1.5"], "not reachable"),
        (["--sparsity", "1.2"], "sparsity s must lie in \\(0, 1\\)"),
        (["--activation", "gelu"], "unknown activation"),
        (["--activation", "crelu", "--vprime", "0.7", "--m", "1.0"], "exactly one of --vprime or --m"),
        (["--samples", "0"], "--samples must be positive"),
        (["--seed", "-1"], "--seed non-negative"),
        (["--logit-scale", "0"], "logit_scale must be positive"),
        (["--epochs", "0"], "epochs must be a positive integer"),
        (["--max-ensemble", "0"], "--max-ensemble must be positive"),
        (["--stop-after", "1", "--checkpoint-every", "0"], "--stop-after needs"),
        (["--out", "/proc/x.zarr"], "cannot write /proc/x.zarr"),
    ],
)
def test_bad_input_is_one_line_before_any_work(tmp_path, capsys, extra, message):
    write_tiny_mnist(tmp_path)
    out = tmp_path / "x.zarr"
    assert main(["--data-dir", str(tmp_path), *SMALL, "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.startswith("error: ") and err.count("\n") == 1
    assert not out.exists() and not (tmp_path / "x.zarr.ckpt").exists()


def test_missing_data_and_existing_store(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--data-dir", str(empty), *SMALL, "--out", str(tmp_path / "a.zarr")]) == 2
    assert re.search("no mnist IDX files .* pass it with --data-dir", capsys.readouterr().err)
    write_tiny_mnist(tmp_path)
    out = tmp_path / "kept.zarr"
    assert main(["--data-dir", str(tmp_path), *SMALL, "--out", str(out)]) == 0
    before = xr.open_zarr(out).test_accuracy.values.copy()
    assert main(["--data-dir", str(tmp_path), *SMALL, "--samples", "3", "--out", str(out)]) == 2
    assert "exists; give --overwrite" in capsys.readouterr().err
    np.testing.assert_array_equal(xr.open_zarr(out).test_accuracy.values, before)


def test_module_entry_point_help():
    done = subprocess.run([sys.executable, "-m", "train", "--help"], capture_output=True, text=True, check=True)
    for option in ("--qstar", "--vprime", "--sparsity", "--width", "--depth", "--out", "--data-dir", "--logit-scale", "--bias-step"):
        assert option in done.stdout


def test_first_seed_extends_and_report_joins(tmp_path, capsys):
    from train.report import main as report_main

    write_tiny_mnist(tmp_path)
    common = ["--data-dir", str(tmp_path), *SMALL, "--qstar", "1", "3", "--scale-control"]
    assert main([*common, "--samples", "2", "--out", str(tmp_path / "a.zarr")]) == 0
    assert main([*common, "--samples", "2", "--seed", "2", "--out", str(tmp_path / "b.zarr")]) == 0
    assert sorted(set(xr.open_zarr(tmp_path / "b.zarr").seed.values)) == [2, 3]
    capsys.readouterr()
    assert report_main([str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr")]) == 0
    printed = capsys.readouterr().out
    assert "| crelu | 0.85 | 0.7 | 2.027 | 3 | 1 | 1 | 4 |" in printed  # four seeds joined
    assert "| q*=c against q*=1 | 4 |" in printed and "| t | p |" in printed
