"""Elementwise arithmetic: + - * / ** // %, negation (maximum/minimum, clamp, where: selection.py).

Every binary op first brings its operands to PyTorch's result dtype (`_util.binary_operands`).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import dtypes
from ..autograd import Function
from ..tensor import Tensor
from ._util import (FLOAT_DTYPES, binary_operands, bool_operand, constant, is_bool, is_float, is_scalar,
                    logical_result, promote)
from .selection import where  # noqa: F401  (re-exported: losses import it from here)

class Add(Function):
    """a + b"""

    rule = "da = grad;  db = grad"

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    """a - b"""

    rule = "da = grad;  db = -grad"

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)  # t - 1.0 and 1.0 - t: one gradient each


class Mul(Function):
    """a * b"""

    rule = "da = grad * b;  db = grad * a"

    @staticmethod
    def forward(ctx, a, b):
        da, db = ctx.needs_input_grad
        ctx.save_for_backward(b if da else None, a if db else None)  # each gradient needs the other factor
        return a * b

    @staticmethod
    def backward(ctx, grad):
        b, a = ctx.saved
        da, db = ctx.needs_input_grad
        return (grad * b if da else None), (grad * a if db else None)


class Div(Function):
    """a / b"""

    rule = "da = grad / b;  db = -grad * a / b**2"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        da, db = ctx.needs_input_grad
        return (grad / b if da else None), (-grad * a / (b * b) if db else None)


class Pow(Function):
    """a ** b: d/da = b a^(b-1) (0 where b == 0, even at a == 0); d/db = a^b ln a (0 where a == 0 and b >= 0)."""

    rule = "da = grad * b * a**(b - 1);  db = grad * a**b * log(a)"

    @staticmethod
    def forward(ctx, a, b, exponent=None):
        ctx.exponent = exponent  # the Python number when b is one: then only a is needed (and saved)
        ctx.base = a if type(a) in (float, int) else None  # the Python number when a is one (2.0 ** t)
        if exponent is not None or ctx.base is not None or not dtypes.is_integer(a.dtype):
            out = a ** b
        else:
            out = _integer_power(ctx.xp, a, b)
        ctx.save_for_backward(a) if exponent is not None else ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        xp, exponent = ctx.xp, ctx.exponent
        if exponent is not None:
            (a,) = ctx.saved
            return xp.zeros_like(grad) if exponent == 0 else grad * exponent * a ** (exponent - 1)
        if ctx.base is not None:  # a number gets no gradient
            return None, _number_base_grad(xp, grad, ctx.base, *ctx.saved[1:])
        a, b, out = ctx.saved
        da, db = ctx.needs_input_grad
        ga = xp.where(b == 0, xp.zeros_like(grad), grad * b * a ** (b - 1)) if da else None
        gb = grad * xp.where((a == 0) & (b >= 0), xp.zeros_like(out), out * xp.log(a)) if db else None
        return ga, gb


def _number_base_grad(xp: Any, grad: Any, base: float, b: Any, out: Any) -> Any:
    """d(base ** b)/db = base^b ln(base) with the number's own log (xp.log of a number would be a 0-d
    array, a NumPy float64 scalar, or refused); 0 where base == 0 and b >= 0, as PyTorch."""
    log_base = math.log(base) if base > 0 else -math.inf if base == 0 else math.nan  # PyTorch's log(x < 0): nan
    gb = grad * (out * log_base)
    return gb if base != 0 else xp.where(b >= 0, xp.zeros_like(gb), gb)


def _integer_power(xp: Any, a: Any, b: Any) -> Any:
    """a ** b for integer arrays, negative exponents included (NumPy refuses them): as in C, 1 / a^|b|
    truncates to 0 unless a is 1 or -1."""
    negative = b < 0
    out = a ** xp.where(negative, xp.zeros_like(b), b)
    if not bool(xp.any(negative)):
        return out
    odd = (b % 2) != 0
    tiny = xp.where(a == 1, xp.ones_like(out), xp.where(a == -1, xp.where(odd, -xp.ones_like(out), xp.ones_like(out)),
                                                          xp.zeros_like(out)))
    return xp.where(negative, tiny, out)


class Neg(Function):
    """-a"""

    rule = "da = -grad"

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class FloorDivide(Function):
    """floor(a / b). Piecewise constant; PyTorch defines no derivative, so backward raises as it does."""

    rule = "no derivative: backward raises, as in PyTorch"

    @staticmethod
    def forward(ctx, a, b):
        return ctx.xp.floor_divide(a, b)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("derivative for floor_divide is not implemented")


class Remainder(Function):
    """a - b * floor(a / b) (the result takes the divisor's sign, as Python's %): d/da = 1, d/db = -floor(a / b)."""

    rule = "da = grad;  db = -grad * floor(a / b)"

    @staticmethod
    def forward(ctx, a, b, scalar=None):
        ctx.scalar = scalar  # "divisor" or "dividend" when that side is a Python number
        if scalar is None and ctx.needs_input_grad[1]:
            ctx.save_for_backward(a, b)
        return ctx.xp.remainder(a, b)

    @staticmethod
    def backward(ctx, grad):
        if ctx.scalar == "dividend":
            raise RuntimeError("derivative for aten::remainder is not implemented")
        if ctx.scalar == "divisor" or not ctx.needs_input_grad[1]:
            return grad, None
        a, b = ctx.saved
        return grad, -grad * ctx.xp.floor_divide(a, b)


# -- wrappers: promotion and PyTorch's dtype rules, then one Function -----------------------------

def _with_alpha(a: Any, b: Any, alpha: Any) -> Any:
    """alpha * b, refusing the alphas PyTorch refuses (a float alpha for an integer result, ...)."""
    result = dtypes.result_type(*(x if isinstance(x, Tensor) or is_scalar(x) else Tensor(x) for x in (a, b)))
    if isinstance(alpha, (bool, np.bool_)) and result != dtypes.bool_:
        raise RuntimeError("Boolean alpha only supported for Boolean results.")
    if result == dtypes.bool_:  # a bool result takes alpha's truth value
        alpha = bool(alpha)
    if dtypes.category(result) < 2 and not isinstance(alpha, (int, np.integer)):
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")
    return mul(b, alpha) if isinstance(b, Tensor) else b * alpha


def add(a, b, alpha=1):
    """a + alpha * b."""
    if type(alpha) is not int or alpha != 1:
        b = _with_alpha(a, b, alpha)
    a, b = binary_operands(a, b)
    return logical_result("logical_or", a, b) if bool_operand(a) else Add.apply(a, b)


_SUB_BOOL = ("Subtraction, the `-` operator, with {} is not supported. If you are trying to invert a mask, use "
             "the `~` or `logical_not()` operator instead.")


def sub(a, b, alpha=1):
    """a - alpha * b (bool operands are refused, as in PyTorch)."""
    if is_bool(a) or is_bool(b):
        if is_bool(a) and is_bool(b) and isinstance(a, Tensor) and isinstance(b, Tensor):
            raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
                               "or `logical_xor()` operator instead.")
        raise RuntimeError(_SUB_BOOL.format("a bool tensor"))
    if type(alpha) is not int or alpha != 1:
        b = _with_alpha(a, b, alpha)
    return Sub.apply(*binary_operands(a, b))


def mul(a, b):
    """a * b."""
    a, b = binary_operands(a, b)
    return logical_result("logical_and", a, b) if bool_operand(a) else Mul.apply(a, b)


def div(a, b, rounding_mode=None):
    """a / b: true division (integer operands give the default float dtype), or rounded ("trunc", "floor")."""
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        return _trunc_divide(a, b)
    if rounding_mode is not None:
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                           f"'{rounding_mode}'")
    if (isinstance(a, Tensor) and type(a.array.dtype) in FLOAT_DTYPES
            or isinstance(b, Tensor) and type(b.array.dtype) in FLOAT_DTYPES):
        a, b = binary_operands(a, b)  # a floating result either way, so the fast paths (2.0 / t included)
    else:
        (a, b), _ = promote(a, b, float_result=True)
    return Div.apply(a, b)


def _integer_division_operands(a: Any, b: Any, name: str) -> tuple[Any, Any]:
    """Promoted operands of // or %; integer division by zero raises (as PyTorch on the CPU)."""
    (a, b), dtype = promote(a, b)
    if dtype == dtypes.bool_:
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for 'Bool'")
    if dtypes.category(dtype) == 1:
        raw = b.array if isinstance(b, Tensor) else b
        if bool(b.xp.any(raw == 0) if isinstance(b, Tensor) else raw == 0):
            raise RuntimeError("ZeroDivisionError")
    return a, b


def floor_divide(a, b):
    """floor(a / b), in the operands' promoted dtype (integers stay integers)."""
    return FloorDivide.apply(*_integer_division_operands(a, b, "div_floor"))


def _trunc_divide(a, b):
    """a / b rounded toward zero."""
    from .unary import ceil, floor
    if dtypes.category(dtypes.result_type(a, b)) == 2:
        q = div(a, b)
        return where(q < 0, ceil(q), floor(q))
    a, b = _integer_division_operands(a, b, "div_trunc")
    ref = a if isinstance(a, Tensor) else b
    xp, x, y = ref.xp, *(t.array if isinstance(t, Tensor) else t for t in (a, b))
    q = xp.floor_divide(x, y)  # rounds a non-exact negative quotient one below the truncated one
    low = (xp.remainder(x, y) != 0) & ((x < 0) != (y < 0))
    return constant(ref.backend, q + xp.astype(low, q.dtype))


def remainder(a, b):
    """a mod b with the sign of b (Python's %, torch.remainder)."""
    scalar = "divisor" if is_scalar(b) else "dividend" if is_scalar(a) else None
    return Remainder.apply(*_integer_division_operands(a, b, "remainder"), scalar=scalar)


def pow(a, b):  # noqa: A001
    """a ** b (integer tensors to negative integer powers raise, as in PyTorch)."""
    exponent = (b.item() if isinstance(b, np.generic) else b) if is_scalar(b) else None
    a2, b2 = binary_operands(a, b)
    if bool_operand(a2) and bool_operand(b2):
        if exponent is None:
            raise NotImplementedError("\"pow\" not implemented for 'Bool'")
        if exponent:  # x ** True is x
            return a2.clone()
        return Tensor._make(a2.xp.ones_like(a2.array), a2.backend, False, None)  # x ** False is True
    if exponent is not None and exponent < 0 and not is_float(a2):
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return Pow.apply(a2, b2, exponent=exponent)


def neg(a):
    """-a."""
    if a.dtype == dtypes.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
                           "invert a mask, use the `~` or `logical_not()` operator instead.")
    return Neg.apply(a)
