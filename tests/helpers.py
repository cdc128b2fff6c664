"""Helpers for tests (importable from any test module: pytest puts tests/ on sys.path)."""
from __future__ import annotations

import numpy as np

import minitorch as mt


def make(device: str, shape, low: float = -1.0, high: float = 1.0, seed: int = 0, requires_grad: bool = True,
         dtype=np.float64) -> mt.Tensor:
    """A random leaf tensor (float64 by default, for gradchecks) on `device`."""
    rng = np.random.default_rng(seed + 7919 * len(shape) + sum(shape))
    return mt.tensor(rng.uniform(low, high, size=shape).astype(dtype), device=device, requires_grad=requires_grad)


def away_from_zero(device: str, shape, seed: int = 0) -> mt.Tensor:
    """Random values in ±[0.2, 1]: keeps finite differences off the kinks of abs/relu/max."""
    rng = np.random.default_rng(seed + 31 * sum(shape))
    v = rng.uniform(0.2, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return mt.tensor(v, device=device, requires_grad=True)
