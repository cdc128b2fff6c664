"""Extrema: max/min (with and without dim), amax/amin, argmax/argmin, and logsumexp (the smooth max).

Gradient conventions are PyTorch's: `max(dim)`/`min(dim)` send the gradient to the returned index
only; `amax`/`amin` and the full `max()`/`min()` share it evenly among tied elements.
"""
from __future__ import annotations

from typing import Any

from .. import dtypes
from ..autograd import Function
from ..tensor import Tensor
from ._util import float_input, normalize_dims, reduce_dims
from .reduce import expand_back, keep_dims


class Max(Function):
    """max over dims (amax, and max() without dim): the gradient is shared evenly by the maximal elements."""

    rule = "da = grad shared evenly by the maximal elements"

    reduce = "max"

    @classmethod
    def forward(cls, ctx, a, dim=None, keepdim=False, nan_ties=False):
        xp = ctx.xp
        ctx.shape, ctx.axes, ctx.keepdim, ctx.nan_ties = a.shape, reduce_dims(dim, a.ndim), keepdim, nan_ties
        if a.dtype == xp.bool:  # the standard has no max of bools: it is any (min: all)
            return (xp.any if cls.reduce == "max" else xp.all)(a, axis=ctx.axes, keepdims=keepdim)
        out = getattr(xp, cls.reduce)(a, axis=ctx.axes, keepdims=keepdim)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved
        xp = ctx.xp
        out = keep_dims(xp, out, ctx.shape, ctx.axes, ctx.keepdim)
        hit = (a == out) | (a != a) if ctx.nan_ties else a == out  # max(): a NaN maximum is shared by the NaNs
        hit = xp.astype(hit, grad.dtype)  # (amax: it is 0/0, NaN, everywhere, as in PyTorch)
        count = xp.sum(hit, axis=ctx.axes, keepdims=True)
        return expand_back(xp, grad, ctx.shape, ctx.axes, ctx.keepdim) * (hit / count)


class Min(Max):
    """min over dims (amin, and min() without dim): the gradient is shared evenly by the minimal elements."""

    rule = "da = grad shared evenly by the minimal elements"

    reduce = "min"


class IndexedValue(Function):
    """The values of max(dim)/min(dim): the elements at the given indices along `axis`; the gradient
    goes to those indices only (as PyTorch, which does not share it among ties)."""

    rule = "da = grad at the chosen indices, 0 elsewhere"

    @staticmethod
    def forward(ctx, a, index, axis, keepdim):
        xp = ctx.xp
        ctx.shape, ctx.axis, ctx.keepdim = a.shape, axis, keepdim
        ctx.save_for_backward(index)
        out = xp.take_along_axis(a, index, axis=axis)
        return out if keepdim else xp.squeeze(out, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved
        xp = ctx.xp
        grad = keep_dims(xp, grad, ctx.shape, (ctx.axis,), ctx.keepdim)
        n = ctx.shape[ctx.axis]
        positions = xp.reshape(xp.arange(n, dtype=index.dtype), tuple(n if i == ctx.axis else 1
                                                                     for i in range(len(ctx.shape))))
        return xp.where(positions == index, grad, xp.zeros_like(grad))


class LogSumExp(Function):
    """log(sum(exp(a))) over dims, with the maximum shifted out first: d/da = exp(a - out) (a softmax)."""

    rule = "da = grad * exp(a - out)  (a softmax)"

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        xp = ctx.xp
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        if a.size and all(a.shape[i] for i in (axes if axes is not None else range(a.ndim))):
            m = xp.max(a, axis=axes, keepdims=True)
            m = xp.where(xp.isinf(m), xp.zeros_like(m), m)  # all -inf (or an inf): shift by 0, not by inf
        else:  # an empty reduction: log(0) = -inf
            m = xp.zeros((), dtype=a.dtype)
        out = xp.log(xp.sum(xp.exp(a - m), axis=axes, keepdims=True)) + m
        out = out if keepdim else xp.reshape(out, _reduced_shape(a.shape, axes))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved
        xp = ctx.xp
        out = keep_dims(xp, out, ctx.shape, ctx.axes, ctx.keepdim)
        return expand_back(xp, grad, ctx.shape, ctx.axes, ctx.keepdim) * xp.exp(a - out)


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    return () if axes is None else tuple(n for i, n in enumerate(shape) if i not in axes)


def _check_nonempty(a: Tensor, dim: Any, op: str) -> None:
    """PyTorch's errors for extrema of nothing."""
    if dim is None:
        if a.numel() == 0:
            raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify "
                               "the reduction dim with the 'dim' argument.")
        return
    axes = reduce_dims(dim, a.ndim)
    for axis in axes if axes is not None else range(a.ndim):
        if a.shape[axis] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {axis} to have non-zero size.")


def _arg(a: Tensor, dim: Any, keepdim: bool, name: str) -> Tensor:
    """argmax/argmin as int64 indices (over the flattened tensor when dim is None); no gradient."""
    xp = a.xp
    raw = a.array if a.dtype != dtypes.bool_ else xp.astype(a.array, xp.uint8)
    if dim is None or a.ndim == 0:
        if dim is not None:
            normalize_dims(dim, 0)
        out = getattr(xp, name)(xp.reshape(raw, (-1,)))
        if keepdim:
            out = xp.reshape(out, (1,) * a.ndim)
    else:
        out = getattr(xp, name)(raw, axis=normalize_dims(dim, a.ndim)[0], keepdims=keepdim)
    return Tensor._make(xp.astype(xp.asarray(out), xp.int64), a.backend, False, None)  # a 0-d array, not a NumPy scalar


def _extremum(cls: type, a: Tensor, dim: Any, keepdim: bool) -> Any:
    from ..tensor import MinMax
    op = cls.reduce
    _check_nonempty(a, dim, op)
    if dim is None:
        return cls.apply(a, nan_ties=True)
    if not isinstance(dim, int):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    if a.ndim == 0:  # one element: it is the extremum, at index 0
        normalize_dims(dim, 0)
        index = Tensor._make(a.xp.zeros((1,), dtype=a.xp.int64), a.backend, False, None)
        return MinMax(IndexedValue.apply(a.reshape(1), index, 0, False),
                      Tensor._make(a.xp.zeros((), dtype=a.xp.int64), a.backend, False, None))
    axis = normalize_dims(dim, a.ndim)[0]
    index = _arg(a, axis, True, "arg" + op)
    values = IndexedValue.apply(a, index, axis, keepdim)  # index is saved: writing to it breaks backward
    if not keepdim:
        squeezed = Tensor._make(a.xp.squeeze(index.array, axis=axis), a.backend, False, None)
        squeezed._vc = index._vc  # a view of the saved indices
        index = squeezed
    return MinMax(values, index)


def max(a, dim=None, keepdim=False):  # noqa: A001
    """Maximum: a tensor without `dim`; (values, indices) with it, as torch.max."""
    return _extremum(Max, a, dim, keepdim)


def min(a, dim=None, keepdim=False):  # noqa: A001
    """Minimum: a tensor without `dim`; (values, indices) with it, as torch.min."""
    return _extremum(Min, a, dim, keepdim)


def amax(a, dim=(), keepdim=False):
    """Maximum values over `dim` (all dims by default), a tensor; ties share the gradient."""
    _check_nonempty(a, None if dim in ((), None) else dim, "amax")
    return Max.apply(a, dim=dim, keepdim=keepdim)


def amin(a, dim=(), keepdim=False):
    """Minimum values over `dim` (all dims by default), a tensor; ties share the gradient."""
    _check_nonempty(a, None if dim in ((), None) else dim, "amin")
    return Min.apply(a, dim=dim, keepdim=keepdim)


def _argument(name: str):
    def arg(a, dim=None, keepdim=False):
        if a.dtype == dtypes.bool_:
            raise RuntimeError(f"{name}(): does not support bool input")
        if dim is None and a.numel() == 0:
            raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
        if dim is not None:
            _check_nonempty(a, dim, name)
        return _arg(a, dim, keepdim, name)
    arg.__name__ = name
    arg.__doc__ = (f"Index of the {name[3:]}imum (in the flattened tensor when dim is None; shape (1,)*ndim with "
                   "keepdim), as int64; no gradient.")
    return arg


argmax, argmin = _argument("argmax"), _argument("argmin")


def logsumexp(a, dim, keepdim=False):
    """log(sum(exp(a))) over `dim`, computed without overflow; integer tensors give the default float."""
    a = float_input(a)
    return LogSumExp.apply(a, reduce_dims(dim, a.ndim), keepdim)
