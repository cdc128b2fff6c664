"""The CPU backend: NumPy."""
from __future__ import annotations

import ctypes
import functools
import math
import os
import sys
from typing import Any

import numpy as np

from ..device import device as Device
from ..kernels.cpu import cpu_kernels
from .base import Backend


def _keep_freed_memory() -> None:
    """Stop glibc returning large freed blocks to the OS after every training step.

    Each step allocates the same multi-megabyte temporaries; by default glibc serves them with
    mmap and unmaps them on free, so the next step page-faults all of that memory in again
    (measured: ~4,000 faults and +65% time per step on the wide MLP). Raising the mmap and trim
    thresholds keeps such blocks in the heap for reuse. MINITORCH_MALLOC_TUNE=0 opts out.
    """
    if os.environ.get("MINITORCH_MALLOC_TUNE", "1") == "0" or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, ...): nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's ceiling for this setting
    libc.mallopt(m_trim_threshold, 256 * 1024 * 1024)


def _to_out(out: Any, values: np.ndarray) -> np.ndarray:
    """values, or values copied into out (cast to its dtype) when out is given."""
    if out is None:
        return values
    np.copyto(out, values)
    return out


@functools.lru_cache(maxsize=None)
def _scipy_special() -> Any:
    """scipy.special, or None where SciPy is not installed (imported on first use: it takes ~0.3 s)."""
    try:
        import scipy.special
    except ImportError:
        return None
    return scipy.special


class NumpyBackend(Backend):
    """NumPy on the CPU (device "cpu")."""

    name = "numpy"
    device = Device("cpu")

    def __init__(self) -> None:
        _keep_freed_memory()
        super().__init__()

    @property
    def xp(self) -> Any:
        return np

    @property
    def kernels(self) -> Any:
        return cpu_kernels  # the references, with Adam fused where Numba is installed

    def make_rng(self, seed: int | None) -> Any:
        return np.random.default_rng(seed)

    # The samplers take out=, so a compiled step (capture/trace.py) draws straight into its buffers.
    def rand(self, shape: tuple[int, ...], dtype: Any, out: Any = None) -> Any:
        if dtype in (np.float32, np.float64):
            return self.rng.random(shape, dtype=dtype, out=out)
        return _to_out(out, self.rng.random(shape).astype(dtype))

    def randn(self, shape: tuple[int, ...], dtype: Any, out: Any = None) -> Any:
        return self.rng.standard_normal(shape, dtype=dtype, out=out)

    def dropout_mask(self, shape: tuple[int, ...], p: float, dtype: Any, out: Any = None) -> Any:
        # Raw 32-bit draws compared with p * 2^32 are ~1.6x cheaper than uniform floats (the
        # generator is the step's costliest elementwise work) and resolve p more finely (2^-32
        # against float32's 2^-24), so the keep rate is 1 - p and the scale exactly 1/(1-p).
        n = math.prod(shape)
        bits = self.rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n].reshape(shape)
        keep = bits >= np.uint32(min(round(p * 2.0**32), 2**32 - 1))
        mask = keep.astype(dtype) if out is None else _to_out(out, keep)
        mask *= 1.0 / (1.0 - p)
        return mask

    def erf(self, array: Any) -> Any:
        # SciPy's compiled erf (an optional dependency) is ~20x faster than the xp default.
        special = _scipy_special()
        if special is None or array.dtype not in (np.float32, np.float64):
            return super().erf(array)
        return special.erf(array, out=np.empty_like(array))  # out=: a 0-d input gives an array, not a scalar

    @staticmethod
    def is_available() -> bool:
        """NumPy is a hard dependency, so always."""
        return True
