"""The CPU backend: NumPy."""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Backend


class NumpyBackend(Backend):
    """NumPy on the CPU (device "cpu")."""

    name = "numpy"
    device = "cpu"

    @property
    def xp(self) -> Any:
        return np

    def make_rng(self, seed: int | None) -> Any:
        return np.random.default_rng(seed)

    def rand(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.rng.random(shape, dtype=dtype) if dtype in (np.float32, np.float64) else \
            self.rng.random(shape).astype(dtype)

    def randn(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.rng.standard_normal(shape, dtype=dtype)

    @staticmethod
    def is_available() -> bool:
        """NumPy is a hard dependency, so always."""
        return True
