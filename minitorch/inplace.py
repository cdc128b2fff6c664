"""In-place writes with PyTorch's rules, and the in-place helpers Module and the optimizers share.

An in-place op computes its result out of place, then writes it into the tensor's own storage, so
every view and every holder of the object sees it, and bumps the storage's version counter, so a
backward that needs the old values raises instead of using the new ones. When the write must be
differentiable (the tensor or an operand requires grad, and grad mode is on), the op is recorded
on a copy of the old value that carries its history, and the tensor takes the op's node as its
grad_fn: `y = a * 2; y[0] = 0; y.sum().backward()` gives a.grad = [0, 2, 2], as in PyTorch.
"""
from __future__ import annotations

import itertools
import weakref
from typing import Any, Callable

import numpy as np

from . import dtypes
from .autograd import is_grad_enabled, no_grad
from .backends import Backend
from .tensor import Tensor

_LEAF_MSG = ("a leaf Variable that requires grad is being used in an in-place operation; wrap the update in "
             "`with minitorch.no_grad():` (as an optimizer does), or write to .data")
_VIEW_MSG = ("an in-place operation on a view of another tensor cannot be recorded by minitorch's autograd "
             "(PyTorch rebases the view's base; minitorch does not): clone() the view first, or do the write "
             "under minitorch.no_grad() if it should not be differentiated")


def _requires_grad(a: Any) -> bool:
    return isinstance(a, Tensor) and a.requires_grad


def _check_leaf(t: Tensor) -> None:
    if t.requires_grad and t.grad_fn is None and is_grad_enabled():
        raise RuntimeError(_LEAF_MSG)


def _recorded(t: Tensor, args: tuple) -> bool:
    """Whether an in-place op on t with these operands must be part of the graph."""
    return is_grad_enabled() and (t.requires_grad or any(_requires_grad(a) for a in args))


def apply_(t: Tensor, fn: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Tensor:
    """t <- fn(t, *args, **kwargs), in t's storage; recorded in the graph when it must be."""
    _check_leaf(t)
    if not _recorded(t, args):
        _write(t, fn(t, *args, **kwargs))
        return t
    if t._base is not None:
        raise RuntimeError(_VIEW_MSG)
    old = Tensor._make(t.xp.asarray(t.array, copy=True), t.backend, t.requires_grad, t.grad_fn)
    out = fn(old, *args, **kwargs)
    _write(t, out)
    t.grad_fn, t.requires_grad = out.grad_fn, out.requires_grad
    move_retain(t, old.grad_fn)
    return t


def _write(t: Tensor, out: Tensor) -> None:
    """Copy an op's result into t's storage: same shape, and a dtype t can hold (PyTorch's cast rule)."""
    if out.shape != t.shape:
        raise RuntimeError(f"output with shape {list(t.shape)} doesn't match the broadcast shape {list(out.shape)}")
    if out.dtype != t.dtype and not dtypes.can_cast(out.dtype, t.dtype):
        raise RuntimeError(f"result type {dtypes.type_name(out.dtype, short=True)} can't be cast to the desired "
                           f"output type {dtypes.type_name(t.dtype, short=True)}")
    array = out.array
    if array.dtype != t.array.dtype:
        array = t.xp.astype(array, t.array.dtype)
    _store(t, ..., array)


def _store(t: Tensor, key: Any, value: Any) -> None:
    """t.array[key] = value and a version bump; a read-only view (expand) is PyTorch's error, not NumPy's."""
    if isinstance(value, (bool, int, float)):  # a Python scalar as t's kind: array_api_strict mixes none
        value = bool(value) if t.dtype == dtypes.bool_ else float(value) if dtypes.is_floating(t.dtype) else int(value)
    try:
        t.backend.index_put(t.array, key, value)
    except ValueError as exc:
        if "read-only" in str(exc):
            raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                               "single memory location (an expand() view); clone() it before writing") from exc
        raise
    t._vc[0] += 1


def _overwrite(old: Tensor, value: Tensor) -> Tensor:
    """A differentiable "replace old by value": gradient to value, none to old."""
    from . import ops
    keep = Tensor._make(old.xp.zeros(old.array.shape, dtype=old.xp.bool), old.backend, False, None)
    return ops.where(keep, old, ops.cast(ops.to_device(value, old.device), old.dtype))


def fill_(t: Tensor, value: Any) -> Tensor:
    """Every element <- value (a number, a 0-d Tensor or an array of t's shape)."""
    if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
        return apply_(t, _overwrite, value)
    _check_leaf(t)
    if _recorded(t, ()):
        from .creation import full_like
        return apply_(t, _overwrite, full_like(t, value.item() if isinstance(value, Tensor) else value))
    _store(t, ..., value.array if isinstance(value, Tensor) else value)
    return t


def copy_(t: Tensor, src: Any) -> Tensor:
    """t <- src, converted to t's device and dtype and broadcast to its shape; differentiable in src."""
    if not isinstance(src, Tensor):
        src = Tensor(src, device=t.device)
    if src.ndim > t.ndim or any(s not in (1, n) for s, n in zip(src.shape[::-1], t.shape[::-1])):
        raise RuntimeError(f"output with shape {list(t.shape)} doesn't match the broadcast shape "
                           f"{list(np.broadcast_shapes(src.shape, t.shape)) if src.ndim <= t.ndim else list(src.shape)}")
    if _recorded(t, (src,)):
        return apply_(t, _overwrite, src)
    _check_leaf(t)
    array = src.array if src.backend is t.backend else t.backend.from_host(src.backend.to_host(src.array))
    if array.dtype != t.array.dtype:
        array = t.xp.astype(array, t.array.dtype)
    _store(t, ..., array)
    return t


def setitem(t: Tensor, key: Any, value: Any) -> None:
    """t[key] = value: a plain write, or a recorded one (PyTorch's CopySlices) when it must be."""
    from .ops import index_put
    from .ops.indexing import convert_key, fit_value
    if isinstance(value, np.floating) and not isinstance(value, float):  # np.float64 is a float; np.float32 is not
        raise TypeError(f"can't assign a numpy.{type(value).__name__} to a {dtypes.type_name(t.dtype)}")
    if isinstance(value, Tensor) and value.dtype != t.dtype and _has_index_array(key):
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{dtypes.scalar_type_name(t.dtype)} for the destination and "
                           f"{dtypes.scalar_type_name(value.dtype)} for the source.")
    if _recorded(t, (value,)):
        apply_(t, index_put, key, value)
        return
    _check_leaf(t)
    integer = t.dtype.kind in "iu"
    if integer and isinstance(value, float) and not np.iinfo(t.dtype).min <= value <= np.iinfo(t.dtype).max:
        raise RuntimeError(f"value cannot be converted to type {t.dtype} without overflow")
    if integer and isinstance(value, int) and not isinstance(value, bool):
        value = int(np.asarray(value).astype(t.dtype))  # wraps around as PyTorch does (uint8: -1 -> 255)
    if isinstance(value, Tensor):
        if value.backend is not t.backend:
            raise RuntimeError(f"setitem: value on {value.device} cannot be written into a tensor on {t.device}")
        value = value.array if value.array.dtype == t.array.dtype else t.xp.astype(value.array, t.array.dtype)
    key = convert_key(t, key)
    _store(t, key, fit_value(t.backend, t.array, key, value))


def _has_index_array(key: Any) -> bool:
    """Whether an index key holds integer indices (a tensor, array or list: PyTorch's index_put_)."""
    keys = key if isinstance(key, tuple) else (key,)
    return any((isinstance(k, (Tensor, np.ndarray)) and k.dtype.kind in "iu") or
               (isinstance(k, list) and not any(isinstance(e, bool) for e in k)) for k in keys)


# -- hooks ---------------------------------------------------------------------------------------
_hook_ids = itertools.count()


class RemovableHandle:
    """Returned by register_hook: `handle.remove()` unregisters the hook."""

    def __init__(self, hooks: dict, key: int) -> None:
        self._hooks, self.id = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def register_hook(t: Tensor, hook: Callable[[Tensor], Any]) -> RemovableHandle:
    """Call hook(grad) when t's gradient has been computed; a returned tensor replaces the gradient."""
    if not t.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    hooks = _node_hooks(t) if t.grad_fn is not None else t.__dict__.setdefault("_hooks", {})
    key = next(_hook_ids)
    hooks[key] = hook
    if RETAIN in hooks:  # PyTorch runs retain_grad's hook last, whenever it was added
        hooks[RETAIN] = hooks.pop(RETAIN)
    return RemovableHandle(hooks, key)


RETAIN = "retain_grad"  # the key of retain_grad's hook in a node's hooks


class RetainGrad:
    """retain_grad's hook: add the gradient (as the other hooks left it) into the tensor's .grad."""

    __slots__ = ("tensor",)

    def __init__(self, t: Tensor) -> None:
        self.tensor = weakref.ref(t)  # the graph must not keep the tensor alive

    def __call__(self, grad: Tensor) -> None:
        t = self.tensor()
        if t is not None:  # a copy: the gradient flows on, and views of it may reach leaves
            t._accumulate(grad.xp.asarray(grad.array, copy=True))


def retain_grad(t: Tensor) -> None:
    """Make backward fill t.grad although t is not a leaf: a hook that always runs after t's others."""
    if not t.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if t.grad_fn is not None and not retains_grad(t):  # a leaf keeps its gradient anyway; twice is once
        _node_hooks(t)[RETAIN] = RetainGrad(t)


def retains_grad(t: Tensor) -> bool:
    """Whether retain_grad() was called on this non-leaf (and not undone by detach_)."""
    hook = t.grad_fn.hooks.get(RETAIN) if t.grad_fn is not None and t.grad_fn.hooks else None
    return hook is not None and hook.tensor() is t


def move_retain(t: Tensor, old_fn: Any) -> None:
    """After an in-place op gave t a new node, its retain_grad hook follows it (hooks stay: PyTorch's rule)."""
    hook = old_fn.hooks.get(RETAIN) if old_fn is not None and old_fn.hooks else None
    if hook is not None and hook.tensor() is t:
        del old_fn.hooks[RETAIN]
        _node_hooks(t)[RETAIN] = hook


def _node_hooks(t: Tensor) -> dict:
    """The hooks dict of t's graph node, made on first use."""
    if t.grad_fn.hooks is None:
        t.grad_fn.hooks = {}
    return t.grad_fn.hooks


# -- helpers for Module.to, load_state_dict and optimizers ----------------------------------------
def move_(t: Tensor, backend: Backend) -> None:
    """Re-home t (and its grad) on `backend` in place, so every reference to t sees the move."""
    if t.backend is not backend:
        t.array, t.backend = backend.from_host(t.backend.to_host(t.array)), backend
    if t.grad is not None:
        move_(t.grad, backend)


def cast_(t: Tensor, dtype: Any) -> None:
    """Cast a floating-point t (and its grad) to `dtype` in place; integer buffers keep their dtype."""
    if dtypes.is_floating(t.dtype) and t.dtype != dtype:
        t.array = t.xp.astype(t.array, dtypes.backend_dtype(t.xp, dtype))
    if t.grad is not None:
        cast_(t.grad, dtype)


def zero_grads(params: Any, set_to_none: bool) -> None:
    """Reset .grad of each tensor: None, or zeros written in place."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            with no_grad():
                p.grad.zero_()


def bump_versions(tensors: Any) -> None:
    """Record an in-place write made on raw arrays (optimizer steps): saved copies become stale."""
    for t in tensors:
        t._vc[0] += 1


def host_array(value: Any) -> np.ndarray:
    """A value from a state dict (Tensor, array, list) as a NumPy array."""
    if isinstance(value, Tensor):
        return value.backend.to_host(value.array)
    return np.asarray(value)
