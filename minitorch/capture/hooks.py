"""What the recorder watches besides Function.apply, hooked in only while a step records.

Function.apply, Optimizer.step and Optimizer.zero_grad check `autograd._state.recorder` themselves (one
attribute read when nothing records). The rest is wrapped here for the length of a recording and unwrapped
after, so it costs nothing otherwise: each wrapper asks the thread-local recorder first, so another thread
running minitorch at the same time (a DataLoader worker) passes straight through.

  - Module.__call__ and Module.zero_grad: which modules ran (their train/eval mode guards the replay; a
    BatchNorm's counter is bumped outside any op), and zero_grad as a call to replay;
  - inplace._store: in-place writes into a tensor's storage, replayed as writes;
  - Tensor._make / Tensor.__init__: tensors made inside the step without an op (a replay cannot remake them);
  - Tensor.item, tolist, numpy, __bool__, __float__, __int__, __index__, __array__: reads of a value on the
    host, whose Python result (or branch) a replay would freeze.
"""
from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Callable, Iterator

from .. import autograd, inplace
from ..autograd import _state
from ..tensor import Tensor

_lock = threading.Lock()
_installed = 0
_originals: list[tuple[Any, str, Any]] = []

# Why each host read is a problem, as the error message says it.
READS = {
    "item": ".item() reads the value on the host",
    "tolist": ".tolist() reads the values on the host",
    "numpy": ".numpy() reads the values on the host",
    "__array__": "converting it to a NumPy array reads the values on the host",
    "__bool__": "a Python branch (if/while/and/or) on a tensor reads its value",
    "__float__": "float(tensor) reads the value on the host",
    "__int__": "int(tensor) reads the value on the host",
    "__index__": "using a tensor as an index reads its value on the host",
}


def _wrap_read(name: str, original: Callable) -> Callable:
    @functools.wraps(original)
    def read(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        rec = _state.recorder
        if rec is not None:
            rec.host_read(READS[name])
        return original(self, *args, **kwargs)
    return read


def _wrap_make(original: classmethod) -> classmethod:
    func = original.__func__

    def make(cls: type, *args: Any) -> Tensor:
        t = func(cls, *args)
        rec = _state.recorder
        if rec is not None:
            rec.created_tensor(t)
        return t
    return classmethod(make)


def _wrap_init(original: Callable) -> Callable:
    @functools.wraps(original)
    def init(self: Tensor, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        rec = _state.recorder
        if rec is not None:
            rec.created_tensor(self)
    return init


def _wrap_store(original: Callable) -> Callable:
    @functools.wraps(original)
    def store(t: Tensor, key: Any, value: Any) -> None:
        rec = _state.recorder
        if rec is not None:
            rec.store(t, key, value)
        original(t, key, value)
    return store


def _wrap_module_call(original: Callable) -> Callable:
    @functools.wraps(original)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        rec = _state.recorder
        if rec is not None:
            rec.module_called(self)
        return original(self, *args, **kwargs)
    return call


def _wrap_module_zero_grad(original: Callable) -> Callable:
    @functools.wraps(original)
    def zero_grad(self: Any, set_to_none: bool = True) -> None:
        rec = _state.recorder
        if rec is not None:
            return rec.call(original, self, set_to_none, graph_safe="grad")
        return original(self, set_to_none)
    return zero_grad


def _patch(owner: Any, name: str, wrapper: Any) -> None:
    original = owner.__dict__[name]
    _originals.append((owner, name, original))
    setattr(owner, name, wrapper(original))


def _install() -> None:
    from ..nn.module import Module
    for name in READS:
        if name in Tensor.__dict__:
            _patch(Tensor, name, lambda f, name=name: _wrap_read(name, f))
    _patch(Tensor, "_make", _wrap_make)
    _patch(Tensor, "__init__", _wrap_init)
    _patch(inplace, "_store", _wrap_store)
    _patch(Module, "__call__", _wrap_module_call)
    _patch(Module, "zero_grad", _wrap_module_zero_grad)


def _uninstall() -> None:
    while _originals:
        owner, name, original = _originals.pop()
        setattr(owner, name, original)


@contextlib.contextmanager
def recording(rec: Any) -> Iterator[None]:
    """Make `rec` this thread's recorder, with the hooks above and a backward observer, for the block."""
    global _installed
    if _state.recorder is not None:
        raise RuntimeError("minitorch.compile: a step is already recording in this thread")
    with _lock:
        if _installed == 0:
            _install()
        _installed += 1
    handle = autograd.add_backward_observer(rec)
    watched = _watch_generators(rec)
    _state.recorder = rec
    try:
        yield
    finally:
        _state.recorder = None
        for backend, rng in watched:
            if isinstance(backend.rng, _WatchedGenerator):  # unless the step re-seeded it
                backend.rng = rng
        handle.remove()
        with _lock:
            _installed -= 1
            if _installed == 0:
                _uninstall()


class _WatchedGenerator:
    """A backend's generator that tells the recorder it was used (a step that draws random numbers cannot
    become a CUDA graph: the generators keep their position on the host)."""

    def __init__(self, rng: Any, rec: Any) -> None:
        self._rng, self._rec = rng, rec

    def __getattr__(self, name: str) -> Any:
        if _state.recorder is self._rec:
            self._rec.uses_rng = True
        return getattr(self._rng, name)


def _watch_generators(rec: Any) -> list[tuple[Any, Any]]:
    from ..backends import _backends
    watched = [(b, b.rng) for b in list(_backends.values()) if not isinstance(b.rng, _WatchedGenerator)]
    for backend, rng in watched:
        backend.rng = _WatchedGenerator(rng, rec)
    return watched


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Run the block eagerly, unrecorded (a call the tape replays whole)."""
    rec, _state.recorder = _state.recorder, None
    try:
        yield
    finally:
        _state.recorder = rec


def replayed(fn: Callable) -> Callable:
    """Mark a function that works on raw arrays outside ops (gradient clipping, an allreduce): inside a step
    that minitorch.compile records it becomes one call the tape replays; otherwise one attribute check."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        rec = _state.recorder
        if rec is not None:
            return rec.call(fn, *args, **kwargs)
        return fn(*args, **kwargs)
    return wrapper
