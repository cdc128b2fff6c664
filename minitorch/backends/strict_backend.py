"""A test backend on `array_api_strict`: it proves that ops use only the array API standard."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..device import device as Device
from .base import Backend


def _to_numpy_key(key: Any) -> Any:
    """Turn strict arrays inside an index key into NumPy arrays."""
    if isinstance(key, tuple):
        return tuple(_to_numpy_key(k) for k in key)
    if hasattr(key, "__array_namespace__"):
        return np.asarray(key)
    return key


def _has_array(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(hasattr(k, "__array_namespace__") for k in keys)


class StrictBackend(Backend):
    """`array_api_strict` on the CPU (device "strict"); for tests only."""

    name = "array_api_strict"
    device = Device("strict")

    @property
    def xp(self) -> Any:
        import array_api_strict
        return array_api_strict

    def to_host(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    # The standard allows integer arrays only next to integers, so mixed keys go through NumPy:
    # this is the backend method that fills the gap, not a loophole for op code.
    def index(self, array: Any, key: Any) -> Any:
        if not _has_array(key):
            return array[key]
        return self.xp.asarray(np.asarray(array)[_to_numpy_key(key)])

    def index_add(self, target: Any, key: Any, values: Any) -> None:
        host = np.asarray(target).copy()
        np.add.at(host, _to_numpy_key(key), np.asarray(values))
        target[...] = self.xp.asarray(host)

    def index_put(self, target: Any, key: Any, values: Any) -> None:
        if not _has_array(key):
            target[key] = values
            return
        host = np.asarray(target).copy()
        host[_to_numpy_key(key)] = np.asarray(values) if hasattr(values, "__array_namespace__") else values
        target[...] = self.xp.asarray(host)

    @staticmethod
    def is_available() -> bool:
        """True when `array_api_strict` imports."""
        try:
            import array_api_strict  # noqa: F401
        except ImportError:
            return False
        return True
