"""Elementwise ops: arithmetic, powers, exp/log, abs, maximum/minimum, clamp, where."""
from __future__ import annotations

from typing import Any

from ..autograd import Function
from ._util import binary_operands


class Add(Function):
    """a + b"""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    """a - b"""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


class Mul(Function):
    """a * b"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        da, db = ctx.needs_input_grad
        return (grad * b if da else None), (grad * a if db else None)


class Div(Function):
    """a / b"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        da, db = ctx.needs_input_grad
        return (grad / b if da else None), (-grad * a / (b * b) if db else None)


class Pow(Function):
    """a ** b: d/da = b a^(b-1), d/db = a^b log a"""

    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved
        da, db = ctx.needs_input_grad
        return (grad * b * a ** (b - 1) if da else None), (grad * out * ctx.xp.log(a) if db else None)


class Neg(Function):
    """-a"""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Function):
    """e^a: its derivative is itself, so save the output."""

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

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return grad / a


class Sqrt(Function):
    """sqrt a: d/da = 1 / (2 sqrt a)"""

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return grad / (2 * out)


class Abs(Function):
    """|a|: gradient sign(a), 0 at 0 (as PyTorch)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return grad * ctx.xp.sign(a)


class Maximum(Function):
    """max(a, b) elementwise; ties share the gradient equally (as PyTorch)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return _split_by_winner(ctx.xp, grad, a > b, a == b)


class Minimum(Function):
    """min(a, b) elementwise; ties share the gradient equally."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return _split_by_winner(ctx.xp, grad, a < b, a == b)


def _split_by_winner(xp: Any, grad: Any, a_wins: Any, tie: Any) -> tuple[Any, Any]:
    share = xp.where(a_wins, grad, xp.where(tie, grad / 2, xp.zeros_like(grad)))
    return share, grad - share


class Clamp(Function):
    """min(max(a, low), high); gradient passes where low <= a <= high."""

    @staticmethod
    def forward(ctx, a, low=None, high=None):
        xp = ctx.xp
        keep = xp.ones(a.shape, dtype=xp.bool)
        out = a
        if low is not None:
            keep = keep & (a >= low)
            out = xp.maximum(out, xp.asarray(low, dtype=a.dtype))
        if high is not None:
            keep = keep & (a <= high)
            out = xp.minimum(out, xp.asarray(high, dtype=a.dtype))
        ctx.save_for_backward(keep)
        return out

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved
        return ctx.xp.where(keep, grad, ctx.xp.zeros_like(grad))


class Where(Function):
    """cond ? a : b (cond is a constant bool array)."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return ctx.xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved
        zero = ctx.xp.zeros_like(grad)
        return None, ctx.xp.where(cond, grad, zero), ctx.xp.where(cond, zero, grad)


def add(a, b, alpha=1): return Add.apply(*binary_operands(a, b if alpha == 1 else b * alpha))
def sub(a, b, alpha=1): return Sub.apply(*binary_operands(a, b if alpha == 1 else b * alpha))
def mul(a, b): return Mul.apply(*binary_operands(a, b))
def div(a, b): return Div.apply(*binary_operands(a, b))
def pow(a, b): return Pow.apply(*binary_operands(a, b))  # noqa: A001
def neg(a): return Neg.apply(a)
def exp(a): return Exp.apply(a)
def log(a): return Log.apply(a)
def sqrt(a): return Sqrt.apply(a)
def abs(a): return Abs.apply(a)  # noqa: A001
def maximum(a, b): return Maximum.apply(*binary_operands(a, b))
def minimum(a, b): return Minimum.apply(*binary_operands(a, b))
def clamp(a, min=None, max=None): return Clamp.apply(a, min, max)  # noqa: A002


def where(cond, a, b):
    """Elementwise choice; `cond` is a bool tensor (no gradient flows into it)."""
    from ..tensor import Tensor
    a, b = binary_operands(a, b)
    ref = a if isinstance(a, Tensor) else b
    c = cond.array if isinstance(cond, Tensor) else ref.backend.xp.asarray(cond)
    return Where.apply(c, a, b)
