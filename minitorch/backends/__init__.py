"""Backends: which array library holds a tensor's data, chosen by device string.

Devices: "cpu" (NumPy), "cuda" / "cuda:N" (CuPy), "strict" (array_api_strict, for tests).
The default device comes from MINITORCH_BACKEND (numpy | cupy | array_api_strict).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..device import canonical_device
from .base import Backend
from .cupy_backend import CupyBackend
from .numpy_backend import NumpyBackend
from .strict_backend import StrictBackend

BACKEND_DEVICES = {"numpy": "cpu", "cupy": "cuda", "array_api_strict": "strict"}

_backends: dict[str, Backend] = {}
_default_device: str | None = None
_seed: int | None = None
_host_rng = np.random.default_rng()


def get_backend(device: Any = None) -> Backend:
    """The Backend for a device string (default: the default device), created on first use."""
    name = canonical_device(device) if device is not None else default_device()
    backend = _backends.get(name)
    if backend is None:
        if name == "cpu":
            backend = NumpyBackend()
        elif name == "strict":
            if not StrictBackend.is_available():
                raise RuntimeError("the array_api_strict backend needs: pip install array-api-strict")
            backend = StrictBackend()
        else:
            backend = CupyBackend(int(name[5:]) if ":" in name else 0)
        if _seed is not None:
            backend.seed(_seed)
        _backends[name] = backend
    return backend


def default_device() -> str:
    """The device new tensors go to: set in code, else from MINITORCH_BACKEND, else "cpu"."""
    global _default_device
    if _default_device is None:
        choice = os.environ.get("MINITORCH_BACKEND", "numpy").strip().lower() or "numpy"
        if choice not in BACKEND_DEVICES:
            raise ValueError(f"MINITORCH_BACKEND={choice!r} is not a backend; valid values: "
                             + ", ".join(BACKEND_DEVICES))
        device = BACKEND_DEVICES[choice]
        get_backend(device)  # an explicit cupy that cannot start is an error now, not a fallback
        _default_device = device
    return _default_device


def set_default_device(device: Any) -> None:
    """Send new tensors to `device` from now on (e.g. "cuda")."""
    global _default_device
    name = canonical_device(device)
    get_backend(name)
    _default_device = name


def is_available(backend: str) -> bool:
    """Whether a backend ("numpy", "cupy", "array_api_strict") can run on this machine."""
    return {"numpy": NumpyBackend, "cupy": CupyBackend, "array_api_strict": StrictBackend}[backend].is_available()


def available_devices() -> list[str]:
    """The devices this machine can run: "cpu", "strict" when installed, "cuda" when usable."""
    return [d for b, d in BACKEND_DEVICES.items() if is_available(b)]


def manual_seed(seed: int) -> None:
    """Seed every backend's generator and the host generator (shuffling) for reproducible runs."""
    global _seed, _host_rng
    _seed = int(seed)
    _host_rng = np.random.default_rng(_seed)
    for backend in _backends.values():
        backend.seed(_seed)


def host_rng() -> np.random.Generator:
    """The process-wide NumPy generator used for host-side randomness such as shuffling."""
    return _host_rng


__all__ = ["Backend", "get_backend", "default_device", "set_default_device", "manual_seed",
           "host_rng", "is_available", "available_devices", "canonical_device"]
