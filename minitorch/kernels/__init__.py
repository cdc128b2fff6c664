"""Fused kernels: .cu sources, their array-API references, and launchers (CuPy or the CPU emulator)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Callable

from . import reference
from .cuda import CudaKernels

KERNEL_DIR = Path(__file__).resolve().parent
KERNEL_SOURCES: list[Path] = [KERNEL_DIR / name
                               for name in ("softmax_xent.cu", "batchnorm.cu", "optim.cu", "window.cu")]
NVRTC_OPTIONS: tuple[str, ...] = ("-std=c++17", f"-I{KERNEL_DIR}")

__all__ = ["KERNEL_DIR", "KERNEL_SOURCES", "CudaKernels", "cuda_kernels", "emulated_kernels", "fused_enabled",
           "reference"]


def fused_enabled() -> bool:
    """True unless MINITORCH_FUSED=0 switches every fused path off (read on each call)."""
    return os.environ.get("MINITORCH_FUSED", "1").strip() != "0"


def _cached_loader(build: Callable[[Path], Any]) -> Callable[[str], Any]:
    """Wrap a module builder so each .cu file is compiled once per process."""
    return functools.cache(lambda name: build(KERNEL_DIR / name))


@functools.cache
def cuda_kernels() -> CudaKernels:
    """CuPy-driven kernels (NVRTC-compiled RawModules, cached); imports CuPy only when called."""
    import cupy  # lazy: a missing CuPy never breaks the CPU path

    def build(path: Path) -> Any:
        return cupy.RawModule(code=path.read_text(), options=NVRTC_OPTIONS)

    return CudaKernels(_cached_loader(build), cupy)


@functools.cache
def emulated_kernels() -> CudaKernels:
    """The same .cu kernels run on the CPU by the emulator, on NumPy arrays (for tests)."""
    import numpy

    from .emulator import EmulatedModule

    return CudaKernels(_cached_loader(EmulatedModule), numpy)
