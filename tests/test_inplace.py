"""In-place ops, .data and version counters follow PyTorch: each case from issue 8's "Why", checked
against PyTorch where it is installed, and against the values PyTorch gives otherwise."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim


def _vec(device, values=(1.0, 2.0, 3.0), requires_grad=True):
    return mt.tensor(list(values), device=device, requires_grad=requires_grad)


def test_lecture_manual_update_keeps_the_same_leaf(device):
    """Seed 004: `with no_grad(): w -= lr * w.grad; w.grad.zero_()` updates w in place."""
    w = _vec(device)
    loss = (w * w).sum()
    loss.backward()
    before = w
    with mt.no_grad():
        w -= 0.1 * w.grad
        w.grad.zero_()
    assert w is before and w.requires_grad and w.is_leaf
    np.testing.assert_allclose(w.detach().numpy(), [0.8, 1.6, 2.4], rtol=1e-6)
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0, 0.0])


def test_parameter_loop_update_changes_the_weights():
    model = nn.Linear(3, 1)
    x = mt.randn(16, 3)
    y = x @ mt.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    losses = []
    for _ in range(20):
        loss = nn.functional.mse_loss(model(x), y)
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        with mt.no_grad():
            for p in model.parameters():
                p -= p.grad * 0.1
    assert losses[-1] < 0.8 * losses[0]
    assert [n for n, _ in model.named_parameters()] == ["weight", "bias"]


def test_in_place_on_a_leaf_that_requires_grad_raises(device):
    w = _vec(device)
    for update in (lambda: w.__isub__(1.0), lambda: w.add_(1.0), lambda: w.zero_(), lambda: w.__setitem__(0, 5.0)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            update()


def test_data_update_as_micrograd_does(device):
    p = _vec(device)
    (p * p).sum().backward()
    p.data += -0.1 * p.grad
    assert isinstance(p.data, mt.Tensor) and not p.data.requires_grad
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6, 2.4], rtol=1e-6)
    (p * 2).sum().backward()  # the next forward still works
    p.data.mul_(0.5)
    np.testing.assert_allclose(p.detach().numpy(), [0.4, 0.8, 1.2], rtol=1e-6)


def test_data_assignment_replaces_storage(device):
    p = _vec(device)
    p.data = mt.tensor([7.0, 8.0, 9.0], device=device)
    assert p.requires_grad and p.tolist() == [7.0, 8.0, 9.0]


def test_modified_saved_input_raises_like_pytorch(device):
    a = _vec(device)
    b = a * 1
    c = (a * b).sum()
    b[0] = 100
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*MulBackward.*version 1; expected version 0"):
        c.backward()


def test_setitem_on_a_non_leaf_is_differentiable(device):
    a = _vec(device)
    y = a * 2
    y[0] = 0
    y.sum().backward()
    assert a.grad.tolist() == [0.0, 2.0, 2.0]


def test_setitem_with_a_tensor_value_sends_it_the_gradient(device):
    a = _vec(device)
    v = mt.tensor(5.0, device=device, requires_grad=True)
    y = a * 1
    y[1] = v * 3
    (y * y).sum().backward()
    assert a.grad.tolist() == [2.0, 0.0, 6.0]
    assert v.grad.item() == pytest.approx(2 * 15 * 3)


def test_in_place_after_use_keeps_the_old_edges(device):
    """c was computed from b before b.mul_(3): its gradient still flows through b's old value."""
    a = _vec(device)
    b = a * 2
    c = b + 1
    b.mul_(3)
    c.sum().backward(retain_graph=True)
    assert a.grad.tolist() == [2.0, 2.0, 2.0]
    a.grad = None
    b.sum().backward()
    assert a.grad.tolist() == [6.0, 6.0, 6.0]


def test_in_place_op_uses_the_old_value_for_the_other_operand(device):
    a = _vec(device)
    w = mt.tensor([10.0, 20.0, 30.0], device=device, requires_grad=True)
    y = a * 1
    y.mul_(w)
    y.sum().backward()
    assert w.grad.tolist() == [1.0, 2.0, 3.0] and a.grad.tolist() == [10.0, 20.0, 30.0]


def test_optimizer_step_between_forward_and_backward_raises():
    """As in PyTorch: the second layer saved its weight (the first layer's input needs no gradient)."""
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = mt.randn(4, 3)
    model(x).sum().backward()
    loss = model(x).sum()
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_write_through_a_reshape_view_is_seen(device):
    a = _vec(device, (1.0, 2.0, 3.0, 4.0))
    b = a * 1
    c = (b * b).sum()
    v = b.reshape(2, 2)
    with mt.no_grad():
        v[0, 0] = 5.0
    assert b.tolist()[0] == 5.0 and b._version == v._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.backward()


def test_recorded_write_into_a_view_raises_instead_of_a_wrong_gradient(device):
    b = _vec(device) * 1
    v = b[0:2]
    with pytest.raises(RuntimeError, match="view"):
        v.mul_(2)


def test_view_of_a_rebased_tensor_is_refused(device):
    b = _vec(device) * 1
    v = b.reshape(3, 1)
    b.mul_(2)  # b's history changes; v still describes the old one
    with pytest.raises(RuntimeError, match="view"):
        (v * 1).sum()


def test_detach_shares_the_version_counter_data_does_not(device):
    a = _vec(device)
    d = a.detach()
    d.add_(1)
    assert a._version == 1 and a.tolist() == [2.0, 3.0, 4.0]
    a.data.add_(1)
    assert a._version == 1 and a.tolist() == [3.0, 4.0, 5.0]


def test_integer_tensor_cannot_hold_a_float_result(device):
    t = mt.tensor([1, 2, 3], device=device)
    with pytest.raises(RuntimeError, match="can't be cast"):
        t += 0.5
    t += 2
    assert t.tolist() == [3, 4, 5] and t.dtype == mt.int64


def test_in_place_ops_return_self_and_bump_the_version(device):
    t = mt.zeros(3, device=device)
    assert t.add_(1) is t and t.mul_(3) is t and t.fill_(2) is t and t.clamp_(0, 1) is t
    assert t._version == 4 and t.tolist() == [1.0, 1.0, 1.0]
    t.copy_(mt.tensor([1.0, 2.0, 3.0], device=device))
    assert t.tolist() == [1.0, 2.0, 3.0]


def test_grad_never_aliases_the_callers_array_or_another_grad(device):
    x = _vec(device)
    g = mt.tensor([1.0, 1.0, 1.0], device=device)
    x.T.backward(g)
    g.add_(5)
    assert x.grad.tolist() == [1.0, 1.0, 1.0]
    a, b = _vec(device), _vec(device)
    (a.reshape(3, 1) + b.reshape(3, 1)).sum().backward()
    a.grad.zero_()
    assert b.grad.tolist() == [1.0, 1.0, 1.0]


def test_gradients_accumulate_into_the_same_grad_tensor(device):
    x = _vec(device)
    (x * 2).sum().backward()
    g = x.grad
    (x * 3).sum().backward()
    assert x.grad is g and g.tolist() == [5.0, 5.0, 5.0]


def test_every_gradient_has_its_inputs_dtype():
    w = mt.tensor([1.0, 2.0], requires_grad=True)                      # float32
    x = mt.tensor(np.array([3.0, 4.0]))                                 # float64
    (w * x).sum().backward()
    assert w.grad.dtype == mt.float32


def test_grad_mode_is_per_thread():
    seen = []

    def worker():
        a = mt.tensor([1.0], requires_grad=True)
        seen.append((a * 2).requires_grad)

    with mt.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen == [True]


def test_sequential_keeps_positions_on_reassignment():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    seq[0] = nn.Linear(2, 3)
    seq[1] = nn.Tanh()
    assert [type(m).__name__ for m in seq] == ["Linear", "Tanh", "Linear"]
    assert seq(mt.randn(4, 2)).shape == (4, 1)
    layer = nn.Linear(2, 2)
    layer.weight = nn.Parameter(mt.randn(2, 2))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]


def test_hooks_see_and_replace_gradients(device):
    x = _vec(device)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    handle = x.register_hook(lambda g: g * 10)
    y.sum().backward()
    assert seen == [[1.0, 1.0, 1.0]] and x.grad.tolist() == [20.0, 20.0, 20.0]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_against_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch (the oracle) is not installed")
    for lib in (mt, torch):
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = a * 2
        y[0] = 0
        y.mul_(a)
        y.sum().backward()
        if lib is mt:
            ours = a.grad.tolist()
        else:
            assert ours == a.grad.tolist()
