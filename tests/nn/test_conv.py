"""conv1d / conv2d / conv_transpose2d and their modules: gradchecks, PyTorch comparisons, errors, chunking."""
import math
import random

import numpy as np
import pytest

import minitorch as mt
import minitorch.nn.functional as F
from minitorch import nn
from minitorch.autograd import gradcheck
from minitorch.kernels import reference, window_numpy
from minitorch.ops import conv as conv_ops
from helpers import make

try:  # PyTorch is the oracle of the comparisons; the gradchecks run without it
    import torch
    TF = torch.nn.functional
except ImportError:
    torch = TF = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (pip install torch)")

# name -> (function of (x, w, b), x shape, w shape, bias?)
CONV2D = {
    "plain": (lambda x, w, b: F.conv2d(x, w, b), (2, 3, 5, 5), (4, 3, 3, 3), True),
    "no_bias": (lambda x, w, b: F.conv2d(x, w), (1, 2, 4, 5), (3, 2, 2, 2), False),
    "stride_pad": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), (2, 2, 5, 6), (3, 2, 3, 3), True),
    "tuple_args": (lambda x, w, b: F.conv2d(x, w, b, (2, 1), (0, 2), (1, 2)), (1, 2, 6, 5), (2, 2, 2, 3), True),
    "same_even": (lambda x, w, b: F.conv2d(x, w, b, padding="same"), (1, 2, 4, 5), (2, 2, 2, 4), True),
    "same_dilated": (lambda x, w, b: F.conv2d(x, w, b, padding="same", dilation=2), (1, 1, 5, 5), (2, 1, 3, 2), True),
    "valid": (lambda x, w, b: F.conv2d(x, w, b, padding="valid"), (1, 2, 4, 4), (2, 2, 3, 1), True),
    "groups": (lambda x, w, b: F.conv2d(x, w, b, groups=2, padding=1), (2, 4, 4, 4), (6, 2, 3, 3), True),
    "depthwise": (lambda x, w, b: F.conv2d(x, w, b, groups=3, stride=2), (1, 3, 5, 5), (3, 1, 3, 3), True),
    "unbatched": (lambda x, w, b: F.conv2d(x, w, b, padding=1), (2, 4, 3), (3, 2, 2, 2), True),
    "conv1d": (lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2), (2, 3, 9), (4, 3, 3), True),
    "conv1d_same_groups": (lambda x, w, b: F.conv1d(x, w, b, padding="same", groups=2), (1, 4, 6), (2, 2, 4), True),
    "transpose": (lambda x, w, b: F.conv_transpose2d(x, w, b), (1, 2, 3, 3), (2, 3, 2, 2), True),
    "transpose_stride_outpad": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
                                (2, 2, 3, 4), (2, 2, 3, 3), True),
    "transpose_groups_dilation": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=(2, 1), padding=(0, 1),
                                                                     groups=2, dilation=2), (1, 4, 3, 3),
                                  (4, 1, 2, 3), False),
    "transpose_outpad_past_padding": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=3, padding=1,
                                                                         output_padding=2), (1, 1, 2, 2),
                                      (1, 2, 2, 2), True),
}


@pytest.mark.parametrize("name", CONV2D)
def test_gradcheck(device, name):
    fn, xs, ws, has_bias = CONV2D[name]
    cout = ws[1] * (2 if "groups" in name else 1) if name.startswith("transpose") else ws[0]
    inputs = [make(device, xs, seed=1), make(device, ws, seed=2)] + ([make(device, (cout,), seed=3)] if has_bias
                                                                      else [])
    assert gradcheck(lambda x, w, b=None: fn(x, w, b), inputs)


@pytest.mark.parametrize("fused", ["1", "0"])
def test_budget_chunking_equals_one_chunk(device, monkeypatch, fused):
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    x, w, b = make(device, (5, 2, 6, 6), seed=1), make(device, (3, 2, 3, 3), seed=2), make(device, (3,), seed=3)
    wt = make(device, (2, 3, 2, 2), seed=4)

    def run():
        outs = [F.conv2d(x, w, b, padding=1, stride=(1, 2)), F.conv_transpose2d(x, wt, None, stride=2)]
        sum(o.sum() * (i + 1) for i, o in enumerate(outs)).backward()
        grads = [t.grad.numpy().copy() for t in (x, w, b, wt)]
        for t in (x, w, b, wt):
            t.grad = None
        return [o.detach().numpy() for o in outs] + grads

    whole = run()
    monkeypatch.setattr(conv_ops, "IM2COL_BUDGET_BYTES", 200)  # a couple of samples per chunk
    for got, want in zip(run(), whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_column_buffers_stay_within_the_budget(monkeypatch):
    """A (256, 3, 32, 32) batch through Conv2d(3, 64, 3, padding=1): no column buffer over the budget."""
    sizes = []
    for mod in (window_numpy, reference):
        original = mod.conv_columns if mod is window_numpy else mod.im2col
        name = "conv_columns" if mod is window_numpy else "im2col"

        def spy(*args, _original=original, **kwargs):
            out = _original(*args, **kwargs)
            sizes.append(math.prod(out.shape) * 4)
            return out
        monkeypatch.setattr(mod, name, spy)
    monkeypatch.setattr(conv_ops, "IM2COL_BUDGET_BYTES", 8 * 2**20)  # 8 MiB: forces chunks at this size
    conv = nn.Conv2d(3, 64, 3, padding=1)
    x = mt.randn(256, 3, 32, 32)
    conv(x).sum().backward()
    assert sizes and max(sizes) <= conv_ops.IM2COL_BUDGET_BYTES, sizes
    assert len(sizes) > 2  # chunked in the forward, and rebuilt chunk by chunk for dW


def test_numpy_fast_path_matches_array_api_path(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 7, 6)).astype(np.float32)
    w = rng.standard_normal((5, 4, 3, 2)).astype(np.float32)
    results = {}
    for fused in ("1", "0"):
        monkeypatch.setenv("MINITORCH_FUSED", fused)
        tx, tw = mt.tensor(x, requires_grad=True), mt.tensor(w, requires_grad=True)
        tb = mt.zeros(5, requires_grad=True)
        y = F.conv2d(F.relu(F.conv2d(tx, tw, tb, padding=(1, 2), dilation=(1, 2))[:, :4]), tw, stride=2)
        g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        (y * mt.tensor(g)).sum().backward()
        results[fused] = [y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()]
    for fast, ref in zip(results["1"], results["0"]):
        np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- PyTorch comparison



def _random_case(rnd):
    """A random call of one of the three convolutions; sizes sometimes too small, channels sometimes wrong."""
    op = rnd.choice(["conv2d", "conv2d", "conv1d", "conv_transpose2d"])
    dims = 1 if op == "conv1d" else 2
    groups = rnd.choice([1, 1, 2, 3])
    cin, cout = groups * rnd.randint(1, 2), groups * rnd.randint(1, 2)
    if rnd.random() < 0.1:
        cin += 1  # channels that the groups / the weight do not match
    k = tuple(rnd.randint(1, 3) for _ in range(dims))
    spatial = tuple(rnd.randint(1, 6) for _ in range(dims))
    x_shape = (rnd.randint(1, 2), cin) + spatial
    if rnd.random() < 0.1:
        x_shape = x_shape[1:]  # unbatched
    kwargs = dict(stride=rnd.choice([1, 2, (1, 2)[:dims] if dims == 2 else 3]),
                  dilation=rnd.choice([1, 1, 2]))
    if op == "conv_transpose2d":
        w_shape = (cin if rnd.random() < 0.9 else cin + 1, cout // groups) + k
        kwargs.update(padding=rnd.randint(0, 1), output_padding=rnd.randint(0, 1))
    else:
        w_shape = (cout, cin // groups if cin % groups == 0 else 1) + k
        kwargs["padding"] = rnd.choice([0, 1, "same", "valid"])
    return op, x_shape, w_shape, (cout,) if rnd.random() < 0.7 else None, dict(kwargs, groups=groups)


def _call(lib, op, x, w, b, kwargs):
    fn = getattr(TF if lib is torch else F, op)
    return fn(x, w, b, **kwargs)


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_random_calls_match_pytorch(device, dtype):
    rnd, rng = random.Random(0), np.random.default_rng(0)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    raised = 0
    for i in range(120):
        op, xs, ws, bs, kwargs = _random_case(rnd)
        arrays = [rng.standard_normal(s).astype(dtype) if s is not None else None for s in (xs, ws, bs)]
        ours = [None if a is None else mt.tensor(a, device=device, requires_grad=True) for a in arrays]
        theirs = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
        what = f"case {i}: {op} x{xs} w{ws} b{bs} {kwargs}"
        try:
            want = _call(torch, op, *theirs, kwargs)
        except RuntimeError:
            with pytest.raises(RuntimeError):
                _call(mt, op, *ours, kwargs)
            raised += 1
            continue
        got = _call(mt, op, *ours, kwargs)
        assert got.shape == tuple(want.shape) and got.dtype == dtype, what
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol, atol=tol, err_msg=what)
        g = rng.standard_normal(want.shape).astype(dtype)
        want.backward(torch.from_numpy(g))
        got.backward(mt.tensor(g, device=device))
        for o, t in zip(ours, theirs):
            if o is not None:
                np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol, err_msg=what)
    assert 5 < raised < 90  # both paths (errors and results) were exercised


@needs_torch
def test_integer_conv_matches_pytorch():
    x, w = np.arange(32).reshape(1, 2, 4, 4), np.arange(8).reshape(2, 1, 2, 2)
    got = F.conv2d(mt.tensor(x), mt.tensor(w), groups=2, padding=1)
    want = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), groups=2, padding=1)
    assert got.dtype == mt.int64
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("call, message", [
    (lambda: F.conv2d(mt.zeros(64, 3, 28, 28), mt.zeros(32, 1, 3, 3)),
     r"conv2d: input has 3 channels but weight expects 1 \(weight shape \(32, 1, 3, 3\)"),
    (lambda: F.conv2d(mt.zeros(1, 4, 5, 5), mt.zeros(3, 2, 3, 3), groups=2),
     r"conv2d: groups=2 does not divide the 3 output channels of weight shape \(3, 2, 3, 3\)"),
    (lambda: F.conv2d(mt.zeros(1, 1, 2, 2), mt.zeros(1, 1, 3, 3)),
     r"conv2d: padded input of shape \(1, 1, 2, 2\) .* smaller than the kernel"),
    (lambda: F.conv2d(mt.zeros(1, 1, 5, 5), mt.zeros(1, 1, 3, 3), stride=2, padding="same"),
     r"padding='same' is not supported for strided convolutions"),
    (lambda: F.conv1d(mt.zeros(1, 2, 5), mt.zeros(1, 3, 3)), r"conv1d: input has 2 channels but weight expects 3"),
    (lambda: F.conv2d(mt.zeros(1, 1, 5, 5), mt.zeros(2, 1, 3, 3), mt.zeros(3)),
     r"conv2d: expected bias of shape \(2,\) for weight shape \(2, 1, 3, 3\), got bias of shape \(3,\)"),
    (lambda: F.conv2d(mt.zeros(1, 1, 5, 5), mt.zeros(2, 1, 3, 3, dtype=mt.float64)),
     r"conv2d: input dtype float32 and weight dtype float64 differ"),
    (lambda: F.conv2d(mt.zeros(1, 5, 5), mt.zeros(1, 1, 3)), r"conv2d: expected a 4-D weight"),
    (lambda: F.conv2d(mt.zeros(5, 5), mt.zeros(1, 1, 3, 3)), r"conv2d: expected 3-D \(unbatched\) or 4-D"),
    (lambda: F.conv2d(mt.zeros(1, 1, 5, 5), mt.zeros(1, 1, 3, 3), padding=-1), r"conv2d: negative padding"),
    (lambda: F.conv2d(mt.zeros(1, 1, 5, 5), mt.zeros(1, 1, 3, 3), stride=0), r"conv2d: non-positive stride"),
    (lambda: F.conv_transpose2d(mt.zeros(1, 2, 3, 3), mt.zeros(2, 1, 3, 3), stride=2, output_padding=2),
     r"conv_transpose2d: output padding must be smaller than either stride or dilation"),
    (lambda: F.conv_transpose2d(mt.zeros(1, 3, 3, 3), mt.zeros(2, 1, 3, 3)),
     r"conv_transpose2d: input has 3 channels but weight expects 2"),
])
def test_errors_name_the_op_and_shapes(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


# ---------------------------------------------------------------- modules

@needs_torch
def test_modules_match_pytorch_reprs_and_shapes():
    pairs = [(nn.Conv2d(1, 32, 3), torch.nn.Conv2d(1, 32, 3)),
             (nn.Conv2d(4, 8, (3, 2), 2, 1, 2, 2, False),
              torch.nn.Conv2d(4, 8, (3, 2), 2, 1, 2, 2, False)),
             (nn.Conv2d(2, 2, 4, padding="same"), torch.nn.Conv2d(2, 2, 4, padding="same")),
             (nn.Conv1d(3, 6, 5, stride=2, groups=3), torch.nn.Conv1d(3, 6, 5, stride=2, groups=3)),
             (nn.ConvTranspose2d(4, 2, 3, 2, 1, 1, groups=2), torch.nn.ConvTranspose2d(4, 2, 3, 2, 1, 1, groups=2))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert ours.weight.shape == tuple(theirs.weight.shape)
        assert (ours.bias is None) == (theirs.bias is None)
        x = np.random.default_rng(0).standard_normal((2, ours.in_channels) + (9,) * len(ours.kernel_size))
        got = ours(mt.tensor(x.astype(np.float32)))
        ours_state = {k: torch.from_numpy(v.detach().numpy()) for k, v in ours.state_dict().items()}
        theirs.load_state_dict(ours_state)
        np.testing.assert_allclose(got.detach().numpy(), theirs(torch.from_numpy(x).float()).detach().numpy(),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make_layer", [lambda: nn.Conv2d(16, 8, 3), lambda: nn.ConvTranspose2d(8, 16, 3),
                                        lambda: nn.Conv1d(16, 8, 5)])
def test_default_init_is_kaiming_uniform_like_pytorch(make_layer):
    layer = make_layer()
    fan_in = layer.weight.shape[1] * math.prod(layer.kernel_size)
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) gives this bound, as the bias's
    for p in (layer.weight, layer.bias):
        v = p.detach().numpy()
        assert np.abs(v).max() <= bound and np.abs(v).max() > 0.8 * bound
    assert abs(layer.weight.detach().numpy().std() - bound / math.sqrt(3)) < 0.15 * bound


@needs_torch
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("dims,padding,dilation", [(2, 1, 1), (2, (2, 1), (1, 2)), (2, "same", 2), (1, 2, 1),
                                                   (1, "same", 1)])
def test_padding_modes_match_pytorch(mode, dims, padding, dilation):
    ours = (nn.Conv2d if dims == 2 else nn.Conv1d)(3, 4, 3, padding=padding, dilation=dilation, padding_mode=mode,
                                                   dtype=mt.float64)
    theirs = (torch.nn.Conv2d if dims == 2 else torch.nn.Conv1d)(3, 4, 3, padding=padding, dilation=dilation,
                                                               padding_mode=mode, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.detach().numpy()))
        theirs.bias.copy_(torch.from_numpy(ours.bias.detach().numpy()))
    x = np.random.default_rng(0).standard_normal((2, 3) + (7, 6)[:dims])
    a, b = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yb = ours(a), theirs(b)
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=1e-12, atol=1e-12)
    ya.sum().backward()
    yb.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_module_argument_errors():
    with pytest.raises(ValueError, match='Only "zeros" padding mode'):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="strided convolutions"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")


@needs_torch
def test_conv_transpose_output_size_picks_output_padding():
    ours, theirs = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1), torch.nn.ConvTranspose2d(2, 3, 3, 2, 1)
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float32)
    for size in [(7, 7), (8, 8), (7, 8)]:
        assert ours(mt.tensor(x), output_size=size).shape == tuple(theirs(torch.from_numpy(x), output_size=size).shape)
    with pytest.raises(ValueError, match="requested output size"):
        ours(mt.tensor(x), output_size=(9, 9))


@pytest.mark.parametrize("fused", ["1", "0"])
def test_conv_output_and_input_grad_are_viewable_like_pytorch(monkeypatch, fused):
    """Outputs and input gradients are contiguous NCHW, so .view(N, -1) works on them as in PyTorch."""
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    x = mt.randn(2, 2, 5, 5, requires_grad=True)
    y = nn.Conv2d(2, 4, 3, padding=1)(F.relu(nn.Conv2d(2, 2, 3, padding=1)(x)))
    t = y.detach().numpy()
    np.testing.assert_array_equal(y.view(2, -1).detach().numpy(), t.reshape(2, -1))
    np.testing.assert_array_equal(y.flatten(1).detach().numpy(), t.reshape(2, -1))
    y.sum().backward()
    assert x.grad.view(2, -1).shape == (2, 50)


def test_channels_last_and_contiguous_inputs_agree():
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(np.float32)
    nhwc_view = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # same values, NHWC memory
    conv = nn.Conv2d(3, 4, (3, 2), padding=(1, 0), stride=(2, 1))
    outs = []
    for arr in (x, nhwc_view):
        t = mt.tensor(arr, requires_grad=True)
        y = conv(t)
        (y * y).sum().backward()
        outs.append((y.detach().numpy(), t.grad.numpy()))
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@needs_torch
@pytest.mark.parametrize("call", [
    lambda F, x, w: F.conv2d(x, w, padding="foo"),
    lambda F, x, w: F.conv2d(x, w, stride=(1, 1, 1)),
    lambda F, x, w: F.conv2d(x, w, groups=0),
    lambda F, x, w: F.conv2d(x > 0, w > 0),
    lambda F, x, w: F.conv_transpose2d(x, w, padding="same"),
    lambda F, x, w: F.max_pool2d(x, 2, stride=(1, 1, 1)),
    lambda F, x, w: F.adaptive_avg_pool2d(x, (2, 2, 2)),
    lambda F, x, w: F.avg_pool2d(x, 2, divisor_override=0),
    lambda F, x, w: F.fold(x.reshape(1, 25, 1), (5, 5), 2),
])
def test_error_types_match_pytorch(call):
    x, w = np.ones((1, 1, 5, 5), np.float32), np.ones((1, 1, 3, 3), np.float32)
    with pytest.raises(Exception) as theirs:
        call(TF, torch.from_numpy(x), torch.from_numpy(w))
    with pytest.raises(theirs.type):
        call(F, mt.tensor(x), mt.tensor(w))


@needs_torch
@pytest.mark.parametrize("fused", ["1", "0"])
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("wanted", [(True, False, False), (False, True, False), (False, False, True),
                                    (False, True, True)])
def test_only_the_wanted_gradients(monkeypatch, fused, chunked, wanted):
    """Each op saves only what the wanted gradients need: every subset must still be right."""
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    if chunked:
        monkeypatch.setattr(conv_ops, "IM2COL_BUDGET_BYTES", 1000)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in ((3, 2, 5, 5), (4, 2, 3, 3), (4,))]
    ours = [mt.tensor(a, requires_grad=r) for a, r in zip(arrays, wanted)]
    theirs = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, wanted)]
    F.conv2d(*ours, stride=(2, 1), padding=1).square().sum().backward()
    TF.conv2d(*theirs, stride=(2, 1), padding=1).square().sum().backward()
    for o, t, r in zip(ours, theirs, wanted):
        assert (o.grad is None) == (not r)
        if r:
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)
