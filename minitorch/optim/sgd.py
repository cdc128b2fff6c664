"""SGD with momentum, Nesterov momentum and (coupled, L2) weight decay."""
from __future__ import annotations

from typing import Any, Iterable

from ..tensor import Tensor
from .optimizer import Optimizer, check_range, multi_tensor_step, state_tensor


class SGD(Optimizer):
    """p -= lr * d, where d = g + wd p, or with momentum b = mu b + d and d = b (nesterov: d + mu b)."""

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov))

    def validate(self, group: dict[str, Any]) -> None:
        super().validate(group)
        check_range("momentum value", group["momentum"])
        check_range("weight_decay value", group["weight_decay"])
        if group["nesterov"] and group["momentum"] <= 0:
            raise ValueError("Nesterov momentum requires a momentum > 0")

    def update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        lr, mu, wd, nesterov = group["lr"], group["momentum"], group["weight_decay"], group["nesterov"]
        # Buffers start at zero, so the first step sets b = d, exactly as PyTorch's clone-on-first-step.
        bufs = [state_tensor(self.state[p], "momentum_buffer", p) for p in params] if mu else None
        multi_tensor_step("sgd_step", params, bufs, lr=lr, momentum=mu, weight_decay=wd, nesterov=nesterov)
