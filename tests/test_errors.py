"""Errors a person can act on: op names, shapes, devices, offending values."""
import numpy as np
import pytest

import minitorch as mt
import minitorch.ops as F


def test_broadcast_mismatch_names_op_and_both_shapes(device):
    with pytest.raises(RuntimeError, match=r"Add: shapes \(4, 3\) and \(4,\)"):
        mt.ones(4, 3, device=device) + mt.ones(4, device=device)
    with pytest.raises(RuntimeError, match=r"Mul: shapes \(2, 5\) and \(3,\)"):
        mt.ones(2, 5, device=device) * mt.ones(3, device=device)


def test_matmul_mismatch_names_both_shapes(device):
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(4, 3\) and \(4,\)"):
        mt.ones(4, 3, device=device) @ mt.ones(4, device=device)


def test_linear_mismatch_names_shapes():
    with pytest.raises(RuntimeError, match=r"linear: input of shape \(2, 5\).*weight of shape \(3, 4\)"):
        F.linear(mt.ones(2, 5), mt.ones(3, 4))


@pytest.mark.parametrize("fused", ["1", "0"])
def test_cross_entropy_bad_label_names_value_and_class_count(device, monkeypatch, fused):
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    logits = mt.zeros(3, 10, device=device)
    with pytest.raises(IndexError, match=r"target 12 is out of bounds for 10 classes"):
        F.cross_entropy(logits, mt.tensor([1, 12, 3], device=device))
    with pytest.raises(IndexError, match=r"target -1 is out of bounds for 10 classes"):
        F.cross_entropy(logits, mt.tensor([-1, 0, 3], device=device))


def test_cross_entropy_target_shape_mismatch():
    with pytest.raises(RuntimeError, match=r"target of shape \(4,\) does not match input of shape \(3, 10\)"):
        F.cross_entropy(mt.zeros(3, 10), mt.tensor([0, 1, 2, 3]))


@pytest.mark.parametrize("fused", ["1", "0"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ignored_rows_of_minus_inf_give_no_nan(device, monkeypatch, fused, reduction):
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    x[1] = -np.inf
    logits = mt.tensor(x, device=device, requires_grad=True)
    target = mt.tensor([2, -100, 0, 4], device=device)
    loss = F.cross_entropy(logits, target, reduction=reduction, label_smoothing=0.1)
    loss.backward(mt.ones(loss.shape, device=device))
    assert np.all(np.isfinite(loss.detach().numpy()))
    grad = logits.grad.detach().numpy()
    assert np.all(np.isfinite(grad)) and np.all(grad[1] == 0)


def test_cross_entropy_matches_closed_form_and_between_paths(monkeypatch):
    x = np.random.default_rng(1).standard_normal((6, 4))
    t = np.array([0, 3, 1, 1, -100, 2])
    results = {}
    for fused in ("1", "0"):
        monkeypatch.setenv("MINITORCH_FUSED", fused)
        logits = mt.tensor(x, requires_grad=True)
        loss = F.cross_entropy(logits, mt.tensor(t), label_smoothing=0.1)
        loss.backward()
        results[fused] = (loss.item(), logits.grad.detach().numpy())
    lse = np.log(np.exp(x).sum(1))
    keep = t != -100
    q = np.full_like(x, 0.1 / 4)
    q[np.arange(6)[keep], t[keep]] += 0.9
    expected = ((lse[:, None] - x) * q).sum(1)[keep].mean()
    assert results["1"][0] == pytest.approx(expected) and results["0"][0] == pytest.approx(expected)
    np.testing.assert_allclose(results["1"][1], results["0"][1], atol=1e-12)


def test_loss_shape_mismatch_is_an_error():
    with pytest.raises(RuntimeError, match=r"mse_loss: input of shape \(4, 1\) and target of shape \(4,\)"):
        F.mse_loss(mt.zeros(4, 1), mt.zeros(4))


def test_batch_norm_batch_of_one_is_an_error():
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        F.batch_norm(mt.ones(1, 3), mt.zeros(3), mt.ones(3), training=True)


def test_reshape_error_names_shapes():
    with pytest.raises(RuntimeError, match=r"reshape: shape \(5,\) is invalid for input of shape \(2, 3\)"):
        mt.ones(2, 3).reshape(5)


def test_item_of_many_elements():
    with pytest.raises(RuntimeError, match="with 3 elements"):
        mt.ones(3).item()
