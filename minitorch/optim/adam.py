"""Adam (coupled L2 weight decay) and AdamW (decoupled weight decay), with AMSGrad and maximize."""
from __future__ import annotations

from typing import Any, Iterable

from ..tensor import Tensor
from .optimizer import Optimizer, check_range, multi_tensor_step, state_tensor


class Adam(Optimizer):
    """Adam with bias correction: p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)."""

    decoupled = False  # AdamW flips this: decay shrinks p directly instead of entering the gradient

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def validate(self, group: dict[str, Any]) -> None:
        super().validate(group)
        betas = group["betas"]
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas}")
        check_range("beta parameter at index 0", betas[0], 0.0, 1.0, high_open=True)
        check_range("beta parameter at index 1", betas[1], 0.0, 1.0, high_open=True)
        check_range("epsilon value", group["eps"])
        check_range("weight_decay value", group["weight_decay"])

    def update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        beta1, beta2 = group["betas"]
        hyper = dict(lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                     weight_decay=group["weight_decay"], decoupled=self.decoupled, amsgrad=group["amsgrad"],
                     maximize=group["maximize"])
        # Bias correction depends on each parameter's own step count (a parameter without a grad in
        # some step falls behind), so parameters are batched by step.
        by_step: dict[int, list[Tensor]] = {}
        for p in params:
            state = self.state[p]
            state["step"] = state.get("step", 0) + 1
            by_step.setdefault(state["step"], []).append(p)
        for step, ps in by_step.items():
            ms = [state_tensor(self.state[p], "exp_avg", p) for p in ps]
            vs = [state_tensor(self.state[p], "exp_avg_sq", p) for p in ps]
            maxes = [state_tensor(self.state[p], "max_exp_avg_sq", p) for p in ps] if group["amsgrad"] else None
            multi_tensor_step("adam_step", ps, ms, vs, maxes, step=step, **hyper)


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * wd before the Adam step (default wd 1e-2)."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
