"""Tensor constructors, inferring dtypes as PyTorch does.

tensor([1, 2]) is int64, tensor([1., 2.]) the default float dtype, tensor(np_float64_array) float64;
full(s, 4) is int64, full(s, 4.) the default float, full(s, True) bool. The random constructors
(rand, randn, randint, randperm, multinomial, Generator, ...) live in ops/random.py.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import dtypes
from .backends import get_backend
from .ops._util import scalar_array, size_tuple
from .ops.random import (Generator, multinomial, normal, rand, rand_like, randint, randint_like, randn,  # noqa: F401
                         randn_like, randperm)
from .tensor import Tensor


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (Python floats become the default float dtype, ints int64)."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """`data` as a tensor, sharing memory where it can: a tensor already of that dtype and device is
    returned as it is, and a NumPy array stays the same memory on the CPU."""
    if isinstance(data, Tensor):
        out = data if device is None else data.to(device)
        return out if dtype is None else out.to(dtype)
    backend = get_backend(device)
    if isinstance(data, np.ndarray) and backend.name == "numpy" and data.dtype.kind in "biuf" \
            and (dtype is None or dtypes.as_dtype(dtype) == data.dtype):
        return Tensor._make(data, backend, False, None)
    return Tensor(data, dtype=dtype, device=device)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A CPU tensor sharing the NumPy array's memory: writes through either are seen by both."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__module__}.{type(ndarray).__name__})")
    if ndarray.dtype.kind not in "biuf":
        raise TypeError(f"can't convert np.ndarray of type {ndarray.dtype}. The only supported types are: "
                        "float64, float32, float16, int64, int32, int16, int8, uint8, and bool.")
    return Tensor._make(ndarray, get_backend("cpu"), False, None)


def _filled(shape: tuple[int, ...], dtype: Any, device: Any, requires_grad: bool, fill: str, value: Any = None):
    backend = get_backend(device)
    guard = backend.guard
    if guard is not None and guard.elsewhere():  # CuPy allocates on the current device: make it `device`
        with guard:
            return _filled(shape, dtype, device, requires_grad, fill, value)
    xp = backend.xp
    d = dtypes.as_dtype(dtype if dtype is not None else dtypes.get_default_dtype())
    bd = dtypes.backend_dtype(xp, d)
    if fill == "full":
        array = xp.full(shape, scalar_array(np, value, d).item(), dtype=bd)
    else:
        array = getattr(xp, fill)(shape, dtype=bd)
    return Tensor._make(array, backend, False, None).requires_grad_(requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kw: Any) -> Tensor:
    """A tensor of zeros."""
    return _filled(size_tuple(size, kw), dtype, device, requires_grad, "zeros")


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kw: Any) -> Tensor:
    """A tensor of ones."""
    return _filled(size_tuple(size, kw), dtype, device, requires_grad, "ones")


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kw: Any) -> Tensor:
    """A tensor whose values are whatever the memory held (fill it before reading)."""
    return _filled(size_tuple(size, kw), dtype, device, requires_grad, "empty")


def _fill_dtype(value: Any) -> np.dtype:
    """full()'s dtype for a fill value: bool, int64 or the default float, as PyTorch infers it."""
    if isinstance(value, Tensor):
        value = value.item()
    return dtypes.scalar_dtype(value)


def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with `fill_value` (int64 for an int, bool for a bool, else the default float dtype)."""
    value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
    shape = size_tuple((size,) if isinstance(size, (int, np.integer)) else (tuple(size),))
    return _filled(shape, dtype if dtype is not None else _fill_dtype(value), device, requires_grad, "full", value)


def zeros_like(t: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with t's shape (and its dtype and device unless given)."""
    return zeros(t.shape, dtype=t.dtype if dtype is None else dtype, device=t.device if device is None else device,
                 requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with t's shape (and its dtype and device unless given)."""
    return ones(t.shape, dtype=t.dtype if dtype is None else dtype, device=t.device if device is None else device,
                requires_grad=requires_grad)


def empty_like(t: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An unfilled tensor with t's shape (and its dtype and device unless given)."""
    return empty(t.shape, dtype=t.dtype if dtype is None else dtype, device=t.device if device is None else device,
                 requires_grad=requires_grad)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """fill_value in t's shape (and t's dtype and device unless given: full_like(int_tensor, 2.7) holds 2)."""
    return full(t.shape, fill_value, dtype=t.dtype if dtype is None else dtype,
                device=t.device if device is None else device, requires_grad=requires_grad)


def _number(v: Any) -> Any:
    return v.item() if isinstance(v, Tensor) else v


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values start, start + step, ... below end: int64 when all three are integers, else the default float."""
    start, end, step = _number(start), _number(end), _number(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (step > 0 and end < start) or (step < 0 and end > start):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))  # bools count as integers
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64 if integral else dtypes.get_default_dtype()
    backend = get_backend(device)
    guard = backend.guard
    if guard is not None and guard.elsewhere():  # CuPy allocates on the current device: make it `device`
        with guard:
            return arange(start, end, step, dtype, device, requires_grad)
    xp = backend.xp
    if integral and d.kind in "iu":
        array = xp.arange(int(start), int(end), int(step), dtype=dtypes.backend_dtype(xp, d))
    else:  # PyTorch's length and values, computed in double: start + i * step for i < ceil((end - start) / step)
        n = math.ceil((end - start) / step)
        array = xp.astype(xp.arange(n, dtype=xp.float64) * float(step) + float(start), dtypes.backend_dtype(xp, d))
    return Tensor._make(array, backend, False, None).requires_grad_(requires_grad)


def linspace(start: Any, end: Any, steps: int, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from start to end inclusive (the default float dtype unless given)."""
    start, end = float(_number(start)), float(_number(end))
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    backend = get_backend(device)
    guard = backend.guard
    if guard is not None and guard.elsewhere():  # CuPy allocates on the current device: make it `device`
        with guard:
            return linspace(start, end, steps, dtype, device, requires_grad)
    xp = backend.xp
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    i = xp.arange(steps, dtype=xp.float64)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    # PyTorch's symmetric formula: the first half counts up from start, the second half down from end.
    values = xp.where(i < steps // 2, start + step * i, end - step * (steps - 1 - i)) if steps > 1 else i + start
    return Tensor._make(xp.astype(values, dtypes.backend_dtype(xp, d)), backend, False, None) \
        .requires_grad_(requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix (ones on the diagonal)."""
    backend = get_backend(device)
    guard = backend.guard
    if guard is not None and guard.elsewhere():  # CuPy allocates on the current device: make it `device`
        with guard:
            return eye(n, m, dtype, device, requires_grad)
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    array = backend.xp.eye(n, m if m is not None else n, dtype=dtypes.backend_dtype(backend.xp, d))
    return Tensor._make(array, backend, False, None).requires_grad_(requires_grad)
