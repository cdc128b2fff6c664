"""Adam (coupled L2 weight decay) and AdamW (decoupled weight decay), with AMSGrad and maximize."""
from __future__ import annotations

from typing import Any, Iterable

from ..tensor import Tensor
from .optimizer import Optimizer, check_range, rule


class Adam(Optimizer):
    """Adam with bias correction: p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)."""

    decoupled = False  # AdamW flips this: decay shrinks p directly instead of entering the gradient

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False, flat: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize), flat=flat)

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
        states = [self.state[p] for p in params] if self._homes else None
        step = states[0].get("step", 0) + 1 if states else 0
        if states and all(s.get("step", 0) + 1 == step for s in states):  # flat=True: one step count, one buffer
            names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] else ("exp_avg", "exp_avg_sq")
            flat = self.flat_states(params, names)
            if flat is not None:
                for s in states:
                    s["step"] = step
                buf, arrays = flat
                buf.run(rule(buf.backend, "adam_step"), [*arrays, None][:3], dict(hyper, step=step))
                return
        # Bias correction depends on each parameter's own step count (a parameter without a grad in
        # some step falls behind), so parameters are batched by step.
        by_step: dict[int, list[Tensor]] = {}
        for p in params:
            state = self.state[p]
            state["step"] = state.get("step", 0) + 1
            by_step.setdefault(state["step"], []).append(p)
        for step, ps in by_step.items():
            ms = [self.state_tensor(p, "exp_avg") for p in ps]
            vs = [self.state_tensor(p, "exp_avg_sq") for p in ps]
            maxes = [self.state_tensor(p, "max_exp_avg_sq") for p in ps] if group["amsgrad"] else None
            self.multi_tensor_step("adam_step", ps, ms, vs, maxes, step=step, **hyper)


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * wd before the Adam step (default wd 1e-2)."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, flat: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, flat=flat)
