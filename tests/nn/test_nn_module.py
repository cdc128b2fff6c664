"""Module: registration, traversal order, modes, state_dict / load_state_dict, to(device), repr."""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn


class Block(nn.Module):
    def __init__(self, device=None):
        super().__init__()
        self.scale = nn.Parameter(mt.ones(3, device=device))
        self.register_buffer("count", mt.zeros(1, device=device))
        self.register_buffer("scratch", mt.zeros(2, device=device), persistent=False)
        self.inner = nn.Linear(3, 2, device=device)
        self.shift = nn.Parameter(mt.zeros(2, device=device))
        self.note = "plain attribute"

    def forward(self, x):
        return self.inner(x * self.scale) + self.shift


def workshop_net(device=None):
    return nn.Sequential(nn.Linear(784, 256, device=device), nn.BatchNorm1d(256, device=device), nn.ReLU(),
                         nn.Dropout(0.2), nn.Linear(256, 10, device=device))


def test_registration_and_order(device):
    b = Block(device)
    assert [n for n, _ in b.named_parameters()] == ["scale", "shift", "inner.weight", "inner.bias"]
    assert [n for n, _ in b.named_buffers()] == ["count", "scratch"]
    assert list(b.state_dict()) == ["scale", "shift", "count", "inner.weight", "inner.bias"]
    assert [type(m).__name__ for m in b.modules()] == ["Block", "Linear"]
    assert list(b.children()) == [b.inner]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in b.parameters())
    assert b.note == "plain attribute" and "note" not in b._parameters
    assert len(list(b.parameters(recurse=False))) == 2
    del b.shift
    assert [n for n, _ in b.named_parameters()] == ["scale", "inner.weight", "inner.bias"]


def test_sequential_parameter_order():
    net = workshop_net()
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
    assert list(net.state_dict())[4:7] == ["1.running_mean", "1.running_var", "1.num_batches_tracked"]


def test_assignment_rules():
    b = Block()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        b.scale = mt.ones(3)
    b.scale = None
    assert "scale" not in dict(b.named_parameters())
    b.count = mt.ones(1)  # a buffer may be replaced by any tensor
    assert b.count.detach().numpy()[0] == 1
    b.inner = nn.Identity()  # a module replaces a module
    assert [n for n, _ in b.named_parameters()] == ["shift"]

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(mt.ones(1))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Early()
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        b.missing


def test_tied_parameters_reported_once():
    a, c = nn.Linear(2, 2), nn.Linear(2, 2)
    c.weight = a.weight
    net = nn.Sequential(a, c)
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_train_eval_recursive():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad(device):
    net = nn.Linear(3, 2, device=device)
    net(mt.randn(4, 3, device=device)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.detach().numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_parameter():
    t = mt.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert p.requires_grad and p.is_leaf and p.array is t.array  # shares memory, like torch
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert not nn.Parameter(t, requires_grad=False).requires_grad


def test_sequential_container():
    net = workshop_net()
    assert len(net) == 5 and isinstance(net[0], nn.Linear) and net[-1] is net[4]
    head = net[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is net[1]
    assert [type(m).__name__ for m in net] == ["Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    net.append(nn.Softmax(dim=1))
    assert len(net) == 6 and isinstance(net[5], nn.Softmax)
    del net[3]
    assert [type(m).__name__ for m in net][3] == "Linear" and list(net._modules)[-1] == "4"
    with pytest.raises(IndexError, match="out of range"):
        net[10]
    assert net.eval()(mt.randn(2, 784)).shape == (2, 10)


def test_repr_tree():
    expected = """Sequential(
  (0): Linear(in_features=784, out_features=256, bias=True)
  (1): BatchNorm1d(256, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU()
  (3): Dropout(p=0.2)
  (4): Linear(in_features=256, out_features=10, bias=True)
)"""
    assert repr(workshop_net()) == expected
    nested = nn.Sequential(nn.Sequential(nn.Tanh()), nn.LayerNorm(4))
    assert repr(nested) == ("Sequential(\n  (0): Sequential(\n    (0): Tanh()\n  )\n"
                            "  (1): LayerNorm((4,), eps=1e-05, elementwise_affine=True)\n)")


def test_state_dict_round_trip(device, tmp_path):
    src, dst = workshop_net(device), workshop_net(device)
    src.train()(mt.randn(8, 784, device=device))  # moves the running statistics away from their init
    state = src.state_dict()
    assert all(not t.requires_grad for t in state.values())
    dst.load_state_dict(state)
    for (name, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    mt.save(src.state_dict(), tmp_path / "net.npz")
    again = workshop_net(device)
    again.load_state_dict(mt.load(tmp_path / "net.npz", device=device))
    x = mt.randn(5, 784, device=device)
    np.testing.assert_array_equal(src.eval()(x).detach().numpy(), again.eval()(x).detach().numpy())
    assert again[1].num_batches_tracked.item() == 1


def test_state_dict_shares_memory_and_load_is_in_place():
    net = nn.Linear(2, 2)
    state = net.state_dict()
    weight = net.weight
    net.load_state_dict({"weight": mt.ones(2, 2), "bias": np.zeros(2)})
    assert net.weight is weight
    np.testing.assert_array_equal(state["weight"].detach().numpy(), np.ones((2, 2)))  # the earlier view sees the load


def test_load_state_dict_errors():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    good = net.state_dict()
    before = {k: v.detach().numpy().copy() for k, v in good.items()}
    missing = {k: v for k, v in good.items() if k != "1.running_var"}
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "1.running_var"'):
        net.load_state_dict(missing)
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "2.weight"'):
        net.load_state_dict({**good, "2.weight": mt.ones(1)})
    bad = {**good, "0.weight": mt.ones(3, 2), "0.bias": mt.full((2,), 7.0)}
    with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight: .*shape \(3, 2\).*shape .*\(2, 3\)"):
        net.load_state_dict(bad)
    for k, v in net.state_dict().items():  # a failed load changes nothing (0.bias was not copied)
        np.testing.assert_array_equal(v.detach().numpy(), before[k])
    result = net.load_state_dict({**missing, "extra": mt.ones(1)}, strict=False)
    assert result.missing_keys == ["1.running_var"] and result.unexpected_keys == ["extra"]
    with pytest.raises(RuntimeError, match="size mismatch"):  # shapes are checked even when not strict
        net.load_state_dict(bad, strict=False)


def test_to_device_moves_in_place(device):
    net = workshop_net()
    x = mt.randn(4, 784)
    net(x).sum().backward()
    params = list(net.parameters())
    assert net.to(device) is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]  # optimizers keep valid references
    for t in list(net.parameters()) + list(net.buffers()):
        assert t.device == device
    assert all(p.grad.device == device for p in params)
    assert net[1].num_batches_tracked.dtype == mt.int64
    y = net.eval()(x.to(device))
    assert y.device == device
    np.testing.assert_allclose(net.to("cpu")(x).detach().numpy(), y.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_to_dtype():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).to(mt.float64)
    assert all(p.dtype == mt.float64 for p in net.parameters())
    assert net[1].num_batches_tracked.dtype == mt.int64


def test_apply_and_requires_grad():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    net.apply(lambda m: nn.init.ones_(m.weight) if isinstance(m, nn.Linear) else None)
    assert all(np.all(m.weight.detach().numpy() == 1) for m in net)
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
