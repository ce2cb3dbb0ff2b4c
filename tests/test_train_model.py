"""EoC initial statistics, scale control, ensembles, training, checkpoint and resume."""

import math

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

from train.data import make_splits  # noqa: E402
from train.models import LayerStats, build_model  # noqa: E402
from train.runs import RunSpec  # noqa: E402
from train.scale import control_runs, equivalent  # noqa: E402
from theory.cli import UsageError  # noqa: E402
from train.trainer import TrainConfig, train  # noqa: E402


def synthetic_splits(n=400, shape=(1, 6, 6), seed=0):
    """Gaussian images whose class is the argmax of a fixed linear map: learnable."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *shape)).astype(np.float32)
    y = (x.reshape(n, -1) @ rng.standard_normal((int(np.prod(shape)), 10))).argmax(1)
    return make_splits("synthetic", x, y, seed=seed)


def inputs(b, shape, seed=0):
    x = torch.randn(b, int(np.prod(shape)), generator=torch.Generator().manual_seed(seed))
    x = x - x.mean(1, keepdim=True)
    return (x / x.square().mean(1, keepdim=True).sqrt()).reshape(b, *shape)


STAT_CONFIGS = [
    dict(activation="crelu", sparsity=0.85, q_star=2.0, vprime=0.7),
    dict(activation="cst", sparsity=0.7, q_star=1.0, vprime=0.5),
    dict(activation="relu", sparsity=0.5, q_star=1.5),
]


def layer1_sparsity(sol, x: torch.Tensor, arch: str) -> float:
    """Expected first-layer sparsity given the inputs: h1 is N(0, q* e) with e the mean of
    x^2 over the unit's receptive field (all features for the DNN, e = 1 after the
    normalisation; a circular 3x3 patch for the CNN, where e varies between positions)."""
    x2 = x.double().square()
    if arch == "dnn":
        energy = x2.flatten(1).mean(1)
    else:
        padded = torch.nn.functional.pad(x2, (1, 1, 1, 1), mode="circular")
        energy = torch.nn.functional.avg_pool2d(padded.mean(1, keepdim=True), 3, stride=1)
    return float(np.mean(sol.activation.sparsity(sol.q_star * energy.numpy().ravel())))


@pytest.mark.parametrize(
    "arch,shape,width,depth,seeds,batch",
    [("dnn", (1, 10, 10), 256, 4, 24, 32), ("cnn", (3, 8, 8), 32, 3, 24, 4)],
)
def test_initial_layer_variance_and_sparsity(arch, shape, width, depth, seeds, batch):
    """At initialisation every hidden layer has E h^2 = q* and sparsity s, up to O(1/width)
    corrections far below the sampling error here (the CNN's first layer: see
    layer1_sparsity). Each network's value (mean over units, positions, inputs) is one
    independent draw; the seed mean is compared with the target by a t-test at a
    Bonferroni level: if the model is right, the probability that this test fails for
    some seed is at most 1e-4 (normal approximation to the per-network values)."""
    runs = [RunSpec(**c, seed=k) for c in STAT_CONFIGS for k in range(seeds)]
    model = build_model(arch, runs, shape, 10, depth, width)
    acc = LayerStats(len(runs), depth, "cpu")
    x = inputs(batch, shape)
    with torch.no_grad():
        model(x, stats=acc)
    q_hat = acc.q_tilde().reshape(len(STAT_CONFIGS), seeds, depth)
    s_hat = acc.sparsity().reshape(len(STAT_CONFIGS), seeds, depth)
    checks = 2 * len(STAT_CONFIGS) * depth
    z = stats.t.isf(1e-4 / (2 * checks), df=seeds - 1)
    for c, cfg in enumerate(STAT_CONFIGS):
        s_target = np.full(depth, cfg["sparsity"])
        s_target[0] = layer1_sparsity(runs[c * seeds].solve(), x, arch)
        for values, target in ((q_hat[c], cfg["q_star"]), (s_hat[c], s_target)):
            mean = values.mean(0)
            se = values.std(0, ddof=1) / math.sqrt(seeds)
            assert np.all(np.abs(mean - target) <= z * se), (cfg, target, mean, se)
    if arch == "dnn":  # given the input h1 is exactly N(0, q*): layer 1 has sparsity s
        assert s_hat[:, :, 0].mean(1) == pytest.approx([c["sparsity"] for c in STAT_CONFIGS], abs=0.01)


@pytest.mark.parametrize("arch,shape", [("dnn", (1, 5, 5)), ("cnn", (2, 6, 6))])
@pytest.mark.parametrize(
    "family",
    [dict(activation="crelu", sparsity=0.85, vprime=0.7), dict(activation="cst", sparsity=0.7, vprime=0.9), dict(activation="st", sparsity=0.6)],
)
def test_scale_control_at_initialisation(arch, shape, family):
    """The q* = c net with logits / sqrt(c) has the q* = 1 net's initial logits, and every
    pre-activation sqrt(c) times larger with the same zeros (train.scale)."""
    c = 3.0
    base = RunSpec(**family, q_star=1.0, seed=7)
    scaled = control_runs(RunSpec(**family, q_star=c, seed=7))[1]
    assert scaled.q_star == c and scaled.logit_scale == pytest.approx(1 / math.sqrt(c))
    assert equivalent(scaled) == pytest.approx((1.0, 1 / c))
    model = build_model(arch, [base, scaled], shape, 10, 4, 16)
    acc = LayerStats(2, 4, "cpu")
    with torch.no_grad():
        logits = model(inputs(8, shape), stats=acc)
    torch.testing.assert_close(logits[1], logits[0], rtol=1e-4, atol=1e-5)
    q = acc.q_tilde()
    np.testing.assert_allclose(q[1] / q[0], c, rtol=1e-4)
    np.testing.assert_allclose(acc.sparsity()[1], acc.sparsity()[0], atol=1e-3)


def test_scale_control_gradients():
    """Same loss, so dL/dW agree and dL/d(sqrt(c) b) = dL/db / sqrt(c): an SGD step moves
    the q* = c net's biases, in q* = 1 units, 1/c as far (train.scale)."""
    c = 2.0
    runs = [RunSpec("crelu", 0.8, 1.0, vprime=0.5, seed=3), RunSpec("crelu", 0.8, c, vprime=0.5, seed=3, logit_scale=c**-0.5)]
    model = build_model("dnn", runs, (1, 4, 4), 10, 3, 24)
    x = inputs(16, (1, 4, 4))
    y = torch.arange(16) % 10
    logits = model(x)
    loss = sum(torch.nn.functional.cross_entropy(logits[e], y) for e in range(2))
    grads = torch.autograd.grad(loss, list(model.parameters()))
    n_w = model.depth + 1
    for g in grads[:n_w]:
        torch.testing.assert_close(g[1], g[0], rtol=1e-3, atol=1e-6)
    for g in grads[n_w + 1 :]:  # the first-layer bias gradient too, but it is compared below
        torch.testing.assert_close(g[1], g[0] / math.sqrt(c), rtol=1e-3, atol=1e-6)
    torch.testing.assert_close(grads[n_w][1], grads[n_w][0] / math.sqrt(c), rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("arch,shape,width", [("dnn", (1, 6, 6), 32), ("cnn", (2, 5, 5), 6)])
@pytest.mark.parametrize("family", [dict(activation="crelu", sparsity=0.85, vprime=0.7), dict(activation="cst", sparsity=0.7, vprime=0.9)])
def test_scale_control_trajectories(arch, shape, width, family):
    """train.scale's equivalences as trajectories: the q* = c run is the q* = 1 run with
    logits x sqrt(c) and bias step / c, and the q* = c run with logits / sqrt(c) is the
    q* = 1 run with bias step / c: the same loss at every SGD step (float32 rounding
    apart), the same weight gradients, accuracies and zeros, pre-activations sqrt(c) apart.
    Without the bias-step factor the losses part: the check can fail."""
    c = 3.0
    root = math.sqrt(c)
    pairs = [
        (RunSpec(**family, q_star=c, seed=5), RunSpec(**family, q_star=1.0, seed=5, logit_scale=root, bias_step=1 / c)),
        (RunSpec(**family, q_star=c, seed=5, logit_scale=1 / root), RunSpec(**family, q_star=1.0, seed=5, bias_step=1 / c)),
        (RunSpec(**family, q_star=c, seed=5), RunSpec(**family, q_star=1.0, seed=5, logit_scale=root)),  # bias step not scaled
    ]
    for a, b in pairs[:2]:
        assert equivalent(a) == pytest.approx(equivalent(b))
    runs = [r for pair in pairs for r in pair]
    cfg = TrainConfig(arch=arch, depth=4, width=width, epochs=3, lr=0.1, batch_size=32, grad_norm_steps=20)
    ds = train(runs, synthetic_splits(300, shape), cfg, progress=False)
    assert ds.sizes["step"] == 21  # 216 training examples in batches of 32, 3 epochs
    loss = ds.train_loss.values
    for i in (0, 2):
        # measured: at most 2.4e-7 apart (2 float32 ulps) over 21 steps, DNN and CNN
        np.testing.assert_allclose(loss[i], loss[i + 1], rtol=2e-6, err_msg=f"pair {i // 2}")
        np.testing.assert_allclose(ds.grad_norm.values[i], ds.grad_norm.values[i + 1], rtol=2e-4)
        np.testing.assert_allclose(ds.val_loss.values[i], ds.val_loss.values[i + 1], rtol=2e-6)
        np.testing.assert_allclose(ds.test_q.values[i], c * ds.test_q.values[i + 1], rtol=2e-4)
        np.testing.assert_allclose(ds.test_sparsity.values[i], ds.test_sparsity.values[i + 1], atol=1e-3)
    assert np.max(np.abs(loss[4] / loss[5] - 1)) > 1e-2  # the unscaled bias step is another trajectory (7% measured)


MEMBERS = [
    RunSpec("crelu", 0.85, 1.0, vprime=0.7, seed=0),
    RunSpec("cst", 0.7, 2.0, vprime=0.5, seed=1, logit_scale=0.5),
    RunSpec("relu", 0.5, 1.0, seed=2),
]


@pytest.mark.parametrize("arch,shape,width", [("dnn", (1, 6, 6), 24), ("cnn", (2, 5, 5), 6)])
def test_ensemble_equals_one_by_one(arch, shape, width):
    data = synthetic_splits(300, shape)
    cfg = TrainConfig(arch=arch, depth=3, width=width, epochs=2, lr=0.05, batch_size=32, grad_norm_steps=3)
    together = train(MEMBERS, data, cfg, progress=False)
    for e, run in enumerate(MEMBERS):
        alone = train([run], data, cfg, progress=False).isel(run=0)
        for name in ("train_loss", "val_accuracy", "grad_norm", "test_sparsity", "test_accuracy", "init_q"):
            np.testing.assert_allclose(alone[name].values, together[name].isel(run=e).values, rtol=2e-4, atol=1e-6, err_msg=name)


def test_loss_decreases():
    data = synthetic_splits(2000, (1, 6, 6))
    cfg = TrainConfig(depth=3, width=128, epochs=10, lr=0.1, batch_size=32)
    ds = train([RunSpec("crelu", 0.8, 2.0, vprime=0.7, seed=0)], data, cfg, progress=False)
    per_epoch = ds.train_loss.values[0].reshape(cfg.epochs, -1).mean(1)
    assert np.all(np.diff(per_epoch) < 0) and per_epoch[-1] < 0.5 * per_epoch[0], per_epoch
    assert ds.val_accuracy.values[0, -1] > 0.3
    assert float(ds.test_accuracy[0]) > 0.3


def test_resume_equals_uninterrupted(tmp_path):
    data = synthetic_splits(200, (1, 4, 4))
    cfg = TrainConfig(depth=3, width=16, epochs=3, lr=0.05, schedule="cosine", batch_size=32)
    runs = MEMBERS[:2]
    straight = train(runs, data, cfg, progress=False)
    ckpt = tmp_path / "ens.pt"
    part = train(runs, data, cfg, checkpoint=ckpt, stop_after=2, progress=False)
    assert part.attrs["complete"] == 0 and np.isnan(part.val_accuracy.values[:, 2]).all()
    resumed = train(runs, data, cfg, checkpoint=ckpt, progress=False)
    assert resumed.attrs["complete"] == 1
    for name in straight.data_vars:
        np.testing.assert_array_equal(resumed[name].values, straight[name].values, err_msg=name)
    with pytest.raises(ValueError, match="belongs to other runs"):
        train(MEMBERS, data, cfg, checkpoint=ckpt, progress=False)


def test_bad_configurations_fail_early():
    with pytest.raises(UsageError, match="architecture"):
        TrainConfig(arch="rnn")
    with pytest.raises(UsageError, match="schedule"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="not reachable"):
        RunSpec("crelu", 0.85, 1.0, vprime=1.5)
    with pytest.raises(ValueError, match="seed"):
        RunSpec("relu", 0.5, 1.0, seed=-1)
    with pytest.raises(ValueError, match="unknown activation"):
        RunSpec("gelu", 0.5, 1.0)
    with pytest.raises(ValueError, match="images"):
        build_model("cnn", [RunSpec("relu", 0.5, 1.0)], (16,), 10, 2, 4)
