"""Logical and bitwise ops, NaN/Inf tests, allclose and equal: no gradients, bool (or integer) results."""
from __future__ import annotations

from typing import Any

from .. import dtypes
from ..tensor import Tensor
from ._util import constant, is_float, promote, require_tensor


def _result(ref: Tensor, array: Any) -> Tensor:
    return constant(ref.backend, array)


def _same_device(a: Tensor, b: Tensor, op: str) -> None:
    if a.backend is not b.backend:
        raise RuntimeError(f"{op}: expected both tensors on one device, got {a.device} and {b.device}")


def _truth(t: Tensor) -> Any:
    """t as a bool array: nonzero (NaN included) is True."""
    return t.array if t.dtype == dtypes.bool_ else t.xp.astype(t.array, t.xp.bool)


def logical_not(a):
    """not a, elementwise (nonzero counts as True)."""
    return _result(a, a.xp.logical_not(_truth(a)))


def _logical(name: str):
    def logical(a, b):
        require_tensor(a, name, "input", 1), require_tensor(b, name)
        _same_device(a, b, name)
        return _result(a, getattr(a.xp, name)(_truth(a), _truth(b)))
    logical.__name__ = name
    logical.__doc__ = f"Elementwise {name[8:]} of the operands' truth values: a bool tensor."
    return logical


logical_and, logical_or, logical_xor = (_logical(n) for n in ("logical_and", "logical_or", "logical_xor"))


def _bitwise(name: str, kernel: str):
    def bitwise(a, b):
        (x, y), dtype = promote(a, b)
        if dtypes.category(dtype) == 2:
            raise NotImplementedError(f"\"{kernel}_cpu\" not implemented for '{dtypes.scalar_type_name(dtype)}'")
        ref = x if isinstance(x, Tensor) else y
        if isinstance(x, Tensor) and isinstance(y, Tensor):
            _same_device(x, y, name)
        raw = [t.array if isinstance(t, Tensor) else t for t in (x, y)]
        return _result(ref, getattr(ref.xp, name)(*raw))
    bitwise.__name__ = kernel
    bitwise.__doc__ = f"Elementwise {kernel} of integer or bool operands (& | ^ on tensors)."
    return bitwise


bitwise_and = _bitwise("bitwise_and", "bitwise_and")
bitwise_or = _bitwise("bitwise_or", "bitwise_or")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor")


def bitwise_not(a):
    """~a: bitwise not of an integer tensor, logical not of a bool tensor."""
    if is_float(a):
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return _result(a, a.xp.bitwise_invert(a.array))


def _test(name: str, integer_answer: bool):
    def test(a):
        if is_float(a):
            return _result(a, getattr(a.xp, name)(a.array))
        fill = a.xp.ones if integer_answer else a.xp.zeros
        return _result(a, fill(a.array.shape, dtype=a.xp.bool))
    test.__name__ = name
    test.__doc__ = f"Elementwise {name}: a bool tensor."
    return test


isnan, isinf, isfinite = _test("isnan", False), _test("isinf", False), _test("isfinite", True)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise |a - b| <= atol + rtol * |b| (equal infinities are close): a bool tensor."""
    require_tensor(a, "isclose", "input", 1), require_tensor(b, "isclose")
    _same_device(a, b, "isclose")
    if a.dtype != b.dtype:
        raise RuntimeError(f"{dtypes.scalar_type_name(a.dtype)} did not match {dtypes.scalar_type_name(b.dtype)}")
    xp = a.xp
    x, y = a.array, b.array
    if not is_float(a):
        x, y = xp.astype(x, xp.float64), xp.astype(y, xp.float64)
    close = (x == y) | (xp.abs(x - y) <= atol + rtol * xp.abs(y))
    if equal_nan:
        close = close | (xp.isnan(x) & xp.isnan(y))
    return _result(a, close)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """Whether a and b are close everywhere (isclose, b broadcast to a); the dtypes must match, as in PyTorch."""
    return bool(a.xp.all(isclose(a, b, rtol, atol, equal_nan).array))


def equal(a, b) -> bool:
    """True when a and b have the same shape and the same values (dtypes may differ)."""
    require_tensor(a, "equal", "input", 1), require_tensor(b, "equal")
    _same_device(a, b, "equal")
    if a.shape != b.shape:
        return False
    (x, y), _ = promote(a, b)
    return bool(a.xp.all(x.array == y.array))
