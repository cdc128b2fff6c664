"""Shape ops: reshape (view, flatten, squeeze, unsqueeze), permute (transpose, T), indexing, cat, stack."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import Function
from ._util import normalize_dims


class Reshape(Function):
    """Same elements, new shape; the gradient is reshaped back."""

    view = True  # shares storage (and so the version counter) with its input, as torch.reshape does

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return ctx.xp.reshape(a, tuple(shape))
        except (ValueError, TypeError) as exc:
            raise RuntimeError(f"reshape: shape {tuple(shape)} is invalid for input of shape {tuple(a.shape)}") from exc

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.reshape(grad, ctx.shape)


class Permute(Function):
    """Reorder axes; the gradient is permuted back by the inverse permutation."""

    view = True

    @staticmethod
    def forward(ctx, a, dims):
        ctx.inverse = tuple(sorted(range(len(dims)), key=lambda i: dims[i]))
        return ctx.xp.permute_dims(a, tuple(dims))

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.permute_dims(grad, ctx.inverse)


class GetItem(Function):
    """a[key]; backward scatters the gradient back, summing over repeated integer indices."""

    @staticmethod
    def forward(ctx, a, key):
        ctx.shape, ctx.dtype, ctx.key = a.shape, a.dtype, key
        ctx.view = not _has_array(key)  # basic indexing returns a view; integer or bool arrays copy
        return ctx.backend.index(a, key)

    @staticmethod
    def backward(ctx, grad):
        full = ctx.xp.zeros(ctx.shape, dtype=grad.dtype)
        if _has_int_array(ctx.key):
            ctx.backend.index_add(full, ctx.key, grad)
        else:  # slices, ints and bool masks never select an element twice
            full[ctx.key] = grad
        return full


def _has_array(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(hasattr(k, "dtype") for k in keys)


class IndexPut(Function):
    """a with a[key] = v (a copy): the gradient of a is zero where v was written; v's is grad[key]."""

    @staticmethod
    def forward(ctx, a, key, v):
        ctx.key, ctx.v_shape = key, tuple(getattr(v, "shape", ()))
        out = ctx.xp.asarray(a, copy=True)
        out[key] = v
        return out

    @staticmethod
    def backward(ctx, grad):
        da = ctx.xp.asarray(grad, copy=True)
        da[ctx.key] = 0
        dv = ctx.backend.index(grad, ctx.key)
        return da, None, dv


class Clone(Function):
    """A copy with its own storage; the gradient passes through unchanged."""

    @staticmethod
    def forward(ctx, a):
        return ctx.xp.asarray(a, copy=True)

    @staticmethod
    def backward(ctx, grad):
        return grad


def _has_int_array(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(hasattr(k, "dtype") and "int" in str(k.dtype) for k in keys)


class Cat(Function):
    """Concatenate along `dim`; each input's gradient is its slice of the output's."""

    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        return ctx.xp.concat(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        out, start = [], 0
        for n in ctx.sizes:
            index = [slice(None)] * grad.ndim
            index[ctx.dim] = slice(start, start + n)
            out.append(grad[tuple(index)])
            start += n
        return tuple(out)


class Stack(Function):
    """Stack along a new axis `dim`; each input's gradient is one index of that axis."""

    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.dim = dim
        return ctx.xp.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        index = [slice(None)] * grad.ndim
        out = []
        for i in range(grad.shape[ctx.dim]):
            index[ctx.dim] = i
            out.append(grad[tuple(index)])
        return tuple(out)


def reshape(a, *shape):
    """A tensor with the same elements in a new shape (one -1 is inferred)."""
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Reshape.apply(a, tuple(int(n) for n in shape))


view = reshape


def flatten(a, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one."""
    if a.ndim == 0:
        return reshape(a, (1,))
    start, end = start_dim % a.ndim, end_dim % a.ndim
    return reshape(a, a.shape[:start] + (math.prod(a.shape[start:end + 1]),) + a.shape[end + 1:])


def unsqueeze(a, dim):
    """Insert an axis of length 1 at `dim`."""
    dim = dim % (a.ndim + 1)
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def squeeze(a, dim=None):
    """Drop axes of length 1 (only `dim`, when given)."""
    axes = normalize_dims(dim, a.ndim)
    shape = tuple(n for i, n in enumerate(a.shape) if n != 1 or (axes is not None and i not in axes))
    return reshape(a, shape)


def permute(a, *dims):
    """Reorder the axes."""
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    if sorted(d % max(a.ndim, 1) for d in dims) != list(range(a.ndim)):
        raise RuntimeError(f"permute: {dims} is not a permutation of the {a.ndim} dims of shape {a.shape}")
    return Permute.apply(a, tuple(d % a.ndim for d in dims))


def transpose(a, dim0, dim1):
    """Swap two axes."""
    dims = list(range(a.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(a, tuple(dims))


def getitem(a, key):
    """Index like NumPy: ints, slices, None, Ellipsis, bool masks, integer arrays (repeats allowed)."""
    return GetItem.apply(a, _complete(_convert_key(a, key)))


def _complete(key):
    """Add a trailing Ellipsis: NumPy's implicit trailing slices are not part of the array API."""
    keys = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in keys) or any(hasattr(k, "dtype") and "bool" in str(k.dtype) for k in keys):
        return key
    return keys + (Ellipsis,)


def _convert_key(a, key):
    from ..tensor import Tensor
    if isinstance(key, tuple):
        return tuple(_convert_key(a, k) for k in key)
    if isinstance(key, Tensor):
        return key.array
    if isinstance(key, (list, np.ndarray)):
        return a.backend.from_host(np.asarray(key))
    return key


def cat(tensors, dim=0):
    """Concatenate tensors along an existing axis."""
    tensors = list(tensors)
    ndim = tensors[0].ndim
    dim = dim % ndim
    for t in tensors[1:]:
        if t.ndim != ndim or any(t.shape[i] != tensors[0].shape[i] for i in range(ndim) if i != dim):
            raise RuntimeError(f"cat: shapes {tensors[0].shape} and {t.shape} differ outside dim {dim}")
    return Cat.apply(*tensors, dim=dim)


def stack(tensors, dim=0):
    """Stack equal-shaped tensors along a new axis."""
    tensors = list(tensors)
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack: expected equal shapes, got {tensors[0].shape} and {t.shape}")
    return Stack.apply(*tensors, dim=dim % (tensors[0].ndim + 1))


def clone(a):
    """A copy of `a` with its own storage (differentiable)."""
    return Clone.apply(a)


def index_put(a, key, value):
    """A copy of `a` with `a[key] = value` (differentiable in both); Tensor.__setitem__ records it."""
    from ..tensor import Tensor
    key = _convert_key(a, key)
    if isinstance(value, Tensor):
        value = value if value.dtype == a.dtype else value.to(a.dtype)
        return IndexPut.apply(a, key, value)
    return IndexPut.apply(a, key, a.xp.asarray(value, dtype=a.array.dtype))
