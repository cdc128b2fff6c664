"""Reductions: sum, mean, var, max, min (with dim and keepdim), argmax/argmin."""
from __future__ import annotations

import builtins
import math
from typing import Any

from ..autograd import Function
from ._util import normalize_dims


def _expand_back(xp: Any, grad: Any, shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdim: bool) -> Any:
    """Broadcast a reduced gradient back over the axes it was reduced along."""
    if not keepdim and axes is not None:
        kept = [1 if i in axes else n for i, n in enumerate(shape)]
        grad = xp.reshape(grad, tuple(kept))
    return xp.broadcast_to(grad, shape)


def _count(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> int:
    return math.prod(shape) if axes is None else math.prod(shape[a] for a in axes)


class Sum(Function):
    """sum over dims: every input element receives the output's gradient."""

    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, normalize_dims(dim, a.ndim), keepdim
        return ctx.xp.sum(a, axis=ctx.axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        # A broadcast view is read-only (NumPy) or aliased (CuPy): a leaf's .grad must own its memory.
        return ctx.xp.asarray(_expand_back(ctx.xp, grad, ctx.shape, ctx.axes, ctx.keepdim), copy=True)


class Mean(Function):
    """mean over dims: the gradient is shared equally by the n averaged elements."""

    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, normalize_dims(dim, a.ndim), keepdim
        return ctx.xp.mean(a, axis=ctx.axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        return _expand_back(ctx.xp, grad, ctx.shape, ctx.axes, ctx.keepdim) / _count(ctx.shape, ctx.axes)


class Var(Function):
    """variance with Bessel's correction (unbiased by default, as torch.var)."""

    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False, correction=1):
        xp = ctx.xp
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, normalize_dims(dim, a.ndim), keepdim
        ctx.denom = builtins.max(_count(a.shape, ctx.axes) - correction, 0)  # this module shadows max
        centered = a - xp.mean(a, axis=ctx.axes, keepdims=True)
        ctx.save_for_backward(centered)
        return xp.sum(centered * centered, axis=ctx.axes, keepdims=keepdim) / ctx.denom

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved
        return _expand_back(ctx.xp, grad, ctx.shape, ctx.axes, ctx.keepdim) * (2 * centered / ctx.denom)


class Max(Function):
    """max over dims: the gradient goes to the maximal elements (shared equally on ties)."""

    reduce = "max"

    @classmethod
    def forward(cls, ctx, a, dim=None, keepdim=False):
        xp = ctx.xp
        if a.size == 0:
            raise RuntimeError(f"{cls.reduce}(): cannot reduce an empty tensor of shape {tuple(a.shape)}")
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, normalize_dims(dim, a.ndim), keepdim
        out = getattr(xp, cls.reduce)(a, axis=ctx.axes, keepdims=True)
        ctx.save_for_backward(a == out)
        if keepdim:
            return out
        return xp.reshape(out, tuple(n for i, n in enumerate(a.shape) if ctx.axes is not None and i not in ctx.axes))

    @staticmethod
    def backward(ctx, grad):
        (hit,) = ctx.saved
        xp = ctx.xp
        hit = xp.astype(hit, grad.dtype)
        return _expand_back(xp, grad, ctx.shape, ctx.axes, ctx.keepdim) * hit / xp.sum(hit, axis=ctx.axes, keepdims=True)


class Min(Max):
    """min over dims: the gradient goes to the minimal elements (shared equally on ties)."""

    reduce = "min"


def sum(a, dim=None, keepdim=False, dtype=None):  # noqa: A001
    """Sum over `dim` (all dims when None)."""
    return Sum.apply(a if dtype is None else a.to(dtype), dim=dim, keepdim=keepdim)


def mean(a, dim=None, keepdim=False, dtype=None):
    """Mean over `dim` (all dims when None)."""
    return Mean.apply(a if dtype is None else a.to(dtype), dim=dim, keepdim=keepdim)


def var(a, dim=None, keepdim=False, unbiased=True, correction=None):
    """Variance over `dim`; unbiased (n - 1) by default, as torch.var."""
    return Var.apply(a, dim=dim, keepdim=keepdim, correction=(1 if unbiased else 0) if correction is None else correction)


def std(a, dim=None, keepdim=False, unbiased=True, correction=None):
    """Standard deviation: sqrt of var."""
    return var(a, dim, keepdim, unbiased, correction).sqrt()


def _min_max(cls, a, dim, keepdim):
    from ..tensor import MinMax
    values = cls.apply(a, dim=dim, keepdim=keepdim)
    if dim is None:
        return values
    return MinMax(values, _arg(a, dim, keepdim, "argmax" if cls is Max else "argmin"))


def max(a, dim=None, keepdim=False):  # noqa: A001
    """Maximum: a tensor without `dim`; (values, indices) with it, as torch.max."""
    return _min_max(Max, a, dim, keepdim)


def min(a, dim=None, keepdim=False):  # noqa: A001
    """Minimum: a tensor without `dim`; (values, indices) with it, as torch.min."""
    return _min_max(Min, a, dim, keepdim)


def amax(a, dim=None, keepdim=False):
    """Maximum values over `dim` (a tensor, never a tuple)."""
    return Max.apply(a, dim=dim, keepdim=keepdim)


def _arg(a, dim, keepdim, name):
    from ..tensor import Tensor
    xp = a.xp
    if dim is None:
        out = getattr(xp, name)(xp.reshape(a.array, (-1,)))
    else:
        out = getattr(xp, name)(a.array, axis=normalize_dims(dim, a.ndim)[0], keepdims=keepdim)
    return Tensor._make(xp.astype(out, xp.int64), a.backend, False, None)


def argmax(a, dim=None, keepdim=False):
    """Index of the maximum (over the flattened tensor when dim is None); no gradient."""
    return _arg(a, dim, keepdim, "argmax")


def argmin(a, dim=None, keepdim=False):
    """Index of the minimum; no gradient."""
    return _arg(a, dim, keepdim, "argmin")
