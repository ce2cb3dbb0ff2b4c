"""Readers (IDX gz/raw, CIFAR-10 pickles), missing-data errors, normalisation, splits."""

import gzip
import pickle
import struct

import numpy as np
import pytest

pytest.importorskip("torch")

from train.data import (  # noqa: E402
    DataNotFoundError,
    load_cifar10_dir,
    load_dataset,
    load_idx_dir,
    make_splits,
    normalise_examples,
    read_idx,
    split_indices,
)


def write_idx(path, arr: np.ndarray):
    """An IDX file of unsigned bytes (gzipped when the name ends in .gz)."""
    raw = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()
    if str(path).endswith(".gz"):
        raw = gzip.compress(raw)
    path.write_bytes(raw)


def write_mnist_like(directory, n_train=60, n_test=40, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    ext = ".gz" if gz else ""
    arrays = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(directory / f"{part}-images-idx3-ubyte{ext}", x)
        write_idx(directory / f"{part}-labels-idx1-ubyte{ext}", y)
        arrays[part] = (x, y)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, arr)
    np.testing.assert_array_equal(read_idx(path), arr)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    good = tmp_path / "short"
    write_idx(good, np.zeros((3, 2), np.uint8))
    good.write_bytes(good.read_bytes()[:-1])
    with pytest.raises(ValueError, match="data bytes"):
        read_idx(good)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_pools_train_and_test(tmp_path, gz):
    arrays = write_mnist_like(tmp_path, gz=gz)
    x, y = load_idx_dir(tmp_path)
    assert x.shape == (100, 1, 28, 28) and y.dtype == np.int64
    np.testing.assert_array_equal(x[:60, 0], arrays["train"][0])
    np.testing.assert_array_equal(y[60:], arrays["t10k"][1])


def test_idx_directory_with_test_pair_only(tmp_path):
    write_mnist_like(tmp_path)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / name).unlink()
    x, _ = load_idx_dir(tmp_path)
    assert len(x) == 40


def write_cifar_like(directory, sizes=(30, 20), seed=0):
    rng = np.random.default_rng(seed)
    batches = []
    for name, n in zip(("data_batch_1", "test_batch"), sizes):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(directory / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, fh)
        batches.append((data, labels))
    return batches


def test_cifar_reader(tmp_path):
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    batches = write_cifar_like(sub)
    x, y = load_cifar10_dir(tmp_path)  # finds the subdirectory
    assert x.shape == (50, 3, 32, 32) and y.shape == (50,)
    # rows are 1024 red, then green, then blue values, each row-major 32x32
    np.testing.assert_array_equal(x[0, 1, 0, :5], batches[0][0][0, 1024:1029])
    np.testing.assert_array_equal(y[30:], batches[1][1])


@pytest.mark.parametrize(
    "name,needle",
    [("mnist", "train-images-idx3-ubyte"), ("cifar10", "cifar-10-python.tar.gz"), ("fashion-mnist", "dataset-fashion-mnist")],
)
def test_missing_data_says_how_to_get_it(tmp_path, name, needle):
    with pytest.raises(DataNotFoundError, match=needle):
        load_dataset(name, tmp_path)
    with pytest.raises(DataNotFoundError, match=needle):
        load_dataset(name, tmp_path / "absent")


def test_mnist_needs_a_directory():
    with pytest.raises(DataNotFoundError, match="--data-dir"):
        load_dataset("mnist", None)


def test_half_a_pair_is_an_error(tmp_path):
    write_mnist_like(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="only one"):
        load_idx_dir(tmp_path)


def test_normalisation_per_example():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(20, 1, 6, 6)).astype(np.uint8)
    z = normalise_examples(x).reshape(20, -1).astype(np.float64)
    np.testing.assert_allclose(z.mean(1), 0, atol=1e-6)
    np.testing.assert_allclose((z**2).mean(1), 1, rtol=1e-5)
    x[3] = 7
    with pytest.raises(ValueError, match="constant"):
        normalise_examples(x)


def test_split_sizes_disjoint_and_seeded():
    tr, va, te = split_indices(1000, seed=0)
    assert (len(tr), len(va), len(te)) == (720, 80, 200)  # 20% test, 10% of the rest validation
    assert len(np.unique(np.concatenate([tr, va, te]))) == 1000
    again = split_indices(1000, seed=0)
    other = split_indices(1000, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))
    assert not np.array_equal(te, other[2])
    assert [len(s) for s in split_indices(10_000)] == [7200, 800, 2000]


def test_make_splits_and_train_size(tmp_path):
    write_mnist_like(tmp_path)
    full = load_dataset("mnist", tmp_path)
    assert full.sizes() == {"train": 72, "val": 8, "test": 20}
    assert full.input_shape == (1, 28, 28) and full.x_train.dtype == np.float32
    small = load_dataset("mnist", tmp_path, train_size=10)
    assert small.sizes() == {"train": 10, "val": 8, "test": 20}
    np.testing.assert_array_equal(small.x_test, full.x_test)
    with pytest.raises(ValueError, match="label"):
        make_splits("x", np.ones((5, 2, 2)) * np.arange(4).reshape(1, 2, 2), np.array([0, 1, 2, 3, 10]))
