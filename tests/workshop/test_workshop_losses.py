"""Workshop losses: the tutorials' numbers, the (softmax - one_hot) / N gradient, autograd agreement, errors."""
import math

import numpy as np
import pytest

import minitorch as mt
from minitorch import ops
from minitorch.workshop import CrossEntropyLoss, HuberLoss, LossValue, MSELoss, relative_error


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _numeric(loss, pred, target, eps=1e-6):
    grad = np.zeros_like(pred)
    for i in np.ndindex(pred.shape):
        old = pred[i]
        pred[i] = old + eps
        plus = loss.forward(pred, target)
        pred[i] = old - eps
        minus = loss.forward(pred, target)
        pred[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def test_cross_entropy_tutorial_numbers():
    ce = CrossEntropyLoss()
    scores = np.array([[2.0, 1.0, 0.1]])
    assert ce.forward(scores, np.array([0])) == pytest.approx(0.417, abs=1e-3)   # -log(0.66)
    assert ce.forward(scores, np.array([2])) == pytest.approx(2.317, abs=1e-3)   # -log(0.10)


def test_cross_entropy_gradient_is_softmax_minus_one_hot_over_n_once():
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    targets = np.array([0, 1])
    ce = CrossEntropyLoss()
    loss = ce.forward(logits, targets)
    assert isinstance(loss, float)
    p = _softmax(logits)
    assert loss == pytest.approx(-np.mean(np.log(p[[0, 1], targets])))
    np.testing.assert_allclose(ce.backward(), (p - np.eye(3)[targets]) / 2)
    assert relative_error(ce.backward(), _numeric(ce, logits.copy(), targets)) < 1e-8


def test_cross_entropy_equals_autograd_and_is_stable(device, monkeypatch):
    logits = np.random.default_rng(0).normal(0, 3, (6, 5))
    logits[0] += 1000.0                                   # exp(1000) would overflow without the max shift
    labels = np.array([0, 4, 2, 2, 1, 3])
    ce = CrossEntropyLoss()
    loss = ce.forward(mt.tensor(logits, device=device), mt.tensor(labels, device=device))
    grad = ce.backward()
    assert isinstance(grad, mt.Tensor) and grad.device == device
    monkeypatch.setenv("MINITORCH_FUSED", "0")            # log_softmax, one-hot, mean: the composed path
    x = mt.tensor(logits, device=device, requires_grad=True)
    ref = ops.cross_entropy(x, mt.tensor(labels, device=device))
    ref.backward()
    assert math.isfinite(loss) and loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad.numpy(), x.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_cross_entropy_accepts_label_lists_and_int32():
    ce = CrossEntropyLoss()
    a = ce.forward(np.zeros((2, 3)), [0, 2])
    b = ce.forward(np.zeros((2, 3)), np.array([0, 2], dtype=np.int32))
    assert a == b == pytest.approx(math.log(3))


def test_cross_entropy_errors_are_actionable():
    ce = CrossEntropyLoss()
    with pytest.raises(IndexError, match="label 10 is out of range for 10 classes"):
        ce.forward(np.zeros((3, 10)), np.array([1, 10, 2]))
    with pytest.raises(IndexError, match="label -1"):
        ce.forward(np.zeros((3, 10)), np.array([1, -1, 2]))
    with pytest.raises(ValueError, match="one-hot"):
        ce.forward(np.zeros((3, 10)), np.eye(10)[:3].astype(np.int64))
    with pytest.raises(TypeError, match="integer class indices"):
        ce.forward(np.zeros((3, 10)), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match="before forward"):
        CrossEntropyLoss().backward()


def test_mse_tutorial_example():
    mse = MSELoss()
    y_pred, y_true = np.array([[2.5, 3.0]]), np.array([[2.0, 3.5]])
    assert mse.forward(y_pred, y_true) == pytest.approx(0.25)
    np.testing.assert_allclose(mse.backward(), 2 * (y_pred - y_true) / y_pred.size)
    np.testing.assert_allclose(mse.backward(), [[0.5, -0.5]])   # backward() may be called again


def test_huber_matches_formula_on_both_sides_of_delta():
    pred = np.array([[0.3, -2.0, 4.0], [1.0, 0.0, -0.2]])
    true = np.zeros((2, 3))
    huber = HuberLoss(delta=1.0)
    loss = huber.forward(pred, true)
    d = pred - true
    expected = np.where(np.abs(d) <= 1.0, 0.5 * d ** 2, 1.0 * (np.abs(d) - 0.5))
    assert loss == pytest.approx(expected.mean())
    np.testing.assert_allclose(huber.backward(), np.where(np.abs(d) <= 1.0, d, np.sign(d)) / d.size)


@pytest.mark.parametrize("loss", [MSELoss(), HuberLoss(delta=0.7)], ids=["MSE", "Huber"])
def test_regression_losses_finite_differences_and_tensors(loss, device):
    rng = np.random.default_rng(0)
    pred, target = rng.normal(0, 1.5, (4, 3)), rng.normal(0, 1.5, (4, 3))
    value = loss.forward(pred, target)
    assert relative_error(loss.backward(), _numeric(loss, pred.copy(), target)) < 1e-7
    t_value = loss.forward(mt.tensor(pred, device=device), mt.tensor(target, device=device))
    grad = loss.backward()
    assert t_value == pytest.approx(value) and isinstance(grad, mt.Tensor) and grad.device == device


def test_regression_loss_shape_mismatch_is_an_error():
    with pytest.raises(RuntimeError, match="differ"):
        MSELoss().forward(np.zeros((4, 1)), np.zeros(4))


@pytest.mark.parametrize("loss", [CrossEntropyLoss(), MSELoss(), HuberLoss()], ids=["CE", "MSE", "Huber"])
def test_loss_value_is_a_float_with_item(loss):
    pred = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    target = np.array([0, 1]) if isinstance(loss, CrossEntropyLoss) else np.zeros((2, 3))
    value = loss.forward(pred, target)
    assert isinstance(value, float) and isinstance(value, LossValue)
    assert type(value.item()) is float and value.item() == float(value) == value
    assert f"{value:.4f}" == f"{float(value):.4f}" and repr(value) == repr(float(value))
    total = 0
    total += value                                   # the tutorials' running sums
    assert type(total) is float and total / 2 == float(value) / 2
    with pytest.raises(TypeError, match=r"call loss_function.backward\(\)"):
        value.backward()
