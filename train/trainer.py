"""Training an ensemble of runs with plain SGD, as in the papers' experiments.

arXiv 2602.05779 Sec. 3 and ICLR 2024 Sec. 4: SGD without momentum or weight decay,
batch 64, learning rate 1e-4 (DNN) or 1e-3 with a cosine schedule (CNN), cross-entropy
on the softmax of the logits. The cosine schedule is per epoch,
``lr_e = lr (1 + cos(pi e / epochs)) / 2`` (``CosineAnnealingLR(T_max=epochs)``).

Every member's loss is the mean over its own mini-batch; the ensemble minimises their
sum, which gives each member its own gradient (:mod:`train.models`). Member ``e`` visits
the training set in the order ``permutation(SeedSequence([seed_e, 1, epoch]))``, the
last mini-batch of an epoch being the remainder.

Logged (:mod:`train.results` names the variables): the training loss of every step,
validation accuracy and loss after every epoch, the Frobenius norm of every layer's
weight gradient over the first ``grad_norm_steps`` steps (ICLR 2024 Fig. 5), and on the
test set, at initialisation and at the end, every hidden layer's mean squared
pre-activation and activation sparsity, with the final test accuracy and loss.

Checkpoints hold the parameters, the completed epochs and the logs; since nothing is
random but the seeded permutations above, a resumed run repeats the uninterrupted one
bit for bit on the CPU.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from theory.cli import UsageError
from theory.grid import require_shape
from train.data import Splits
from train.models import ARCHS, LayerStats, build_model
from train.results import to_dataset
from train.runs import RunSpec

SCHEDULES = ("constant", "cosine")
_SHUFFLE_STREAM = 1
_CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class TrainConfig:
    """Architecture and optimisation, shared by every member of an ensemble.

    Parameters
    ----------
    arch : str
        dnn (fully connected) or cnn.
    depth : int
        Activated layers L (>= 2).
    width : int
        Units (DNN) or channels (CNN) per layer (>= 2).
    epochs : int
        Epochs of SGD.
    lr : float
        SGD learning rate.
    schedule : str
        Learning-rate schedule: constant or cosine.
    batch_size : int
        Mini-batch size.
    grad_norm_steps : int
        First SGD steps whose per-layer gradient norms are logged.
    eval_batch_size : int
        Examples per batch when evaluating.

    Raises
    ------
    theory.cli.UsageError
        Naming the first bad field.
    """

    arch: str = "dnn"
    depth: int = 100
    width: int = 300
    epochs: int = 200
    lr: float = 1e-4
    schedule: str = "constant"
    batch_size: int = 64
    grad_norm_steps: int = 15
    eval_batch_size: int = 1000

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise UsageError(f"unknown architecture {self.arch!r}; choose one of {sorted(ARCHS)}")
        if self.schedule not in SCHEDULES:
            raise UsageError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        require_shape(width=self.width, depth=self.depth)  # the bounds every command uses
        for name in ("epochs", "batch_size", "eval_batch_size"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise UsageError(f"{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.grad_norm_steps, int) and self.grad_norm_steps >= 0):
            raise UsageError(f"grad_norm_steps must be a non-negative integer, got {self.grad_norm_steps!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UsageError(f"lr must be positive, got {self.lr!r}")

    def lr_at(self, epoch: int) -> float:
        if self.schedule == "constant":
            return self.lr
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which a member with ``seed`` visits ``n`` training examples."""
    return np.random.default_rng(np.random.SeedSequence([seed, _SHUFFLE_STREAM, epoch])).permutation(n)


def sgd_step(model, x: torch.Tensor, y: torch.Tensor, lr: float):
    """One SGD step of every member on its batch ``x (E, B, ...)``, labels ``y (E, B)``:
    weights step ``lr``, biases ``lr * bias_step`` of their member (:class:`RunSpec`).

    Returns the members' mean cross-entropies ``(E,)`` before the step and the weights'
    gradients, in layer order."""
    E = model.members
    weights, biases = list(model.weights), list(model.biases)
    loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten(), reduction="none").view(E, -1).mean(1)
    grads = torch.autograd.grad(loss.sum(), weights + biases)
    bias_lr = (lr * model.bias_step).unsqueeze(1)
    with torch.no_grad():
        for w, g in zip(weights, grads):
            w.add_(g, alpha=-lr)
        for b, g in zip(biases, grads[len(weights) :]):
            b.sub_(g * bias_lr)
    return loss.detach(), grads[: len(weights)]


@torch.no_grad()
def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int, device, stats: bool = False):
    """Accuracy ``(E,)``, mean cross-entropy ``(E,)`` and (``stats``) the per-layer
    :class:`~train.models.LayerStats` of every member on the shared inputs ``x``."""
    E = model.members
    correct = torch.zeros(E, dtype=torch.float64, device=device)
    loss = torch.zeros(E, dtype=torch.float64, device=device)
    acc_stats = LayerStats(E, model.depth, device) if stats else None
    for start in range(0, len(y), batch_size):
        xb = torch.from_numpy(x[start : start + batch_size]).to(device)
        yb = torch.from_numpy(y[start : start + batch_size]).to(device)
        logits = model(xb, stats=acc_stats)
        yy = yb.expand(E, -1)
        loss += F.cross_entropy(logits.flatten(0, 1), yy.flatten(), reduction="none").view(E, -1).double().sum(1)
        correct += (logits.argmax(-1) == yy).double().sum(1)
    n = len(y)
    return (correct / n).cpu().numpy(), (loss / n).cpu().numpy(), acc_stats


def _fingerprint(data: Splits) -> str:
    h = hashlib.blake2b(digest_size=16)
    for arr in (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _identity(runs, config, data) -> dict:
    return {
        "format": _CHECKPOINT_FORMAT,
        "runs": [r.as_dict() for r in runs],
        "config": asdict(config),
        "data": {"name": data.name, **data.sizes(), "fingerprint": _fingerprint(data)},
    }


def _new_logs(E: int, depth: int, steps: int, config: TrainConfig) -> dict[str, np.ndarray]:
    total = steps * config.epochs
    nan = np.nan
    return {
        "train_loss": np.full((E, total), nan, np.float32),
        "val_accuracy": np.full((E, config.epochs), nan),
        "val_loss": np.full((E, config.epochs), nan),
        "grad_norm": np.full((E, min(config.grad_norm_steps, total), depth + 1), nan),
        "init_q": np.full((E, depth), nan),
        "init_sparsity": np.full((E, depth), nan),
        "test_q": np.full((E, depth), nan),
        "test_sparsity": np.full((E, depth), nan),
        "test_accuracy": np.full(E, nan),
        "test_loss": np.full(E, nan),
    }


def _save(path: Path, state: dict):
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(
    runs: list[RunSpec],
    data: Splits,
    config: TrainConfig,
    device: str | torch.device = "cpu",
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 1,
    stop_after: int | None = None,
    progress: bool = True,
):
    """Train ``runs`` as one ensemble and return their :func:`train.results.to_dataset`.

    With ``checkpoint``, state is saved there every ``checkpoint_every`` epochs and at the
    end, and an existing checkpoint of the same runs, configuration and data is resumed
    (a different one is an error). ``stop_after`` ends this call after that many epochs,
    leaving a checkpoint, and returns the partial logs (``attrs["complete"] == 0``).

    Examples
    --------
    Two CReLU networks (V'(q*) = 0.5 and 0.9) of depth 3 and width 16, one epoch on 64
    random examples:

    >>> import numpy as np
    >>> from train.data import Splits
    >>> from train.runs import RunSpec
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((96, 1, 28, 28)).astype(np.float32)
    >>> y = rng.integers(0, 10, 96)
    >>> data = Splits("random", x[:64], y[:64], x[64:80], y[64:80], x[80:], y[80:])
    >>> runs = [RunSpec("crelu", 0.85, 1.0, vprime=v) for v in (0.5, 0.9)]
    >>> ds = train(runs, data, TrainConfig(depth=3, width=16, epochs=1, batch_size=16), progress=False)
    >>> ds.test_accuracy.sizes["run"], ds.train_loss.shape
    (2, (2, 4))
    """
    runs = list(runs)
    device = torch.device(device)
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    if stop_after is not None and (checkpoint is None or stop_after < 1):
        raise ValueError("stop_after needs a checkpoint path and a positive number of epochs")
    model = build_model(config.arch, runs, data.input_shape, data.n_classes, config.depth, config.width).to(device)
    E, B = model.members, config.batch_size
    n = len(data.y_train)
    steps = math.ceil(n / B)
    identity = _identity(runs, config, data)
    params = list(model.parameters())

    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state["identity"] != identity:
            raise ValueError(f"{checkpoint} belongs to other runs, configuration or data; remove it or choose another path")
        with torch.no_grad():
            for p, saved in zip(params, state["params"]):
                p.copy_(saved)
        start, logs = state["epoch"], state["logs"]
    else:
        start, logs = 0, _new_logs(E, model.depth, steps, config)
        _, _, init = evaluate(model, data.x_test, data.y_test, config.eval_batch_size, device, stats=True)
        logs["init_q"], logs["init_sparsity"] = init.q_tilde(), init.sparsity()

    end = config.epochs if stop_after is None else min(config.epochs, start + stop_after)
    X = torch.from_numpy(data.x_train).to(device)
    Y = torch.from_numpy(data.y_train).to(device)
    n_grad = logs["grad_norm"].shape[1]
    bar = tqdm(total=steps * config.epochs, initial=steps * start, disable=not progress, desc=f"{E} run(s)", unit="step")
    for epoch in range(start, end):
        lr = config.lr_at(epoch)
        order = torch.from_numpy(np.stack([epoch_order(r.seed, epoch, n) for r in runs])).to(device)
        losses = torch.empty(E, steps, device=device)
        grad_norms = []
        for k in range(steps):
            idx = order[:, k * B : (k + 1) * B]
            loss, grads = sgd_step(model, X[idx], Y[idx], lr)
            if epoch * steps + k < n_grad:
                grad_norms.append(torch.stack([g.flatten(1).norm(dim=1) for g in grads], 1))
            losses[:, k] = loss
            bar.update()
        logs["train_loss"][:, epoch * steps : (epoch + 1) * steps] = losses.cpu().numpy()
        if grad_norms:
            first = epoch * steps
            logs["grad_norm"][:, first : first + len(grad_norms)] = torch.stack(grad_norms, 1).cpu().numpy()
        acc, vloss, _ = evaluate(model, data.x_val, data.y_val, config.eval_batch_size, device)
        logs["val_accuracy"][:, epoch], logs["val_loss"][:, epoch] = acc, vloss
        bar.set_postfix(epoch=epoch + 1, val_acc_median=f"{np.nanmedian(acc):.3f}")
        done = epoch + 1
        if checkpoint is not None and (done % checkpoint_every == 0 or done == end):
            _save(checkpoint, {"identity": identity, "epoch": done, "params": [p.detach().cpu() for p in params], "logs": logs})
    bar.close()

    complete = end == config.epochs
    if complete:
        acc, tloss, final = evaluate(model, data.x_test, data.y_test, config.eval_batch_size, device, stats=True)
        logs["test_accuracy"], logs["test_loss"] = acc, tloss
        logs["test_q"], logs["test_sparsity"] = final.q_tilde(), final.sparsity()
    return to_dataset(runs, config, data, logs, steps_per_epoch=steps, complete=complete, device=str(device))
