"""In-place tensor helpers shared by Module and the optimizers: move, cast, copy into, zero grads.

They rewrite a tensor's .data (and .backend) rather than creating new tensors, so every holder of a
reference (an optimizer, a state_dict view) keeps seeing the same object.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes
from ..backends import Backend
from ..tensor import Tensor


def move_(t: Tensor, backend: Backend) -> None:
    """Re-home t (and its grad) on `backend` in place, so every reference to t sees the move."""
    if t.backend is not backend:
        t.data, t.backend = backend.from_host(t.backend.to_host(t.data)), backend
    if t.grad is not None:
        move_(t.grad, backend)


def cast_(t: Tensor, dtype: Any) -> None:
    """Cast a floating-point t (and its grad) to `dtype` in place; integer buffers keep their dtype."""
    if dtypes.is_floating(t.dtype) and t.dtype != dtype:
        t.data = t.xp.astype(t.data, dtypes.backend_dtype(t.xp, dtype))
    if t.grad is not None:
        cast_(t.grad, dtype)


def copy_into(dst: Tensor, src: Any) -> None:
    """dst.data[...] = src, converted to dst's device and dtype (views of dst stay valid)."""
    if isinstance(src, Tensor) and src.backend is dst.backend:
        array = src.data
    else:
        host = src.numpy() if isinstance(src, Tensor) else np.asarray(src)
        array = dst.backend.from_host(host)
    if dtypes.as_dtype(array.dtype) != dst.dtype:
        array = dst.xp.astype(array, dst.data.dtype)
    dst.data[...] = array


def is_dtype_name(name: str) -> bool:
    """Whether a string names a dtype ("float64") rather than a device ("cuda")."""
    try:
        dtypes.as_dtype(name)
        return True
    except TypeError:
        return False


def zero_grads(params: Any, set_to_none: bool) -> None:
    """Reset .grad of each tensor; zeros get a fresh array, since a grad array may be a read-only view."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad.data = p.xp.zeros_like(p.grad.data)
