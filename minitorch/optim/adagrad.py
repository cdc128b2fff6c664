"""Adagrad: per-coordinate steps scaled by the root of the sum of all past squared gradients."""
from __future__ import annotations

from typing import Any, Iterable

from ..tensor import Tensor
from .optimizer import Optimizer, check_range


class Adagrad(Optimizer):
    """s += g^2; p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps), with L2 weight decay and maximize."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False,
                 flat: bool = False) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize),
                         flat=flat)
        # As PyTorch: state exists from construction (step 0, the accumulator filled), so a state dict taken
        # before the first step already holds every parameter.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def validate(self, group: dict[str, Any]) -> None:
        super().validate(group)
        check_range("lr_decay value", group["lr_decay"])
        check_range("weight_decay value", group["weight_decay"])
        check_range("initial_accumulator_value value", group["initial_accumulator_value"])
        check_range("epsilon value", group["eps"])

    def _init_state(self, p: Tensor) -> None:
        # PyTorch fills with the constructor's value, never a group's own initial_accumulator_value.
        fill = p.xp.full_like(p.array, self.defaults["initial_accumulator_value"])
        self.state[p].update(step=0, sum=Tensor._make(fill, p.backend, False, None))

    def update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        hyper = dict(lr=group["lr"], lr_decay=group["lr_decay"], weight_decay=group["weight_decay"], eps=group["eps"],
                     maximize=group["maximize"])
        by_step: dict[int, list[Tensor]] = {}  # the decayed lr depends on each parameter's own step count
        for p in params:
            state = self.state[p]
            if not state:  # a parameter added by add_param_group after construction
                self._init_state(p)
            state["step"] += 1
            by_step.setdefault(state["step"], []).append(p)
        for step, ps in by_step.items():
            sums = [self.state_tensor(p, "sum") for p in ps]  # re-homed into the flat buffer
            self.multi_tensor_step("adagrad_step", ps, sums, step=step, **hyper)
