"""Data sets from local files (nothing is downloaded), normalisation and the papers' splits.

* MNIST-format IDX files, gzipped or raw (MNIST, Fashion-MNIST): every
  ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` pair present in the directory is
  read and pooled. Debian's ``dataset-fashion-mnist`` installs Fashion-MNIST under
  :data:`FASHION_MNIST_DIR`.
* CIFAR-10 "python version" batches (``data_batch_1..5``, ``test_batch``), in the
  directory or its ``cifar-10-batches-py`` subdirectory, pooled likewise.

Splits (arXiv 2602.05779 Sec. 3; ICLR 2024 App. D): of the pooled examples, 20% are the
test set and 10% of the rest the validation set, by a seeded permutation.

Normalisation (arXiv Sec. 3: "each data input is normalized such that it has mean zero
and variance q*"): each example is centred and scaled to mean 0 and (population)
variance 1 over all its pixels; the model multiplies it by ``sqrt(q*)`` of each member.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
N_CLASSES = 10  # MNIST, Fashion-MNIST and CIFAR-10 alike
TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
_SPLIT_STREAM = 2

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_PARTS = ("train", "t10k")
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)

_HOW_TO_GET = {
    "mnist": (
        "Put the MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, gzipped or not) from the MNIST "
        "distribution (http://yann.lecun.com/exdb/mnist/ or one of its mirrors) in one directory "
        "and pass it with --data-dir."
    ),
    "fashion-mnist": (
        "On Debian/Ubuntu `apt-get install dataset-fashion-mnist` installs it in "
        f"{FASHION_MNIST_DIR}; otherwise put the four Fashion-MNIST IDX files "
        "(https://github.com/zalandoresearch/fashion-mnist) in one directory and pass --data-dir."
    ),
    "cifar10": (
        "Download the CIFAR-10 python version (cifar-10-python.tar.gz from "
        "https://www.cs.toronto.edu/~kriz/cifar.html), extract it and pass the directory that "
        "holds cifar-10-batches-py (or that directory itself) with --data-dir."
    ),
}
DATASETS = tuple(_HOW_TO_GET)


class DataNotFoundError(FileNotFoundError):
    """A data set is not where it was looked for; the message says how to get it."""


@dataclass(frozen=True)
class Splits:
    """Normalised float32 examples ``(N, *input_shape)`` and int64 labels per split."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int = N_CLASSES

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file (gzipped when its name ends in ``.gz``) as an array of its shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = raw[4 + 4 * ndim :]
    if len(body) != dtype.itemsize * int(np.prod(shape)):
        raise ValueError(f"{path}: IDX header says shape {shape} but the file holds {len(body)} data bytes")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def load_idx_dir(directory: str | Path, name: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """Pooled images ``(N, 1, rows, cols)`` (uint8) and labels from every IDX pair present."""
    directory = Path(directory)
    images, labels = [], []
    for part in _IDX_PARTS:
        img = _find(directory, f"{part}-images-idx3-ubyte")
        lab = _find(directory, f"{part}-labels-idx1-ubyte")
        if (img is None) != (lab is None):
            raise DataNotFoundError(f"{directory}: found only one of the {part} images/labels files. {_HOW_TO_GET[name]}")
        if img is None:
            continue
        x, y = read_idx(img), read_idx(lab)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{img.name}, {lab.name}: shapes {x.shape}, {y.shape} are not images and their labels")
        images.append(x)
        labels.append(y)
    if not images:
        raise DataNotFoundError(f"no {name} IDX files in {directory}. {_HOW_TO_GET[name]}")
    return np.concatenate(images)[:, None], np.concatenate(labels).astype(np.int64)


def load_cifar10_dir(directory: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Pooled CIFAR-10 images ``(N, 3, 32, 32)`` (uint8) and labels from the python batches."""
    directory = Path(directory)
    if (directory / "cifar-10-batches-py").is_dir():
        directory = directory / "cifar-10-batches-py"
    present = [directory / f for f in _CIFAR_FILES if (directory / f).is_file()]
    if not present:
        raise DataNotFoundError(f"no CIFAR-10 batches ({', '.join(_CIFAR_FILES)}) in {directory}. {_HOW_TO_GET['cifar10']}")
    images, labels = [], []
    for path in present:
        with open(path, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        x = np.asarray(batch[b"data"], dtype=np.uint8)
        y = np.asarray(batch[b"labels"], dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or len(x) != len(y):
            raise ValueError(f"{path}: data {x.shape} / labels {y.shape} are not CIFAR-10 rows of 3072 bytes")
        images.append(x.reshape(-1, 3, 32, 32))
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def normalise_examples(x: np.ndarray) -> np.ndarray:
    """Each example (first axis) to mean 0 and population variance 1 over its entries."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    flat = flat - flat.mean(axis=1, keepdims=True)
    std = np.sqrt(np.mean(flat**2, axis=1, keepdims=True))
    if np.any(std == 0):
        raise ValueError(f"{int(np.sum(std == 0))} example(s) are constant and cannot be normalised to variance 1")
    return (flat / std).astype(np.float32).reshape(x.shape)


def split_indices(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test indices: ``round(0.2 n)`` test, then ``round(0.1 rest)``
    validation, by a permutation seeded with ``SeedSequence([seed, 2])``."""
    if n < 3:
        raise ValueError(f"need at least 3 examples to split, got {n}")
    perm = np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_STREAM])).permutation(n)
    n_test = int(round(TEST_FRACTION * n))
    n_val = int(round(VAL_FRACTION * (n - n_test)))
    return perm[n_test + n_val :], perm[n_test : n_test + n_val], perm[:n_test]


def make_splits(name: str, x: np.ndarray, y: np.ndarray, seed: int = 0, train_size: int | None = None) -> Splits:
    """Normalise, split, and keep at most ``train_size`` training examples."""
    if train_size is not None and train_size < 1:
        raise ValueError(f"train_size must be positive, got {train_size}")
    if len(x) != len(y) or y.min() < 0 or y.max() >= N_CLASSES:
        raise ValueError(f"{name}: need one label in 0..{N_CLASSES - 1} per example")
    x = normalise_examples(x)
    tr, va, te = split_indices(len(y), seed)
    if train_size is not None:
        tr = tr[:train_size]
    return Splits(name, x[tr], y[tr], x[va], y[va], x[te], y[te])


def load_dataset(name: str, data_dir: str | Path | None = None, seed: int = 0, train_size: int | None = None) -> Splits:
    """``name`` in :data:`DATASETS` from ``data_dir`` (Fashion-MNIST: its Debian place by
    default), normalised and split; :class:`DataNotFoundError` says how to get it."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")
    if data_dir is None:
        if name != "fashion-mnist":
            raise DataNotFoundError(f"{name}: no --data-dir given. {_HOW_TO_GET[name]}")
        data_dir = FASHION_MNIST_DIR
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataNotFoundError(f"{name}: {data_dir} is not a directory. {_HOW_TO_GET[name]}")
    x, y = load_cifar10_dir(data_dir) if name == "cifar10" else load_idx_dir(data_dir, name)
    return make_splits(name, x, y, seed=seed, train_size=train_size)
