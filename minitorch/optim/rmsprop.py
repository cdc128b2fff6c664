"""RMSprop: divide the gradient by a running root-mean-square, optionally centred, with momentum, maximizing."""
from __future__ import annotations

from typing import Any, Iterable

from ..tensor import Tensor
from .optimizer import Optimizer, check_range


class RMSprop(Optimizer):
    """s = a s + (1 - a) g^2; p -= lr g / (sqrt(s - mean(g)^2 if centered else s) + eps), with optional momentum."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False, flat: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize), flat=flat)

    def validate(self, group: dict[str, Any]) -> None:
        super().validate(group)
        check_range("alpha value", group["alpha"])
        check_range("epsilon value", group["eps"])
        check_range("weight_decay value", group["weight_decay"])
        check_range("momentum value", group["momentum"])

    def update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        for p in params:
            self.state[p]["step"] = self.state[p].get("step", 0) + 1
        squares = [self.state_tensor(p, "square_avg") for p in params]
        grad_avgs = [self.state_tensor(p, "grad_avg") for p in params] if group["centered"] else None
        bufs = [self.state_tensor(p, "momentum_buffer") for p in params] if group["momentum"] else None
        self.multi_tensor_step("rmsprop_step", params, squares, grad_avgs, bufs, lr=group["lr"], alpha=group["alpha"],
                               eps=group["eps"], weight_decay=group["weight_decay"], momentum=group["momentum"],
                               centered=group["centered"], maximize=group["maximize"])
