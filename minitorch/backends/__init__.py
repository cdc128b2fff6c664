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
_cuda_seed: int | None = None  # from minitorch.cuda.manual_seed: CUDA generators only
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
        seed = _cuda_seed if _cuda_seed is not None and name.startswith("cuda") else _seed
        if seed is not None:
            backend.seed(seed)
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
    global _seed, _cuda_seed, _host_rng
    _seed, _cuda_seed = int(seed), None
    _host_rng = np.random.default_rng(_seed)
    for backend in _backends.values():
        backend.seed(_seed)


def forget_cuda_backends() -> None:
    """In a forked child (a DataLoader worker): CUDA state does not survive fork, so drop the CUDA backends
    the parent made (a later use in the child then fails at once, instead of touching the parent's context)."""
    for name in [n for n in _backends if n.startswith("cuda")]:
        del _backends[name]


def manual_seed_cuda(seed: int) -> None:
    """Seed the CUDA backends' generators only (now, and those created later): minitorch.cuda.manual_seed."""
    global _cuda_seed
    _cuda_seed = int(seed)
    for name, backend in _backends.items():
        if name.startswith("cuda"):
            backend.seed(_cuda_seed)


def host_rng() -> np.random.Generator:
    """The process-wide NumPy generator used for host-side randomness such as shuffling."""
    return _host_rng


class _Flags:
    """Settings PyTorch scripts set on torch.backends.<library> (cudnn.benchmark = True, ...).

    minitorch has no cuDNN and no MPS backend: the flags are accepted and have no effect, and
    `is_available()` is False, so `"mps" if mt.backends.mps.is_available() else "cpu"` picks the CPU.
    """

    def __init__(self, name: str, **flags: Any) -> None:
        self.__dict__.update(flags, _name=name)

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def is_built() -> bool:
        return False

    def __repr__(self) -> str:
        return f"<minitorch.backends.{self._name}: not used by minitorch>"


cudnn = _Flags("cudnn", benchmark=False, deterministic=False, enabled=True, allow_tf32=True)
mps = _Flags("mps")

__all__ = ["Backend", "get_backend", "default_device", "set_default_device", "manual_seed", "manual_seed_cuda",
           "host_rng", "is_available", "available_devices", "canonical_device", "cudnn", "mps"]
