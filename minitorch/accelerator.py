"""minitorch.accelerator: PyTorch's device-agnostic spelling, as the PyTorch quickstart uses it:

    device = mt.accelerator.current_accelerator().type if mt.accelerator.is_available() else "cpu"

minitorch's only accelerator is CUDA (through CuPy).
"""
from __future__ import annotations

from typing import Any

from . import cuda
from .device import device


def is_available() -> bool:
    """Whether an accelerator (a usable CUDA device) is present."""
    return cuda.is_available()


def current_accelerator() -> device | None:
    """device("cuda") when CUDA is usable, else None."""
    return device("cuda") if cuda.is_available() else None


def device_count() -> int:
    """The number of accelerator devices (0 without one)."""
    return cuda.device_count()


def synchronize(device: Any = None) -> None:  # noqa: A002
    """Wait for the accelerator's queued work."""
    cuda.synchronize(device)
