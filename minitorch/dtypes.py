"""Dtypes: NumPy dtype objects name them for every backend; each backend maps the name to its own.

Type promotion follows PyTorch, not NumPy: see `result_type`.
"""
from __future__ import annotations

import builtins
import numbers
from typing import Any

import numpy as np

float16 = half = np.dtype("float16")
float32 = np.dtype("float32")
float64 = double = np.dtype("float64")
int8 = np.dtype("int8")
int16 = short = np.dtype("int16")
int32 = np.dtype("int32")
int64 = long = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")
float = float32  # noqa: A001  (as torch.float)
int = int32  # noqa: A001  (as torch.int)

_default_float = float32

_TYPE_NAMES = {float16: "HalfTensor", float32: "FloatTensor", float64: "DoubleTensor", int8: "CharTensor",
               int16: "ShortTensor", int32: "IntTensor", int64: "LongTensor", uint8: "ByteTensor",
               bool_: "BoolTensor"}


def get_default_dtype() -> np.dtype:
    """The dtype of new floating-point tensors (float32 unless set_default_dtype changed it)."""
    return _default_float


def set_default_dtype(dtype: Any) -> None:
    """Make float32 or float64 the dtype of new floating-point tensors (and of Python floats in ops)."""
    global _default_float
    d = as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float = d


_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
            "short": "int16", "char": "int8", "byte": "uint8", "bool_": "bool"}
_seen: dict[Any, np.dtype] = {}  # backend dtype objects (array_api_strict's, torch's) -> NumPy dtype


def as_dtype(dtype: Any) -> np.dtype:
    """Normalise a dtype given as a NumPy dtype, a string, a Python type or a backend dtype."""
    if isinstance(dtype, np.dtype):
        return dtype
    if dtype is builtins.float:  # follows set_default_dtype, so never cached
        return _default_float
    try:
        return _seen[dtype]
    except (KeyError, TypeError):
        pass
    if dtype in (builtins.bool, "bool"):
        d = bool_
    elif dtype is builtins.int:
        d = int64
    else:
        name = str(dtype).rsplit(".", 1)[-1].strip("'>")
        d = np.dtype(_ALIASES.get(name, name))
    try:
        _seen[dtype] = d
    except TypeError:  # unhashable spelling: fine, just not cached
        pass
    return d


def is_dtype_name(name: str) -> builtins.bool:
    """Whether a string names a dtype ("float64") rather than a device ("cuda")."""
    try:
        as_dtype(name)
        return True
    except TypeError:
        return False


def backend_dtype(xp: Any, dtype: Any) -> Any:
    """The namespace's own dtype object for a dtype name."""
    return getattr(xp, as_dtype(dtype).name)


def is_floating(dtype: Any) -> builtins.bool:
    """True for float16/32/64."""
    return as_dtype(dtype).kind == "f"


def is_integer(dtype: Any) -> builtins.bool:
    """True for signed and unsigned integers (not bool)."""
    return as_dtype(dtype).kind in "iu"


def category(dtype: Any) -> builtins.int:
    """0 bool, 1 integer, 2 floating: promotion never moves a result down this ladder."""
    kind = as_dtype(dtype).kind
    return 0 if kind == "b" else 2 if kind in "fc" else 1


def can_cast(source: Any, target: Any) -> builtins.bool:
    """PyTorch's rule for writing a result into an existing tensor: never to a lower category."""
    return category(source) <= category(target)


def type_name(dtype: Any, short: builtins.bool = False) -> str:
    """"minitorch.FloatTensor" (or, short, "torch.float32"-style "minitorch.float32")."""
    d = as_dtype(dtype)
    return f"minitorch.{d.name}" if short else f"minitorch.{_TYPE_NAMES.get(d, d.name)}"


def from_type_name(name: Any) -> np.dtype:
    """A dtype from a type name ("torch.LongTensor", "minitorch.FloatTensor") or any dtype spelling."""
    if isinstance(name, str) and name.endswith("Tensor"):
        short = name.rsplit(".", 1)[-1]
        for d, n in _TYPE_NAMES.items():
            if n == short:
                return d
        raise TypeError(f"unknown tensor type {name!r}")
    return as_dtype(name)


def infer_host_array(data: Any) -> np.ndarray:
    """A NumPy array for tensor(data), with PyTorch's inference: NumPy arrays and scalars keep their
    dtype; in (nested) sequences Python floats count as the default float, ints as int64, bools as
    bool, NumPy scalars and tensors as their own dtype, and the elements' dtypes are promoted:
    [1, 2] -> int64, [1, 2.5] -> float32, [np.float64(1), 2.0] -> float64."""
    if isinstance(data, (np.ndarray, np.generic)):
        return np.asarray(data, order="C")
    dtype = _element_dtype(data) if isinstance(data, (list, tuple)) else None
    if dtype is None and isinstance(data, (list, tuple)):
        dtype = _default_float  # an empty sequence, as torch.tensor([])
    host = np.asarray(data, dtype=dtype, order="C")
    if dtype is None:  # a single Python scalar or another array-like
        if host.dtype.kind == "f" and isinstance(data, builtins.float):
            host = host.astype(_default_float)
        elif host.dtype.kind in "iu" and isinstance(data, builtins.int):
            host = host.astype(int64)
    if host.dtype.kind not in "biuf":
        raise TypeError(f"could not infer a dtype for tensor data of type {type(data).__name__}")
    return host


def _element_dtype(seq: Any) -> np.dtype | None:
    """PyTorch's dtype for a nested sequence: the promotion of its elements' dtypes (None if empty)."""
    out = None
    for kind in {type(x) for x in seq}:
        if kind in (list, tuple):
            found = [_element_dtype(x) for x in seq if type(x) is kind]
        elif kind is builtins.float:
            found = [_default_float]
        elif kind is builtins.bool:
            found = [bool_]
        elif kind is builtins.int:
            found = [int64]
        elif hasattr(kind, "dtype"):  # NumPy scalars and arrays, Tensors
            found = list({as_dtype(x.dtype) for x in seq if type(x) is kind})
        elif isinstance(next(x for x in seq if type(x) is kind), numbers.Real):
            found = [scalar_dtype(next(x for x in seq if type(x) is kind))]
        else:
            raise TypeError(f"could not infer a dtype for tensor data holding {kind.__name__}")
        for d in found:
            out = d if out is None else (out if d is None else promote_types(out, d))
    return out


def scalar_dtype(value: Any) -> np.dtype:
    """The dtype a Python or NumPy scalar stands for in promotion: bool, int64 or the default float."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(value, numbers.Integral):
        return int64
    if isinstance(value, numbers.Real):
        return _default_float
    raise TypeError(f"unsupported scalar of type {type(value).__name__}")


_TORCH_NAMES = {float16: "Half", float32: "Float", float64: "Double", int8: "Char", int16: "Short", int32: "Int",
                int64: "Long", uint8: "Byte", bool_: "Bool"}


def scalar_type_name(dtype: Any) -> str:
    """PyTorch's name for a dtype in error messages: Float, Long, Bool, ..."""
    d = as_dtype(dtype)
    return _TORCH_NAMES.get(d, d.name)


def promote_types(a: Any, b: Any) -> np.dtype:
    """PyTorch's table for two dtypes: a higher category (bool < integer < floating) wins outright,
    whatever its width (int64 + float16 -> float16); within a category the wider type wins, and
    mixed signedness widens (uint8 + int8 -> int16)."""
    a, b = as_dtype(a), as_dtype(b)
    if a == b:
        return a
    ca, cb = category(a), category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def _combine_categories(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """c10's combine_categories: `lower` (a less dimensioned operand) only counts when it is of a
    higher category, or when `higher` is bool."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if higher == bool_ or lower.kind == "f":
        return promote_types(higher, lower)
    return higher


def result_type(*operands: Any) -> np.dtype:
    """The dtype of a binary (or n-ary) op's result, as torch.result_type.

    Operands come in three priorities: tensors with dimensions, 0-d tensors, and Python or NumPy
    scalars (weak: a float scalar stands for the default float dtype, an int for int64). Each group's
    dtypes are promoted together; a lower group can raise the result's category (int tensor * 2.5 ->
    float32) but never its width within a category (float32 tensor * np.float64(2) -> float32,
    int32 tensor + int64 0-d tensor -> int32).
    """
    dim = zero = wrapped = None
    for x in operands:
        if isinstance(x, (numbers.Number, np.generic)):
            d = scalar_dtype(x)
            wrapped = d if wrapped is None else promote_types(wrapped, d)
        elif x.ndim:
            d = as_dtype(x.dtype)
            dim = d if dim is None else promote_types(dim, d)
        else:
            d = as_dtype(x.dtype)
            zero = d if zero is None else promote_types(zero, d)
    out = _combine_categories(dim, _combine_categories(zero, wrapped))
    if out is None:
        raise TypeError("result_type() needs at least one operand")
    return out


def wrap_integer(value: builtins.int, dtype: np.dtype) -> builtins.int:
    """An int reduced into dtype's range the way a C cast wraps it (uint8: 300 -> 44, -1 -> 255)."""
    bits = dtype.itemsize * 8
    if dtype.kind == "u":
        return value % (1 << bits)
    half = 1 << (bits - 1)
    return (value + half) % (1 << bits) - half
