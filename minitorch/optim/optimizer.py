"""Optimizer: parameter groups, per-parameter state, zero_grad and state_dict, as in PyTorch."""
from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Callable, Iterable

import numpy as np

from .. import coach, dtypes, kernels
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
        if coach.watch_steps:  # gradients summed over many steps: zero_grad() forgotten
            coach.optimizer_step(self)
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

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyper-parameters and per-parameter state (copied onto each parameter's device).

        Everything is checked and converted first; an error (a ValueError naming the group, the
        parameter index or the state entry) changes nothing.
        """
        groups, state = _parse_state_dict(state_dict, self.param_groups)
        new_groups = []
        for i, (mine, theirs) in enumerate(zip(self.param_groups, groups)):
            group = {**mine, **{k: copy.deepcopy(v) for k, v in theirs.items() if k != "params"}}
            try:
                self.validate(group)
            except (ValueError, TypeError, KeyError) as exc:
                raise ValueError(f"loaded state dict: parameter group {i}: {exc}") from None
            new_groups.append(group)
        by_index = {int(i): p for mine, theirs in zip(self.param_groups, groups)
                    for i, p in zip(theirs["params"], mine["params"])}
        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, entry in state.items():
            p = by_index[key]
            new_state[p] = {name: _onto(value, p, name, f"state[{key}][{name!r}]") for name, value in entry.items()}
        self.state = new_state  # only now, with everything checked and converted, is anything changed
        for mine, group in zip(self.param_groups, new_groups):
            mine.update(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _parse_state_dict(state_dict: Any, own_groups: list[dict[str, Any]]) -> tuple[list, dict[int, Mapping]]:
    """(param_groups, {parameter index: state entry}) of a loaded optimizer state dict, checked against
    this optimizer's groups: same group sizes, each index once, and state only for indices that exist."""
    if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
        got = sorted(map(str, state_dict)) if isinstance(state_dict, Mapping) else type(state_dict).__name__
        raise ValueError(f"an optimizer state dict has the keys 'state' and 'param_groups'; got {got}")
    groups, state = state_dict["param_groups"], state_dict["state"]
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, Mapping) and "params" in g for g in groups):
        raise ValueError("loaded state dict: 'param_groups' must be a list of dicts, each with 'params'")
    if len(groups) != len(own_groups):
        raise ValueError(f"loaded state dict has {len(groups)} parameter groups, this optimizer has "
                         f"{len(own_groups)}")
    seen: set[int] = set()
    for i, (mine, theirs) in enumerate(zip(own_groups, groups)):
        indices = theirs["params"]
        if not isinstance(indices, (list, tuple)) or not all(_is_index(j) for j in indices):
            raise ValueError(f"loaded state dict: parameter group {i}: 'params' must be a list of parameter "
                             f"indices, got {str(indices)[:80]}")
        if len(indices) != len(mine["params"]):
            raise ValueError(f"parameter group {i}: the loaded state dict has {len(indices)} "
                             f"parameters, this optimizer has {len(mine['params'])}")
        if seen & {int(j) for j in indices} or len(set(map(int, indices))) != len(indices):
            raise ValueError(f"loaded state dict: parameter group {i} repeats a parameter index")
        seen |= {int(j) for j in indices}
    if not isinstance(state, Mapping):
        raise ValueError(f"loaded state dict: 'state' must be a dict, got {type(state).__name__}")
    entries: dict[int, Mapping] = {}
    for key, entry in state.items():
        index = int(key) if _is_index(key) or (isinstance(key, str) and key.isdigit()) else None
        if index not in seen:
            raise ValueError(f"loaded state dict has state for parameter index {key!r}, but its parameter groups "
                             f"hold only indices {sorted(seen)}")
        if not isinstance(entry, Mapping):
            raise ValueError(f"loaded state dict: state[{key!r}] must be a dict, got {type(entry).__name__}")
        entries[index] = entry
    return list(groups), entries


def _is_index(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0


def _onto(value: Any, param: Tensor, name: str, where: str) -> Any:
    """A checked copy of a saved state value: "step" a number >= 0; arrays numeric, shaped like the
    parameter (or 0-d), on its device, floats cast to its dtype; anything else deep-copied."""
    array = isinstance(value, (Tensor, np.ndarray))
    host = (value.backend.to_host(value.array) if isinstance(value, Tensor) else np.asarray(value)) if array else None
    if host is not None and host.dtype.kind not in "biuf":
        raise ValueError(f"loaded state dict: {where} is a {host.dtype} array; optimizer state holds numbers")
    if name == "step":  # a plain number, however it was saved (PyTorch saves a 0-d tensor)
        step = value.item() if isinstance(value, np.generic) else value
        if host is not None and host.size == 1:
            step = host.item()
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step) or step < 0:
            raise ValueError(f"loaded state dict: {where} must be a number >= 0, got {str(value)[:80]}")
        return step
    if host is None:
        return copy.deepcopy(value)
    if host.ndim and host.shape != param.shape:
        raise ValueError(f"loaded state dict: {where} has shape {host.shape}, but its parameter has shape "
                         f"{param.shape}")
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
