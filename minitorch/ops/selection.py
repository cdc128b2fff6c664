"""Selection: elementwise maximum/minimum, clamp, where (which operand each output element comes from).

Gradients follow PyTorch at ties and boundaries: maximum/minimum split a tie in half; clamp passes
the gradient at the boundaries themselves; where sends each element's gradient to the chosen side.
"""
from __future__ import annotations

from typing import Any

from .. import dtypes
from ..autograd import Function
from ..tensor import Tensor
from ._util import (binary_operands, bool_operand, constant, fits_integer, is_float, logical_result, promote,
                    require_tensor, weak_number)


class Maximum(Function):
    """max(a, b) elementwise; ties share the gradient equally (as PyTorch)."""

    rule = "da = grad where a > b;  db = grad where b > a  (ties: half each)"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return _split_by_winner(ctx.xp, grad, a < b, a > b, a == b)


class Minimum(Function):
    """min(a, b) elementwise; ties share the gradient equally."""

    rule = "da = grad where a < b;  db = grad where b < a  (ties: half each)"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return _split_by_winner(ctx.xp, grad, a > b, a < b, a == b)


def _split_by_winner(xp: Any, grad: Any, a_loses: Any, b_loses: Any, tie: Any) -> tuple[Any, Any]:
    """PyTorch's rule: half each on a tie, all to the winner, and (a NaN compares false) all to both."""
    share = xp.where(tie, grad / 2, grad)
    zero = xp.zeros_like(share)
    return xp.where(a_loses, zero, share), xp.where(b_loses, zero, share)


class Clamp(Function):
    """min(max(a, low), high). The gradient goes to a where low <= a <= high (boundaries included), to
    low where a < low, to high where a > high, and all of it to high where low > high (as PyTorch)."""

    rule = "da = grad where low <= a <= high;  dlow = grad where a < low;  dhigh = grad where a > high"

    @staticmethod
    def forward(ctx, a, low, high):
        xp = ctx.xp
        ctx.save_for_backward(a, low, high)
        out = a if low is None else xp.maximum(a, low)
        return out if high is None else xp.minimum(out, high)

    @staticmethod
    def backward(ctx, grad):
        a, low, high = ctx.saved
        xp = ctx.xp
        da, dlow, dhigh = ctx.needs_input_grad
        zero = xp.zeros_like(grad)
        # Number bounds (Python floats, no gradient) meet only `keep`, which is empty where low > high;
        # `crossed` is needed by, and built for, tensor bounds only.
        keep = a <= high if low is None else a >= low if high is None else (a >= low) & (a <= high)
        crossed = low > high if (dlow or dhigh) and low is not None and high is not None else None
        below = (a < low if crossed is None else (a < low) & ~crossed) if dlow else None
        above = (a > high if crossed is None else (a > high) | crossed) if dhigh else None
        return (xp.where(keep, grad, zero) if da else None,
                xp.where(below, grad, zero) if dlow else None,
                xp.where(above, grad, zero) if dhigh else None)


class Where(Function):
    """cond ? a : b (cond is a bool tensor that gets no gradient)."""

    rule = "da = grad where cond;  db = grad where not cond"

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return ctx.xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved
        zero = ctx.xp.zeros_like(grad)
        return None, ctx.xp.where(cond, grad, zero), ctx.xp.where(cond, zero, grad)


def maximum(a, b):
    """Elementwise max of two tensors (ties share the gradient)."""
    require_tensor(a, "maximum", "input", 1), require_tensor(b, "maximum")
    a, b = binary_operands(a, b)
    return logical_result("logical_or", a, b) if bool_operand(a) else Maximum.apply(a, b)


def minimum(a, b):
    """Elementwise min of two tensors (ties share the gradient)."""
    require_tensor(a, "minimum", "input", 1), require_tensor(b, "minimum")
    a, b = binary_operands(a, b)
    return logical_result("logical_and", a, b) if bool_operand(a) else Minimum.apply(a, b)


def clamp(a, min=None, max=None):  # noqa: A002
    """Limit a to [min, max]; bounds may be numbers or tensors (which then get gradients)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    bounds = [x for x in (min, max) if x is not None]
    if is_float(a) and all(weak_number(x) for x in bounds):  # the common case: no promotion
        # Python floats, weak beside a (its dtype stays); a 0-d array would be an upload per call on CUDA
        a2, arrays = a, [float(x) for x in bounds]
    elif all(type(x) is int and fits_integer(a.array.dtype, x) for x in bounds):  # labels.clamp(0, 9)
        a2, arrays = a, bounds
    else:
        (a2, *arrays), dtype = promote(a, *bounds)
        if dtype == dtypes.bool_:
            return _clamp_bool(a2, min, max, arrays)
    low = arrays[0] if min is not None else None
    high = arrays[-1] if max is not None else None
    return Clamp.apply(a2, low, high)


def _clamp_bool(a, min, max, arrays):  # noqa: A002
    """clamp of bools by bool tensors: max is `or`, min is `and` (number bounds are refused, as in PyTorch)."""
    if not all(isinstance(x, Tensor) for x in (min, max) if x is not None):
        raise NotImplementedError("\"clamp_scalar_cpu\" not implemented for 'Bool'")
    xp, out = a.xp, a.array
    low, high = (arrays[0].array if min is not None else None), (arrays[-1].array if max is not None else None)
    out = out if low is None else xp.logical_or(out, low)
    out = out if high is None else xp.logical_and(out, high)
    return constant(a.backend, out)


def clamp_min(a, min):  # noqa: A002
    """max(a, min)."""
    return clamp(a, min=min)


def clamp_max(a, max):  # noqa: A002
    """min(a, max)."""
    return clamp(a, max=max)


def where(condition, input, other):  # noqa: A002
    """input where condition else other; condition is a bool tensor, input/other tensors or numbers."""
    if not isinstance(condition, Tensor):
        ref = input if isinstance(input, Tensor) else other
        condition = Tensor(condition, device=ref.device if isinstance(ref, Tensor) else None)
    if condition.dtype != dtypes.bool_:
        raise RuntimeError("where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{dtypes.scalar_type_name(condition.dtype)}")
    if isinstance(input, Tensor) or isinstance(other, Tensor):
        a, b = binary_operands(input, other)
    else:
        (a, b), _ = promote(input, other, backend=condition.backend)
    return Where.apply(condition, a, b)
