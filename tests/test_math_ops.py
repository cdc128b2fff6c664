"""The math ops the Tensor class exposes, compared with PyTorch: values, dtypes, shapes and errors."""
import numpy as np
import pytest

import minitorch as mt

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns on 0/0 and log(0); torch does not

A = [[-1.5, 0.0, 2.25], [3.0, -0.5, 1.0]]
B = [[2.0, -3.0, 0.5], [1.0, 4.0, -2.0]]
I = [[-7, 0, 5], [9, -4, 2]]
J = [[2, -3, 4], [-2, 5, 3]]
MASK = [[True, False, True], [False, False, True]]

# expressions over a, b (float), i, j (int64), m (bool) with T = minitorch or torch
EXPRESSIONS = [
    "a // b", "a % b", "i // j", "i % j", "i % -3", "-7 % j", "T.floor_divide(a, 2)", "T.remainder(i, 4)",
    "T.div(i, j, rounding_mode='trunc')", "T.div(i, j, rounding_mode='floor')", "T.div(a, b, rounding_mode='trunc')",
    "T.div(a, b)", "i / j", "a.log1p()", "a.rsqrt()", "a.square()", "i.square()", "a.reciprocal()", "a.sign()",
    "i.sign()", "a.sin()", "a.cos()", "a.floor()", "a.ceil()", "a.round()", "T.round(a * 1.234, decimals=2)",
    "a.sqrt().isnan()", "(a / 0).isinf()", "(a / 0).isfinite()", "i.isnan()",
    "m.logical_not()", "T.logical_and(m, a)", "T.logical_or(i, m)", "T.logical_xor(m, m.logical_not())",
    "m & True", "i | 8", "i ^ j", "~i", "~m",
    "a.prod()", "a.prod(1)", "a.prod(dim=0, keepdim=True)", "i.prod(1)", "a.amin()", "a.amin(dim=1)",
    "a.amax(dim=(0, 1), keepdim=True)", "a.logsumexp(1)", "a.logsumexp(dim=(0, 1), keepdim=True)",
    "i.logsumexp(0)", "a.norm()", "a.norm(p=1, dim=1)", "a.norm(p=float('inf'), dim=0, keepdim=True)",
    "a.norm(p=3)", "a.norm(p='fro', dim=(0, 1))", "a.cumsum(1)", "a.cumsum(dim=-2)", "i.cumsum(0)",
    "m.cumsum(1)", "a.all()", "a.any(dim=1)", "m.all(dim=0, keepdim=True)", "i.any(1)",
    "T.allclose(a, a + 1e-9)", "T.allclose(a, b)", "T.allclose(a, a[0])", "T.equal(a, a.clone())",
    "T.equal(i, i.double())", "T.equal(a, b)", "a.add(b, alpha=2)", "a.sub(b, alpha=0.5)", "i.add(j, alpha=3)",
    "a.sum(dtype=T.float64)", "i.sum(dtype=T.float32)", "i.mean(dtype=T.float64)", "a.mean(1, dtype=T.float64)",
    "a.clamp(min=b)", "a.clamp(max=b)", "a.clamp(b, b + 1)", "i.clamp(min=j)", "T.clamp_min(a, 0.5)",
    "T.clamp_max(i, 1)", "i.clamp(-1.5, 2.5)", "T.where(m, 4, 2)", "T.where(m, 4.0, 2)", "T.where(m, a, 0)",
    "T.where(m, i, 2.5)", "a.argmax(keepdim=True)", "a.argmin(dim=1, keepdim=True)", "a.max(dim=1).indices",
    "a.min(1, True).values", "T.max(a)", "T.min(a, 0)[1]", "a.max(dim=-1)[0]", "i.max(0).values",
    "m.max(1).values", "a.sum(dim=())", "a.mean(dim=[])", "a.amax(dim=())",
    "T.tensor(3.0).max(dim=0).values", "T.tensor(3.0).argmax(keepdim=True)", "T.tensor(2).cumsum(0)",
    "T.tensor(5.0).prod(0)", "T.tensor(-2.0).norm(dim=0)", "a.std(dim=1)", "a.var(0, unbiased=False)",
    "a.pow(2)", "i.pow(2)", "i ** j", "2 ** i.abs()", "i ** 0.5", "a ** b", "T.tensor([True]) ** False",
    "T.maximum(i, j)", "T.minimum(m, m.logical_not())", "T.sigmoid(i)", "T.tanh(m)",
    "T.softmax(a, 1, dtype=T.float64)", "F.log_softmax(a, dim=0)",
]
ERRORS = [
    "i.mean()", "i.var()", "m.abs()", "-m", "m - m", "a - True", "i // 0", "i % T.zeros_like(i)",
    "i ** -1", "T.maximum(a, 1)", "T.logical_and(m, True)", "a & 1", "~a", "m.argmax()", "T.zeros(0).max()",
    "T.zeros(0).argmax()", "T.zeros(2, 0).max(dim=1)", "T.zeros(2, 0).amax(dim=1)", "a.max(dim=(0, 1))",
    "a.prod(dim=(0, 1))", "a.sum(dim=(0, 0))", "a.sum(dim=2)", "a.clamp()", "i.softmax(0)", "F.gelu(i)",
    "F.relu(m)", "m.floor()", "T.round(i, decimals=1)", "i.add(j, alpha=1.5)", "a.add(b, alpha=True)",
    "T.where(i, a, b)", "T.allclose(a, i)", "T.allclose(a, 1.0)", "i.norm()", "m.clamp(min=True)",
    "T.div(a, b, rounding_mode='round')", "T.multinomial(a, 1)", "T.floor_divide(m, m)",
]


def _env(T, device=None):
    kw = {} if device is None else {"device": device}
    return {"T": T, "F": T.nn.functional, "a": T.tensor(A, **kw), "b": T.tensor(B, **kw), "i": T.tensor(I, **kw),
            "j": T.tensor(J, **kw), "m": T.tensor(MASK, **kw)}


def _value(x):
    if isinstance(x, (bool, float, int)):
        return x, None
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "cpu") else x.numpy()), str(x.dtype).split(".")[-1]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_values_and_dtypes_match_pytorch(device, expr):
    mine = eval(expr, _env(mt, device))
    theirs = eval(expr, _env(torch))
    (v, dt), (tv, tdt) = _value(mine), _value(theirs)
    assert dt == tdt, f"{expr}: dtype {dt} vs {tdt}"
    if tdt is None:
        assert v == tv
        return
    assert v.shape == tv.shape, f"{expr}: shape {v.shape} vs {tv.shape}"
    np.testing.assert_allclose(v.astype(np.float64), tv.astype(np.float64), rtol=1e-6, atol=1e-7, equal_nan=True)


@pytest.mark.parametrize("expr", ERRORS)
def test_errors_match_pytorch(expr):
    with pytest.raises(Exception) as theirs:
        eval(expr, _env(torch))
    with pytest.raises(Exception) as mine:
        eval(expr, _env(mt))
    assert isinstance(mine.value, RuntimeError) == isinstance(theirs.value, RuntimeError), \
        f"{expr}: minitorch {mine.value!r} vs torch {theirs.value!r}"
    assert isinstance(mine.value, TypeError) == isinstance(theirs.value, TypeError), \
        f"{expr}: minitorch {mine.value!r} vs torch {theirs.value!r}"


def test_equal_and_allclose_return_python_bools():
    a = mt.tensor(A)
    assert mt.equal(a, a.clone()) is True and a.allclose(a) is True and a.equal(a + 1) is False
    assert mt.allclose(mt.tensor([float("nan")]), mt.tensor([float("nan")]), equal_nan=True) is True


def test_comparing_with_none_is_false():
    a = mt.tensor(A)
    assert (a == None) is False and (a != None) is True  # noqa: E711


def test_norm_module_and_function_coexist():
    import minitorch.ops as ops
    from minitorch.ops.normalization import batch_norm
    assert callable(ops.norm) and ops.batch_norm is batch_norm
    assert float(ops.norm(mt.tensor([3.0, 4.0]))) == 5.0


def test_where_with_two_numbers_lives_on_the_condition_device(device):
    cond = mt.tensor([True, False], device=device)
    out = mt.where(cond, 4, 2)
    assert out.device == device and out.dtype == mt.int64 and out.tolist() == [4, 2]
    assert mt.where(cond, 4.0, 2).dtype == mt.float32


def test_isclose(device):
    a, b = mt.tensor(A, device=device), mt.tensor(B, device=device)
    for x, y in ((a, a + 1e-6), (a, b[0]), (a / 0, a / 0)):
        tx, ty = torch.tensor(x.numpy()), torch.tensor(y.numpy())
        assert mt.ops.isclose(x, y).tolist() == torch.isclose(tx, ty).tolist()
        assert mt.ops.isclose(x, y, equal_nan=True).tolist() == torch.isclose(tx, ty, equal_nan=True).tolist()
