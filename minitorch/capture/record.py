"""The recorder: watches one eager run of a step and writes its tape, or says what cannot be replayed.

Every array the step makes gets a slot; an op's inputs are slots (made in the step, or the step's input
tensors), tensors from outside the step (parameters, buffers, constants made before it: read afresh at each
replay), or constants. Anything else is a problem reported with the user's line, never guessed: a tensor
made inside the step without an op, an array from outside the recorded ops, a value read on the host.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

from ..nn.hooks import has_hooks
from ..tensor import Tensor
from . import hooks
from .guards import Guards, module_effects
from .tape import Backward, Call, Check, Forward, Store, Tape, _where

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_site() -> tuple[str, int]:
    """(file, line) of the innermost caller outside minitorch: where the user wrote the op."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    return (frame.f_code.co_filename, frame.f_lineno) if frame is not None else ("", 0)


def _is_array(a: Any) -> bool:
    return hasattr(a, "__array_namespace__") and hasattr(a, "shape") and not isinstance(a, np.generic)


class Recorder:
    """Called by the hooks while the step runs eagerly; `finish()` returns the Tape."""

    def __init__(self, inputs: list[Tensor]) -> None:
        self.inputs = inputs
        self.slots: dict[int, int] = {id(t.array): k for k, t in enumerate(inputs)}
        self.n_slots = len(inputs)
        self.input_ids = {id(t): k for k, t in enumerate(inputs)}
        self.keep: list[Any] = list(inputs)  # everything whose id() is a key stays alive while recording
        self.entries: list[Any] = []
        self.forwards: list[Forward] = []
        self.forward_of: dict[int, int] = {}  # id(Context) -> forward index
        self.externals: dict[int, Tensor] = {}
        self.external_arrays: dict[int, Tensor] = {}
        self.created: set[int] = set()
        self.pending_raw: list[tuple[list, int, Any, Forward]] = []
        self.modules: dict[int, tuple[Any, bool]] = {}
        self.optimizers: dict[int, Any] = {}
        self.problems: list[tuple[tuple[str, int], str]] = []
        self.read_sites: set[tuple[str, int]] = set()
        self.backends: set[Any] = set()
        self.uses_rng = False  # set by hooks._WatchedGenerator
        self.bw: Backward | None = None
        self.bw_pending: set[int] = set()
        self.bw_closed = False
        self.prechecks: list[Check] = []

    # -- problems ------------------------------------------------------------------------------
    def problem(self, message: str, site: tuple[str, int] | None = None) -> None:
        entry = (site or user_site(), message)
        if entry not in self.problems:
            self.problems.append(entry)

    def host_read(self, what: str) -> None:
        site = user_site()
        if site in self.read_sites:  # float(t) calls t.item(): one report, the outer one
            return
        self.read_sites.add(site)
        self.problem(f"{what}; a replay would keep the Python value (or branch) of the first call. Return the "
                     "tensor from the step and read it outside the compiled function", site)

    def report(self) -> str:
        lines = [f"  {_where(site)}\n    {message}" for site, message in self.problems]
        return "minitorch.compile cannot replay this step:\n" + "\n".join(lines)

    # -- values --------------------------------------------------------------------------------
    def created_tensor(self, t: Tensor) -> None:
        self.created.add(id(t))
        self.keep.append(t)

    def _new_slot(self, array: Any) -> int:
        self.slots[id(array)] = slot = self.n_slots
        self.n_slots += 1
        self.keep.append(array)
        return slot

    def tensor_spec(self, t: Tensor, what: str, site: tuple[str, int]) -> tuple:
        slot = self.slots.get(id(t.array))
        if slot is not None:
            return ("s", slot)
        if id(t) in self.created:
            self.problem(f"{what} uses a tensor made inside the step without an op (minitorch.tensor, a creation "
                         "function, an in-place op that keeps a copy, a no-grad shortcut): a replay would reuse "
                         "its first value. Make it before the step, or pass it in as an argument", site)
        self.externals[id(t)] = t
        self.external_arrays[id(t.array)] = t
        return ("t", t)

    def spec(self, value: Any, what: str, site: tuple[str, int], raw: tuple | None = None) -> tuple:
        """Where `value` comes from at replay; raw=(list, index, entry) defers an unknown array to finish()."""
        if isinstance(value, Tensor):
            return self.tensor_spec(value, what, site)
        if _is_array(value):
            slot = self.slots.get(id(value))
            if slot is not None:
                return ("s", slot)
            owner = self.external_arrays.get(id(value))
            if owner is not None:
                return ("t", owner)
            if raw is None:
                self.problem(f"{what} gets an array from outside the step's ops: a replay would reuse it", site)
            else:
                self.pending_raw.append((*raw, value))
                self.keep.append(value)
            return ("c", value)
        if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) or _is_array(v) for v in value):
            self.problem(f"{what} gets a list of tensors, which the recorder does not follow", site)
        return ("c", value)

    # -- what the hooks report -----------------------------------------------------------------
    def op(self, fn: type, args: tuple, kwargs: dict, ctx: Any, out: Tensor) -> None:
        """Function.apply ran `fn` (hooked in autograd.py)."""
        self._flush_backward()
        site = user_site()
        index = len(self.forwards)
        specs: list[tuple] = []
        entry = Forward(fn, specs, {}, None, -1, ctx.needs_input_grad, ctx.backend, index, tuple(out.array.shape),
                        site)
        for i, a in enumerate(args):
            specs.append(self.spec(a, fn.__name__, site, raw=(specs, i, entry)))
        const, kwspecs = {}, {}
        for name, value in kwargs.items():
            if isinstance(value, Tensor) or _is_array(value):
                kwspecs[name] = self.spec(value, f"{fn.__name__}({name}=...)", site)
            else:
                const[name] = value
        entry.kwargs, entry.kwspecs = const, kwspecs or None
        entry.out = self._new_slot(out.array)
        self.forward_of[id(ctx)] = index
        self.keep.append(ctx)
        self.backends.add(ctx.backend)
        self.forwards.append(entry)
        self.entries.append(entry)

    def call(self, fn: Callable[..., Any], *args: Any, graph_safe: str = "no", **kwargs: Any) -> Any:
        """Record fn(*args, **kwargs) as one call to replay, and run it now, unrecorded. Iterators among the
        arguments (model.parameters()) are made lists first, so that each replay sees every item."""
        self._flush_backward()
        site = user_site()
        args = tuple(list(a) if isinstance(a, Iterator) else a for a in args)
        for a in (*args, *kwargs.values()):
            for t in (a if isinstance(a, (list, tuple)) else [a]):
                if isinstance(t, Tensor) and id(t) in self.created and id(t.array) not in self.slots:
                    self.problem(f"{getattr(fn, '__qualname__', fn)} gets a tensor made inside the step without "
                                 "an op: a replay would pass its first value", site)
        entry = Call(fn, args, kwargs, graph_safe=graph_safe)
        self.entries.append(entry)
        with hooks.paused():
            result = fn(*args, **kwargs)
        if isinstance(result, Tensor):  # e.g. clip_grad_norm_'s total norm: a value later ops may use
            entry.out = self._new_slot(result.array)
        return result

    def ahead(self, *tensors: Tensor) -> bool:
        """Whether a check of `tensors` can run ahead of each replay: they are the step's own inputs, not
        written in place before the check."""
        slots = [self.slots.get(id(t.array)) for t in tensors]
        if any(slot is None or slot >= len(self.inputs) for slot in slots):
            return False
        written = {e.target for e in self.entries if isinstance(e, Store)}
        return not any(("s", slot) in written for slot in slots)

    def check(self, fn: Callable[..., Any], *tensors: Tensor) -> None:
        """Record an op wrapper's host-side check (check_labels; the wrapper runs it now) to rerun on each
        replay's arrays, which the step's Python code no longer sees: ahead of the replay when `ahead()`,
        else in its place."""
        self._flush_backward()
        site = user_site()
        check = Check(fn, [self.tensor_spec(t, "an op's check of its inputs", site) for t in tensors])
        (self.prechecks if self.ahead(*tensors) else self.entries).append(check)

    def optimizer_step(self, opt: Any, closure: Any) -> Any:
        if closure is not None:
            self.problem("optimizer.step(closure) re-evaluates the loss in Python; call the closure's work in the "
                         "step itself and step() without one")
        self.optimizers[id(opt)] = opt
        if closure is not None:
            with hooks.paused():
                return type(opt).step(opt, closure)
        return self.call(type(opt).step, opt)

    def module_called(self, module: Any) -> None:
        if id(module) not in self.modules:
            self.modules[id(module)] = (module, module.training)
        if module._has_hooks and has_hooks(module):  # the flag lags a removal until the module's next call
            self.problem(f"{type(module).__name__} has forward or backward hooks; a replay runs no Python code of "
                         "the step, so they would run only once")
        self._flush_backward()
        self.entries += [Call(effect, (module,), graph_safe="kernel") for effect in module_effects(module)]

    def store(self, t: Tensor, key: Any, value: Any) -> None:
        """inplace._store: t[key] = value, into t's storage."""
        self._flush_backward()
        site = user_site()
        target = self.tensor_spec(t, "an in-place write", site)
        keys = key if isinstance(key, tuple) else (key,)
        key_specs = None
        if any(isinstance(k, Tensor) or _is_array(k) for k in keys):
            key_specs = tuple(self.spec(k, "an in-place write's index", site) for k in keys)
        self.entries.append(Store(target, key, key_specs, self.spec(value, "an in-place write", site), t.backend))

    # -- backward (the recorder is a backward observer while it records) -----------------------
    def __call__(self, node: Any, g: Any, grads: tuple) -> None:
        from ..autograd import _state
        if _state.recorder is not self:  # another thread's backward
            return
        index = self.forward_of.get(id(node))
        site = self.forwards[index].site if index is not None else user_site()
        if index is None:
            self.problem("backward reaches an op computed before the step: a replay recomputes only the step's "
                         "own ops", site)
            return
        if self.bw is None or index not in self.bw_pending:
            self._flush_backward()
            self._start_backward(index, g)
        self.bw_closed = False
        self.bw_pending.discard(index)
        if node.hooks:
            self.problem("a tensor hook (register_hook or retain_grad) inside the step: hooks are Python code, "
                         "which a replay does not run", site)
        routes = []
        for i, (t, parent, needed) in enumerate(zip(node.inputs, node.parents, node.needs_input_grad)):
            if i >= len(grads):
                break
            if not needed:
                continue
            shape, dtype = tuple(t.array.shape), t.array.dtype
            if parent is not None:
                parent_index = self.forward_of.get(id(parent))
                if parent_index is None:
                    self.problem("backward reaches an op computed before the step", site)
                    continue
                routes.append((i, parent_index, None, None, shape, dtype))
                if grads[i] is not None:
                    self.bw_pending.add(parent_index)
            else:
                leaf = self._leaf(t, site)
                routes.append((i, None, leaf, -1 - leaf[1] if leaf[0] == "in" else id(t), shape, dtype))
        self.bw.nodes.append((index, node.fn, routes))

    def on_accumulate(self, t: Tensor, g: Any) -> None:
        from ..autograd import _state
        if _state.recorder is not self:
            return
        if self.bw is not None:
            self._flush_backward()
            self.bw_closed = True
        elif not self.bw_closed:
            self.problem("backward() of a leaf tensor inside the step")

    def _leaf(self, t: Tensor, site: tuple[str, int]) -> tuple:
        if t.__dict__.get("_hooks"):
            self.problem("a hook on a leaf tensor inside the step: hooks are Python code a replay does not run", site)
        if id(t) in self.input_ids:
            return ("in", self.input_ids[id(t)])
        if id(t) in self.created:
            self.problem("a gradient flows into a tensor made inside the step without an op", site)
        return ("obj", t)

    def _start_backward(self, index: int, g: Any) -> None:
        entry = self.forwards[index]
        backend = entry.backend
        host = backend.to_host(g) if backend is not None else np.asarray(g)
        if tuple(g.shape) != entry.shape or not np.all(host == 1):
            self.problem("backward(gradient=...) with a gradient other than ones: call backward() on a scalar loss",
                         entry.site)
        self.bw = Backward((tuple(g.shape), g.dtype, g.__array_namespace__()), entry.site)
        self.bw_pending = set()

    def _flush_backward(self) -> None:
        if self.bw is not None:
            self.entries.append(self.bw)
            self.bw = None
        self.bw_closed = False

    # -- the end -------------------------------------------------------------------------------
    def finish(self, result: Any) -> Tape:
        """Resolve what was deferred, and build the tape (check `problems` before using it)."""
        self._flush_backward()
        known = self._known_arrays()
        for specs, i, entry, array in self.pending_raw:
            owner = known.get(id(array))
            if owner is None:
                self.problem(f"{entry.fn.__name__} gets an array from outside the step's ops (computed from a "
                             "tensor without an op?): a replay would reuse its first value", entry.site)
            else:
                self.externals[id(owner)] = owner
                specs[i] = ("t", owner)
        guards = Guards(self.modules, self.externals, self.optimizers)
        tape = Tape(self.entries, self.n_slots, len(self.forwards), self._result(result), guards)
        tape.backends = {b for b in self.backends if b is not None}
        tape.prechecks = self.prechecks
        tape.uses_rng = self.uses_rng
        tape.on_cupy = any(getattr(b, "name", "") == "cupy" for b in tape.backends)
        tape.on_numpy = bool(tape.backends) and all(getattr(b, "name", "") == "numpy" for b in tape.backends)
        device_guards = {b.guard for b in tape.backends if getattr(b, "guard", None) is not None}
        tape.guard = device_guards.pop() if len(device_guards) == 1 else None  # a step over two GPUs: each op's own guard
        return tape

    def _known_arrays(self) -> dict[int, Tensor]:
        """Arrays of tensors that outlive the step: module parameters and buffers, optimizer state."""
        known = dict(self.external_arrays)
        for module, _ in self.modules.values():
            for t in [*module._parameters.values(), *module._buffers.values()]:
                if t is not None:
                    known[id(t.array)] = t
        for opt in self.optimizers.values():
            for state in opt.state.values():
                known.update((id(v.array), v) for v in state.values() if isinstance(v, Tensor))
        return known

    def _result(self, value: Any) -> tuple:
        if isinstance(value, Tensor):
            slot = self.slots.get(id(value.array))
            if slot is not None:
                return ("tensor", ("s", slot), value.backend)
            if id(value) in self.created:
                self.problem("the step returns a tensor made without an op: a replay cannot remake it")
            return ("tensor", ("obj", value), None)
        if isinstance(value, (list, tuple)):
            return ("seq", type(value), [self._result(v) for v in value])
        if isinstance(value, dict):
            return ("dict", {k: self._result(v) for k, v in value.items()})
        return ("const", value)
