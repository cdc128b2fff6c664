"""Module hooks (order and values are compared with PyTorch in tests/differential/test_hooks_vs_torch.py),
the fast path without hooks, and the module_calls tag that graph drawings read."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn
from minitorch.utils.hooks import RemovableHandle


def mlp(device=None):
    return nn.Sequential(nn.Linear(3, 4, device=device), nn.ReLU(), nn.Linear(4, 2, device=device))


def test_handles_remove_and_the_fast_path_returns():
    lin, seen = nn.Linear(3, 2), []
    x = mt.randn(5, 3)
    assert not lin._has_hooks
    handle = lin.register_forward_hook(lambda m, a, o: seen.append(o.shape))
    assert isinstance(handle, RemovableHandle) and lin._has_hooks
    lin(x)
    handle.remove()
    handle.remove()  # a second remove does nothing
    lin(x)
    assert seen == [(5, 2)]
    assert not lin._has_hooks  # the first call without hooks switched the module back to the fast path
    with lin.register_forward_pre_hook(lambda m, a: seen.append("pre")):
        lin(x)
    lin(x)
    assert seen == [(5, 2), "pre"] and not lin._forward_pre_hooks


def test_forward_pre_hook_with_kwargs_replaces_args_and_kwargs():
    class Scaled(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    m = Scaled()
    m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] + 1,), {"scale": 10.0}), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: out + kwargs["scale"], with_kwargs=True)
    assert m(mt.tensor([1.0, 2.0]), scale=2.0).tolist() == [30.0, 40.0]


def test_hooks_survive_to_state_dict_and_deepcopy():
    m, calls = mlp(), []
    m[0].register_forward_hook(lambda mod, a, o: calls.append(o.dtype))
    keys = list(m.state_dict())
    m.to("float64")
    m.load_state_dict(m.state_dict())
    assert list(m.state_dict()) == keys  # hooks are no state
    twin = copy.deepcopy(m)
    x = mt.randn(2, 3, dtype="float64")
    m(x)
    twin(x)
    assert calls == [np.dtype("float64")] * 2
    assert twin[0].weight.device == m[0].weight.device


def test_backward_hooks_see_the_gradients(device):
    model = mlp(device)
    x = mt.randn(5, 3, device=device, requires_grad=True)
    seen = {}
    model.register_full_backward_pre_hook(lambda m, go: seen.update(grad_output=go))
    model.register_full_backward_hook(lambda m, gi, go: seen.update(grad_input=gi))
    model[2].register_full_backward_hook(lambda m, gi, go: seen.update(inner=(gi, go)))
    out = model(x)
    out.sum().backward()
    np.testing.assert_array_equal(seen["grad_output"][0].numpy(), np.ones((5, 2), np.float32))
    np.testing.assert_allclose(seen["grad_input"][0].numpy(), x.grad.numpy())
    gi, go = seen["inner"]
    assert gi[0].shape == (5, 4) and go[0].shape == (5, 2)
    assert out.grad_fn is not None and model[0].weight.grad is not None


def test_backward_hook_replacement_reaches_the_leaves(device):
    lin = nn.Linear(3, 2, device=device)
    x = mt.randn(4, 3, device=device, requires_grad=True)
    lin(x).sum().backward()
    plain = x.grad.numpy().copy()
    x.grad = None
    lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 3,))
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))
    lin(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), plain * 6, rtol=1e-6)


def test_backward_hooks_fire_on_each_backward_with_retain_graph():
    lin, calls = nn.Linear(3, 2), []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append(gi[0].numpy().copy()))
    out = lin(mt.randn(4, 3, requires_grad=True)).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert len(calls) == 2 and np.array_equal(calls[0], calls[1])


def test_no_backward_hook_work_without_grad():
    lin, calls = nn.Linear(3, 2), []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    with mt.no_grad():
        out = lin(mt.randn(4, 3, requires_grad=True))
    assert out.grad_fn is None and calls == []


def test_hook_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        nn.Linear(2, 2).register_forward_hook(3)


# -- module_calls: the tag graph drawings group nodes by -----------------------------------------
def test_module_calls_inner_first():
    model = mlp()
    x = mt.randn(5, 3, requires_grad=True)
    out = model(x)
    calls = out.grad_fn.module_calls
    assert [m for m, _ in calls] == [model[2], model]  # the inner call first
    assert calls[1][1] == (None,)  # the model's input is a leaf
    relu_node = calls[0][1][0]  # the last Linear's input node: made by the ReLU, inside the model
    assert [m for m, _ in relu_node.module_calls] == [model[1]]
    assert relu_node.module_calls[0][1][0].module_calls == [(model[0], (None,))]


def test_module_calls_only_with_grad_and_new_nodes():
    model = mlp()
    x = mt.randn(5, 3)
    with mt.no_grad():
        assert model(x).grad_fn is None
    y = mt.randn(5, 3, requires_grad=True) * 2
    ident = nn.Identity()
    assert ident(y) is y and "module_calls" not in y.grad_fn.__dict__  # no node of its own: not tagged


def test_module_calls_on_tuple_outputs_and_hooked_modules():
    class Two(nn.Module):
        def forward(self, a, b, k):
            return a * k, b + 1, "note"

    m = Two()
    m.register_forward_hook(lambda mod, args, out: None)  # the hooked path tags too
    a, b = mt.randn(3, requires_grad=True), mt.randn(3, requires_grad=True) * 1
    p, q, _ = m(a, b, 2.0)
    assert p.grad_fn.module_calls == [(m, (None, b.grad_fn, None))]
    assert q.grad_fn.module_calls == [(m, (None, b.grad_fn, None))]
    m._forward_hooks.clear()  # the call that finds no hooks left (and goes back to the fast path) tags too
    assert m(a, b, 2.0)[0].grad_fn.module_calls == [(m, (None, b.grad_fn, None))] and not m._has_hooks
