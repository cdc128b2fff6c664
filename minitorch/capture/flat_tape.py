"""The flat tape: a checked tape traced (trace.py) into NumPy calls on buffers planned up front (memory.py).

`trace(tape, inputs)` runs the step once as the tape would, with every array Traced, and returns the flat
tape (or, where tracing gives up, the state it started from restored and the tape replayed). Beside the
NumPy calls the flat tape keeps, in order, the calls the tape replays whole (optimizer.step(), zero_grad(),
a BatchNorm's counter), the op wrappers' checks (cross_entropy's labels) and each leaf's accumulation
into .grad. A leaf that a zero_grad(set_to_none=True) has just cleared and whose optimizer keeps a flat
gradient buffer (optim/flat.py) gets its gradient written straight into that buffer, which .grad adopts:
the optimizer then has nothing to copy.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import trace as _t
from .memory import arrays, owner, plan
from .tape import Backward, Call, Check, Forward, Tape
from .trace import GiveUp, RandomBackend, Traced, Tracer, _plain, positional


class FlatTape:
    """A tape as flat NumPy calls; `replay(inputs)` is Tape.replay's."""

    def __init__(self, tape: Tape, tracer: Tracer, static: list, externals: list, leaves: list,
                 result: Any) -> None:
        self.tape, self.calls, self.static = tape, tracer.calls, static
        self.externals, self.leaves, self.result, self.owned = externals, leaves, result, tracer.owned
        self.checked = False
        # The calls that read an input: each replay binds them to the caller's arrays instead of copying the
        # arrays into the static buffers (they only read them; an op that writes its input in place writes
        # the caller's array, as eagerly). bound: which arrays they are bound to now.
        self.reads = [(i, fn, args, kwargs) for i, (fn, args, kwargs) in enumerate(self.calls)
                      if any(owner(a) is s for a in arrays((args, kwargs)) for s in static)]
        self.bound: list[Any] = list(static)

    def replay(self, inputs: list[Any]) -> Any:
        for t, array in self.externals:
            if t.array is not array:  # re-homed since tracing: the op-by-op tape still replays it
                self.tape.fast = "a tensor from outside the step was replaced"
                return self.tape.replay(inputs)
        arrays_in = [t.array for t in inputs]
        if all(type(a) is np.ndarray and a.flags.c_contiguous for a in arrays_in):
            self._bind(arrays_in)
        else:
            self._bind(self.static)
            for buffer, a in zip(self.static, arrays_in):
                np.copyto(buffer, a)
        for t, buffer in self.leaves:  # a .grad still adopting last replay's buffer gets its own copy
            if t.grad is not None and t.grad.array is buffer:
                t.grad.array = buffer.copy()
        for fn, args, kwargs in self.calls:
            fn(*args, **kwargs)
        self.tape.replays += 1
        return self.result(inputs)

    def _bind(self, arrays_in: list[np.ndarray]) -> None:
        """Point the calls that read inputs at `arrays_in` (same shapes and dtypes as the static buffers)."""
        if all(a is b for a, b in zip(arrays_in, self.bound)):
            return
        new = {id(s): a for s, a in zip(self.static, arrays_in)}

        def swap(value: Any) -> Any:
            if isinstance(value, np.ndarray):
                base = new.get(id(owner(value)))
                if base is None:
                    return value
                offset = value.__array_interface__["data"][0] - owner(value).__array_interface__["data"][0]
                return np.ndarray(value.shape, value.dtype, buffer=base, offset=offset, strides=value.strides)
            if isinstance(value, tuple):
                return tuple(swap(v) for v in value)
            if isinstance(value, dict):
                return {k: swap(v) for k, v in value.items()}
            return value
        for i, fn, args, kwargs in self.reads:
            self.calls[i] = (fn, swap(args), swap(kwargs))
        self.bound = list(arrays_in)


def _leaf_accumulate(t: Any, g: np.ndarray) -> None:
    t._accumulate(g)


def _grad_home(t: Any, tape: Tape) -> np.ndarray | None:
    """t's view of its optimizer's flat gradient buffer (optim/flat.py), if it has one."""
    for opt, _ in tape.guards.optimizers:
        home = opt._homes.get(id(t))
        if home is not None and home[0].fits(home[1], t) and home[0].grad_views:
            return home[0].grad_views[home[1]]
    return None


def _cleared_by(call: Call) -> list | None:
    """The parameters a zero_grad(set_to_none=True) call sets to None; None for any other call."""
    if getattr(call.fn, "__name__", "") != "zero_grad" or len(call.args) < 2 or call.args[1] is not True:
        return None
    owner = call.args[0]
    if hasattr(owner, "param_groups"):
        return [p for group in owner.param_groups for p in group["params"]]
    return list(owner.parameters())


def trace(tape: Tape, inputs: list[Any]) -> tuple[FlatTape | None, Any]:
    """Run the step once as the tape would, tracing it: (its flat tape, or None if tracing gave up; the
    step's result). A tracer that gives up restores the state it started from and the tape replays."""
    from .check import Snapshot
    snap = Snapshot(tape, inputs, tape.backends)
    before = snap.take()
    with _t.tracing() as tracer:
        try:
            flat = _trace(tape, inputs, tracer)
        except GiveUp as exc:
            flat = str(exc)
    if isinstance(flat, str):
        snap.restore(before)
        tape.fast = flat
        return None, tape.replay(inputs)
    tape.fast = flat
    tape.replays += 1
    return flat, flat.result(inputs)


def _trace(tape: Tape, inputs: list[Any], tracer: Tracer) -> FlatTape:
    from ..autograd import Context
    from .tape import build_result, copied
    static = [tracer.own(np.array(t.array, copy=True, order="C")) for t in inputs]  # C: as the arrays bound
    vals: list[Any] = [None] * tape.n_slots
    vals[:len(static)] = [s.view(Traced) for s in static]
    ctxs: list[Any] = [None] * tape.n_forward
    externals: dict[int, tuple[Any, np.ndarray]] = {}
    leaves: list[tuple[Any, np.ndarray]] = []
    cleared: set[int] = set()  # tensors whose .grad a zero_grad(set_to_none=True) call has just set to None

    def value(spec: tuple) -> Any:
        kind, what = spec
        if kind == "s":
            return vals[what]
        if kind == "t":
            externals[id(what)] = (what, what.array)
            return tracer.root(what.array)
        return what

    for entry in tape.entries:
        if isinstance(entry, Forward):
            ctx = Context(RandomBackend(entry.backend, tracer))
            ctx.needs_input_grad = entry.needs
            kwargs = dict(entry.kwargs, **{n: value(s) for n, s in (entry.kwspecs or {}).items()})
            out = entry.fn.forward(ctx, *[value(s) for s in entry.specs], **kwargs)
            if not isinstance(out, Traced):
                raise GiveUp(f"{entry.fn.__name__}'s output was made outside the traced calls")
            vals[entry.out], ctxs[entry.index] = out, ctx
        elif isinstance(entry, Backward):
            for leaf, g in entry.compute(vals, ctxs, _t.NAMESPACE).values():
                if leaf[0] != "obj":
                    raise GiveUp("a gradient flows into an input tensor")
                t, g = leaf[1], tracer.operand(g)
                # Cleared by zero_grad(set_to_none=True) since the last step: backward writes the gradient
                # straight into the optimizer's flat gradient buffer, which .grad then adopts (no copy at step).
                view = _grad_home(t, tape) if id(t) in cleared and t.grad is None else None
                if view is not None and tracer.redirect(g, view):
                    g = view
                else:
                    leaves.append((t, g))
                cleared.discard(id(t))
                tracer.record(_leaf_accumulate, (t, g), {})
                t._accumulate(g)
        elif isinstance(entry, Check):  # opaque: reruns at each replay on that replay's arrays (the labels)
            raw = tuple(_plain(value(s)) for s in entry.specs)
            tracer.record(entry.fn, raw, {})
            entry.fn(*raw)
        elif isinstance(entry, Call) and entry.out is None:
            params = _cleared_by(entry)
            if params is not None:
                cleared |= {id(p) for p in params}
            elif entry.graph_safe != "kernel":  # anything else (optimizer.step) may make gradients again
                cleared = set()
            tracer.record(entry.fn, entry.args, entry.kwargs)
            entry.fn(*entry.args, **entry.kwargs)
        else:
            raise GiveUp("an in-place write into a tensor, or a call whose result the step uses")
    plain = [_plain(v) if isinstance(v, np.ndarray) else v for v in vals]
    buffers = {id(v) for v in plain}
    pinned = {id(owner(a)) for a in arrays([g for _, g in leaves]) + arrays(_returned(tape.result, plain))}
    tracer.calls = [positional(call) for call in plan(tracer.calls, tracer.temps, pinned)]

    def result(current: list[Any]) -> Any:
        vals = [t.array for t in current] + plain[len(current):]  # an input returned is the caller's
        return copied(build_result(tape.result, vals, current), buffers)
    return FlatTape(tape, tracer, static, list(externals.values()), leaves, result)


def _returned(spec: Any, vals: list[Any]) -> list[Any]:
    """The slot arrays the step's result is built from (they outlive the calls)."""
    kind = spec[0]
    if kind == "tensor":
        return [vals[spec[1][1]]] if spec[1][0] == "s" else []
    if kind == "seq":
        return [a for s in spec[2] for a in _returned(s, vals)]
    if kind == "dict":
        return [a for s in spec[1].values() for a in _returned(s, vals)]
    return []
