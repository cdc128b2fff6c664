"""Layers, losses, functional re-exports, BatchNorm / Dropout train vs eval, init statistics, clip_grad_norm_."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn
from minitorch.nn import functional as F


def test_functional_exports():
    for name in ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "cross_entropy",
                 "mse_loss", "l1_loss", "huber_loss", "dropout", "batch_norm", "layer_norm"]:
        assert callable(getattr(F, name)), name


def test_linear(device):
    layer = nn.Linear(4, 3, device=device)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    x = mt.randn(5, 4, device=device)
    expected = x.detach().numpy() @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert layer(mt.randn(2, 7, 4, device=device)).shape == (2, 7, 3)
    no_bias = nn.Linear(4, 3, bias=False, device=device)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ["weight"]
    np.testing.assert_allclose(no_bias(x).detach().numpy(), x.detach().numpy() @ no_bias.weight.detach().numpy().T, rtol=1e-5, atol=1e-6)


def test_linear_default_init_is_pytorchs():
    layer = nn.Linear(400, 300)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) and the bias rule both give U(-1/sqrt(in), 1/sqrt(in))
    assert np.abs(w).max() <= bound + 1e-7 and np.abs(b).max() <= bound + 1e-7
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.03
    assert abs(b.std() / (bound / math.sqrt(3)) - 1) < 0.15
    mt.manual_seed(1)
    a = nn.Linear(5, 5).weight.detach().numpy()
    mt.manual_seed(1)
    np.testing.assert_array_equal(a, nn.Linear(5, 5).weight.detach().numpy())


def test_untrained_classifier_starts_near_ln_c():
    """The course notes' first-iteration check: an untrained 10-class MLP's loss is about ln 10 = 2.30."""
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    x, y = mt.randn(512, 784), mt.randint(0, 10, (512,))
    loss = nn.functional.cross_entropy(model(x), y).item()
    assert abs(loss - math.log(10)) < 0.1


@pytest.mark.parametrize("fused", ["1", "0"])
def test_batchnorm1d_running_stats(device, fused, monkeypatch):
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    bn = nn.BatchNorm1d(3, device=device).to(mt.float64)
    x_np = np.random.default_rng(0).normal(2.0, 3.0, size=(6, 3))
    y = bn(mt.tensor(x_np, device=device))
    mean, var_b, var_u = x_np.mean(0), x_np.var(0), x_np.var(0, ddof=1)
    np.testing.assert_allclose(y.detach().numpy(), (x_np - mean) / np.sqrt(var_b + 1e-5), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(bn.running_mean.detach().numpy(), 0.9 * 0 + 0.1 * mean, rtol=1e-10)
    np.testing.assert_allclose(bn.running_var.detach().numpy(), 0.9 * 1 + 0.1 * var_u, rtol=1e-10)  # unbiased variance
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    x2 = np.random.default_rng(1).normal(size=(4, 3))
    expected = (x2 - bn.running_mean.detach().numpy()) / np.sqrt(bn.running_var.detach().numpy() + 1e-5)
    np.testing.assert_allclose(bn(mt.tensor(x2, device=device)).detach().numpy(), expected, rtol=1e-7, atol=1e-9)
    assert bn.num_batches_tracked.item() == 1  # eval does not count


def test_batchnorm_momentum_none_is_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None).to(mt.float64)
    batches = [np.random.default_rng(i).normal(i, 1.0, size=(5, 2)) for i in range(3)]
    for b in batches:
        bn(mt.tensor(b))
    np.testing.assert_allclose(bn.running_mean.detach().numpy(), np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-10)


def test_batchnorm2d_and_no_running_stats(device):
    bn = nn.BatchNorm2d(2, device=device)
    x = mt.randn(3, 2, 4, 5, device=device)
    y = bn(x).detach().numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.detach().numpy(), 0.1 * x.detach().numpy().mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="expected 4D input"):
        bn(mt.randn(3, 2, device=device))
    plain = nn.BatchNorm1d(2, affine=False, track_running_stats=False, device=device).eval()
    assert list(plain.state_dict()) == [] and plain.running_mean is None
    out = plain(mt.randn(8, 2, device=device)).detach().numpy()  # eval without running stats: batch statistics
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    with pytest.raises(ValueError, match="num_features=2"):
        bn(mt.randn(3, 5, 4, 4, device=device))


def test_batchnorm_backward(device):
    bn = nn.BatchNorm1d(3, device=device)
    bn(mt.randn(4, 3, device=device)).sum().backward()
    assert bn.weight.grad.shape == (3,) and bn.bias.grad.shape == (3,)
    np.testing.assert_allclose(bn.bias.grad.detach().numpy(), 4.0)


def test_layernorm(device):
    ln = nn.LayerNorm(5, device=device)
    x = mt.randn(3, 5, device=device)
    xn = x.detach().numpy()
    expected = (xn - xn.mean(-1, keepdims=True)) / np.sqrt(xn.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln(x).detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]


def test_dropout_train_vs_eval(device):
    drop = nn.Dropout(0.3)
    x = mt.ones(200, 100, device=device)
    y = drop(x).detach().numpy()
    zeros = (y == 0).mean()
    assert abs(zeros - 0.3) < 0.02
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    drop.eval()
    np.testing.assert_array_equal(drop(x).detach().numpy(), x.detach().numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_activation_modules_match_functional(device):
    x = mt.randn(4, 6, device=device)
    pairs = [(nn.ReLU(), F.relu(x)), (nn.LeakyReLU(0.2), F.leaky_relu(x, 0.2)), (nn.Sigmoid(), F.sigmoid(x)),
             (nn.Tanh(), F.tanh(x)), (nn.GELU(), F.gelu(x)), (nn.Softmax(dim=1), F.softmax(x, 1)),
             (nn.LogSoftmax(dim=1), F.log_softmax(x, 1)), (nn.Identity(), x)]
    for module, expected in pairs:
        np.testing.assert_allclose(module(x).detach().numpy(), expected.detach().numpy(), rtol=1e-6, err_msg=repr(module))
    assert nn.Flatten()(mt.randn(2, 3, 4, device=device)).shape == (2, 12)
    assert nn.Flatten(0)(mt.randn(2, 3, 4, device=device)).shape == (24,)
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"


def test_loss_modules(device):
    x, t = mt.randn(5, 3, device=device), mt.randn(5, 3, device=device)
    d = x.detach().numpy() - t.detach().numpy()
    np.testing.assert_allclose(nn.MSELoss()(x, t).item(), (d ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(nn.L1Loss(reduction="sum")(x, t).item(), np.abs(d).sum(), rtol=1e-5)
    huber = np.where(np.abs(d) <= 0.5, 0.5 * d * d, 0.5 * (np.abs(d) - 0.25)).mean()
    np.testing.assert_allclose(nn.HuberLoss(delta=0.5)(x, t).item(), huber, rtol=1e-5)
    labels = mt.tensor([0, 2, 1, 2, 0], device=device)
    logp = x.detach().numpy() - np.log(np.exp(x.detach().numpy()).sum(1, keepdims=True))
    ce = -logp[np.arange(5), labels.detach().numpy()].mean()
    np.testing.assert_allclose(nn.CrossEntropyLoss()(x, labels).item(), ce, rtol=1e-5)
    np.testing.assert_allclose(nn.CrossEntropyLoss(reduction="none")(x, labels).detach().numpy(),
                               F.cross_entropy(x, labels, reduction="none").detach().numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")


@pytest.mark.parametrize("fn, expected_std", [
    (nn.init.kaiming_normal_, math.sqrt(2 / 256)),
    (nn.init.kaiming_uniform_, math.sqrt(2 / 256)),
    (nn.init.xavier_normal_, math.sqrt(2 / (256 + 512))),
    (nn.init.xavier_uniform_, math.sqrt(2 / (256 + 512))),
])
def test_init_statistics(device, fn, expected_std):
    w = mt.zeros(512, 256, device=device)
    assert fn(w) is w
    values = w.detach().numpy()
    assert abs(values.std() / expected_std - 1) < 0.02
    assert abs(values.mean()) < 0.05 * expected_std


def test_init_fills(device):
    w = nn.Parameter(mt.zeros(300, 200, device=device))
    nn.init.uniform_(w, -2.0, 3.0)
    assert w.detach().numpy().min() >= -2.0 and w.detach().numpy().max() < 3.0 and abs(w.detach().numpy().mean() - 0.5) < 0.05
    nn.init.normal_(w, 1.0, 0.5)
    assert abs(w.detach().numpy().mean() - 1.0) < 0.01 and abs(w.detach().numpy().std() - 0.5) < 0.01
    assert np.all(nn.init.ones_(w).detach().numpy() == 1) and np.all(nn.init.zeros_(w).detach().numpy() == 0)
    assert w.requires_grad and w.is_leaf
    nn.init.kaiming_normal_(w, mode="fan_out")
    assert abs(w.detach().numpy().std() / math.sqrt(2 / 300) - 1) < 0.03
    with pytest.raises(ValueError, match="at least 2 dims"):
        nn.init.xavier_uniform_(mt.zeros(3))


def test_calculate_gain():
    assert nn.init.calculate_gain("linear") == 1.0 and nn.init.calculate_gain("sigmoid") == 1.0
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert nn.init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        nn.init.calculate_gain("swish")


def test_clip_grad_norm(device):
    a = nn.Parameter(mt.zeros(2, device=device))
    b = nn.Parameter(mt.zeros(1, device=device))
    frozen = nn.Parameter(mt.zeros(3, device=device))
    a.grad, b.grad = mt.tensor([3.0, 0.0], device=device), mt.tensor([4.0], device=device)
    total = nn.utils.clip_grad_norm_([a, b, frozen], max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad.detach().numpy(), b.grad.detach().numpy()]), [0.6, 0.0, 0.8], rtol=1e-5)
    total = nn.utils.clip_grad_norm_([a, b], max_norm=10.0)  # already small: unchanged
    assert total.item() == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad.detach().numpy(), [0.6, 0.0], rtol=1e-5)
    a.grad, b.grad = mt.tensor([3.0, -6.0], device=device), mt.tensor([4.0], device=device)
    assert nn.utils.clip_grad_norm_([a, b], 3.0, norm_type=math.inf).item() == pytest.approx(6.0)
    np.testing.assert_allclose(a.grad.detach().numpy(), [1.5, -3.0], rtol=1e-5)
    a.grad = mt.tensor([1.0, -2.0], device=device)
    assert nn.utils.clip_grad_norm_(a, 100.0, norm_type=1).item() == pytest.approx(3.0)
