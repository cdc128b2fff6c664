"""RMSprop: divide the gradient by a running root-mean-square, optionally centred and with momentum."""
from __future__ import annotations

from typing import Any, Iterable

from ..tensor import Tensor
from .optimizer import Optimizer, check_range, state_tensor


class RMSprop(Optimizer):
    """s = a s + (1 - a) g^2; p -= lr g / (sqrt(s - mean(g)^2 if centered else s) + eps), with optional momentum."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def validate(self, group: dict[str, Any]) -> None:
        super().validate(group)
        check_range("alpha value", group["alpha"])
        check_range("epsilon value", group["eps"])
        check_range("weight_decay value", group["weight_decay"])
        check_range("momentum value", group["momentum"])

    def update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        wd, mu, centered = group["weight_decay"], group["momentum"], group["centered"]
        for p in params:
            state = self.state[p]
            state["step"] = state.get("step", 0) + 1
            xp, g = p.xp, p.grad.array
            if wd:
                g = g + wd * p.array
            square_avg = state_tensor(state, "square_avg", p).array
            square_avg *= alpha
            square_avg += (1.0 - alpha) * (g * g)
            if centered:
                grad_avg = state_tensor(state, "grad_avg", p).array
                grad_avg *= alpha
                grad_avg += (1.0 - alpha) * g
                avg = xp.sqrt(square_avg - grad_avg * grad_avg) + eps  # the variance, not the raw 2nd moment
            else:
                avg = xp.sqrt(square_avg) + eps
            if mu:
                buf = state_tensor(state, "momentum_buffer", p).array
                buf *= mu
                buf += g / avg
                p.array -= lr * buf
            else:
                p.array -= lr * (g / avg)
