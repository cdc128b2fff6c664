"""Helpers shared by ops: turning operands into arrays, normalising dims."""
from __future__ import annotations

import numbers
from typing import Any

from .. import dtypes


def binary_operands(a: Any, b: Any) -> tuple[Any, Any]:
    """Make the non-tensor operand a constant of the tensor's device and dtype.

    Python scalars become 0-d arrays of the tensor's dtype, so `float32_tensor * 2.0` stays float32
    (and array_api_strict, which forbids mixing dtypes, is satisfied).
    """
    from ..tensor import Tensor
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a, b
    t, other, t_first = (a, b, True) if isinstance(a, Tensor) else (b, a, False)
    if isinstance(other, numbers.Number):
        dtype = t.dtype
        if isinstance(other, float) and not dtypes.is_floating(dtype):
            t, dtype = t.to(dtypes.get_default_dtype()), dtypes.get_default_dtype()
        elif isinstance(other, bool) is False and isinstance(other, int) and dtype == dtypes.bool_:
            t, dtype = t.to(dtypes.int64), dtypes.int64
        other = t.xp.asarray(other, dtype=dtypes.backend_dtype(t.xp, dtype))
    else:
        other = Tensor(other, dtype=t.dtype if dtypes.is_floating(t.dtype) else None, device=t.device)
    return (t, other) if t_first else (other, t)


def normalize_dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """dim as a sorted tuple of non-negative axes (None: all axes), with a clear error when out of range."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"dimension {d} is out of range for a tensor with {ndim} dimensions")
        out.append(d % max(ndim, 1))
    return tuple(sorted(out))
