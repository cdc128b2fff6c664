"""Backward observers (add_backward_observer) and retain_grad as a hook that runs after the others."""
import gc
import weakref

import numpy as np
import pytest

import minitorch as mt
from minitorch import autograd


def _host(a):
    """A gradient array of any backend as NumPy."""
    return np.asarray(mt.tensor(a).tolist())


class Recorder:
    """Remembers every call: (node name, upstream gradient, returned gradients, input shapes)."""

    def __init__(self):
        self.nodes, self.leaves = [], []

    def __call__(self, node, grad_in, grads_out):
        self.nodes.append((node.name, grad_in, grads_out, [getattr(t, "shape", None) for t in node.inputs]))

    def on_accumulate(self, t, grad):
        self.leaves.append((t, grad))


def test_observer_sees_each_node_in_order_after_hooks_before_unbroadcast(device):
    x = mt.ones(2, 3, device=device, requires_grad=True)
    b = mt.ones(3, device=device, requires_grad=True)
    z = x + b
    z.register_hook(lambda g: g * 10)
    loss = (z * 3).sum()
    rec = Recorder()
    with mt.autograd.add_backward_observer(rec):
        loss.backward()
    assert [n for n, *_ in rec.nodes] == ["SumBackward", "MulBackward", "AddBackward"]
    name, grad_in, grads_out, shapes = rec.nodes[2]
    np.testing.assert_allclose(_host(grad_in), np.full((2, 3), 30.0))  # 3, then the hook's * 10
    assert [tuple(g.shape) for g in grads_out] == [(2, 3), (2, 3)]     # b's is not yet summed to (3,)
    assert shapes == [(2, 3), (3,)]                                    # inputs are still there
    assert autograd.backward_observers == []
    np.testing.assert_allclose(b.grad.numpy(), [60.0, 60.0, 60.0])


def test_on_accumulate_gets_the_sum_of_paths_before_leaf_hooks(device):
    x = mt.tensor([1.0, 2.0], device=device, requires_grad=True)
    x.register_hook(lambda g: g * 100)
    rec = Recorder()
    with mt.autograd.add_backward_observer(rec):
        (x * 2 + x * 3).sum().backward()
    ((t, g),) = rec.leaves
    assert t is x
    np.testing.assert_allclose(_host(g), [5.0, 5.0])
    np.testing.assert_allclose(x.grad.numpy(), [500.0, 500.0])


def test_backward_of_a_leaf_reports_only_its_accumulation():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    rec = Recorder()
    with mt.autograd.add_backward_observer(rec):
        x.backward(mt.tensor([3.0, 4.0]))
    assert rec.nodes == [] and [t for t, _ in rec.leaves] == [x]


def test_handle_remove_and_observers_without_on_accumulate():
    seen = []
    handle = mt.autograd.add_backward_observer(lambda node, g, grads: seen.append(node.name))
    other = mt.autograd.add_backward_observer(lambda node, g, grads: seen.append("other"))
    x = mt.tensor([1.0], requires_grad=True)
    (x * 2).sum().backward()
    handle.remove()
    handle.remove()  # twice is harmless
    (x * 2).sum().backward()
    other.remove()
    (x * 2).sum().backward()
    assert seen == ["SumBackward", "other", "MulBackward", "other", "other", "other"]
    assert autograd.backward_observers == []


def test_no_observer_means_no_per_node_call(monkeypatch):
    calls = []
    monkeypatch.setattr(autograd, "_watch", lambda *a: calls.append(a[0].name))
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    (x.exp() * 2).sum().backward()
    assert calls == []
    with mt.autograd.add_backward_observer(lambda *a: None):
        (x.exp() * 2).sum().backward()
    assert calls == ["SumBackward", "MulBackward", "ExpBackward"]


def test_observer_runs_before_detect_anomaly_raises():
    seen = []
    x = mt.tensor([0.0], requires_grad=True)
    with mt.autograd.add_backward_observer(lambda node, g, grads: seen.append(node.name)):
        with mt.autograd.detect_anomaly(), np.errstate(all="ignore"):
            with pytest.raises(RuntimeError, match="SqrtBackward"):
                x.sqrt().sum().backward()
    assert seen == ["SumBackward", "SqrtBackward"]


def test_observer_removed_when_the_block_raises():
    with pytest.raises(ValueError):
        with mt.autograd.add_backward_observer(lambda *a: None):
            raise ValueError
    assert autograd.backward_observers == []


# -- retain_grad: a hook that runs last, compared with PyTorch -----------------------------------
def _hooks_around_retain(lib):
    log = []
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: (log.append(("before", g.tolist())), g * 10)[1])
    y.retain_grad()
    y.register_hook(lambda g: (log.append(("after", g.tolist())), g + 1)[1])
    removed = y.register_hook(lambda g: g * 0)
    removed.remove()
    (y * y).sum().backward()
    return log, y.grad.tolist(), x.grad.tolist(), y.retains_grad


def _leaf(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    x.retain_grad()
    (x * 3).sum().backward()
    try:
        lib.tensor([1.0]).retain_grad()
        error = None
    except RuntimeError as exc:
        error = str(exc)
    return x.grad.tolist(), x.retains_grad, error


def _view(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = (x * 1)[1:]
    v.retain_grad()
    w = x[:2]  # a view of a leaf is not a leaf
    w.retain_grad()
    (v * v).sum().backward(retain_graph=True)
    (w * 5).sum().backward()
    return v.grad.tolist(), w.grad.tolist(), x.grad.tolist(), v.retains_grad, w.is_leaf


def _twice(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    y.retain_grad()
    z = (y * y).sum()
    z.retain_grad()  # the root
    z.backward(retain_graph=True)
    z.backward()
    return y.grad.tolist(), z.grad.tolist(), x.grad.tolist()


def _in_place_after_retain(lib):
    log = []
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: log.append(("old value", g.tolist())))
    y.mul_(3)
    y.register_hook(lambda g: log.append(("new value", g.tolist())))
    (y * y).sum().backward()
    return log, y.grad.tolist(), y.retains_grad, x.grad.tolist()


@pytest.mark.parametrize("scenario", [_hooks_around_retain, _leaf, _view, _twice, _in_place_after_retain])
def test_retain_grad_against_pytorch(scenario):
    torch = pytest.importorskip("torch", reason="PyTorch (the oracle) is not installed")
    assert scenario(mt) == scenario(torch)


def test_retain_grad_makes_no_reference_cycle_and_no_alias(device):
    x = mt.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2
    y.retain_grad()
    ref = weakref.ref(y)
    gc.disable()  # freed by reference counting alone: its node's hook must not point back at it
    try:
        del y
        assert ref() is None
    finally:
        gc.enable()
    r = x.reshape(2)  # its gradient reaches x unchanged: .grad of each must be its own array
    r.retain_grad()
    r.sum().backward()
    x.grad += 1
    np.testing.assert_allclose(r.grad.numpy(), [1.0, 1.0])
