"""PyTorch's dtype rules: the promotion table, weak scalars, dims > 0-d > scalars, float-only ops, inference.

Every binary op is run on every pair of operand kinds (tensors of each dtype with dimensions and 0-d,
Python and NumPy scalars) on minitorch and on PyTorch; the result dtype, the values and whether the
call raises must agree.
"""
import math

import numpy as np
import pytest

import minitorch as mt
from minitorch import dtypes

torch = pytest.importorskip("torch")

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
VALUES = {"bool": [True, False, True], "float16": [1.5, 2.0, 3.25]}  # others: 1, 2, 3 (and 1.5, ... for floats)


def _host(dtype: str, zero_d: bool) -> np.ndarray:
    vals = VALUES.get(dtype, [1.5, 2.0, 3.25] if dtype.startswith("float") else [1, 2, 3])
    arr = np.array(vals, dtype=dtype)
    return np.asarray(arr[1]) if zero_d else arr


def _operands(device):
    """(label, factory() -> (minitorch operand, torch operand)); array_api_strict has no float16."""
    out = []
    for dt in DTYPES if device != "strict" else [d for d in DTYPES if d != "float16"]:
        for zero_d in (False, True):
            def make(dt=dt, zero_d=zero_d):
                host = _host(dt, zero_d)
                return mt.tensor(host, device=device), torch.from_numpy(host.copy())
            out.append((f"{dt}{'[]' if zero_d else '[3]'}", make))
    for scalar in (True, 2, -3, 2.5, np.float64(2.5), np.float32(0.5), np.int32(3), np.int64(-2)):
        out.append((f"{type(scalar).__name__}({scalar})", lambda s=scalar: (s, s)))
    return out


def _outcome(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - the kind of error is what is compared
        return exc


def _mismatch(label, mine, theirs):
    """None when minitorch's outcome agrees with PyTorch's, else a description."""
    if isinstance(theirs, Exception) or isinstance(mine, Exception):
        if isinstance(theirs, Exception) and isinstance(mine, Exception):
            same_kind = isinstance(mine, RuntimeError) == isinstance(theirs, RuntimeError)
            return None if same_kind else f"{label}: error types {type(mine).__name__} vs {type(theirs).__name__}"
        return f"{label}: minitorch {mine!r:.80} vs torch {theirs!r:.80}"
    if isinstance(theirs, bool):
        return None if mine == theirs else f"{label}: {mine} vs {theirs}"
    want = str(theirs.dtype).replace("torch.", "")
    if mine.dtype.name != want:
        return f"{label}: dtype {mine.dtype.name} vs {want}"
    a, b = mine.numpy().astype(np.float64), theirs.numpy().astype(np.float64)
    if a.shape != b.shape or not np.allclose(a, b, rtol=1e-3, atol=1e-3, equal_nan=True):
        return f"{label}: values {a} vs {b}"
    return None


BINARY = {
    "add": lambda T, a, b: T.add(a, b) if not _both_scalars(a, b) else a + b,
    "sub": lambda T, a, b: a - b,
    "mul": lambda T, a, b: a * b,
    "div": lambda T, a, b: a / b,
    "floor_divide": lambda T, a, b: a // b,
    "remainder": lambda T, a, b: a % b,
    "pow": lambda T, a, b: a ** b,
    "maximum": lambda T, a, b: T.maximum(a, b),
    "minimum": lambda T, a, b: T.minimum(a, b),
    "eq": lambda T, a, b: a == b,
    "lt": lambda T, a, b: a < b,
    "ge": lambda T, a, b: a >= b,
    "where": lambda T, a, b: T.where(T.tensor([True, False, True]), a, b),
    "clamp_min": lambda T, a, b: T.clamp(a, min=b),
}


def _both_scalars(a, b):
    return not hasattr(a, "shape") and not hasattr(b, "shape")


@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_ops_promote_as_pytorch(device, op):
    fn = BINARY[op]
    problems = []
    operands = _operands(device)
    for la, make_a in operands:
        for lb, make_b in operands:
            (ma, ta), (mb, tb) = make_a(), make_b()
            if not isinstance(ma, mt.Tensor) and not isinstance(mb, mt.Tensor):
                continue  # two Python numbers: not a tensor op
            if op == "where":
                cond = mt.tensor([True, False, True], device=device)
                mine = _outcome(lambda: mt.where(cond, ma, mb))
            else:
                mine = _outcome(fn, mt, ma, mb)
            theirs = _outcome(fn, torch, ta, tb)
            problem = _mismatch(f"{op}({la}, {lb})", mine, theirs)
            if problem:
                problems.append(problem)
    assert not problems, f"{len(problems)} mismatches:\n" + "\n".join(problems[:40])


def test_the_issue_examples():
    t = mt.tensor([1, 2, 3])
    assert (t * np.float32(2.5)).tolist() == [2.5, 5.0, 7.5]
    assert (mt.tensor([1.0, 2.0]) * np.float64(2)).dtype == mt.float32
    assert (t * 2.5).dtype == mt.float32
    assert (t / mt.tensor([2, 2, 2])).dtype == mt.float32
    assert (t + mt.tensor([1.0, 2.0, 3.0])).dtype == mt.float32
    assert (mt.tensor([1], dtype=mt.uint8) + mt.tensor([1], dtype=mt.int8)).dtype == mt.int16
    assert (mt.tensor([True]) + mt.tensor([True])).dtype == mt.bool_
    assert mt.full((2,), 4).dtype == mt.int64


def test_float32_parameter_with_float64_operand_gets_a_float32_grad(device):
    w = mt.tensor([1.0, 2.0], requires_grad=True, device=device)
    x = mt.tensor([3.0, 4.0], dtype=mt.float64, device=device)
    y = w * x
    assert y.dtype == mt.float64
    assert y.grad_fn.parents[0].name == "CastBackward"  # the cast is recorded at the op, not left to the engine
    y.sum().backward()
    assert w.grad.dtype == mt.float32
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 4.0])


def test_result_type_priorities():
    f32, i64, i32 = mt.tensor([1.0]), mt.tensor([1]), mt.tensor([1], dtype=mt.int32)
    assert dtypes.result_type(f32, np.float64(2)) == mt.float32          # a scalar never widens
    assert dtypes.result_type(i64, 2.5) == mt.float32                    # ... but changes category
    assert dtypes.result_type(i32, mt.tensor(2)) == mt.int32             # a 0-d tensor is weaker than a dim one
    assert dtypes.result_type(i32, mt.tensor(2.0, dtype=mt.float64)) == mt.float64
    assert dtypes.result_type(mt.tensor(1, dtype=mt.uint8), mt.tensor(2, dtype=mt.int8)) == mt.int16
    assert dtypes.result_type(mt.tensor([True]), 2) == mt.int64
    assert dtypes.result_type(mt.tensor([True]), True) == mt.bool_
    assert dtypes.promote_types(mt.int64, mt.float16) == mt.float16


def test_python_scalars_wrap_into_the_result_dtype_like_a_c_cast():
    u8 = mt.tensor([1, 2], dtype=mt.uint8)
    assert (u8 + 300).tolist() == (torch.tensor([1, 2], dtype=torch.uint8) + 300).tolist() == [45, 46]
    assert (u8 < -1).tolist() == [True, True]  # -1 is 255 as a uint8, as in PyTorch


FLOAT_ONLY = ["exp", "log", "sqrt", "sigmoid", "tanh", "sin", "cos", "rsqrt", "reciprocal", "log1p"]


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64"])
def test_float_only_ops_of_integers_give_the_default_float(device, dtype):
    host = np.array([0, 1, 200], dtype=dtype) if dtype != "bool" else np.array([True, False, True])
    for name in FLOAT_ONLY:
        mine = getattr(mt.tensor(host, device=device), name)()
        theirs = getattr(torch.from_numpy(host.copy()), name)()
        assert mine.dtype == mt.float32, name
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-6, err_msg=name)


PER_DTYPE = [
    "x.mean()", "x.var()", "x.std()", "x.softmax(0)", "x.log_softmax(0)", "F.gelu(x)", "F.leaky_relu(x)",
    "x.sum()", "x.prod()", "x.cumsum(0)", "x.amax()", "x.argmax()", "x.abs()", "-x", "x.sign()", "x.floor()",
    "x.round()", "F.relu(x)", "x.norm()", "x.logsumexp(0)", "x.mean(dtype=T.float64)", "x.sum(dtype=T.float32)",
    "x.all()", "x.any()", "x.square()", "x.isnan()", "x.clamp(0, 1)", "x.clamp(0.5)", "x.max()", "x.max(0)[0]",
    "~x", "x & 1", "x | x", "x.logical_not()", "T.logical_and(x, x)", "x.reciprocal()", "x.ceil()",
    "T.allclose(x, x)", "T.equal(x, x.double())", "x.isinf()", "x.isfinite()", "x.amin(0)", "x.argmin(0)",
]


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int64", "float64"])
def test_unary_and_reductions_match_pytorch_per_dtype(device, dtype):
    """The result dtype of each op per input dtype, or PyTorch's refusal (mean of int64, abs of bool, ...)."""
    host = np.array([0, 1, 3], dtype=dtype) if dtype != "bool" else np.array([True, False, True])
    problems = []
    for expr in PER_DTYPE:
        env = {"T": mt, "F": mt.nn.functional, "x": mt.tensor(host, device=device)}
        mine = _outcome(lambda: eval(expr, env))
        env = {"T": torch, "F": torch.nn.functional, "x": torch.from_numpy(host.copy())}
        theirs = _outcome(lambda: eval(expr, env))
        problems.append(_mismatch(expr, mine, theirs))
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("data", [
    [1, 2], [1.0, 2.0], [1, 2.5], [True, False], [True, 2], [], [[1], [2]], 3, 2.5, True,
    np.float64(1.5), np.float32(1.5), np.int32(3), np.array([1, 2], dtype=np.int32), np.array([1.0, 2.0]),
    [np.float64(1.0), 2.0], [np.float32(1.0), 2.0], [np.int32(1), 2], [np.int8(1), 2.5],
])
def test_tensor_infers_dtypes_as_pytorch(data):
    mine, theirs = mt.tensor(data), torch.tensor(data)
    assert mine.dtype.name == str(theirs.dtype).replace("torch.", "")
    assert mine.shape == tuple(theirs.shape)


def test_tensor_of_tensors_keeps_their_dtype():
    assert mt.tensor([mt.tensor(1.0, dtype=mt.float64), mt.tensor(2.0, dtype=mt.float64)]).dtype == mt.float64
    assert mt.tensor([mt.tensor(1), mt.tensor(2)]).dtype == mt.int64


def test_set_default_dtype_changes_float_literals_and_constructors():
    try:
        mt.set_default_dtype(mt.float64)
        assert mt.tensor([1.0]).dtype == mt.float64
        assert mt.zeros(2).dtype == mt.ones(2).dtype == mt.rand(2).dtype == mt.randn(2).dtype == mt.float64
        assert mt.full((2,), 1.0).dtype == mt.arange(0.0, 2).dtype == mt.float64
        assert (mt.tensor([1]) / 2).dtype == mt.float64
        assert (mt.tensor([1]) * 2.5).dtype == mt.float64
        assert (mt.tensor([1.0], dtype=mt.float32) * 2.5).dtype == mt.float32  # still weak
        assert mt.tensor(np.float32(2.0)).dtype == mt.float32
        assert mt.tensor([1, 2]).sigmoid().dtype == mt.float64
    finally:
        mt.set_default_dtype(mt.float32)
    assert mt.tensor([1.0]).dtype == mt.float32
    with pytest.raises(TypeError):
        mt.set_default_dtype(mt.int64)


def test_casts_to_integers_leave_the_graph():
    x = mt.tensor([1.5, 2.5], requires_grad=True)
    assert not x.long().requires_grad and not x.bool().requires_grad
    assert x.double().requires_grad


def test_type_names_and_spellings():
    assert dtypes.as_dtype("float") == mt.float32 and dtypes.as_dtype(torch.float64) == mt.float64
    assert dtypes.as_dtype(bool) == mt.bool_ and dtypes.as_dtype(int) == mt.int64
    assert dtypes.scalar_type_name(mt.int64) == "Long"
    assert dtypes.wrap_integer(300, np.dtype("uint8")) == 44 and dtypes.wrap_integer(200, np.dtype("int8")) == -56
    assert math.isclose(float(mt.tensor(2.5)), 2.5)
