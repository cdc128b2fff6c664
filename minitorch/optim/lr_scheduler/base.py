"""LRScheduler: the epoch counter, PyTorch's chainable step (each schedule rescales the group's current lr)."""
from __future__ import annotations

import warnings
from typing import Any

from ...autograd import _state as _grad_state
from ..optimizer import Optimizer


def per_group(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """`value` once per parameter group (a list or tuple must already have one entry per group)."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} must have the same length as optimizer.param_groups. {name} has {len(value)} "
                             f"values, param_groups has {len(optimizer.param_groups)}.")
        return list(value)
    return [value] * len(optimizer.param_groups)


def refuse_in_capture() -> None:
    """A scheduler stepped inside a step that minitorch.compile records would step only once: say so."""
    _grad_state.recorder.problem("lr_scheduler.step() inside the compiled step would run only when recording; "
                                 "call it outside (each replay reads the optimizer's lr when it runs)")


def group_lrs(optimizer: Optimizer) -> list[float]:
    return [group["lr"] for group in optimizer.param_groups]


class LRScheduler:
    """Sets each group's lr: construct (epoch 0), then step() once per epoch (after optimizer.step()).

    As in PyTorch, step() is chainable: `get_lr()` rescales each group's *current* lr, so two schedulers
    on one optimizer compose; a subclass with a closed form (`lr_at`) also serves step(epoch) and resets.
    """

    _is_initial = False  # True only during the constructor's first step

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming scheduler "
                               f"with last_epoch >= 0 (last_epoch={last_epoch}); load the optimizer's state dict "
                               "first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lrs for the epoch just entered (`last_epoch`), from the groups' current lrs."""
        raise NotImplementedError

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """The closed form: the lr of a group with `base_lr` at `epoch` (schedules that have one define it)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed form")

    def _has_closed_form(self) -> bool:
        return type(self).lr_at is not LRScheduler.lr_at

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch and write the new lrs into the optimizer (step(epoch) jumps, closed form)."""
        self._step_count += 1
        if epoch is not None:
            warnings.warn("The epoch parameter in `scheduler.step()` is deprecated (as in PyTorch); the closed form "
                          "is used where the schedule has one", UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if _grad_state.recorder is not None:
            refuse_in_capture()
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = ([self.lr_at(base, epoch) for base in self.base_lrs] if self._has_closed_form()
                      else self.get_lr())
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = group_lrs(self.optimizer)

    def get_last_lr(self) -> list[float]:
        """The lrs set by the latest step(), one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (which has its own state_dict), under PyTorch's names."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the counters and settings saved by state_dict()."""
        self.__dict__.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in state_dict.items()})
