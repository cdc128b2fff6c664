"""Reductions: sum, mean, var/std, prod, cumsum, all/any (with dim and keepdim, as PyTorch's).

Integer and bool tensors sum (and multiply, and accumulate) into int64; mean, var and std refuse
them, as PyTorch does, unless a floating `dtype=` is given.
"""
from __future__ import annotations

import builtins
import math
from typing import Any

from .. import dtypes
from ..autograd import Function
from ..tensor import Tensor
from ._util import is_float, normalize_dims, reduce_dims


def expand_back(xp: Any, grad: Any, shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdim: bool) -> Any:
    """Broadcast a reduced gradient back over the axes it was reduced along."""
    return xp.broadcast_to(keep_dims(xp, grad, shape, axes, keepdim), shape)


def keep_dims(xp: Any, grad: Any, shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdim: bool) -> Any:
    """A reduced array with its reduced axes back as length-1 axes (a no-op when keepdim was True)."""
    if keepdim or not shape:
        return grad
    return xp.reshape(grad, tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape)))


def _count(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> int:
    return math.prod(shape) if axes is None else math.prod(shape[a] for a in axes)


class Sum(Function):
    """sum over dims: every input element receives the output's gradient."""

    rule = "da = grad broadcast to a's shape"

    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, reduce_dims(dim, a.ndim), keepdim
        return ctx.xp.sum(a, axis=ctx.axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        # A broadcast view is read-only (NumPy) or aliased (CuPy): a leaf's .grad must own its memory.
        return ctx.xp.asarray(expand_back(ctx.xp, grad, ctx.shape, ctx.axes, ctx.keepdim), copy=True)


class Mean(Function):
    """mean over dims: the gradient is shared equally by the n averaged elements."""

    rule = "da = grad broadcast to a's shape / n"

    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, reduce_dims(dim, a.ndim), keepdim
        return ctx.xp.mean(a, axis=ctx.axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        return expand_back(ctx.xp, grad, ctx.shape, ctx.axes, ctx.keepdim) / _count(ctx.shape, ctx.axes)


class Var(Function):
    """variance with Bessel's correction (unbiased by default, as torch.var); with root=True the
    standard deviation, whose gradient is 0 where it is 0 (as PyTorch's, instead of 0 * inf)."""

    rule = "da = grad * 2 * (a - mean) / (n - correction)  (std: grad / (2 * std) first)"

    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False, correction=1, root=False):
        xp = ctx.xp
        ctx.shape, ctx.axes, ctx.keepdim, ctx.root = a.shape, reduce_dims(dim, a.ndim), keepdim, root
        ctx.denom = builtins.max(_count(a.shape, ctx.axes) - correction, 0)
        centered = a - xp.mean(a, axis=ctx.axes, keepdims=True)
        # Squares of large float32 deviations overflow: accumulate in float64 and round once, as PyTorch's CPU.
        wide = xp.astype(centered, xp.float64) if a.dtype in (xp.float32, getattr(xp, "float16", None)) else centered
        out = xp.sum(wide * wide, axis=ctx.axes, keepdims=keepdim) / ctx.denom
        if root:
            out = xp.sqrt(out)
        out = xp.astype(out, a.dtype) if out.dtype != a.dtype else out
        # Saved as PyTorch saves them: the input, and std's own result (var's is not needed).
        ctx.save_for_backward(a, centered, out) if root else ctx.save_for_backward(a, centered)
        return out

    @staticmethod
    def backward(ctx, grad):
        centered, xp = ctx.saved[1], ctx.xp
        if ctx.root:  # d sqrt(v) = dv / (2 sqrt(v)), taken as 0 where the deviation is 0
            out = ctx.saved[2]
            grad = xp.where(out == 0, xp.zeros_like(grad), grad / (2 * out))
        return expand_back(xp, grad, ctx.shape, ctx.axes, ctx.keepdim) * (2 * centered / ctx.denom)


class Prod(Function):
    """product over a dim: d/da_i = product of the others = out / a_i, which stays right where a holds
    zeros (one zero: only its own gradient is nonzero; two or more: all gradients are zero)."""

    rule = "da = grad * (product of the other elements)"

    @staticmethod
    def forward(ctx, a, axis=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, None if axis is None else (axis,), keepdim
        out = ctx.xp.prod(a, axis=axis, keepdims=keepdim)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved
        xp, axis = ctx.xp, None if ctx.axes is None else ctx.axes[0]
        zero = a == 0
        nonzero = xp.where(zero, xp.ones_like(a), a)
        zeros = xp.sum(xp.astype(zero, xp.int64), axis=axis, keepdims=True)
        rest = xp.prod(nonzero, axis=axis, keepdims=True)  # the product of the nonzero elements
        out = keep_dims(xp, out, ctx.shape, ctx.axes, ctx.keepdim)
        others = xp.where(zeros == 0, out / nonzero, xp.where(zero & (zeros == 1), rest, xp.zeros_like(a)))
        return keep_dims(xp, grad, ctx.shape, ctx.axes, ctx.keepdim) * others


class CumSum(Function):
    """running sum along a dim: each input feeds every later output, so dx is the reversed running sum of g."""

    rule = "da = reversed running sum of grad"

    @staticmethod
    def forward(ctx, a, axis):
        ctx.axis = axis
        return ctx.xp.cumulative_sum(a, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        return xp.flip(xp.cumulative_sum(xp.flip(grad, axis=ctx.axis), axis=ctx.axis), axis=ctx.axis)


def _accumulating(a: Tensor, dtype: Any) -> Tensor:
    """The input of sum/prod/cumsum: cast to dtype= when given, else integers and bools to int64."""
    if dtype is not None:
        return a.to(dtype)
    return a if is_float(a) else a.to(dtypes.int64)


def _require_float(a: Tensor, message: str) -> None:
    if not is_float(a):
        raise RuntimeError(message.format(dtypes.scalar_type_name(a.dtype)))


def sum(a, dim=None, keepdim=False, dtype=None):  # noqa: A001
    """Sum over `dim` (all dims when None); integer and bool tensors sum into int64."""
    if dtype is None and is_float(a):  # the common case, first
        return Sum.apply(a, dim=dim, keepdim=keepdim)
    a = _accumulating(a, dtype)
    if a.dtype == dtypes.bool_:  # only with dtype=bool: "any" is bool's sum
        return any(a, dim, keepdim)
    return Sum.apply(a, dim=dim, keepdim=keepdim)


def mean(a, dim=None, keepdim=False, dtype=None):
    """Mean over `dim` (all dims when None); floating tensors only, unless dtype= is floating."""
    if dtype is not None:
        a = a.to(dtype)
    _require_float(a, "mean(): could not infer output dtype. Input dtype must be either a floating point or "
                      "complex dtype. Got: {}")
    return Mean.apply(a, dim=dim, keepdim=keepdim)


def var(a, dim=None, keepdim=False, unbiased=True, correction=None):
    """Variance over `dim`; unbiased (n - 1) by default, as torch.var."""
    _require_float(a, "std and var only support floating point and complex dtypes")
    correction = (1 if unbiased else 0) if correction is None else correction
    return Var.apply(a, dim=dim, keepdim=keepdim, correction=correction)


def std(a, dim=None, keepdim=False, unbiased=True, correction=None):
    """Standard deviation: sqrt of var (its gradient is 0 where it is 0)."""
    _require_float(a, "std and var only support floating point and complex dtypes")
    correction = (1 if unbiased else 0) if correction is None else correction
    return Var.apply(a, dim=dim, keepdim=keepdim, correction=correction, root=True)


def _single_dim(dim: Any, op: str) -> None:
    if not isinstance(dim, int):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")


def prod(a, dim=None, keepdim=False, dtype=None):
    """Product of all elements, or along one dim; integer and bool tensors multiply into int64."""
    a = _accumulating(a, dtype)
    if dim is None:
        return Prod.apply(a)
    _single_dim(dim, "prod")
    if a.ndim == 0:
        normalize_dims(dim, 0)
        return Prod.apply(a)
    return Prod.apply(a, axis=normalize_dims(dim, a.ndim)[0], keepdim=keepdim)


def cumsum(a, dim, dtype=None):
    """Running sum along `dim`; integer and bool tensors accumulate into int64."""
    _single_dim(dim, "cumsum")
    a = _accumulating(a, dtype)
    axis = normalize_dims(dim, a.ndim)[0]
    if a.ndim == 0:
        return a.clone()
    return CumSum.apply(a, axis)


def _truth_reduce(name: str):
    def reduce(a, dim=None, keepdim=False):
        xp = a.xp
        out = xp.asarray(getattr(xp, name)(a.array, axis=reduce_dims(dim, a.ndim), keepdims=keepdim))
        if a.dtype == dtypes.uint8:  # PyTorch keeps uint8 for all/any of uint8 (a legacy rule)
            out = xp.astype(out, xp.uint8)
        return Tensor._make(out, a.backend, False, None)
    reduce.__name__ = name
    reduce.__doc__ = f"Whether {name} elements (along `dim`) are nonzero: a bool tensor, no gradient."
    return reduce


all, any = _truth_reduce("all"), _truth_reduce("any")  # noqa: A001
