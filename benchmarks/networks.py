"""The benchmark networks, built alike in minitorch and PyTorch, and their random data."""
from __future__ import annotations

from typing import Any

import numpy as np

# Layer widths; each hidden Linear is followed by BatchNorm1d -> ReLU -> Dropout, as in the workshop network.
WIDTHS = {"workshop": (784, 256, 10), "wide": (784, 1024, 1024, 10)}
BATCH_SIZES = (64, 256, 1024)
DROPOUT = 0.2
LR = 1e-3


def minitorch_mlp(sizes: tuple[int, ...], device: str = "cpu") -> Any:
    """Linear -> BatchNorm1d -> ReLU -> Dropout per hidden layer, then Linear (workshop_mlp for 784-256-10)."""
    from minitorch import nn
    from minitorch.training import workshop_mlp
    if tuple(sizes) == WIDTHS["workshop"]:
        return workshop_mlp(dropout=DROPOUT).to(device)
    layers: list[Any] = []
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(fan_in, fan_out), nn.BatchNorm1d(fan_out), nn.ReLU(), nn.Dropout(DROPOUT)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers).to(device)


def torch_mlp(sizes: tuple[int, ...], device: str = "cpu") -> Any:
    """The same layer pattern in PyTorch (its default init; initialisation does not change the step's cost)."""
    from torch import nn
    layers: list[Any] = []
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(fan_in, fan_out), nn.BatchNorm1d(fan_out), nn.ReLU(), nn.Dropout(DROPOUT)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers).to(device)


def random_batch(batch: int, features: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 inputs ~ N(0, 1) and int64 labels, identical for every framework."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, features), dtype=np.float32), rng.integers(0, classes, batch)


def step_flops(sizes: tuple[int, ...], batch: int) -> float:
    """GEMM FLOPs of one training step: 2*B*in*out per GEMM, three GEMMs per Linear, minus the input's dx."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return 2.0 * batch * (3 * sum(i * o for i, o in pairs) - pairs[0][0] * pairs[0][1])
