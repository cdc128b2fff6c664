"""Helpers shared by ops: type promotion of operands, float-only inputs, normalising dims."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import dtypes
from ..tensor import Tensor

# NumPy's (and CuPy's) floating dtypes, by class: `type(array.dtype) in FLOAT_DTYPES` is the fast test that
# an operand needs no promotion work (classes hash by identity, so array_api_strict's dtypes are never
# compared with NumPy's, which it warns about).
FLOAT_DTYPES = frozenset(type(np.dtype(n)) for n in ("float16", "float32", "float64"))
_NUMBER = (float, int)
_NP_BOOL = np.dtype(bool)
_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1  # a larger Python int is no kernel argument on CuPy
_UINT64_MAX = 2**64 - 1  # PyTorch reads Python ints up to here


def binary_operands(a: Any, b: Any) -> tuple[Any, Any]:
    """Both operands of a binary op with PyTorch's result dtype (see `promote`).

    The common cases cost two dtype checks: two floating tensors of one dtype are returned as they
    are, and so is a Python number beside a floating tensor, on either side: NumPy 2, CuPy and the
    array API all keep the array's dtype for it (a weak scalar, as in PyTorch), and on CUDA a 0-d array
    would be an upload each call. So either operand may come back a Python number (never both).
    """
    if isinstance(a, Tensor):
        dt = a.array.dtype
        if isinstance(b, Tensor):
            if type(dt) in FLOAT_DTYPES and dt == b.array.dtype:
                return a, b
        # The number tests are written out, not a helper: this runs for every `t - 1.0` and `1.0 - t`.
        elif (type(b) is float or type(b) is int and _INT64_MIN <= b <= _INT64_MAX) and type(dt) in FLOAT_DTYPES:
            return a, b
        elif type(b) is int and fits_integer(dt, b):  # labels + 1: an int stays the tensor's integer dtype
            return a, b
    elif isinstance(b, Tensor):
        dt = b.array.dtype
        if (type(a) is float or type(a) is int and _INT64_MIN <= a <= _INT64_MAX) and type(dt) in FLOAT_DTYPES:
            return a, b
        if type(a) is int and fits_integer(dt, a):
            return a, b
    return tuple(promote(a, b)[0])


# The range of each integer dtype (bool is not one: bool + 1 is int64, as in PyTorch).
_INTEGER_RANGE = {np.dtype(n): (int(np.iinfo(n).min), int(np.iinfo(n).max))
                  for n in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")}


def fits_integer(dtype: Any, value: int) -> bool:
    """Whether a Python int is a value of the integer dtype (PyTorch keeps the tensor's dtype then, and so do
    NumPy 2, CuPy and the array API; outside it PyTorch wraps and NumPy raises, so promote() wraps)."""
    bounds = _INTEGER_RANGE.get(dtype)
    return bounds is not None and bounds[0] <= value <= bounds[1]


def promote(*operands: Any, backend: Any = None, float_result: bool = False) -> tuple[list[Any], np.dtype]:
    """The operands converted to their PyTorch result dtype (`dtypes.result_type`), and that dtype.

    Tensors go through the differentiable cast, so a float32 parameter used with a float64 tensor
    still gets a float32 gradient; Python and NumPy scalars become 0-d arrays on the tensors' device
    (integers wrapped into the result's range, as a C cast does); anything else (lists, NumPy arrays)
    becomes a tensor first. `backend` places the scalars when no operand is a tensor. With
    `float_result` an integer or bool result type becomes the default float (true division), and
    the operands are converted to it directly (uint8 tensor / -3 divides by -3.0, not by 253).
    """
    from .convert import cast
    ref = next((x for x in operands if isinstance(x, Tensor)), None)
    backend = backend if ref is None else ref.backend
    if backend is None:
        raise TypeError("expected at least one operand to be a Tensor")
    items = [x if isinstance(x, Tensor) or is_scalar(x) else Tensor(x, device=backend.device) for x in operands]
    dtype = dtypes.result_type(*items)
    if float_result and dtype.kind != "f":
        dtype = dtypes.get_default_dtype()
    return [cast(x, dtype) if isinstance(x, Tensor) else scalar_array(backend.xp, x, dtype) for x in items], dtype


def bool_operand(x: Any) -> bool:
    """Whether a promoted operand (Tensor or raw 0-d array) is bool: bool arithmetic is logical."""
    if type(x) in _NUMBER:  # a Python number binary_operands passed through (never bool: `type` is exact)
        return False
    dt = x.array.dtype if isinstance(x, Tensor) else x.dtype
    return dt is _NP_BOOL or (not isinstance(dt, np.dtype) and dtypes.as_dtype(dt) == dtypes.bool_)


def logical_result(name: str, a: Any, b: Any) -> Tensor:
    """bool + bool is `or`, bool * bool is `and` (NumPy agrees; the array API standard has no bool +)."""
    ref = a if isinstance(a, Tensor) else b
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.backend is not b.backend:
        raise RuntimeError(f"expected all tensors on one device, got {a.device} and {b.device}")
    raw = [x.array if isinstance(x, Tensor) else x for x in (a, b)]
    return constant(ref.backend, getattr(ref.xp, name)(*raw))


def constant(backend: Any, array: Any) -> Tensor:
    """A tensor outside the graph around an op's raw result (NumPy's scalars, which ops on 0-d arrays
    return, become 0-d arrays: a tensor's storage must be writable in place)."""
    if isinstance(array, np.generic):
        array = np.asarray(array)
    return Tensor._make(array, backend, False, None)


def is_scalar(x: Any) -> bool:
    """A Python or NumPy number (weak in promotion)."""
    return isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, complex)


def weak_number(x: Any) -> bool:
    """A Python float, or an int that fits a kernel argument: arrays take either as it is, in their dtype."""
    return type(x) is float or type(x) is int and _INT64_MIN <= x <= _INT64_MAX


def scalar_array(xp: Any, value: Any, dtype: np.dtype) -> Any:
    """A 0-d array of `dtype` holding a Python or NumPy scalar (a Python int past uint64 or below int64
    raises, as PyTorch's conversion of it does)."""
    if type(value) is int and not _INT64_MIN <= value <= _UINT64_MAX:
        raise OverflowError(f"int too big to convert: {value}")
    if dtype.kind == "f":
        value = float(value)
    elif dtype.kind == "b":
        value = bool(value)
    else:
        value = dtypes.wrap_integer(int(value), dtype)
    return xp.asarray(value, dtype=dtypes.backend_dtype(xp, dtype))


def is_float(t: Tensor) -> bool:
    """Whether a tensor has a floating-point dtype (the check is one set lookup on NumPy and CuPy)."""
    return type(t.array.dtype) in FLOAT_DTYPES or dtypes.is_floating(t.dtype)


def is_bool(x: Any) -> bool:
    """A bool tensor or a Python/NumPy bool."""
    if isinstance(x, Tensor):
        return x.dtype == dtypes.bool_
    return isinstance(x, (bool, np.bool_))


def float_input(a: Tensor) -> Tensor:
    """`a` itself when floating, else `a` cast to the default float dtype: float-only ops on integer and
    bool tensors compute in (and return) the default float dtype, as PyTorch's do."""
    if is_float(a):
        return a
    from .convert import cast
    return cast(a, dtypes.get_default_dtype())


def require_float(a: Tensor, op: str) -> None:
    """Raise PyTorch's NotImplementedError for ops that have no integer or bool kernel (softmax, gelu, ...)."""
    if not is_float(a):
        raise NotImplementedError(f'"{op}" not implemented for \'{dtypes.scalar_type_name(a.dtype)}\'')


def require_tensor(x: Any, op: str, name: str = "other", position: int = 2) -> None:
    """Raise PyTorch's TypeError for functions whose arguments must be tensors (maximum, logical_and, ...)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' (position {position}) must be Tensor, not {type(x).__name__}")


def normalize_dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """dim as a sorted tuple of non-negative axes (None: all axes), with PyTorch's errors when out of range."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        d = int(d)
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, "
                             f"{max(ndim, 1) - 1}], but got {d})")
        if d % max(ndim, 1) in out:
            raise RuntimeError(f"dim {d % max(ndim, 1)} appears multiple times in the list of dims")
        out.append(d % max(ndim, 1))
    return tuple(sorted(out))


def reduce_dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """The axes a reduction runs over: None for all (also for an empty dim list, as PyTorch's sum(dim=())),
    and none at all for a 0-d tensor."""
    axes = normalize_dims(dim, ndim)
    if axes is not None and len(axes) == 0:
        return None
    if ndim == 0:
        return None
    return axes


def size_tuple(size: tuple, kw: dict | None = None) -> tuple[int, ...]:
    """A shape from PyTorch-style size arguments: zeros(2, 3), zeros((2, 3)), zeros([2, 3]) and
    zeros(size=(2, 3)) alike (`kw`: the constructor's other keyword arguments, only size= allowed)."""
    if kw:
        if kw.keys() - {"size"}:
            raise TypeError(f"unexpected keyword arguments {sorted(kw.keys() - {'size'})}")
        size = (kw["size"],)
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
    for n in shape:
        if isinstance(n, (bool, float)) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"size must be a tuple of ints, not {type(n).__name__}")
        if n < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {n}: {list(shape)}")
    return tuple(int(n) for n in shape)
