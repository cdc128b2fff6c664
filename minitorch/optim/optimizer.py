"""Optimizer: parameter groups, per-parameter state, zero_grad and state_dict, as in PyTorch."""
from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Callable, Iterable

import numpy as np

from .. import coach, dtypes, kernels
from ..autograd import _state as _grad_state
from ..autograd import enable_grad, no_grad
from ..tensor import Tensor
from ..inplace import bump_versions, zero_grads
from . import flat as _flat


def check_range(name: str, value: float, low: float = 0.0, high: float | None = None,
                high_open: bool = False) -> None:
    """Raise a ValueError that names the hyper-parameter when value is outside [low, high] (or [low, high))."""
    ok = value >= low and (high is None or (value < high if high_open else value <= high))
    if not ok:
        bound = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
        raise ValueError(f"Invalid {name}: {value} (must be >= {low}{bound})")


class Optimizer:
    """Base class: `param_groups` (dicts with "params" and hyper-parameters) and `state[param]`.

    flat=True re-homes each group's parameters, gradients and state into one flat buffer per device and dtype
    (optim/flat.py), so an update is a few whole-buffer calls instead of a few per parameter.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any], *, flat: bool = False) -> None:
        self.defaults = defaults
        self.flat = flat  # not a hyper-parameter: state_dict()'s format stays PyTorch's
        self._homes: dict[int, tuple[_flat.FlatBuffer, int]] = {}  # id(param) -> (its flat buffer, index)
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
        if self.flat:
            self._homes.update(_flat.layout(params))

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter (None, or zeros when set_to_none=False)."""
        if _grad_state.recorder is not None:  # inside minitorch.compile's recording: replayed as one call
            return _grad_state.recorder.call(type(self).zero_grad, self, set_to_none, graph_safe="grad")
        zero_grads((p for g in self.param_groups for p in g["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a .grad; closure re-evaluates the loss first."""
        if _grad_state.recorder is not None:  # replayed as one call, reading lr and the state when it runs
            return _grad_state.recorder.optimizer_step(self, closure)
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if coach.watch_steps:  # gradients summed over many steps: zero_grad() forgotten
            coach.optimizer_step(self)
        with no_grad():  # updates write raw arrays in place; nothing here belongs in a graph
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if not params:
                    continue
                guard = params[0].backend.guard
                if guard is None:
                    self.update(group, params)
                else:  # CuPy: state and updates are made on the parameters' device, not the current one
                    with guard:
                        self.update(group, params)
                bump_versions(params)  # written in place: a graph that saved them must not reuse them
        return loss

    def update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        """Apply this optimizer's rule to `params` (those of `group` that have a .grad)."""
        raise NotImplementedError

    # -- flat buffers (optim/flat.py) ------------------------------------------------------------
    def state_tensor(self, p: Tensor, name: str) -> Tensor:
        """self.state[p][name], zeros on first use: a view of the flat state buffer `name` where p has one
        (a state tensor loaded from a checkpoint is copied into it once, same values)."""
        state = self.state[p]
        home = self._homes.get(id(p)) if self._homes else None
        if home is None or not home[0].fits(home[1], p):
            return state_tensor(state, name, p)
        view = home[0].state_view(name, home[1])
        t = state.get(name)
        if t is None:
            state[name] = t = Tensor._make(view, p.backend, False, None)
        elif t.array is not view and t.backend is p.backend and tuple(t.array.shape) == tuple(view.shape):
            view[...] = t.array
            t.array = view
        return t

    def flat_states(self, params: list[Tensor], names: tuple[str, ...]) -> tuple[Any, list[Any]] | None:
        """(flat buffer, its flat state arrays for `names`) when `params` are exactly one buffer's parameters,
        each state tensor made (or re-homed) as a view of it first; None otherwise. The per-step fast path."""
        home = self._homes.get(id(params[0])) if params else None
        if home is None or not home[0].intact(params):
            return None
        buf, flats = home[0], []
        for name in names:
            tensors = buf.state_tensors.get(name)
            if tensors is None or not all(self.state[p].get(name) is t for p, t in zip(params, tensors)):
                tensors = buf.state_tensors[name] = [self.state_tensor(p, name) for p in params]
                if not all(t.array is v for t, v in zip(tensors, buf.state[name][1])):
                    return None  # a state of another shape or device (a loaded checkpoint): per tensor
            flats.append(buf.state[name][0])
        return buf, flats

    def multi_tensor_step(self, name: str, params: list[Tensor], *states: list[Tensor] | None, **hyper: Any) -> None:
        """multi_tensor_step(), as one call on whole flat buffers when `params` are exactly one buffer's
        parameters and each state list its views (the rules are elementwise: the numbers are the same)."""
        home = self._homes.get(id(params[0])) if self._homes and params else None
        buf = home[0] if home is not None else None
        if buf is not None and buf.intact(params):
            flats = [None if s is None else buf.flat_of([t.array for t in s]) for s in states]
            if all(f is not None or s is None for f, s in zip(flats, states)):
                buf.run(rule(buf.backend, name), flats, hyper)
                return
        multi_tensor_step(name, params, *states, **hyper)

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
        arrays = [[s[i].array for i in idx] if s is not None else None for s in states]
        rule(backend, name)([params[i].array for i in idx], [params[i].grad.array for i in idx], *arrays, **hyper)


def rule(backend: Any, name: str) -> Callable[..., None]:
    """The update rule `name` for a backend: its fused kernel, unless MINITORCH_FUSED=0, else the reference."""
    rule = getattr(backend.kernels, name, None) if kernels.fused_enabled() else None
    return rule or getattr(kernels.reference, name)
