"""max / avg / adaptive-avg pooling, unfold / fold and their modules: gradchecks, PyTorch comparisons, errors."""
import random

import numpy as np
import pytest

import minitorch as mt
import minitorch.nn.functional as F
from minitorch import nn
from minitorch.autograd import gradcheck

try:  # PyTorch is the oracle of the comparisons; the gradchecks run without it
    import torch
    TF = torch.nn.functional
except ImportError:
    torch = TF = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (pip install torch)")

# name -> (function, input shape); max pooling inputs are distinct values (no ties on the finite-difference kinks)
POOL = {
    "max": (lambda x: F.max_pool2d(x, 2), (2, 2, 4, 5)),
    "max_stride_pad_dilation": (lambda x: F.max_pool2d(x, (3, 2), (2, 1), (1, 1), (1, 2)), (1, 2, 6, 6)),
    "max_ceil": (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), (1, 2, 6, 5)),
    "max_unbatched": (lambda x: F.max_pool2d(x, 2, 1), (2, 3, 3)),
    "max1d": (lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True), (2, 2, 8)),
    "avg": (lambda x: F.avg_pool2d(x, 2), (2, 2, 4, 5)),
    "avg_pad_exclude": (lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), (1, 2, 5, 6)),
    "avg_ceil_include": (lambda x: F.avg_pool2d(x, (3, 2), (2, 2), (1, 1), ceil_mode=True), (1, 1, 6, 5)),
    "avg_divisor": (lambda x: F.avg_pool2d(x, 2, 1, 1, divisor_override=3), (1, 2, 4, 4)),
    "adaptive_divides": (lambda x: F.adaptive_avg_pool2d(x, 2), (2, 2, 4, 6)),
    "adaptive_uneven": (lambda x: F.adaptive_avg_pool2d(x, (3, 4)), (1, 2, 5, 7)),
    "adaptive_none_upsample": (lambda x: F.adaptive_avg_pool2d(x, (None, 5)), (1, 1, 3, 3)),
    "unfold": (lambda x: F.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)), (2, 2, 5, 6)),
    "fold": (lambda x: F.fold(x, (4, 5), 2, padding=1, stride=2), (2, 8, 9)),
}


@pytest.mark.parametrize("name", POOL)
def test_gradcheck(device, name):
    fn, shape = POOL[name]
    values = np.random.default_rng(0).permutation(int(np.prod(shape))).reshape(shape) / 10.0  # distinct
    assert gradcheck(fn, [mt.tensor(values, device=device, requires_grad=True)])


@needs_torch
@pytest.mark.parametrize("fused", ["1", "0"])
def test_max_pool_gives_ties_to_the_first_max_as_pytorch(fused, monkeypatch):
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    x = np.zeros((1, 1, 4, 4))  # all ties but two: relu'd activations look like this
    x[0, 0, 1, 1] = x[0, 0, 3, 3] = -1.0
    weights = np.arange(16.0).reshape(4, 4)
    tx, mx = torch.tensor(x, requires_grad=True), mt.tensor(x, requires_grad=True)
    (torch.nn.functional.max_pool2d(tx, 3, 1, 1) * torch.from_numpy(weights)).sum().backward()
    (F.max_pool2d(mx, 3, 1, 1) * mt.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(mx.grad.numpy(), tx.grad.numpy())


def test_max_pool_fast_path_agrees_with_the_array_api_path(monkeypatch):
    x = np.round(np.random.default_rng(0).standard_normal((3, 4, 9, 7)) * 2)  # many ties
    results = []
    for fused in ("1", "0"):
        monkeypatch.setenv("MINITORCH_FUSED", fused)
        mx = mt.tensor(x, requires_grad=True)
        out, idx = F.max_pool2d(mx, (3, 2), (2, 1), 1, (1, 2), ceil_mode=True, return_indices=True)
        (out * mt.arange(out.numel(), dtype=mt.float64).reshape(out.shape)).sum().backward()
        results.append((out.detach().numpy(), idx.numpy(), mx.grad.numpy()))
    for fast, ref in zip(*results):
        np.testing.assert_array_equal(fast, ref)


# ---------------------------------------------------------------- PyTorch comparison



def _random_call(rnd):
    """(op name, args, kwargs, input shape); sometimes with arguments PyTorch rejects."""
    op = rnd.choice(["max_pool2d", "max_pool2d", "avg_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "max_pool1d",
                     "unfold"])
    dims = 1 if op == "max_pool1d" else 2
    k = tuple(rnd.randint(1, 3) for _ in range(dims))
    stride = rnd.choice([None, 1, 2, 3]) if op != "unfold" else rnd.randint(1, 2)
    pad = rnd.randint(0, 2)
    d = rnd.choice([1, 1, 2])
    # every window holds an input element (PyTorch reads past the input when one does not)
    spatial = tuple(rnd.randint(max(1, d * (kk - 1) + 1 - (rnd.random() < 0.1)), 7) for kk in k)
    shape = (rnd.randint(1, 2), rnd.randint(1, 3)) + spatial
    if rnd.random() < 0.15:
        shape = shape[1:]
    ceil = rnd.random() < 0.5
    if op in ("max_pool2d", "max_pool1d"):
        return op, (k[0] if dims == 1 else k,), dict(stride=stride, padding=pad, dilation=d, ceil_mode=ceil,
                                                     return_indices=rnd.random() < 0.5), shape
    if op == "avg_pool2d":
        return op, (k,), dict(stride=stride, padding=pad, ceil_mode=ceil, count_include_pad=rnd.random() < 0.5,
                              divisor_override=rnd.choice([None, None, 2])), shape
    if op == "unfold":
        return op, (k,), dict(dilation=d, padding=pad, stride=stride), shape
    return op, ((rnd.randint(1, 5), rnd.choice([None, rnd.randint(1, 5)])),), {}, shape


@needs_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_random_calls_match_pytorch(device, dtype):
    rnd, rng = random.Random(1), np.random.default_rng(1)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    raised = 0
    for i in range(150):
        op, args, kwargs, shape = _random_call(rnd)
        x = rng.standard_normal(shape).astype(dtype)
        x = np.round(x) if i % 3 == 0 else x  # ties
        tx, mx = torch.tensor(x, requires_grad=True), mt.tensor(x, device=device, requires_grad=True)
        what = f"case {i}: {op}{args} {kwargs} on {shape}"
        try:
            want = getattr(TF, op)(tx, *args, **kwargs)
        except RuntimeError:
            with pytest.raises(RuntimeError):
                getattr(F, op)(mx, *args, **kwargs)
            raised += 1
            continue
        got = getattr(F, op)(mx, *args, **kwargs)
        if kwargs.get("return_indices"):
            (got, got_idx), (want, want_idx) = got, want
            assert got_idx.dtype == mt.int64
            np.testing.assert_array_equal(got_idx.numpy(), want_idx.numpy(), err_msg=what)
        assert got.shape == tuple(want.shape) and got.dtype == dtype, what
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol, atol=tol, err_msg=what)
        g = rng.standard_normal(want.shape).astype(dtype)
        want.backward(torch.from_numpy(g))
        got.backward(mt.tensor(g, device=device))
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol, err_msg=what)
    assert 5 < raised < 100


@needs_torch
def test_fold_matches_pytorch_and_rejects_wrong_block_counts(device):
    cols = np.random.default_rng(0).standard_normal((2, 12, 9))
    got = F.fold(mt.tensor(cols, device=device), (5, 5), 2, dilation=1, padding=1, stride=2)
    want = TF.fold(torch.from_numpy(cols), (5, 5), 2, dilation=1, padding=1, stride=2)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError):
        TF.fold(torch.from_numpy(cols), (5, 4), 2)
    with pytest.raises(RuntimeError, match=r"fold: input of shape \(2, 12, 9\) does not fit output_size \(5, 4\)"):
        F.fold(mt.tensor(cols, device=device), (5, 4), 2)


@needs_torch
def test_integer_inputs_follow_pytorch_or_raise_clearly():
    x = np.arange(36).reshape(1, 1, 6, 6) % 7
    got = F.max_pool2d(mt.tensor(x), 3, 2, 1)
    np.testing.assert_array_equal(got.numpy(), TF.max_pool2d(torch.from_numpy(x), 3, 2, 1).numpy())
    assert got.dtype == mt.int64
    with pytest.raises(NotImplementedError, match="avg_pool2d"):  # deliberate: PyTorch truncates to int64
        F.avg_pool2d(mt.tensor(x), 2)
    with pytest.raises(NotImplementedError, match="adaptive_avg_pool2d"):
        F.adaptive_avg_pool2d(mt.tensor(x), 2)


@pytest.mark.parametrize("call, message", [
    (lambda: F.max_pool2d(mt.zeros(1, 1, 4, 4), 3, padding=2),
     r"max_pool2d: pad should be at most half of effective kernel size, but got pad=2, kernel_size=3"),
    (lambda: F.max_pool2d(mt.zeros(1, 1, 4, 4), 5), r"max_pool2d: input of shape \(1, 1, 4, 4\) gives output size"),
    (lambda: F.avg_pool2d(mt.zeros(1, 1, 4, 4), 2, padding=2), r"avg_pool2d: pad should be at most half"),
    (lambda: F.max_pool2d(mt.zeros(4, 4), 2), r"max_pool2d: expected 3-D or 4-D input"),
    (lambda: F.max_pool2d(mt.zeros(1, 1, 4, 4), 2, stride=0), r"max_pool2d: non-positive stride"),
    (lambda: F.unfold(mt.zeros(1, 1, 2, 2), 3), r"unfold: input of shape \(1, 1, 2, 2\)"),
])
def test_errors_name_the_op_and_shapes(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


@needs_torch
def test_modules_match_pytorch():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6)).astype(np.float32)
    pairs = [(nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
             (nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
             (nn.AvgPool2d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)),
             (nn.AdaptiveAvgPool2d((2, None)), torch.nn.AdaptiveAvgPool2d((2, None))),
             (nn.Sequential(nn.Flatten(), nn.Unflatten(1, (3, -1))),
              torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Unflatten(1, (3, -1))))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(mt.tensor(x)).numpy(), theirs(torch.from_numpy(x)).numpy(), rtol=1e-6)
    out, idx = nn.MaxPool2d(2, return_indices=True)(mt.tensor(x))
    want_out, want_idx = torch.nn.MaxPool2d(2, return_indices=True)(torch.from_numpy(x))
    np.testing.assert_array_equal(idx.numpy(), want_idx.numpy())


def test_pooled_activations_view_like_pytorch():
    y = F.max_pool2d(F.relu(nn.Conv2d(1, 4, 3)(mt.randn(2, 1, 8, 8))), 2)
    assert y.view(2, -1).shape == (2, 36)  # contiguous NCHW, as torch's, so .view works


@needs_torch
@pytest.mark.parametrize("fused", ["1", "0"])
def test_nan_inputs_and_infinite_grads_route_like_pytorch(fused, monkeypatch):
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = x[1, 1, 3, 3] = np.nan  # two NaNs in one window: PyTorch takes the last
    g = np.random.default_rng(1).standard_normal((2, 2, 3, 3))
    g[0, 1, 1, 1], g[1, 0, 2, 0] = np.inf, -np.inf  # must reach the argmax only, not turn 0s into NaN
    tx, mx = torch.tensor(x, requires_grad=True), mt.tensor(x, requires_grad=True)
    want, want_idx = TF.max_pool2d(tx, 2, return_indices=True)
    got, got_idx = F.max_pool2d(mx, 2, return_indices=True)
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    np.testing.assert_array_equal(got_idx.numpy(), want_idx.numpy())
    want.backward(torch.from_numpy(g))
    got.backward(mt.tensor(g))
    np.testing.assert_array_equal(mx.grad.numpy(), tx.grad.numpy())


def test_graph_kept_for_a_second_backward_survives_new_forwards():
    """Pooled work buffers are reused only once nothing holds them: not while a retained graph does."""
    conv = nn.Conv2d(3, 8, 3, padding=1)
    x = mt.tensor(np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32), requires_grad=True)
    loss = F.max_pool2d(F.relu(conv(x)), 2).sum()
    loss.backward(retain_graph=True)
    first = [t.grad.numpy().copy() for t in (x, conv.weight, conv.bias)]
    for _ in range(2):  # other forwards and backwards take buffers of the same shapes meanwhile
        F.max_pool2d(F.relu(conv(x * 2)), 2).sum().backward()
    for t in (x, conv.weight, conv.bias):
        t.grad = None
    loss.backward()
    for got, want in zip((x.grad, conv.weight.grad, conv.bias.grad), first):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
