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


def as_dtype(dtype: Any) -> np.dtype:
    """Normalise a dtype given as a NumPy dtype, a string, a Python type or a backend dtype."""
    if isinstance(dtype, np.dtype):
        return dtype
    if dtype in (builtins.bool, "bool"):
        return bool_
    if dtype is builtins.int:
        return int64
    if dtype is builtins.float:
        return _default_float
    name = str(dtype).rsplit(".", 1)[-1].strip("'>")
    aliases = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
               "short": "int16"}
    return np.dtype(aliases.get(name, name))


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
    """A NumPy array for tensor(data), with PyTorch's inference: Python floats -> the default float,
    ints -> int64, bools -> bool; NumPy arrays and scalars keep their dtype."""
    if isinstance(data, (np.ndarray, np.generic)):
        return np.asarray(data, order="C")
    host = np.asarray(data, order="C")
    if host.dtype.kind == "f" and host.dtype != _default_float:
        host = host.astype(_default_float)
    elif host.dtype.kind in "iu" and host.dtype != int64 and not _holds_numpy(data):
        host = host.astype(int64)
    elif host.dtype == object:
        raise TypeError(f"could not infer a dtype for tensor data of type {type(data).__name__}")
    return host


def _holds_numpy(data: Any) -> builtins.bool:
    return isinstance(data, (np.ndarray, np.generic))


def scalar_dtype(value: Any) -> np.dtype:
    """The dtype a Python or NumPy scalar stands for in promotion: bool, int64 or the default float."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(value, numbers.Integral):
        return int64
    if isinstance(value, numbers.Real):
        return _default_float
    raise TypeError(f"unsupported scalar of type {type(value).__name__}")
