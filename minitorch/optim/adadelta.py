"""Adadelta: steps sized by the ratio of running RMS of past updates to running RMS of gradients."""
from __future__ import annotations

from typing import Any, Iterable

from ..tensor import Tensor
from .optimizer import Optimizer, check_range


class Adadelta(Optimizer):
    """s = rho s + (1 - rho) g^2; d = sqrt(a + eps) / sqrt(s + eps) g; a = rho a + (1 - rho) d^2; p -= lr d."""

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False, flat: bool = False) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize),
                         flat=flat)

    def validate(self, group: dict[str, Any]) -> None:
        super().validate(group)
        check_range("rho value", group["rho"], 0.0, 1.0)
        check_range("epsilon value", group["eps"])
        check_range("weight_decay value", group["weight_decay"])

    def update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        for p in params:
            self.state[p]["step"] = self.state[p].get("step", 0) + 1
        squares = [self.state_tensor(p, "square_avg") for p in params]
        deltas = [self.state_tensor(p, "acc_delta") for p in params]
        self.multi_tensor_step("adadelta_step", params, squares, deltas, lr=group["lr"], rho=group["rho"],
                               eps=group["eps"], weight_decay=group["weight_decay"], maximize=group["maximize"])
