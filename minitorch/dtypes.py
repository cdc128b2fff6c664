"""Dtypes: NumPy dtype objects name them for every backend; each backend maps the name to its own."""
from __future__ import annotations

import builtins
from typing import Any

import numpy as np

float32 = np.dtype("float32")
float64 = np.dtype("float64")
float16 = np.dtype("float16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")
float = float32  # noqa: A001  (as torch.float)
long = int64
double = float64

DEFAULT_FLOAT = float32


def as_dtype(dtype: Any) -> np.dtype:
    """Normalise a dtype given as a NumPy dtype, a string, a Python type or a backend dtype."""
    if isinstance(dtype, np.dtype):
        return dtype
    if dtype in (bool, "bool"):
        return bool_
    if dtype is int:
        return int64
    if dtype is builtins.float:
        return float32
    name = str(dtype).rsplit(".", 1)[-1].strip("'>")
    return np.dtype(name)


def backend_dtype(xp: Any, dtype: Any) -> Any:
    """The namespace's own dtype object for a dtype name."""
    return getattr(xp, as_dtype(dtype).name)


def is_floating(dtype: Any) -> bool:
    """True for float16/32/64."""
    return as_dtype(dtype).kind == "f"
