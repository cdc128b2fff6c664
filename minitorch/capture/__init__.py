"""minitorch.compile: record one training step, then replay it without building a graph.

    step = minitorch.compile(train_step)      # train_step(x, y): zero_grad, forward, loss, backward, step
    for x, y in loader:
        loss = step(x, y)                     # the first call records, later calls replay

The first call with given input shapes and dtypes runs eagerly while a recorder writes a tape (record.py):
each op's forward, the backward engine's walk, optimizer.step() and zero_grad() as calls, in-place writes, and
the checks op wrappers make on the host (labels in range for cross_entropy and nll_loss, embedding, gather
and index_select indices), which rerun on each replay's values and raise as eagerly; those of the step's own
inputs run before anything else of the replay (a bad label raises with nothing changed yet; eagerly, after
the model's forward), and a batch with ignored rows after a recording without records anew. Later calls with the same signature replay the tape
(tape.py): the same op code on the same arrays in the same order, so the result is bit-identical to eager
(dropout draws fresh masks from the same generator; optimizer.step() reads lr and its state when it runs, so
schedulers work), without Tensors, Module.__call__, graph edges or version checks. On NumPy the tape is then
traced into a flat list of NumPy calls writing into buffers planned up front (trace.py, flat_tape.py,
memory.py); on CuPy its forward and backward become one CUDA graph where the step allows (cuda_graph.py,
unverified on hardware). Each of these is checked bit for bit against an eager run of the same call the first
time it replays (check.py), which also catches side effects the recorder cannot see; a flat tape or graph that
cannot be made, or differs, leaves the op-by-op replay in place. A new signature (shapes, dtypes,
requires_grad, grad mode, non-tensor arguments by value) records anew; so does a change the guards see (a
module switched to eval, a parameter replaced, new parameters, ignored rows where the recording had none).

The step's Python code runs only while recording, as under jax.jit or a CUDA graph. What a replay could get
wrong is refused with a CaptureError naming the line: reading a value on the host (.item(), float(), a
Python `if` on a tensor), a tensor made inside the step without an op, hooks, optimizer.step(closure),
lr_scheduler.step() inside the step, backward(gradient=...), data-dependent shapes. The error comes after the
eager call has completed, so the state is consistent; compile(fn, fallback=True) warns instead and runs that
function eagerly from then on. Debugging tools (detect_anomaly, backward observers) make every call eager.

Return the loss tensor and read it outside: a replay returns detached tensors holding the new values.
"""
from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

from .. import autograd
from ..autograd import _state, is_grad_enabled
from ..tensor import Tensor
from .check import checked_replay
from .cuda_graph import graphed
from .flat_tape import FlatTape, trace
from .hooks import recording
from .record import Recorder
from .tape import CaptureError, Tape

RECORDINGS_WARN = 8  # a step recorded this often has inputs or modes that keep changing


class CaptureWarning(UserWarning):
    """compile(fallback=True) found a step it cannot replay and runs it eagerly instead."""


class CompiledStep:
    """A step function that records on its first call per signature and replays afterwards."""

    def __init__(self, fn: Callable[..., Any], check: bool = True, fallback: bool = False,
                 cuda_graph: bool = True, trace: bool = True) -> None:
        functools.update_wrapper(self, fn)
        self.fn, self.check, self.fallback, self.cuda_graph, self.trace = fn, check, fallback, cuda_graph, trace
        self.tapes: dict[tuple, Tape] = {}
        self.recordings = 0
        self.eager = False  # set when fallback=True met a step that cannot be replayed
        self.last_guard: str | None = None  # why the last call recorded anew (for users and tests)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.eager or autograd.backward_observers or _state.anomaly or _state.recorder is not None:
            return self.fn(*args, **kwargs)
        inputs: list[Tensor] = []
        if not kwargs and all(type(a) is Tensor for a in args):  # the common call: tensors only
            inputs = list(args)
            key = (is_grad_enabled(), tuple((a.array.shape, a.array.dtype, a.backend, a.requires_grad) for a in args))
        else:
            key = (is_grad_enabled(), _signature(args, inputs), _signature(kwargs, inputs))
        tape = self.tapes.get(key)
        if tape is not None:
            self.last_guard = tape.guards.failed() or tape.precheck(inputs)
            if self.last_guard is None:
                runner: Any = tape
                if tape.checked or not self.check:
                    if self.cuda_graph and tape.on_cupy:
                        runner = graphed(tape, inputs) or tape
                    elif self.trace and tape.on_numpy:
                        if tape.fast is None:  # this call is the tracing run
                            return trace(tape, inputs)[1]
                        runner = tape.fast if isinstance(tape.fast, FlatTape) else tape
                if runner.checked or not self.check:
                    return runner.replay(inputs)
                diffs, result = checked_replay(self.fn, tape, inputs, args, kwargs, runner.replay)
                if not diffs:
                    runner.checked = True
                elif runner is not tape:  # the graph or the flat tape is at fault, not the tape
                    reason = "its first replay differed from eager: " + "; ".join(diffs)
                    if runner is tape.graph:
                        tape.graph = reason
                    else:
                        tape.fast = reason
                else:
                    del self.tapes[key]
                    self._refuse("after its first replay, these differ from an eager run of the same call: "
                                 + "; ".join(diffs) + ". The step changes state the recorder does not see (a "
                                 "Python side effect, a write into a raw array, .grad set by hand)")
                return result
        return self._record(key, inputs, args, kwargs)

    def _record(self, key: tuple, inputs: list[Tensor], args: tuple, kwargs: dict) -> Any:
        rec = Recorder(inputs)
        with recording(rec):
            result = self.fn(*args, **kwargs)
        tape = rec.finish(result)
        if rec.problems:
            self._refuse(rec.report())
            return result
        self.tapes[key] = tape
        self.recordings += 1
        if self.recordings == RECORDINGS_WARN:
            warnings.warn(f"minitorch.compile: {self.fn.__name__} has been recorded {self.recordings} times (the "
                          f"inputs' shapes or dtypes, or the modules' modes, keep changing; last: {self.last_guard})",
                          CaptureWarning, stacklevel=3)
        return result

    def _refuse(self, message: str) -> None:
        if not self.fallback:
            raise CaptureError(message)
        self.eager = True
        warnings.warn(message + "\n(fallback=True: running this step eagerly from now on)", CaptureWarning,
                      stacklevel=4)


def _signature(value: Any, inputs: list[Tensor]) -> Any:
    """A hashable description of the arguments; tensors are appended to `inputs` in order."""
    if isinstance(value, Tensor):
        inputs.append(value)
        return ("T", tuple(value.array.shape), value.array.dtype, value.backend, value.requires_grad)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_signature(v, inputs) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _signature(v, inputs)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        raise TypeError(f"minitorch.compile: a step's arguments are tensors, or plain values it is recorded for "
                        f"(compared by value); got an unhashable {type(value).__name__}") from None
    return ("V", type(value).__name__, value)


def compile(fn: Callable[..., Any] | None = None, *, check: bool = True,  # noqa: A001  (torch.compile's name)
            fallback: bool = False, cuda_graph: bool = True, trace: bool = True) -> Any:
    """Record a training step on its first call and replay it afterwards, bit-identical to eager.

    check: compare the first replay of each recording with an eager run (default on).
    fallback: warn and run eagerly, instead of raising CaptureError, when the step cannot be replayed.
    cuda_graph: on CuPy, replay the forward and backward as one CUDA graph where the step allows it.
    trace: on NumPy, replay as a flat list of NumPy calls into buffers made up front (trace.py).
    Usable as a decorator, with or without arguments.
    """
    if fn is None:
        return lambda f: CompiledStep(f, check, fallback, cuda_graph, trace)
    return CompiledStep(fn, check, fallback, cuda_graph, trace)


compile.CaptureError = CaptureError  # type: ignore[attr-defined]  (minitorch.compile.CaptureError)
compile.CaptureWarning = CaptureWarning  # type: ignore[attr-defined]

__all__ = ["compile", "CompiledStep", "CaptureError", "CaptureWarning"]
