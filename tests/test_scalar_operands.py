"""Python numbers reach the array ops as numbers, before a tensor as after it (3.0 - t as t - 3.0).

A 0-d array made of a number is a host-to-device copy on CUDA at every call: the fake device
(tests/fake_device.py) counts them, forward and backward. Values, result dtypes, gradients and
errors are PyTorch's, on every backend, for floating, integer and bool tensors.
"""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt

import fake_device
from fake_device import uploads

torch = pytest.importorskip("torch")

# name -> f(T, t): the same expression on minitorch (T = mt) and on PyTorch (T = torch)
EXPRESSIONS = {
    "3.0 - t": lambda T, t: 3.0 - t,
    "2.0 / t": lambda T, t: 2.0 / t,
    "2.0 ** t": lambda T, t: 2.0 ** t,
    "1 + t": lambda T, t: 1 + t,
    "2 * t": lambda T, t: 2 * t,
    "3.0 < t": lambda T, t: 3.0 < t,
    "t.clamp(0.0, 1.0)": lambda T, t: t.clamp(0.0, 1.0),
    "t.clamp(min=0)": lambda T, t: t.clamp(min=0),
    "clamp(t, max=2.0)": lambda T, t: T.clamp(t, max=2.0),
}
# more of the same paths, compared with PyTorch only
MORE = {
    "pow(2.0, t)": lambda T, t: T.pow(2.0, t),
    "0.0 ** t": lambda T, t: 0.0 ** t,
    "-2.0 ** t": lambda T, t: (-2.0) ** t,
    "2 ** t": lambda T, t: 2 ** t,
    "1.5 >= t": lambda T, t: 1.5 >= t,
    "1 == t": lambda T, t: 1 == t,
    "where(t > 0, 1.0, t)": lambda T, t: T.where(t > 0, 1.0, t),
    "3.5 - t": lambda T, t: 3.5 - t,
    "2**40 - t": lambda T, t: 2**40 - t,
    "2**40 + t": lambda T, t: 2**40 + t,
    "2**70 * t": lambda T, t: 2**70 * t,  # past uint64: PyTorch raises
    "t * 2**70": lambda T, t: t * 2**70,
    "2**64 - 1 + t": lambda T, t: 2**64 - 1 + t,
    "t.clamp(max=2**70)": lambda T, t: t.clamp(max=2**70),
    "t.clamp(-0.5, 2**40)": lambda T, t: t.clamp(-0.5, 2**40),
    "t.clamp(2.0, 1.0)": lambda T, t: t.clamp(2.0, 1.0),
    "t.clamp(0.5, 2.5)": lambda T, t: t.clamp(0.5, 2.5),
}
FAKE = "cuda:7"  # fake_device's name, while a test has it installed
VALUES = [-1.5, 0.0, 0.5, 1.0, 2.0, 3.25]  # clamp's boundaries included (their gradient passes)


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_number_operands_upload_nothing(monkeypatch, name):
    with fake_device.installed(monkeypatch, launchers=False):
        t = mt.tensor(np.array(VALUES, dtype=np.float32), device=FAKE, requires_grad=True)
        y = EXPRESSIONS[name](mt, t)
        assert uploads.where == [], "forward"
        y = y * t if y.dtype == mt.bool_ else y  # a comparison: its mask times t, to reach backward
        y.sum().backward()
        assert uploads.where == [], "backward"
        assert t.grad.dtype == mt.float32


INTEGER_EXPRESSIONS = ["1 + t", "2 * t", "1 == t", "t.clamp(min=0)"]


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
@pytest.mark.parametrize("name", INTEGER_EXPRESSIONS)
def test_int_numbers_beside_integer_tensors_upload_nothing(monkeypatch, name, dtype):
    """labels + 1 keeps the labels' dtype (as PyTorch): the int reaches the array op as an int, no 0-d upload."""
    with fake_device.installed(monkeypatch, launchers=False):
        t = mt.tensor(np.array([0, 1, 2, 3], dtype=dtype), device=FAKE)
        y = (EXPRESSIONS | MORE)[name](mt, t)
        assert uploads.where == []
        assert y.dtype == (mt.bool_ if name == "1 == t" else getattr(mt, dtype))


def _outcome(fn, T, t):
    try:
        return fn(T, t)
    except Exception as exc:  # noqa: BLE001 - whether both raise is what is compared
        return exc


def _to_torch(t: mt.Tensor):
    return torch.from_numpy(t.detach().numpy().copy()).requires_grad_(t.requires_grad)


def _check_against_torch(fn, label, host, device, grad):
    x = mt.tensor(host, device=device, requires_grad=grad)
    tx = _to_torch(x)
    mine, theirs = _outcome(fn, mt, x), _outcome(fn, torch, tx)
    if isinstance(theirs, Exception) or isinstance(mine, Exception):
        assert isinstance(mine, Exception) and isinstance(theirs, Exception), f"{label}: {mine!r} vs {theirs!r}"
        return
    assert mine.dtype.name == str(theirs.dtype).removeprefix("torch."), label
    np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=1e-6, err_msg=label)
    if grad and theirs.requires_grad:
        mine.sum().backward()
        theirs.sum().backward()
        assert x.grad.dtype == x.dtype, label
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6, err_msg=f"{label}: gradient")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(EXPRESSIONS | MORE))
def test_float_tensors_match_pytorch(device, name, dtype):
    host = np.array(VALUES, dtype=dtype)
    _check_against_torch((EXPRESSIONS | MORE)[name], f"{name} on {dtype}", host, device, grad=True)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
@pytest.mark.parametrize("name", sorted(EXPRESSIONS | MORE))
def test_integer_and_bool_tensors_match_pytorch(device, name, dtype):
    """Integer tensors with float numbers give floats (3.5 - t); overflowing ints raise or wrap as PyTorch."""
    if dtype == "bool" and name == "2**64 - 1 + t":
        pytest.skip("PyTorch reads this int as uint64 beside bools and refuses the promotion; minitorch wraps it")
    host = np.array([0, 1, 2, 3, 1], dtype=dtype) if dtype != "bool" else np.array([True, False, True])
    _check_against_torch((EXPRESSIONS | MORE)[name], f"{name} on {dtype}", host, device, grad=False)


def test_number_base_pow_gradient_is_pytorch_at_zero_and_below():
    """d(base ** t)/dt is 0 at base 0 for t >= 0 (-inf below), nan for a negative base: PyTorch's values."""
    for base in (0.0, -2.0, 2.0, 0.5):
        x = mt.tensor([-1.0, 0.0, 0.5, 2.0], requires_grad=True)
        tx = _to_torch(x)
        (base ** x).sum().backward()
        (base ** tx).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy(), err_msg=f"base {base}")


def test_clamp_with_number_bounds_crossed_sends_no_gradient():
    x = mt.tensor([0.0, 1.5, 3.0], requires_grad=True)
    x.clamp(2.0, 1.0).sum().backward()  # low > high: every element becomes high, none depends on x
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
