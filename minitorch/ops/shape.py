"""Shape ops: reshape (view, flatten, squeeze, unsqueeze), permute (transpose, T), expand, repeat, flip,
cat, stack, clone. Indexing (a[key], gather, ...) is in indexing.py; split, chunk, narrow in split.py."""
from __future__ import annotations

import functools
import math

from .. import dtypes
from ..autograd import Function, unbroadcast
from ._util import normalize_dims
from .indexing import convert_key as _convert_key  # noqa: F401  (minitorch.inplace imports it from here)


class Reshape(Function):
    """Same elements, new shape; the gradient is reshaped back."""

    rule = "da = grad reshaped to a's shape"

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

    rule = "da = grad permuted back"

    view = True

    @staticmethod
    def forward(ctx, a, dims):
        ctx.inverse = tuple(sorted(range(len(dims)), key=lambda i: dims[i]))
        return ctx.xp.permute_dims(a, tuple(dims))

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.permute_dims(grad, ctx.inverse)


class Expand(Function):
    """Broadcast to a larger shape without copying; the gradient sums over the broadcast axes."""

    rule = "da = grad summed over the broadcast axes"

    view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return ctx.xp.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shape)


class Repeat(Function):
    """Tile the tensor reps[i] times along axis i; each element's gradient is the sum over its copies."""

    rule = "da = grad summed over the copies"

    @staticmethod
    def forward(ctx, a, reps):
        ctx.in_shape = a.shape
        ctx.shape = (1,) * (len(reps) - a.ndim) + tuple(a.shape)  # new leading axes, as in torch.repeat
        ctx.reps = reps
        return ctx.xp.tile(ctx.xp.reshape(a, ctx.shape), reps)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        # Axis i of the output is (copy, position) in row-major order: split it, sum over the copies.
        split = tuple(n for pair in zip(ctx.reps, ctx.shape) for n in pair)
        summed = xp.sum(xp.reshape(grad, split), axis=tuple(range(0, len(split), 2)))
        return xp.reshape(summed, ctx.in_shape)


class Flip(Function):
    """Reverse the order along `dims` (a copy, as torch.flip); the gradient is flipped back."""

    rule = "da = grad flipped back"

    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return ctx.xp.asarray(ctx.xp.flip(a, axis=dims), copy=True)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.flip(grad, axis=ctx.dims)


class Clone(Function):
    """A copy with its own storage; the gradient passes through unchanged."""

    rule = "da = grad"

    @staticmethod
    def forward(ctx, a):
        return ctx.xp.asarray(a, copy=True)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Cat(Function):
    """Concatenate along `dim`; each input's gradient is its slice of the output's."""

    rule = "each input's grad = its slice of grad"

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

    rule = "each input's grad = its index of grad along dim"

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


def _sizes(args: tuple, op: str, name: str) -> tuple[int, ...]:
    """Sizes given as f(2, 3) or f((2, 3)) / f([2, 3]), as PyTorch's shape arguments."""
    if not args:
        raise TypeError(f'{op}() missing 1 required positional arguments: "{name}"')
    sizes = tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
    return tuple(int(n) for n in sizes)


def reshape(a, *shape):
    """A tensor with the same elements in a new shape (one -1 is inferred)."""
    return Reshape.apply(a, _sizes(shape, "reshape", "shape"))


def view(a, *shape):
    """reshape that must not copy: PyTorch's error when the strides make a copy necessary (use reshape)."""
    out = reshape(a, *shape)
    base = getattr(a.array, "base", None)
    if out.numel() and hasattr(out.array, "base") and not (out.array.base is a.array or
                                                           (base is not None and out.array.base is base)):
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one dimension "
                           "spans across two contiguous subspaces). Use .reshape(...) instead.")
    return out


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
    dims = _sizes(dims, "permute", "dims")
    if sorted(d % max(a.ndim, 1) for d in dims) != list(range(a.ndim)):
        raise RuntimeError(f"permute: {dims} is not a permutation of the {a.ndim} dims of shape {a.shape}")
    return Permute.apply(a, tuple(d % a.ndim for d in dims))


def transpose(a, dim0, dim1):
    """Swap two axes (a 0-d tensor's only "axes", -1 and 0, leave it as it is)."""
    dim0, dim1 = _axis(dim0, a.ndim), _axis(dim1, a.ndim)
    dims = list(range(a.ndim))
    if a.ndim:
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(a, tuple(dims))


def expand(a, *sizes):
    """A broadcast view of `a` with shape `sizes` (-1 keeps a dim; new dims may be added in front)."""
    sizes = _sizes(sizes, "expand", "size")
    lead = len(sizes) - a.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({a.ndim})")
    shape = []
    for i, n in enumerate(sizes):
        old = a.shape[i - lead] if i >= lead else None
        if n == -1 and old is not None:
            n = old
        elif n < 0:
            raise RuntimeError(f"expand: the expanded size of the tensor ({n}) isn't allowed in a leading, "
                               f"non-existing dimension {i}")
        elif old not in (None, 1, n):
            raise RuntimeError(f"The expanded size of the tensor ({n}) must match the existing size ({old}) at "
                               f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                               f"{list(a.shape)}")
        shape.append(n)
    return Expand.apply(a, tuple(shape))


def repeat(a, *sizes):
    """`a` tiled sizes[i] times along each axis (a copy; extra leading sizes add axes), as Tensor.repeat."""
    sizes = _sizes(sizes, "repeat", "repeats")
    if len(sizes) < a.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           f"tensor (got {len(sizes)} for shape {a.shape})")
    if any(n < 0 for n in sizes):
        raise RuntimeError(f"repeat: repeats can not be negative, got {list(sizes)}")
    return Repeat.apply(a, sizes)


def flip(a, *dims):
    """A copy of `a` reversed along `dims` (flip(a, 0), flip(a, (0, 1)) or flip(a, 0, 1))."""
    dims = _sizes(dims, "flip", "dims")
    axes = normalize_dims(dims, a.ndim) or ()
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"flip: a dim appears multiple times in the list of dims {list(dims)}")
    if a.ndim == 0:
        return clone(a)
    return Flip.apply(a, axes)


def _same_dtype(tensors):
    """The tensors cast to their promoted dtype (PyTorch's table), as cat and stack do."""
    from .convert import cast
    dtype = functools.reduce(dtypes.promote_types, (t.dtype for t in tensors))
    return [cast(t, dtype) for t in tensors]


def cat(tensors, dim=0):
    """Concatenate tensors along an existing axis (1-D empty tensors are skipped, as in PyTorch)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    tensors = [t for t in tensors if t.shape != (0,)] or tensors[:1]
    first = tensors[0]
    dim = _axis(dim, first.ndim)
    for i, t in enumerate(tensors[1:], 1):
        if t.ndim != first.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {first.ndim} and {t.ndim}")
        for d in range(first.ndim):
            if d != dim and t.shape[d] != first.shape[d]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {dim}. Expected size "
                                   f"{first.shape[d]} but got size {t.shape[d]} for tensor number {i} in the list.")
    return Cat.apply(*_same_dtype(tensors), dim=dim)


def stack(tensors, dim=0):
    """Stack equal-shaped tensors along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors[1:], 1):
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at "
                               f"entry 0 and {list(t.shape)} at entry {i}")
    return Stack.apply(*_same_dtype(tensors), dim=_axis(dim, tensors[0].ndim + 1))


def _axis(dim, ndim):
    """dim as a non-negative axis of a tensor with ndim dims (0-d tensors take -1 and 0), or IndexError."""
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, {max(ndim, 1) - 1}], "
                         f"but got {dim})")
    return dim % max(ndim, 1)


def clone(a):
    """A copy of `a` with its own storage (differentiable)."""
    return Clone.apply(a)
