"""SGD with momentum (and dampening), Nesterov momentum, (coupled, L2) weight decay and maximize."""
from __future__ import annotations

from typing import Any, Iterable

from ..tensor import Tensor
from .optimizer import Optimizer, check_range


class SGD(Optimizer):
    """p -= lr * d, where d = g + wd p, or with momentum b = mu b + (1 - dampening) d and d = b (nesterov: d + mu b)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 flat: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize), flat=flat)

    def validate(self, group: dict[str, Any]) -> None:
        super().validate(group)
        check_range("momentum value", group["momentum"])
        check_range("weight_decay value", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"Nesterov momentum requires a momentum and zero dampening (got momentum "
                             f"{group['momentum']}, dampening {group['dampening']})")

    def update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        hyper = dict(lr=group["lr"], momentum=group["momentum"], weight_decay=group["weight_decay"],
                     nesterov=group["nesterov"], maximize=group["maximize"])
        if not group["momentum"]:
            self.multi_tensor_step("sgd_step", params, None, dampening=0.0, **hyper)
            return
        # PyTorch's first step clones the gradient into the buffer, undamped; a zero buffer run with
        # dampening 0 gives exactly that (b = mu * 0 + d), so new buffers take one call, the others another.
        fresh = [p for p in params if "momentum_buffer" not in self.state[p]]
        seen = [p for p in params if "momentum_buffer" in self.state[p]]
        for batch, dampening in ((fresh, 0.0), (seen, group["dampening"])):
            if batch:
                bufs = [self.state_tensor(p, "momentum_buffer") for p in batch]
                self.multi_tensor_step("sgd_step", batch, bufs, dampening=dampening, **hyper)
