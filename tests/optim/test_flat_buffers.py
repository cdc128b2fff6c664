"""Optimizers with flat=True: parameters, gradients and state are views of one buffer per device and dtype,
the updates are the same numbers as per tensor, zero_grad() keeps PyTorch's None, and checkpoints keep
their format."""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim

OPTIMIZERS = {
    "adam": lambda ps, flat: optim.Adam(ps, lr=1e-2, weight_decay=1e-3, flat=flat),
    "adamw-amsgrad": lambda ps, flat: optim.AdamW(ps, lr=1e-2, amsgrad=True, flat=flat),
    "adam-maximize": lambda ps, flat: optim.Adam(ps, lr=1e-2, maximize=True, flat=flat),
    "sgd-nesterov": lambda ps, flat: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3, flat=flat),
    "sgd-dampening": lambda ps, flat: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5, flat=flat),
    "rmsprop-centered": lambda ps, flat: optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True, flat=flat),
    "adagrad": lambda ps, flat: optim.Adagrad(ps, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, flat=flat),
    "adadelta": lambda ps, flat: optim.Adadelta(ps, lr=1.0, weight_decay=1e-3, flat=flat),
}


def model(device: str, seed: int = 0) -> nn.Module:
    mt.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3)).to(device)


def run(device: str, make, flat: bool, steps: int = 4, set_to_none: bool = True):
    net = model(device)
    opt = make(net.parameters(), flat)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        x = mt.tensor(rng.standard_normal((6, 5)).astype(np.float32), device=device)
        opt.zero_grad(set_to_none=set_to_none)
        (net(x) ** 2).mean().backward()
        opt.step()
    return net, opt


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_flat_updates_are_the_per_tensor_numbers(device, name):
    per_tensor, _ = run(device, OPTIMIZERS[name], flat=False)
    flat, _ = run(device, OPTIMIZERS[name], flat=True)
    for (key, a), (_, b) in zip(per_tensor.state_dict().items(), flat.state_dict().items()):
        assert a.numpy().tobytes() == b.numpy().tobytes(), key


def test_parameters_gradients_and_state_are_views_of_one_buffer():
    net, opt = run("cpu", OPTIMIZERS["adam"], flat=True, steps=2)
    params = list(net.parameters())
    buf = opt._homes[id(params[0])][0]
    assert buf.param_flat.size == sum(p.numel() for p in params)
    assert all(p.array.base is buf.param_flat for p in params)
    assert all(p.grad.array.base is buf.grad_flat for p in params)
    for name in ("exp_avg", "exp_avg_sq"):
        flat = buf.state[name][0]
        assert all(opt.state[p][name].array.base is flat for p in params)
    params[0].array[0, 0] = 123.0  # writes through the parameter land in the flat buffer
    assert buf.param_flat[0] == 123.0


def test_zero_grad_sets_none_and_the_next_gradient_is_copied_in():
    net, opt = run("cpu", OPTIMIZERS["sgd-nesterov"], flat=True, steps=1)
    opt.zero_grad()
    assert all(p.grad is None for p in net.parameters())  # PyTorch's default, views or not
    (net(mt.ones(2, 5)) ** 2).sum().backward()
    adopted = [p.grad.array for p in net.parameters()]
    opt.step()
    buf = opt._homes[id(next(net.parameters()))][0]
    assert all(p.grad.array.base is buf.grad_flat and p.grad.array is not a for p, a in zip(net.parameters(), adopted))


def assert_same_parameters(a, b):
    """Every parameter of the two networks equal bit for bit."""
    for p, q in zip(a.parameters(), b.parameters()):
        assert p.detach().numpy().tobytes() == q.detach().numpy().tobytes()


def test_zero_grad_to_zeros_accumulates_in_the_flat_buffer():
    net, opt = run("cpu", OPTIMIZERS["adam"], flat=True, steps=3, set_to_none=False)
    buf = opt._homes[id(next(net.parameters()))][0]
    assert all(p.grad.array.base is buf.grad_flat for p in net.parameters())
    reference, _ = run("cpu", OPTIMIZERS["adam"], flat=False, steps=3, set_to_none=False)
    assert_same_parameters(reference, net)


def test_a_parameter_without_gradient_takes_the_per_tensor_path():
    nets = []
    for flat in (False, True):
        net = model("cpu")
        opt = optim.Adam(net.parameters(), lr=1e-2, flat=flat)
        for step in range(3):
            opt.zero_grad()
            (net(mt.ones(3, 5)) ** 2).sum().backward()
            if step == 1:
                net[3].bias.grad = None  # skipped this step: its own step count falls behind
            opt.step()
        nets.append(net)
    assert nets[1][3].bias is not None and opt.state[nets[1][3].bias]["step"] == 2
    assert_same_parameters(*nets)


def test_checkpoint_format_is_unchanged_and_loads_into_flat_buffers(tmp_path):
    net, opt = run("cpu", OPTIMIZERS["adam"], flat=True, steps=2)
    ref_net, ref_opt = run("cpu", OPTIMIZERS["adam"], flat=False, steps=2)
    a, b = opt.state_dict(), ref_opt.state_dict()
    assert a["param_groups"] == b["param_groups"] and a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        assert a["state"][i].keys() == b["state"][i].keys()
        assert all(a["state"][i][k].shape == b["state"][i][k].shape for k in a["state"][i] if k != "step")
    mt.save(ref_opt.state_dict(), tmp_path / "opt.npz")
    fresh_net = model("cpu")
    fresh_net.load_state_dict(ref_net.state_dict())
    fresh = optim.Adam(fresh_net.parameters(), lr=1e-2, weight_decay=1e-3, flat=True)
    fresh.load_state_dict(mt.load(tmp_path / "opt.npz"))
    for n, o in ((fresh_net, fresh), (ref_net, ref_opt)):
        o.zero_grad()
        (n(mt.ones(2, 5)) ** 2).sum().backward()
        o.step()
    buf = fresh._homes[id(next(fresh_net.parameters()))][0]
    assert fresh.state[next(fresh_net.parameters())]["exp_avg"].array.base is buf.state["exp_avg"][0]
    assert_same_parameters(fresh_net, ref_net)


def test_a_parameter_moved_away_falls_back_with_the_same_numbers():
    nets = []
    for flat in (False, True):
        net = model("cpu")
        opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, flat=flat)
        for step in range(3):
            if step == 1:
                net[0].weight.data = net[0].weight.detach().clone()  # no longer a view of the flat buffer
            opt.zero_grad()
            (net(mt.ones(3, 5)) ** 2).sum().backward()
            opt.step()
        nets.append(net)
    assert_same_parameters(*nets)


def test_tied_parameters_stay_tied():
    a = nn.Parameter(mt.ones(4))
    b = nn.Parameter(a)  # shares a's storage, as torch.nn.Parameter(t) does
    opt = optim.SGD([a, b], lr=0.1, flat=True)
    assert not opt._homes  # moving either would untie them
    a.grad, b.grad = mt.ones(4), mt.ones(4)
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy())


def test_flat_adam_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (4,), (2, 3))]
    ours = [nn.Parameter(mt.tensor(v)) for v in values]
    theirs = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    opt = optim.Adam(ours, lr=0.1, weight_decay=0.01, flat=True)
    topt = torch.optim.Adam(theirs, lr=0.1, weight_decay=0.01)
    for step in range(5):
        grads = [rng.standard_normal(v.shape).astype(np.float32) for v in values]
        for p, q, g in zip(ours, theirs, grads):
            p.grad, q.grad = mt.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
