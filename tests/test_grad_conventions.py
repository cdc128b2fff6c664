"""Gradients at ties and kinks follow PyTorch's conventions, compared against PyTorch itself.

max(dim)/min(dim) send the gradient to the returned index; amax/amin and the full max()/min()
share it among ties; x ** 0 has gradient 0 at 0; relu, abs and clamp at their kinks and
boundaries, norm and std at 0, prod with zeros, logsumexp of -inf: all as PyTorch's.
"""
import numpy as np
import pytest

import minitorch as mt

torch = pytest.importorskip("torch")

NAN, INF = float("nan"), float("inf")

# (expression of x, y, ... in T (minitorch or torch) and F (its nn.functional), inputs)
CASES = {
    "max_dim_ties": ("x.max(dim=1).values", [[[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]]),
    "max_dim_keepdim_ties": ("x.max(dim=0, keepdim=True)[0]", [[[1.0, 3.0], [1.0, 3.0]]]),
    "min_dim_ties": ("x.min(dim=-1).values", [[[0.0, 0.0, 2.0], [5.0, 1.0, 1.0]]]),
    "max_dim_nan": ("x.max(dim=0).values", [[1.0, NAN, NAN]]),
    "max_0d": ("x.max(dim=0).values", [2.0]),
    "max_all_ties": ("x.max()", [[[1.0, 3.0, 3.0], [2.0, 3.0, 0.0]]]),
    "min_all_ties": ("x.min()", [[0.0, 0.0, 2.0]]),
    "max_all_nan": ("x.max()", [[1.0, NAN, NAN]]),
    "amax_ties": ("x.amax(dim=1)", [[[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]]),
    "amax_dims_ties": ("x.amax(dim=(0, 1))", [[[1.0, 3.0], [3.0, 0.0]]]),
    "amax_all_nan": ("x.amax()", [[1.0, NAN, 2.0]]),
    "amin_keepdim_ties": ("x.amin(dim=0, keepdim=True)", [[[1.0, 3.0], [1.0, 0.0]]]),
    "maximum_ties": ("T.maximum(x, y)", [[1.0, 2.0, 3.0], [1.0, 3.0, 0.0]]),
    "minimum_ties": ("T.minimum(x, y)", [[1.0, 2.0, 3.0], [1.0, 3.0, 0.0]]),
    "maximum_nan": ("T.maximum(x, y)", [[1.0, NAN], [NAN, 1.0]]),
    "pow_zero_at_zero": ("x ** 0", [[0.0, 1.0, -2.0]]),
    "pow_zero_float": ("x ** 0.0", [[0.0, 1.0]]),
    "pow_half_at_zero": ("x ** 0.5", [[0.0, 4.0]]),
    "pow_tensor_exponent_at_zero": ("x ** y", [[0.0, 1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 2.0, -1.0, 3.0]]),
    "rpow_zero_base": ("0.0 ** x", [[0.0, 1.0, -1.0, 2.0]]),
    "rpow": ("2.0 ** x", [[0.0, 1.0, -1.5]]),
    "relu_at_zero": ("F.relu(x)", [[0.0, -1.0, 1.0]]),
    "leaky_relu_at_zero": ("F.leaky_relu(x, 0.1)", [[0.0, -1.0, 1.0]]),
    "abs_at_zero": ("x.abs()", [[0.0, -1.0, 1.0]]),
    "sign_round_floor": ("x.sign() + x.round() + x.floor() + x.ceil()", [[0.5, -1.5, 0.0]]),
    "clamp_boundaries": ("x.clamp(0.0, 1.0)", [[0.0, 1.0, 0.5, -1.0, 2.0]]),
    "clamp_min_only": ("x.clamp(min=0.0)", [[0.0, -1.0, 1.0]]),
    "clamp_crossed": ("x.clamp(2.0, 1.0)", [[0.0, 1.0, 1.5, 2.0, 3.0]]),
    "clamp_tensor_bounds": ("x.clamp(y, z)", [[0.0, 1.0, 0.5, -1.0, 2.0], [0.0] * 5, [1.0] * 5]),
    "clamp_tensor_crossed": ("x.clamp(y, z)", [[0.0, 1.0, 1.5, 2.0, 3.0], [2.0] * 5, [1.0] * 5]),
    "clamp_min_tensor": ("T.clamp_min(x, y)", [[0.0, 1.0, -1.0], [0.0, 0.0, 0.0]]),
    "clamp_max_tensor_broadcast": ("T.clamp_max(x, y)", [[[0.0, 1.0], [2.0, -1.0]], [0.5]]),
    "sqrt_at_zero": ("x.sqrt()", [[0.0, 4.0]]),
    "norm_at_zero": ("x.norm()", [[0.0, 0.0]]),
    "norm_dim_zero_row": ("x.norm(dim=1)", [[[3.0, 4.0], [0.0, 0.0]]]),
    "norm_p1": ("x.norm(p=1)", [[0.0, 1.0, -2.0]]),
    "norm_inf_ties": ("x.norm(p=float('inf'))", [[1.0, -1.0, 0.5]]),
    "norm_minus_inf": ("x.norm(p=-float('inf'))", [[3.0, -4.0, 5.0]]),
    "norm_p3": ("x.norm(p=3)", [[0.0, 1.0, -2.0]]),
    "norm_p_half": ("x.norm(p=0.5)", [[0.0, 1.0, -1.0]]),
    "norm_p_minus1": ("x.norm(p=-1)", [[1.0, 2.0]]),
    "norm_p0": ("x.norm(p=0)", [[0.0, 1.0]]),
    "prod_one_zero": ("x.prod()", [[2.0, 0.0, 3.0]]),
    "prod_two_zeros": ("x.prod()", [[0.0, 0.0, 3.0]]),
    "prod_dim_zeros": ("x.prod(dim=1)", [[[2.0, 0.0, 3.0], [1.0, 2.0, 3.0]]]),
    "prod_dim_keepdim": ("x.prod(0, keepdim=True)", [[[2.0, 0.5], [-1.0, 3.0]]]),
    "std_of_constant": ("x.std(dim=1)", [[[1.0, 2.0, 4.0], [1.0, 1.0, 1.0]]]),
    "logsumexp_minus_inf": ("x.logsumexp(0)", [[-INF, 0.0]]),
    "logsumexp_all_minus_inf": ("x.logsumexp(0)", [[-INF, -INF]]),
    "logsumexp_dims": ("x.logsumexp(dim=(0, 1))", [[[1.0, 2.0], [3.0, -1.0]]]),
    "remainder": ("T.remainder(x, y)", [[5.5, -5.5, 2.0], [2.0, 2.0, -3.0]]),
    "remainder_scalar_divisor": ("x % 1.5", [[5.5, -5.5]]),
    "cumsum": ("x.cumsum(1) * T.tensor([[1.0, 2.0, 3.0]], dtype=T.float64)", [[[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]]]),
    "where_scalars": ("T.where(x > 0, x, 0.0)", [[1.0, -1.0, 0.0]]),
    "add_alpha": ("x.add(y, alpha=3) - x.sub(y, alpha=0.5)", [[1.0, 2.0], [3.0, 4.0]]),
    "div_zero": ("x / y", [[1.0, 0.0], [0.0, 2.0]]),
    "reciprocal_rsqrt": ("x.reciprocal() + x.rsqrt()", [[4.0, 0.25]]),
    "square_sin_cos_log1p": ("x.square() + x.sin() * x.cos() + x.log1p()", [[0.5, -0.25]]),
    "mixed_dtypes": ("(x * y.float()).sum()", [[1.0, 2.0], [3.0, 4.0]]),
}


def _run(T, expr, values, device=None):
    F = T.nn.functional
    placed = {} if device is None else {"device": device}
    leaves = [T.tensor(v, dtype=T.float64, requires_grad=True, **placed) for v in values]
    env = dict(zip("xyz", leaves), T=T, F=F)
    out = eval(expr, env)
    out.backward(T.ones_like(out))
    return out, [leaf.grad for leaf in leaves]


def _np(t):
    return None if t is None else np.asarray(t.detach().numpy() if hasattr(t, "detach") else t, dtype=np.float64)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_pytorch(device, name):
    expr, values = CASES[name]
    mine = expr.replace("dtype=T.float64)", f"dtype=T.float64, device='{device}')")
    out, grads = _run(mt, mine, values, device)
    tout, tgrads = _run(torch, expr, values)
    np.testing.assert_allclose(_np(out), _np(tout), rtol=1e-12, equal_nan=True)
    for g, tg in zip(grads, tgrads):
        if tg is None:
            assert g is None or not np.any(_np(g)), f"{name}: torch gives no gradient, minitorch {g}"
            continue
        assert g is not None, f"{name}: minitorch gives no gradient, torch {tg}"
        np.testing.assert_allclose(_np(g), _np(tg), rtol=1e-12, atol=1e-15, equal_nan=True, err_msg=name)


def test_max_dim_returns_the_first_index_of_a_tie_and_its_values():
    x = mt.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    values, indices = x.max(dim=1)
    assert indices.tolist() == [1, 0] and values.tolist() == [3.0, 2.0]
    assert indices.dtype == mt.int64


def test_writing_to_max_dim_indices_breaks_its_backward_as_in_pytorch():
    x = mt.tensor([[2.0], [0.0]], requires_grad=True)
    values, indices = x.min(dim=1)
    with mt.no_grad():
        indices.sub_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        values.sum().backward()


def test_floor_divide_has_no_derivative_as_in_pytorch():
    x = mt.tensor([5.5, -5.5], requires_grad=True)
    y = x // 2.0
    with pytest.raises(RuntimeError, match="derivative for floor_divide is not implemented"):
        y.sum().backward()


def test_a_scalar_dividend_of_remainder_has_no_derivative_as_in_pytorch():
    x = mt.tensor([1.0, 2.5], requires_grad=True)
    with pytest.raises(RuntimeError, match="derivative for aten::remainder is not implemented"):
        (3.0 % x).sum().backward()
