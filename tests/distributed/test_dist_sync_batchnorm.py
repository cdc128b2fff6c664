"""SyncBatchNorm in one process: BatchNorm exactly outside a group; its autograd Function against PyTorch's
batch norm (a world of one: the all-reduce is the identity); convert_sync_batchnorm as PyTorch's."""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn
from minitorch.distributed import SyncBatchNorm, sync_batchnorm


@pytest.mark.parametrize("shape", [(6, 3), (5, 3, 4), (4, 3, 2, 3)])
def test_outside_a_group_it_is_batchnorm(device, shape):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3 + 2).astype("float32")
    bn, sbn = nn.BatchNorm1d(3) if len(shape) < 4 else nn.BatchNorm2d(3), SyncBatchNorm(3)
    bn.to(device), sbn.to(device)
    for module in (bn, sbn):
        module.weight.data = mt.tensor([0.5, 2.0, -1.0], device=device)
    outs = []
    for module in (bn, sbn):
        xt = mt.tensor(x, device=device, requires_grad=True)
        y = module(xt)
        (y * y).sum().backward()
        module.eval()
        outs.append([y.detach().numpy(), xt.grad.numpy(), module.weight.grad.numpy(), module.bias.grad.numpy(),
                     module.running_mean.numpy(), module.running_var.numpy(), module(xt).detach().numpy()])
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (3, 3, 4, 2)])
def test_function_matches_pytorch(device, monkeypatch, shape, affine):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(sync_batchnorm, "_all_reduce", lambda array, backend: array)  # a world of one
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape) * 2 + 1
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    g = rng.standard_normal(shape)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    xt = mt.tensor(x, device=device, requires_grad=True)
    wt = mt.tensor(w, device=device, requires_grad=True) if affine else None
    bt = mt.tensor(b, device=device, requires_grad=True) if affine else None
    rmt, rvt = mt.tensor(rm, device=device), mt.tensor(rv, device=device)
    y = sync_batchnorm.SyncBatchNormTrain.apply(xt, wt, bt, rmt.array, rvt.array, momentum=0.3, eps=1e-3)
    y.backward(mt.tensor(g, device=device))
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True) if affine else None
    tb = torch.tensor(b, requires_grad=True) if affine else None
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=True, momentum=0.3, eps=1e-3)
    ty.backward(torch.tensor(g))
    pairs = [(y, ty), (xt.grad, tx.grad), (rmt, trm), (rvt, trv)]
    if affine:
        pairs += [(wt.grad, tw.grad), (bt.grad, tb.grad)]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_single_value_per_channel_raises(monkeypatch):
    monkeypatch.setattr(sync_batchnorm, "_all_reduce", lambda array, backend: array)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        sync_batchnorm.SyncBatchNormTrain.apply(mt.ones(1, 3), None, None, None, None)


def model(torch_nn):
    inner = torch_nn.Sequential(torch_nn.BatchNorm2d(4), torch_nn.ReLU())
    return torch_nn.Sequential(torch_nn.Conv2d(1, 4, 3), inner, torch_nn.ModuleList([torch_nn.BatchNorm1d(5)]),
                               torch_nn.Linear(5, 5), torch_nn.BatchNorm1d(5, affine=False, momentum=None))


def test_convert_sync_batchnorm_as_pytorch():
    torch = pytest.importorskip("torch")
    ours, theirs = model(nn), model(torch.nn)
    ours[1][0].eval()
    before = {n: t for n, t in ours.state_dict(keep_vars=True).items()}
    converted = SyncBatchNorm.convert_sync_batchnorm(ours)
    reference = torch.nn.SyncBatchNorm.convert_sync_batchnorm(theirs)
    names = [(n, type(m).__name__) for n, m in converted.named_modules()]
    assert names == [(n, type(m).__name__) for n, m in reference.named_modules()]
    after = converted.state_dict(keep_vars=True)
    assert list(after) == list(before) and all(after[k] is before[k] for k in before)  # the same tensors
    assert not converted[1][0].training and converted[4].momentum is None and converted[4].weight is None
    assert isinstance(SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(3)), SyncBatchNorm)
    assert nn.SyncBatchNorm is SyncBatchNorm
