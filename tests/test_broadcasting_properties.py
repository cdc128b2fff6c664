"""Property tests: for broadcasting shapes, forward equals NumPy's and every gradient has its input's shape."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import minitorch as mt

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "maximum": (mt.maximum, np.maximum),
    "minimum": (mt.minimum, np.minimum),
}

shapes = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=40, deadline=None)
@given(shapes=shapes, seed=st.integers(0, 2**16))
def test_binary_broadcast_matches_numpy(name, shapes, seed):
    ours, theirs = BINARY[name]
    rng = np.random.default_rng(seed)
    a_np = rng.uniform(0.5, 2.0, size=shapes.input_shapes[0])
    b_np = rng.uniform(0.5, 2.0, size=shapes.input_shapes[1]) * rng.choice([-1, 1], size=shapes.input_shapes[1])
    a = mt.tensor(a_np, requires_grad=True)
    b = mt.tensor(b_np, requires_grad=True)
    out = ours(a, b)
    np.testing.assert_allclose(out.detach().numpy(), theirs(a_np, b_np), rtol=1e-12)
    assert out.shape == shapes.result_shape
    out.backward(mt.ones(out.shape, dtype=mt.float64))
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


@settings(max_examples=40, deadline=None)
@given(shapes=shapes, seed=st.integers(0, 2**16))
def test_add_grad_is_sum_over_broadcast_axes(shapes, seed):
    rng = np.random.default_rng(seed)
    a = mt.tensor(rng.standard_normal(shapes.input_shapes[0]), requires_grad=True)
    b = mt.tensor(rng.standard_normal(shapes.input_shapes[1]), requires_grad=True)
    (a + b).sum().backward()
    n = int(np.prod(shapes.result_shape))
    assert np.allclose(a.grad.detach().numpy(), n / max(a.numel(), 1))
    assert np.allclose(b.grad.detach().numpy(), n / max(b.numel(), 1))


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_matmul_broadcast_matches_numpy(data):
    batch = data.draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3))
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal(batch.input_shapes[0] + (n, k))
    b_np = rng.standard_normal(batch.input_shapes[1] + (k, m))
    a, b = mt.tensor(a_np, requires_grad=True), mt.tensor(b_np, requires_grad=True)
    out = a @ b
    np.testing.assert_allclose(out.detach().numpy(), a_np @ b_np, rtol=1e-10)
    out.sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


@settings(max_examples=20, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=3))
def test_strict_backend_agrees_with_numpy(shapes):
    rng = np.random.default_rng(1)
    a_np, b_np = rng.standard_normal(shapes.input_shapes[0]), rng.standard_normal(shapes.input_shapes[1])
    grads = []
    for device in ("cpu", "strict"):
        a = mt.tensor(a_np, device=device, requires_grad=True)
        b = mt.tensor(b_np, device=device, requires_grad=True)
        (a * b + a).sum().backward()
        grads.append((a.grad.detach().numpy(), b.grad.detach().numpy()))
    np.testing.assert_allclose(grads[0][0], grads[1][0])
    np.testing.assert_allclose(grads[0][1], grads[1][1])
