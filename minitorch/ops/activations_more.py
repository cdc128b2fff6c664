"""More activations: elu, silu, softplus, hardtanh, relu6 (PyTorch's gradients at the kinks)."""
from __future__ import annotations

from .. import dtypes
from ..autograd import Function
from ._util import require_float, scalar_array


class ELU(Function):
    """x if x > 0 else alpha (e^x - 1); at 0 the gradient is alpha's branch (alpha e^0), as PyTorch's."""

    rule = "dx = grad * (1 if x > 0 else alpha * exp(x))"

    @staticmethod
    def forward(ctx, x, alpha=1.0):
        xp = ctx.xp
        neg = x <= 0
        # expm1 (exact near 0, as PyTorch's), and only where used, so large positive x never overflows.
        em1 = xp.expm1(xp.where(neg, x, xp.zeros_like(x)))
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(neg, em1)
        ctx.alpha = alpha
        return xp.where(neg, alpha * em1, x)

    @staticmethod
    def backward(ctx, grad):
        neg, em1 = ctx.saved
        return ctx.xp.where(neg, grad * (ctx.alpha * (em1 + 1)), grad)


class SiLU(Function):
    """x sigmoid(x): dy/dx = s (1 + x (1 - s))."""

    rule = "dx = grad * s * (1 + x * (1 - s)),  s = sigmoid(x)"

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        e = xp.exp(-xp.abs(x))  # e^{-|x|} never overflows
        s = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad):
        x, s = ctx.saved
        return grad * (s * (1 + x * (1 - s)))


class Softplus(Function):
    """log(1 + e^{beta x}) / beta, and x itself where beta x > threshold (PyTorch's linear cut-off)."""

    rule = "dx = grad * sigmoid(beta * x)  (grad where beta * x > threshold)"

    @staticmethod
    def forward(ctx, x, beta=1.0, threshold=20.0):
        xp = ctx.xp
        bx = x * beta
        linear = bx > threshold
        e = xp.exp(xp.where(linear, xp.zeros_like(bx), bx))  # unused where linear: keeps it finite
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(linear, e)
        return xp.where(linear, x, xp.log1p(e) / beta)

    @staticmethod
    def backward(ctx, grad):
        linear, e = ctx.saved
        return ctx.xp.where(linear, grad, grad * (e / (e + 1)))


class Hardtanh(Function):
    """x clamped to [min_val, max_val]; the gradient is 0 at and beyond both bounds, as PyTorch's."""

    rule = "dx = grad * (lo < x < hi)"

    @staticmethod
    def forward(ctx, x, lo, hi):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward((x > lo) & (x < hi))
        return ctx.xp.where(x < lo, lo, ctx.xp.where(x > hi, hi, x))  # NaN passes through, as in PyTorch

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved
        return grad * ctx.xp.astype(inside, grad.dtype), None, None


def elu(x, alpha=1.0, inplace=False):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    require_float(x, "elu_cpu")
    return _maybe_inplace(x, inplace, lambda t: ELU.apply(t, alpha=alpha))


def silu(x, inplace=False):
    """x * sigmoid(x) (also called swish)."""
    require_float(x, "silu_cpu")
    return _maybe_inplace(x, inplace, SiLU.apply)


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold."""
    require_float(x, "softplus_cpu")
    return Softplus.apply(x, beta=beta, threshold=threshold)


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    """x clamped to [min_val, max_val] (integer tensors stay integer)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val, got min_val={min_val} "
                         f"and max_val={max_val}")
    if x.dtype == dtypes.bool_:
        raise RuntimeError("Bool inputs not supported for hardtanh")
    if x.dtype.kind == "u" and (min_val < 0 or max_val < 0):
        raise RuntimeError(f"hardtanh: cannot do hardtanh on an unsigned type ({x.dtype}) with negative limits "
                           f"(min_val={min_val}, max_val={max_val})")
    lo, hi = (scalar_array(x.xp, v, x.dtype) for v in (min_val, max_val))  # bounds in x's dtype, as PyTorch
    return _maybe_inplace(x, inplace, lambda t: Hardtanh.apply(t, lo, hi))


def relu6(x, inplace=False):
    """min(max(x, 0), 6): hardtanh(x, 0, 6), with its zero gradient at 0 and at 6."""
    return hardtanh(x, 0.0, 6.0, inplace)


def _maybe_inplace(x, inplace, fn):
    """fn(x), or x overwritten with fn(x) under PyTorch's in-place rules (the inplace= flag of F.elu, ...)."""
    if not inplace:
        return fn(x)
    from ..inplace import apply_
    return apply_(x, fn)
