"""Optimizer: parameter groups, per-parameter state, zero_grad and state_dict, as in PyTorch."""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from .. import dtypes, kernels
from ..autograd import enable_grad, no_grad
from ..tensor import Tensor
from ..inplace import bump_versions, zero_grads


def check_range(name: str, value: float, low: float = 0.0, high: float | None = None,
                high_open: bool = False) -> None:
    """Raise a ValueError that names the hyper-parameter when value is outside [low, high] (or [low, high))."""
    ok = value >= low and (high is None or (value < high if high_open else value <= high))
    if not ok:
        bound = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
        raise ValueError(f"Invalid {name}: {value} (must be >= {low}{bound})")


class Optimizer:
    """Base class: `param_groups` (dicts with "params" and hyper-parameters) and `state[param]`."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or of dicts, got a single Tensor; "
                            "wrap it in a list")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    def validate(self, group: dict[str, Any]) -> None:
        """Check a group's hyper-parameters (subclasses extend it)."""
        check_range("learning rate", group["lr"])

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones from the defaults)."""
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (it is the output of an op); "
                                 "optimize the leaves it was computed from")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one parameter group (or twice in one)")
        group = {**self.defaults, **group, "params": params}
        self.validate(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter (None, or zeros when set_to_none=False)."""
        zero_grads((p for g in self.param_groups for p in g["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a .grad; closure re-evaluates the loss first."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():  # updates write raw arrays in place; nothing here belongs in a graph
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    self.update(group, params)
                    bump_versions(params)  # written in place: a graph that saved them must not reuse them
        return loss

    def update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        """Apply this optimizer's rule to `params` (those of `group` that have a .grad)."""
        raise NotImplementedError

    # -- state_dict ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {name: Tensor | number}}, "param_groups": [{..., "params": [index, ...]}]}."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index and s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and per-parameter state (copied onto each parameter's device)."""
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved)} parameter groups, this optimizer has "
                             f"{len(self.param_groups)}")
        for i, (mine, theirs) in enumerate(zip(self.param_groups, saved)):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(f"parameter group {i}: the loaded state dict has {len(theirs['params'])} "
                                 f"parameters, this optimizer has {len(mine['params'])}")
        by_index = {i: p for mine, theirs in zip(self.param_groups, saved)
                    for i, p in zip(theirs["params"], mine["params"])}
        self.state = defaultdict(dict)
        for key, entry in state_dict["state"].items():
            p = by_index[int(key)]
            self.state[p] = {name: _onto(value, p, name) for name, value in entry.items()}
        for mine, theirs in zip(self.param_groups, saved):
            mine.update({k: copy.deepcopy(v) for k, v in theirs.items() if k != "params"})

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _onto(value: Any, param: Tensor, name: str) -> Any:
    """A copy of a saved state value on the parameter's device (float tensors cast to its dtype)."""
    if name == "step" or not isinstance(value, (Tensor, np.ndarray)):
        return value.item() if isinstance(value, (Tensor, np.ndarray)) else value
    host = value.backend.to_host(value.array) if isinstance(value, Tensor) else value
    if dtypes.is_floating(host.dtype):
        host = host.astype(param.dtype)
    array = param.backend.from_host(np.array(host, copy=True))  # never share the loaded dict's memory
    return Tensor._make(array, param.backend, False, None)


def state_tensor(state: dict[str, Any], name: str, param: Tensor) -> Tensor:
    """state[name], created as zeros shaped like `param` on its device on first use."""
    if name not in state:
        state[name] = Tensor._make(param.xp.zeros_like(param.array), param.backend, False, None)
    return state[name]


def multi_tensor_step(name: str, params: list[Tensor], *states: list[Tensor] | None, **hyper: Any) -> None:
    """Run the update rule `name` on raw arrays, once per device: rule(params, grads, *states, **hyper).

    Each rule is written once, in `minitorch.kernels.reference` (array-API code); a device whose
    backend has a fused kernel of that name (CUDA) runs the kernel instead unless MINITORCH_FUSED=0.
    """
    by_backend: dict[Any, list[int]] = {}
    for i, p in enumerate(params):
        by_backend.setdefault(p.backend, []).append(i)
    for backend, idx in by_backend.items():
        rule = getattr(backend.kernels, name, None) if kernels.fused_enabled() else None
        rule = rule or getattr(kernels.reference, name)
        arrays = [[s[i].array for i in idx] if s is not None else None for s in states]
        rule([params[i].array for i in idx], [params[i].grad.array for i in idx], *arrays, **hyper)
