"""Tensor constructors: tensor, zeros, ones, full, arange, rand, randn and the *_like forms."""
from __future__ import annotations

from typing import Any

from . import dtypes
from .backends import get_backend
from .tensor import Tensor


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (Python floats become float32)."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def _shape(size: tuple) -> tuple[int, ...]:
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def _new(fill: str, size: tuple, dtype: Any, device: Any, requires_grad: bool, value: Any = None) -> Tensor:
    backend = get_backend(device)
    xp = backend.xp
    dt = dtypes.backend_dtype(xp, dtype if dtype is not None else dtypes.get_default_dtype())
    shape = _shape(size)
    if fill == "full":
        data = xp.full(shape, value, dtype=dt)
    elif fill == "rand":
        data = backend.rand(shape, dt)
    elif fill == "randn":
        data = backend.randn(shape, dt)
    else:
        data = getattr(xp, fill)(shape, dtype=dt)
    return Tensor._make(data, backend, False, None).requires_grad_(requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    return _new("zeros", size, dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _new("ones", size, dtype, device, requires_grad)


def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with `fill_value`."""
    return _new("full", (size,) if isinstance(size, int) else (tuple(size),), dtype, device, requires_grad, fill_value)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1), from the device's seeded generator."""
    return _new("rand", size, dtype, device, requires_grad)


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples, from the device's seeded generator."""
    return _new("randn", size, dtype, device, requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None) -> Tensor:
    """Evenly spaced values in [start, end); int64 for integer arguments, float32 otherwise."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(v, int) for v in (start, end, step)) else dtypes.get_default_dtype()
    backend = get_backend(device)
    return Tensor._make(backend.xp.arange(start, end, step, dtype=dtypes.backend_dtype(backend.xp, dtype)),
                        backend, False, None)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with t's shape, dtype and device."""
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with t's shape, dtype and device."""
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def randn_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """Normal samples with t's shape, dtype and device."""
    return randn(t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)
