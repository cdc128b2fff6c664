"""The autograd engine: tutorial examples, accumulation, retain_grad, graph freeing, grad modes."""
import numpy as np
import pytest

import minitorch as mt


def test_tutorial_examples(device):
    x = mt.tensor(1.0, requires_grad=True, device=device)
    ((3 * x + 4) ** 2).backward()
    assert x.grad.item() == pytest.approx(42.0)

    x = mt.tensor([1.0, 2.0], requires_grad=True, device=device)
    (x ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), [2.0, 4.0])

    x = mt.tensor(2.0, requires_grad=True, device=device)
    (x ** 2 + 3 * x).backward()
    assert x.grad.item() == pytest.approx(7.0)

    x = mt.tensor([-1.0, 2.0], requires_grad=True, device=device)
    x.relu().sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), [0.0, 1.0])


def test_issue_example_grad_is_tensor_on_same_device(device):
    x = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, device=device)
    (x @ x.T).relu().sum().backward()
    assert isinstance(x.grad, mt.Tensor) and x.grad.device == x.device
    np.testing.assert_allclose(x.grad.detach().numpy(), [[8.0, 12.0], [8.0, 12.0]])


def test_two_backward_calls_accumulate(device):
    x = mt.tensor([1.0, 2.0], requires_grad=True, device=device)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), [6.0, 6.0])


def test_sum_over_paths():
    x = mt.tensor(3.0, requires_grad=True)
    a, b = x * 2, x * x          # two paths from x to y
    (a * b).backward()           # y = 2x^3 -> 6x^2
    assert x.grad.item() == pytest.approx(54.0)


def test_retain_grad_keeps_non_leaf_grad(device):
    x = mt.tensor([1.0, 2.0], requires_grad=True, device=device)
    h = x * 2
    h.retain_grad()
    other = x * 5
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.detach().numpy(), [4.0, 8.0])
    assert other.grad is None and not other.is_leaf


def test_non_leaf_grad_stays_none():
    x = mt.tensor([1.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    assert h.grad is None and x.grad is not None


def test_backward_of_non_scalar_needs_gradient():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        y.backward()
    y.backward(mt.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.detach().numpy(), [2.0, 20.0])


def test_second_backward_without_retain_graph_is_an_error():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), [4.0, 8.0])


def test_no_grad_and_enable_grad():
    x = mt.tensor([1.0], requires_grad=True)
    with mt.no_grad():
        y = x * 2
        with mt.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @mt.no_grad()
    def double(t):
        return t * 2

    assert not double(x).requires_grad
    assert mt.is_grad_enabled()


def test_detach_and_requires_grad_():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    w = mt.tensor([1.0]).requires_grad_()
    assert w.requires_grad
    with pytest.raises(RuntimeError, match="floating"):
        mt.tensor([1, 2]).requires_grad_()


def test_leaves_sharing_a_gradient_array_do_not_alias():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = mt.tensor([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()
    x.grad.zero_()
    np.testing.assert_allclose(y.grad.detach().numpy(), [1.0, 1.0])


def test_float32_default_and_scalars_do_not_upcast(device):
    x = mt.tensor([1.0, 2.0], device=device)
    assert x.dtype == mt.float32
    assert (x * 2.5 + 1).dtype == mt.float32
    assert (2.5 / x).dtype == mt.float32
    assert mt.tensor([1, 2], device=device).dtype == mt.int64
    d = mt.tensor([1.0, 2.0], dtype=mt.float64, device=device, requires_grad=True)
    (d * 0.5).sum().backward()
    assert d.grad.dtype == mt.float64


def test_mixing_devices_names_both():
    a = mt.tensor([1.0], device="cpu")
    b = mt.tensor([1.0], device="strict")
    with pytest.raises(RuntimeError, match="cpu and strict"):
        a + b


def test_to_device_is_differentiable():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("strict")
    assert y.device == "strict"
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.detach().numpy(), [2.0, 4.0])


def test_requires_grad_only_when_an_input_does():
    a = mt.tensor([1.0])
    b = mt.tensor([1.0], requires_grad=True)
    assert not (a * 2).requires_grad
    assert (a * b).requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        (a * 2).sum().backward()


def test_node_reached_by_paths_of_different_lengths():
    # c feeds y directly and through c*c; c's backward must wait for both consumers.
    x = mt.tensor([0.5, -1.0, 2.0], dtype=mt.float64, requires_grad=True)
    c = x - x.mean()
    y = (c / (c * c).mean().sqrt()).sum() + (c * mt.tensor([1.0, 2.0, 3.0], dtype=mt.float64)).sum()
    y.backward()
    h = 1e-6
    def f(v):
        c = v - v.mean()
        return (c / np.sqrt((c * c).mean())).sum() + (c * np.array([1.0, 2.0, 3.0])).sum()
    v = np.array([0.5, -1.0, 2.0])
    numeric = [(f(v + h * e) - f(v - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(x.grad.detach().numpy(), numeric, atol=1e-6)
