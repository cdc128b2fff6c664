"""Vector p-norms over dims (Tensor.norm, torch.norm with a numeric p or "fro")."""
from __future__ import annotations

import math

from .. import dtypes
from ..autograd import Function
from ._util import is_float, reduce_dims
from .reduce import expand_back, keep_dims


class Norm(Function):
    """(sum |a|^p)^(1/p) over dims, with the limits p = 0 (count of nonzeros), inf (max |a|) and -inf (min |a|).

    Gradients as PyTorch's: sign(a) |a|^(p-1) / norm^(p-1), and 0 wherever the norm is 0 (or, for
    p < 1, where a is 0); for p = +-inf the gradient is shared evenly by the tied extreme elements.
    """

    rule = "da = grad * sign(a) * |a|**(p-1) / norm**(p-1)  (p=2: grad * a / norm)"

    @staticmethod
    def forward(ctx, a, p, axes, keepdim):
        xp = ctx.xp
        ctx.p, ctx.shape, ctx.axes, ctx.keepdim = p, a.shape, axes, keepdim
        size = xp.abs(a)
        if p == math.inf or p == -math.inf:
            out = (xp.max if p > 0 else xp.min)(size, axis=axes, keepdims=True)
        elif p == 0:
            out = xp.sum(xp.astype(a != 0, a.dtype), axis=axes, keepdims=True)
        elif p == 1:
            out = xp.sum(size, axis=axes, keepdims=True)
        elif p == 2:
            out = xp.sqrt(xp.sum(a * a, axis=axes, keepdims=True))
        else:
            out = xp.sum(size ** p, axis=axes, keepdims=True) ** (1 / p)
        if not keepdim:
            out = xp.reshape(out, () if axes is None else tuple(n for i, n in enumerate(a.shape) if i not in axes))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved
        xp, p = ctx.xp, ctx.p
        out = keep_dims(xp, out, ctx.shape, ctx.axes, ctx.keepdim)
        g = expand_back(xp, grad, ctx.shape, ctx.axes, ctx.keepdim)
        zero = xp.zeros_like(g)
        if p == 0:
            return zero
        if p == 1:
            return g * xp.sign(a)
        if p == math.inf or p == -math.inf:
            hit = xp.astype(xp.abs(a) == out, a.dtype)
            return g * xp.sign(a) * hit / xp.sum(hit, axis=ctx.axes, keepdims=True)
        if p == 2:
            return xp.where(out == 0, zero, g * a / out)
        size = xp.abs(a)
        if p < 1:
            scaled = xp.where(a == 0, xp.zeros_like(a), xp.sign(a) * size ** (p - 1))
            return scaled * g * out ** (1 - p)
        return xp.sign(a) * size ** (p - 1) * xp.where(out == 0, zero, g / out ** (p - 1))


def norm(a, p="fro", dim=None, keepdim=False, dtype=None):
    """The p-norm of a (all elements, or over `dim`); "fro" is the 2-norm. Floating tensors only, as PyTorch."""
    if dtype is not None:
        a = a.to(dtype)
    if not is_float(a):
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
                           f"{dtypes.scalar_type_name(a.dtype)}")
    if p == "fro" or p is None:
        p = 2
    elif isinstance(p, str):
        raise NotImplementedError(f"norm(p={p!r}): only vector p-norms and 'fro' are supported")
    return Norm.apply(a, float(p), reduce_dims(dim, a.ndim), keepdim)
