"""Unary math: exp, log, sqrt, abs and friends, trigonometry, rounding.

Float-only functions (exp, log, sin, ...) of integer or bool tensors compute in the default float
dtype, as PyTorch's do; rounding and sign keep integer dtypes and have zero gradient.
"""
from __future__ import annotations

from .. import dtypes
from ..autograd import Function
from ..tensor import Tensor
from ._util import float_input, is_float


class Exp(Function):
    """e^a: its derivative is itself, so save the output."""

    rule = "da = grad * exp(a)"

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return grad * out


class Log(Function):
    """ln a"""

    rule = "da = grad / a"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return grad / a


class Log1p(Function):
    """ln(1 + a), accurate for small a: d/da = 1 / (1 + a)."""

    rule = "da = grad / (1 + a)"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.log1p(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return grad / (1 + a)


class Sqrt(Function):
    """sqrt a: d/da = 1 / (2 sqrt a)"""

    rule = "da = grad / (2 * sqrt(a))"

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return grad / (2 * out)


class Rsqrt(Function):
    """1 / sqrt a: d/da = -1/2 a^(-3/2) = -out^3 / 2"""

    rule = "da = -grad * a**(-3/2) / 2"

    @staticmethod
    def forward(ctx, a):
        out = 1 / ctx.xp.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return -0.5 * grad * out * out * out


class Reciprocal(Function):
    """1 / a: d/da = -1 / a^2 = -out^2"""

    rule = "da = -grad / a**2"

    @staticmethod
    def forward(ctx, a):
        out = 1 / a
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return -grad * out * out


class Sin(Function):
    """sin a: d/da = cos a"""

    rule = "da = grad * cos(a)"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.sin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return grad * ctx.xp.cos(a)


class Cos(Function):
    """cos a: d/da = -sin a"""

    rule = "da = -grad * sin(a)"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.cos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return -grad * ctx.xp.sin(a)


class Abs(Function):
    """|a|: gradient sign(a), 0 at 0 (as PyTorch)."""

    rule = "da = grad * sign(a)"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        xp = ctx.xp
        s = xp.sign(a)
        if xp.isdtype(a.dtype, "real floating"):
            s = xp.where(xp.isnan(a), xp.zeros_like(s), s)  # PyTorch's sgn(nan) = 0
        return grad * s


class Step(Function):
    """A piecewise-constant function (sign, floor, ceil, round): its gradient is 0 everywhere."""

    rule = "da = 0 (piecewise constant)"

    @staticmethod
    def forward(ctx, a, fn, decimals=0):
        xp = ctx.xp
        if fn == "round" and decimals:
            scale = 10.0 ** decimals
            return xp.round(a * scale) / scale
        out = getattr(xp, fn)(a)
        if fn == "sign" and xp.isdtype(a.dtype, "real floating"):
            out = xp.where(xp.isnan(a), xp.zeros_like(out), out)  # PyTorch: sign(nan) = 0
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.zeros_like(grad)


def _no_bool(a: Tensor, kernel: str) -> None:
    if a.dtype == dtypes.bool_:
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


def _copy(a: Tensor) -> Tensor:
    return Tensor._make(a.xp.asarray(a.array, copy=True), a.backend, False, None)


def exp(a): return Exp.apply(float_input(a))
def log(a): return Log.apply(float_input(a))
def log1p(a): return Log1p.apply(float_input(a))
def sqrt(a): return Sqrt.apply(float_input(a))
def rsqrt(a): return Rsqrt.apply(float_input(a))
def reciprocal(a): return Reciprocal.apply(float_input(a))
def sin(a): return Sin.apply(float_input(a))
def cos(a): return Cos.apply(float_input(a))


def abs(a):  # noqa: A001
    """|a|, in a's dtype."""
    _no_bool(a, "abs_cpu")
    return Abs.apply(a)


def square(a):
    """a * a (bool tensors give int64, as PyTorch's pow(a, 2))."""
    from .elementwise import pow
    return pow(a, 2)


def sign(a):
    """-1, 0 or 1 in a's dtype (a copy of a bool tensor); zero gradient."""
    return _copy(a) if a.dtype == dtypes.bool_ else Step.apply(a, "sign")


def _rounding(fn: str, kernel: str):
    def rounding(a):
        _no_bool(a, kernel)
        return Step.apply(a, fn) if is_float(a) else _copy(a)  # integers are already whole
    rounding.__name__ = fn
    rounding.__doc__ = f"{fn} of each element (integer tensors are returned unchanged); zero gradient."
    return rounding


floor = _rounding("floor", "floor_vml_cpu")
ceil = _rounding("ceil", "ceil_vml_cpu")


def round(a, decimals=0):  # noqa: A001
    """Round half to even, to `decimals` decimal places; zero gradient."""
    _no_bool(a, "round_cpu")
    if not is_float(a):
        if decimals:
            raise NotImplementedError(f"\"round_cpu\" not implemented for '{dtypes.scalar_type_name(a.dtype)}'")
        return _copy(a)
    return Step.apply(a, "round", decimals=decimals)
