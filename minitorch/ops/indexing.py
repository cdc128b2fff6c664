"""Indexing ops: a[key], a[key] = v, gather, index_select, masked_fill, one_hot.

What the array API lacks (mixed integer-array keys, scatter-add) goes through Backend.index and
Backend.index_add; gather's backward is the scatter-add of its forward.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import dtypes
from ..autograd import Function, unbroadcast


class GetItem(Function):
    """a[key]; backward scatters the gradient back, summing over repeated integer indices."""

    rule = "da = zeros with grad added at a[key]"

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
            return full
        key = ctx.key
        if isinstance(key, tuple) and any(k is None for k in key):
            # The standard has no None in a key being written to: write through the key without its
            # new axes (each of length 1) into the gradient without them.
            key = tuple(k for k in key if k is not None)
            grad = ctx.xp.reshape(grad, tuple(ctx.backend.index(full, key).shape))
        full[key] = grad  # slices, ints and bool masks never select an element twice
        return full


class IndexPut(Function):
    """a with a[key] = v (a copy): the gradient of a is zero where v was written; v's is grad[key]."""

    rule = "da = grad with a[key] zeroed;  dv = grad[key] summed to v's shape"

    @staticmethod
    def forward(ctx, a, key, v):
        ctx.key, ctx.v_shape = key, tuple(getattr(v, "shape", ()))
        out = ctx.xp.asarray(a, copy=True)
        v = fit_value(ctx.backend, out, key, v)
        ctx.fitted_shape = tuple(getattr(v, "shape", ()))
        ctx.backend.index_put(out, key, v)
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        da = xp.asarray(grad, copy=True)
        ctx.backend.index_put(da, ctx.key, 0)
        dv = unbroadcast(ctx.backend.index(grad, ctx.key), ctx.fitted_shape)
        return da, None, xp.reshape(dv, ctx.v_shape)


def fit_value(backend, target, key, v):
    """v without the leading size-1 dims that make it longer than target[key] (PyTorch broadcasts those away)."""
    ndim = getattr(v, "ndim", 0)
    if ndim == 0:
        return v
    want = len(backend.index(target, key).shape)
    shape = tuple(v.shape)
    while len(shape) > want and shape[0] == 1:
        shape = shape[1:]
    return v if len(shape) == ndim else backend.xp.reshape(v, shape)


class Gather(Function):
    """out[i][j] = a[i][index[i][j]] (dim=1); the gradient is scatter-added back to where each value was read."""

    rule = "da = grad scatter-added back to where it was read"

    @staticmethod
    def forward(ctx, a, index, dim):
        ctx.shape, ctx.dim = a.shape, dim
        ctx.save_for_backward(index)
        # Only the leading part of `a` that `index` covers in the other dims is read (as torch.gather).
        window = tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(index.shape))
        return ctx.xp.take_along_axis(a[window], index, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved
        da = ctx.xp.zeros(ctx.shape, dtype=grad.dtype)
        ctx.backend.index_add(da, _along_axis_key(ctx.xp, index, ctx.dim), grad)
        return da, None


class IndexSelect(Function):
    """The entries `index` of axis `dim`; each selected slice's gradient is added back to its source."""

    rule = "da = grad added back to the selected slices"

    @staticmethod
    def forward(ctx, a, index, dim):
        ctx.shape, ctx.dim = a.shape, dim
        ctx.save_for_backward(index)
        return ctx.xp.take(a, index, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved
        da = ctx.xp.zeros(ctx.shape, dtype=grad.dtype)
        ctx.backend.index_add(da, (slice(None),) * ctx.dim + (index,), grad)
        return da, None


def _has_array(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(hasattr(k, "dtype") for k in keys)


def _has_int_array(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(hasattr(k, "dtype") and "int" in str(k.dtype) for k in keys)


def _along_axis_key(xp: Any, index: Any, dim: int) -> tuple:
    """The full integer key that addresses a[..., index, ...] elementwise (for scatter-adding along `dim`)."""
    ndim = index.ndim
    return tuple(index if d == dim else
                 xp.reshape(xp.arange(n, dtype=index.dtype), tuple(n if e == d else 1 for e in range(ndim)))
                 for d, n in enumerate(index.shape))


# -- wrappers ----------------------------------------------------------------------------------
def getitem(a, key):
    """Index like NumPy: ints, slices, None, Ellipsis, bool masks, integer arrays (repeats allowed)."""
    return GetItem.apply(a, convert_key(a, key))


def _clip_slices(shape, key):
    """Slices past an axis' end select up to the end, as in PyTorch (the standard leaves them undefined)."""
    keys = key if isinstance(key, tuple) else (key,)
    if not any(isinstance(k, slice) for k in keys):
        return key
    used = sum(k.ndim if _is_bool_array(k) else 0 if k is None or k is Ellipsis else 1 for k in keys)
    out, axis = [], 0
    for k in keys:
        if isinstance(k, slice) and axis < len(shape):
            k = _in_range(k, shape[axis])
        out.append(k)
        axis += len(shape) - used if k is Ellipsis else k.ndim if _is_bool_array(k) else 0 if k is None else 1
    return tuple(out) if isinstance(key, tuple) else out[0]


def _in_range(s: slice, n: int) -> slice:
    """The same selection as `s` on an axis of length n, with start and stop inside [0, n) or None."""
    start, stop, step = s.indices(n)
    count = len(range(start, stop, step))
    if count == 0:
        return slice(0, 0, 1) if n else slice(None)
    end = start + count * step  # one step past the last element selected
    return slice(start, end if 0 <= end < n else None, step)


def _is_bool_array(k) -> bool:
    return hasattr(k, "dtype") and "bool" in str(k.dtype)


def _complete(key):
    """Add a trailing Ellipsis: NumPy's implicit trailing slices are not part of the array API."""
    keys = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in keys) or any(hasattr(k, "dtype") and "bool" in str(k.dtype) for k in keys):
        return key
    return keys + (Ellipsis,)


def convert_key(a, key):
    """An index key for `a` that the array API accepts: Tensors, lists and NumPy arrays turned into arrays
    of a's backend, slices clipped to the axes they index, and the implicit trailing `...` made explicit."""
    return _complete(_clip_slices(a.shape, _arrays_in(a, key)))


def _arrays_in(a, key):
    from ..tensor import Tensor
    if isinstance(key, tuple):
        return tuple(_arrays_in(a, k) for k in key)
    if isinstance(key, Tensor):
        return key.array
    if isinstance(key, (list, np.ndarray)):
        return a.backend.from_host(np.asarray(key))
    return key


def index_put(a, key, value):
    """A copy of `a` with `a[key] = value` (differentiable in both); Tensor.__setitem__ records it."""
    from ..tensor import Tensor
    key = convert_key(a, key)
    if isinstance(value, Tensor):
        value = value if value.dtype == a.dtype else value.to(a.dtype)
        return IndexPut.apply(a, key, value)
    return IndexPut.apply(a, key, a.xp.asarray(value, dtype=a.array.dtype))


def _index_tensor(a, index, op: str):
    """`index` as an integer Tensor on a's device, with PyTorch's error for other dtypes."""
    from ..tensor import Tensor
    if not isinstance(index, Tensor):
        index = Tensor(index, device=a.device)
    if index.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {index.dtype}")
    return index


def _check_bounds(index, size: int, dim: int, op: str) -> None:
    """PyTorch refuses indices outside [0, size) (no wrap-around for negative ones). While minitorch.compile
    records a step, the check is recorded to rerun on each replay's indices."""
    from ..autograd import _state
    _bounds_ok(index.xp, size, dim, op, index.array)
    if _state.recorder is not None:
        _state.recorder.check(functools.partial(_bounds_ok, index.xp, size, dim, op), index)


def _bounds_ok(xp, size: int, dim: int, op: str, a) -> None:
    """_check_bounds on the raw index array `a`."""
    if a.size == 0:
        return
    low, high = int(xp.min(a)), int(xp.max(a))
    if low < 0 or high >= size:
        raise RuntimeError(f"{op}(): index {low if low < 0 else high} is out of bounds for dimension {dim} "
                           f"with size {size}")


def _dim(dim: int, ndim: int, op: str) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{op}(): dimension {dim} is out of range for a tensor with {ndim} dimensions")
    return dim % max(ndim, 1)


def gather(a, dim, index):
    """out[i][j] = a[i][index[i][j]] along `dim`; `index` has a's number of dims and is no larger elsewhere."""
    index = _index_tensor(a, index, "gather")
    dim = _dim(dim, a.ndim, "gather")
    if (a.ndim == 0 or index.ndim == 0) and max(a.ndim, index.ndim) <= 1:  # a 0-d side counts as 1-d
        return gather(a.reshape(-1), 0, index.reshape(-1)).reshape(index.shape)
    if index.ndim != a.ndim:
        raise RuntimeError(f"gather(): Index tensor must have the same number of dimensions as input tensor "
                           f"({index.ndim} vs {a.ndim})")
    if any(index.shape[d] > a.shape[d] for d in range(a.ndim) if d != dim):
        raise RuntimeError(f"gather(): Size does not match at dimension {dim}: expected index {list(index.shape)} "
                           f"to be no larger than self {list(a.shape)} apart from dimension {dim}")
    _check_bounds(index, a.shape[dim], dim, "gather")
    return Gather.apply(a, index, dim)


def index_select(a, dim, index):
    """The entries `index` (a vector, repeats allowed) of axis `dim`."""
    index = _index_tensor(a, index, "index_select")
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    dim = _dim(dim, a.ndim, "index_select")
    index = index.reshape(-1)
    if a.ndim == 0:
        if index.numel() != 1:
            raise IndexError(f"index_select(): Index to scalar can have only 1 value, got {index.numel()} value(s)")
        return index_select(a.reshape(1), 0, index).reshape(())
    _check_bounds(index, a.shape[dim], dim, "index_select")
    return IndexSelect.apply(a, index, dim)


def masked_fill(a, mask, value):
    """A copy of `a` with `value` (a number or a 0-d tensor) where the bool `mask` is True."""
    from ..tensor import Tensor
    from .convert import cast, to_device
    if not isinstance(mask, Tensor):
        mask = Tensor(mask, device=a.device)
    if mask.dtype != dtypes.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        if not dtypes.is_floating(a.dtype):
            value = value.detach()
        value = cast(to_device(value, a.device), a.dtype)
    else:
        value = a.xp.asarray(_as_python(value, a.dtype), dtype=a.array.dtype)
    from .selection import Where
    return Where.apply(mask.array, value, a)  # value where the mask holds, a elsewhere; value's gradient is summed


def _as_python(value: Any, dtype: Any) -> Any:
    """A Python scalar converted as PyTorch converts a fill value for `dtype` (2.7 -> 2 for integers)."""
    value = value.item() if hasattr(value, "item") else value
    kind = dtypes.as_dtype(dtype).kind
    return bool(value) if kind == "b" else int(value) if kind in "iu" else float(value)


def one_hot(tensor, num_classes=-1):
    """int64 rows with a 1 at each class index: shape tensor.shape + (num_classes,), as F.one_hot."""
    from ..tensor import Tensor
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"one_hot(): argument 'num_classes' (position 2) must be int, not "
                        f"{type(num_classes).__name__}")
    num_classes = int(num_classes)
    if tensor.dtype != dtypes.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    xp = tensor.xp
    if tensor.numel() == 0:
        if num_classes <= 0:  # PyTorch refuses 0 and negative counts here too, with this message
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
    else:
        low, high = int(xp.min(tensor.array)), int(xp.max(tensor.array))
        if low < 0:
            raise RuntimeError("Class values must be non-negative.")
        if num_classes == -1:
            num_classes = high + 1
        elif high >= num_classes:
            raise RuntimeError(f"Class values must be smaller than num_classes ({high} >= {num_classes}).")
    classes = xp.arange(num_classes, dtype=tensor.array.dtype)
    out = xp.astype(xp.expand_dims(tensor.array, axis=-1) == classes, tensor.array.dtype)
    return Tensor._make(out, tensor.backend, False, None)
