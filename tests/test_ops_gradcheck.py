"""Every op passes a float64 finite-difference gradcheck, with broadcasting shapes, on every backend."""
import numpy as np
import pytest

import minitorch as mt
import minitorch.ops as F
from minitorch.autograd import gradcheck
from helpers import away_from_zero, make

# name -> (function, input shapes, value range); ranges keep log/sqrt/pow in their domains.
CASES = {
    "add": (lambda a, b: a + b, [(3, 4), (4,)], (-1, 1)),
    "add_scalar": (lambda a: 2.5 + a, [(2, 3)], (-1, 1)),
    "sub": (lambda a, b: a - b, [(3, 1), (1, 4)], (-1, 1)),
    "rsub_scalar": (lambda a: 1.0 - a, [(3,)], (-1, 1)),
    "mul": (lambda a, b: a * b, [(2, 3, 4), (3, 1)], (-1, 1)),
    "div": (lambda a, b: a / b, [(3, 4), (4,)], (0.5, 2)),
    "rdiv_scalar": (lambda a: 2.0 / a, [(3,)], (0.5, 2)),
    "pow_scalar": (lambda a: a ** 3, [(3, 2)], (-1, 1)),
    "pow_tensor": (lambda a, b: a ** b, [(3, 2), (2,)], (0.5, 2)),
    "neg": (lambda a: -a, [(4,)], (-1, 1)),
    "exp": (lambda a: a.exp(), [(3, 3)], (-1, 1)),
    "log": (lambda a: a.log(), [(3, 3)], (0.5, 2)),
    "sqrt": (lambda a: a.sqrt(), [(3, 3)], (0.5, 2)),
    "maximum": (lambda a, b: mt.maximum(a, b), [(3, 4), (4,)], (-1, 1)),
    "minimum": (lambda a, b: mt.minimum(a, b), [(3, 1), (3, 4)], (-1, 1)),
    "clamp": (lambda a: a.clamp(-0.5, 0.5), [(4, 3)], (-1, 1)),
    "clamp_min": (lambda a: a.clamp(min=0.1), [(5,)], (-1, 1)),
    "where": (lambda a, b: mt.where(a > 0, a, b), [(3, 4), (4,)], (-1, 1)),
    "sum_all": (lambda a: a.sum(), [(3, 4)], (-1, 1)),
    "sum_dim": (lambda a: a.sum(dim=1), [(3, 4, 2)], (-1, 1)),
    "sum_dims_keepdim": (lambda a: a.sum(dim=(0, 2), keepdim=True), [(3, 4, 2)], (-1, 1)),
    "mean_dim": (lambda a: a.mean(dim=-1), [(3, 4)], (-1, 1)),
    "mean_all": (lambda a: a.mean(), [(3, 4)], (-1, 1)),
    "var_dim": (lambda a: a.var(dim=0), [(5, 3)], (-1, 1)),
    "var_biased_keepdim": (lambda a: a.var(dim=1, keepdim=True, unbiased=False), [(3, 5)], (-1, 1)),
    "max_all": (lambda a: a.max(), [(3, 4)], (-1, 1)),
    "max_dim": (lambda a: a.max(dim=1).values, [(3, 4)], (-1, 1)),
    "min_dim_keepdim": (lambda a: a.min(dim=0, keepdim=True)[0], [(3, 4)], (-1, 1)),
    "matmul_2d": (lambda a, b: a @ b, [(3, 4), (4, 2)], (-1, 1)),
    "matmul_vec_vec": (lambda a, b: a @ b, [(4,), (4,)], (-1, 1)),
    "matmul_mat_vec": (lambda a, b: a @ b, [(3, 4), (4,)], (-1, 1)),
    "matmul_vec_mat": (lambda a, b: a @ b, [(4,), (4, 2)], (-1, 1)),
    "matmul_batched": (lambda a, b: a @ b, [(2, 3, 4), (2, 4, 2)], (-1, 1)),
    "matmul_broadcast": (lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)], (-1, 1)),
    "matmul_batched_vec": (lambda a, b: a @ b, [(2, 3, 4), (4,)], (-1, 1)),
    "reshape": (lambda a: a.reshape(4, 3) * mt.arange(12, dtype=mt.float64, device=a.device).reshape(4, 3), [(3, 4)], (-1, 1)),
    "view_infer": (lambda a: a.view(-1, 2), [(3, 4)], (-1, 1)),
    "flatten": (lambda a: a.flatten(1), [(2, 3, 2)], (-1, 1)),
    "transpose": (lambda a: a.transpose(0, 2), [(2, 3, 4)], (-1, 1)),
    "permute": (lambda a: a.permute(2, 0, 1), [(2, 3, 4)], (-1, 1)),
    "T": (lambda a: a.T, [(2, 3)], (-1, 1)),
    "unsqueeze": (lambda a: a.unsqueeze(1), [(2, 3)], (-1, 1)),
    "squeeze": (lambda a: a.squeeze(), [(2, 1, 3)], (-1, 1)),
    "getitem_int": (lambda a: a[1], [(3, 4)], (-1, 1)),
    "getitem_slice": (lambda a: a[:, 1:3], [(3, 4)], (-1, 1)),
    "getitem_neg_step": (lambda a: a[::2, -1], [(5, 4)], (-1, 1)),
    "getitem_int_array_repeats": (lambda a: a[[0, 2, 0, 0]], [(3, 4)], (-1, 1)),
    "getitem_int_array_and_slice": (lambda a: a[:, [1, 1, 3]], [(3, 4)], (-1, 1)),
    "getitem_two_int_arrays": (lambda a: a[[0, 1, 1], [2, 3, 2]], [(3, 4)], (-1, 1)),
    "getitem_bool_mask": (lambda a: a[a > 0], [(3, 4)], (-1, 1)),
    "cat": (lambda a, b: mt.cat([a, b, a], dim=1), [(2, 3), (2, 2)], (-1, 1)),
    "stack": (lambda a, b: mt.stack([a, b], dim=1), [(2, 3), (2, 3)], (-1, 1)),
    "expand": (lambda a: a.expand(2, 3, 4), [(3, 1)], (-1, 1)),
    "expand_keep_dim": (lambda a: a.expand(-1, 3), [(4, 1)], (-1, 1)),
    "repeat": (lambda a: a.repeat(2, 1, 3), [(2, 3)], (-1, 1)),
    "flip": (lambda a: a.flip((0, 2)), [(2, 3, 4)], (-1, 1)),
    "chunk": (lambda a: mt.cat([c * (i + 1) for i, c in enumerate(a.chunk(3))]), [(7, 2)], (-1, 1)),
    "split_sections": (lambda a: a.split([1, 3], dim=1), [(2, 4)], (-1, 1)),
    "gather": (lambda a: a.gather(1, mt.tensor([[0, 0, 3], [2, 1, 1]], device=a.device)), [(2, 4)], (-1, 1)),
    "gather_smaller_index": (lambda a: a.gather(0, mt.tensor([[2, 0]], device=a.device)), [(3, 4)], (-1, 1)),
    "index_select_repeats": (lambda a: a.index_select(0, mt.tensor([2, 0, 2], device=a.device)), [(3, 2)], (-1, 1)),
    "masked_fill": (lambda a: a.masked_fill(a > 0, 2.0), [(3, 4)], None),
    "masked_fill_tensor_value": (lambda a, v: a.masked_fill(a > 0, v), [(3, 4), ()], None),
    "topk": (lambda a: a.topk(2, dim=0).values, [(4, 3)], (-1, 1)),
    "topk_smallest": (lambda a: a.topk(3, largest=False).values, [(2, 5)], (-1, 1)),
    "sort_descending": (lambda a: a.sort(dim=1, descending=True).values, [(3, 4)], (-1, 1)),
    "linear": (lambda x, w, b: F.linear(x, w, b), [(4, 3), (2, 3), (2,)], (-1, 1)),
    "linear_no_bias_3d": (lambda x, w: F.linear(x, w), [(2, 4, 3), (2, 3)], (-1, 1)),
    "relu": (lambda a: a.relu(), [(3, 4)], None),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.1), [(3, 4)], None),
    "sigmoid": (lambda a: a.sigmoid(), [(3, 4)], (-6, 6)),
    "tanh": (lambda a: a.tanh(), [(3, 4)], (-3, 3)),
    "gelu": (lambda a: F.gelu(a), [(3, 4)], (-4, 4)),
    "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"), [(3, 4)], (-4, 4)),
    "softmax": (lambda a: a.softmax(dim=1), [(3, 4)], (-3, 3)),
    "softmax_dim0": (lambda a: a.softmax(dim=0), [(3, 4)], (-3, 3)),
    "log_softmax": (lambda a: a.log_softmax(dim=-1), [(3, 4)], (-3, 3)),
    "mse_loss": (lambda a, b: F.mse_loss(a, b), [(3, 4), (3, 4)], (-1, 1)),
    "l1_loss_sum": (lambda a, b: F.l1_loss(a, b, reduction="sum"), [(3, 4), (3, 4)], None),
    "huber_loss": (lambda a, b: F.huber_loss(a * 3, b, delta=1.0), [(3, 4), (3, 4)], (-1, 1)),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)], (-1, 1)),
    "layer_norm_2d": (lambda x: F.layer_norm(x, (2, 3)), [(2, 2, 3)], (-1, 1)),
    # math ops (ops/unary.py, elementwise.py, selection.py, reduce.py, extrema.py, vector_norm.py)
    "log1p": (lambda a: a.log1p(), [(3, 3)], (-0.5, 2)),
    "rsqrt": (lambda a: a.rsqrt(), [(3, 3)], (0.5, 2)),
    "reciprocal": (lambda a: a.reciprocal(), [(3, 3)], (0.5, 2)),
    "square": (lambda a: a.square(), [(3, 3)], (-1, 1)),
    "sin_cos": (lambda a: a.sin() * a.cos(), [(3, 3)], (-3, 3)),
    "abs": (lambda a: a.abs(), [(3, 4)], None),
    "pow_zero_exponent": (lambda a: a ** 0 + a, [(3,)], (-1, 1)),
    "rpow_scalar": (lambda a: 2.0 ** a, [(3,)], (-1, 1)),
    "remainder": (lambda a, b: a % b, [(3, 4), (4,)], (0.3, 2)),
    "remainder_scalar": (lambda a: a % 0.7, [(3, 4)], (0.1, 2)),
    "add_alpha": (lambda a, b: a.add(b, alpha=2.5) - a.sub(b, alpha=-1.5), [(3, 4), (4,)], (-1, 1)),
    "clamp_tensor_bounds": (lambda a, lo, hi: a.clamp(lo - 1, hi + 1), [(3, 4), (4,), (3, 1)], (-2, 2)),
    "clamp_min_tensor": (lambda a, lo: mt.clamp_min(a, lo), [(3, 4), (3, 4)], (-1, 1)),
    "where_scalar_other": (lambda a: mt.where(a > 0, a, 0.5), [(3, 4)], None),
    "prod_all": (lambda a: a.prod(), [(2, 3)], (0.5, 1.5)),
    "prod_dim_keepdim": (lambda a: a.prod(dim=1, keepdim=True), [(3, 4)], (-1, 1)),
    "cumsum": (lambda a: a.cumsum(1), [(3, 4)], (-1, 1)),
    "cumsum_neg_dim": (lambda a: a.cumsum(-3), [(3, 2, 2)], (-1, 1)),
    "amin_dims": (lambda a: a.amin(dim=(0, 2)), [(3, 4, 2)], (-1, 1)),
    "amax_keepdim": (lambda a: a.amax(dim=-1, keepdim=True), [(3, 4)], (-1, 1)),
    "min_all": (lambda a: a.min(), [(3, 4)], (-1, 1)),
    "max_dim_neg": (lambda a: a.max(dim=-1)[0], [(2, 3, 4)], (-1, 1)),
    "logsumexp": (lambda a: a.logsumexp(1), [(3, 4)], (-3, 3)),
    "logsumexp_dims_keepdim": (lambda a: a.logsumexp(dim=(0, 2), keepdim=True), [(3, 4, 2)], (-3, 3)),
    "norm_2": (lambda a: a.norm(), [(3, 4)], (-1, 1)),
    "norm_1_dim": (lambda a: a.norm(p=1, dim=1), [(3, 4)], None),
    "norm_3_keepdim": (lambda a: a.norm(p=3, dim=0, keepdim=True), [(3, 4)], (-1, 1)),
    "norm_half": (lambda a: a.norm(p=0.5, dim=1), [(3, 4)], None),
    "norm_inf": (lambda a: a.norm(p=float("inf"), dim=1), [(3, 4)], (-1, 1)),
    "std_dim": (lambda a: a.std(dim=1), [(3, 5)], (-1, 1)),
    "std_all_biased": (lambda a: a.std(unbiased=False), [(3, 5)], (-1, 1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(device, name):
    fn, shapes, span = CASES[name]
    inputs = [away_from_zero(device, s, seed=i) if span is None else make(device, s, *span, seed=i)
              for i, s in enumerate(shapes)]
    assert gradcheck(fn, inputs)


TARGETS = np.array([1, 0, 3, 2, 1])


@pytest.mark.parametrize("fused", ["1", "0"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_gradcheck_cross_entropy(device, monkeypatch, fused, reduction, smoothing):
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    x = make(device, (5, 4), -3, 3)
    target = mt.tensor([1, -100, 3, 2, -100], device=device)
    assert gradcheck(lambda a: F.cross_entropy(a, target, reduction=reduction, label_smoothing=smoothing), [x])


def test_gradcheck_cross_entropy_spatial(device):
    x = make(device, (2, 3, 2), -2, 2)
    target = mt.tensor([[0, 2], [1, 1]], device=device)
    assert gradcheck(lambda a: F.cross_entropy(a, target), [x])


@pytest.mark.parametrize("fused", ["1", "0"])
@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 2, 2)])
def test_gradcheck_batch_norm_train(device, monkeypatch, fused, shape):
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    c = shape[1]
    x, w, b = make(device, shape, seed=1), make(device, (c,), 0.5, 1.5, seed=2), make(device, (c,), seed=3)
    rm, rv = mt.zeros(c, dtype=mt.float64, device=device), mt.ones(c, dtype=mt.float64, device=device)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True), [x, w, b])


@pytest.mark.parametrize("fused", ["1", "0"])
def test_gradcheck_batch_norm_eval(device, monkeypatch, fused):
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    x, w, b = make(device, (4, 3), seed=1), make(device, (3,), 0.5, 1.5, seed=2), make(device, (3,), seed=3)
    rm = mt.tensor([0.1, -0.2, 0.3], dtype=mt.float64, device=device)
    rv = mt.tensor([0.5, 1.5, 2.0], dtype=mt.float64, device=device)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), [x, w, b])


def test_gradcheck_dropout(device):
    def fn(a):
        mt.manual_seed(3)  # the same mask for every evaluation
        return F.dropout(a, p=0.4, training=True)
    assert gradcheck(fn, [make(device, (4, 5))])


def test_cast_gradient_comes_back_in_the_input_dtype(device):
    x = make(device, (3,))
    y = x.float()
    assert y.dtype == mt.float32
    (y * 2).sum().backward()
    assert x.grad.dtype == mt.float64
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])
