"""Training experiments of the papers (arXiv 2602.05779 Sec. 3; ICLR 2024 Sec. 4) in torch.

Needs the optional dependency ``torch`` (``pip install 'eoc-sparse[train]'``); the
``theory`` package does not. Modules, one job each:

* :mod:`train.activations`: ReLU, ReLU_tau, ST, CReLU, CST as torch modules;
* :mod:`train.runs`: :class:`RunSpec`, one network's EoC configuration and seed;
* :mod:`train.models`: ensembles of EoC-initialised DNNs and CNNs in one batched model;
* :mod:`train.data`: IDX and CIFAR-10 readers, normalisation, the papers' splits;
* :mod:`train.trainer`: SGD training, logging, checkpoint and resume;
* :mod:`train.results`: the results as xarray / zarr;
* :mod:`train.scale`: the scale-control runs (logit scale against ``q*``);
* :mod:`train.published`, :mod:`train.grids`, :mod:`train.report`: the papers' tables,
  their run grids, and measured-against-published tables;
* :mod:`train.initial`: the fresh networks measured as ``simulate.depth_sweep
  --backward`` measures its own (the trainer-against-simulator check);
* ``python -m train`` (any configurations), ``python -m train.reproduce`` (the papers'
  tables; both through :mod:`train.cli`) and ``python -m train.bench``: command lines.

See docs/training.md.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("the train package needs torch: pip install 'eoc-sparse[train]'") from exc

from train.activations import CST, ST, CReLU, ReLU, ReLUTau, SparseActivation
from train.data import DataNotFoundError, Splits, load_dataset
from train.models import EnsembleCNN, EnsembleDNN, build_model
from train.results import open_results, write_zarr
from train.runs import RunSpec
from train.trainer import TrainConfig, evaluate, train

__all__ = [
    "CST",
    "ST",
    "CReLU",
    "DataNotFoundError",
    "EnsembleCNN",
    "EnsembleDNN",
    "ReLU",
    "ReLUTau",
    "RunSpec",
    "SparseActivation",
    "Splits",
    "TrainConfig",
    "build_model",
    "evaluate",
    "load_dataset",
    "open_results",
    "train",
    "write_zarr",
]
