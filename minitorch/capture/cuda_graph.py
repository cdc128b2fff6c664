"""On CuPy, the forward and backward part of a checked tape replays as one CUDA graph (stream capture).

UNVERIFIED ON HARDWARE: written against CuPy's documented API (Stream.begin_capture / end_capture,
Graph.launch, using_allocator) and imported and planned in tests without a GPU; the test that launches a
graph is marked gpu and skips here.

A small model's step is launch-bound on a GPU: hundreds of kernels of a few microseconds each, every one
launched by Python. A graph launches them all at once. What goes into it: the tape's op forwards and
backward computations, and calls marked graph-safe ("kernel": a BatchNorm's counter). What stays out, run
eagerly around the launch: zero_grad() (it only touches .grad, so it runs first), an op's check of the
step's inputs (cross_entropy's labels: host bookkeeping a launch would not repeat), each leaf's accumulation
into .grad (Python decides adopt-or-add; the graph's gradient buffers are copied, so .grad never aliases
what the next launch overwrites), and everything after the last backward (optimizer.step(): its lr and bias
corrections are host numbers that a graph would freeze). The inputs are copied into static buffers first,
and the result is copied out. Arrays made during capture come from a private memory pool that lives as long
as the graph, so nothing else is ever handed memory the graph writes.

A tape gets no graph (and replays op by op, still without graph building) when it draws random numbers
(CuPy's generators keep their position on the host, so every launch would repeat the same dropout mask;
a backend whose `graph_safe_rng` is true would lift this), writes in place into a tensor, or has a call
that is not graph-safe between its first op and its last backward. `tape.graph` then says why.
"""
from __future__ import annotations

from typing import Any

from .tape import Backward, Call, CaptureError, Check, Forward, Store, Tape, build_result, copied


class Unsupported(Exception):
    """Why a tape cannot become a CUDA graph."""


def plan(tape: Tape) -> tuple[list, list, list]:
    """(before, graphed, after): the entries to run eagerly before the launch, in it, and after it."""
    entries = tape.entries
    ops = [i for i, e in enumerate(entries) if isinstance(e, (Forward, Backward))]
    if not ops:
        raise Unsupported("the step runs no ops")
    first, last = ops[0], ops[-1]
    before, graphed = list(entries[:first]), []
    for e in entries[first:last + 1]:
        if isinstance(e, Store):
            raise Unsupported("an in-place write into a tensor")
        if isinstance(e, Check):  # host bookkeeping (backend.defer_check), which a launch cannot repeat
            # (the checks of the step's inputs are the tape's prechecks, run ahead of the launch)
            raise Unsupported("an op checks a value the step computes (a label check on converted labels)")
        if isinstance(e, Call):
            if e.graph_safe == "grad":  # zero_grad: .grad only, which no op reads; run it first
                before.append(e)
                continue
            if e.graph_safe != "kernel":
                raise Unsupported(f"{getattr(e.fn, '__qualname__', e.fn)} runs between the step's ops")
        graphed.append(e)
    return before, graphed, list(entries[last + 1:])


class GraphedTape:
    """A tape whose forward and backward part is one CUDA graph; call it like Tape.replay."""

    def __init__(self, tape: Tape, inputs: list[Any]) -> None:
        backends = tape.backends
        if not backends or any(getattr(b, "name", "") != "cupy" for b in backends):
            raise Unsupported("not every op ran on CuPy")
        if tape.uses_rng and not all(getattr(b, "graph_safe_rng", False) for b in backends):
            raise Unsupported("the step draws random numbers (dropout), whose generator position lives on the host")
        self.tape = tape
        self.before, self.graphed, self.after = plan(tape)
        import cupy
        self.cupy = cupy
        self.static = [cupy.empty_like(t.array) for t in inputs]
        self.pool = cupy.cuda.MemoryPool()  # only the graph's arrays: freed blocks are never lent outside it
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.checked = False  # its first launch is compared with an eager run, as the tape's first replay was
        self._capture()  # capturing runs no kernel: a failure here changes nothing

    def _capture(self) -> None:
        tape, cupy = self.tape, self.cupy
        vals: list[Any] = [None] * tape.n_slots
        vals[:len(self.static)] = self.static
        ctxs: list[Any] = [None] * tape.n_forward
        leaves: list[tuple[Backward, dict]] = []
        self.stream.wait_event(cupy.cuda.get_current_stream().record())  # the static inputs are written
        with cupy.cuda.using_allocator(self.pool.malloc), self.stream:
            self.stream.begin_capture()
            try:
                for e in self.graphed:
                    if isinstance(e, Backward):
                        leaves.append((e, e.compute(vals, ctxs)))
                    else:
                        e.run(vals, ctxs, self.static)
            except Exception as exc:
                self.stream.end_capture()
                raise Unsupported(f"capture failed: {exc}") from exc
            self.graph = self.stream.end_capture()
        self.vals, self.ctxs, self.leaves = vals, ctxs, leaves  # alive as long as the graph: it writes them

    def replay(self, inputs: list[Any]) -> Any:
        if self.tape.guard is not None:  # cuda:N: its copies and eager entries run on the graph's device
            with self.tape.guard:
                return self._replay(inputs)
        return self._replay(inputs)

    def _replay(self, inputs: list[Any]) -> Any:
        for buffer, t in zip(self.static, inputs):
            buffer[...] = t.array
        for e in self.before:
            e.run(self.vals, [], inputs)
        current = self.cupy.cuda.get_current_stream()
        self.graph.launch(stream=current)
        for _, leaves in self.leaves:
            Backward.accumulate(leaves, self.vals, inputs, copy=True)
        for e in self.after:
            if isinstance(e, Forward):
                raise CaptureError("an op after the last backward cannot follow a CUDA graph")  # plan() prevents it
            e.run(self.vals, [], inputs)
        self.tape.replays += 1
        result = build_result(self.tape.result, self.vals, inputs)
        return copied(result, {id(a) for a in self.vals})


def graphed(tape: Tape, inputs: list[Any]) -> GraphedTape | None:
    """The tape's CUDA graph, made on first use; None (with tape.graph the reason) where it has none."""
    if isinstance(tape.graph, GraphedTape):
        return tape.graph
    if tape.graph is not None:
        return None
    try:
        tape.graph = GraphedTape(tape, inputs)
    except (Unsupported, ImportError, RuntimeError) as exc:  # RuntimeError: CUDA refused the capture
        tape.graph = str(exc) or type(exc).__name__
        return None
    return tape.graph
