"""Tracing a tape into NumPy calls: what the flat tape (flat_tape.py) replays on NumPy.

The tape replays each op's own Python code; what is left of a step's cost beyond the arithmetic is that
code, NumPy's Python wrappers and a new array per result. Tracing runs the tape once with every array
wrapped in `Traced` (an ndarray subclass): NumPy hands each ufunc and array-function call on it to the
Tracer, which runs it on the plain arrays, keeps the result as that call's buffer (memory.py then shares
buffers by lifetime) and writes the call down with `out=` that buffer. Same calls, same operands, same
order: the same bits as the tape, which the first flat replay checks against an eager run.

Tracing gives up (and the tape replays op by op) on anything it cannot pin down: a value read on the host
or a Python branch on one inside an op, an array made outside the intercepted calls from anything but
Python values and constants, a write into an array the tracer does not own, a backend method other than its
random generators (which become opaque calls, re-run at each replay).
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import operator
import threading
from typing import Any, Callable, Iterator

import numpy as np

from .memory import arrays as _arrays
from .memory import owner

_lock = threading.Lock()
_tracer: "Tracer | None" = None
OUT_FUNCTIONS = {np.sum, np.max, np.min, np.amax, np.amin, np.mean, np.prod, np.matmul, np.dot, np.clip, np.einsum,
                 np.cumsum, np.concatenate, np.take}
RANDOM = ("dropout_mask", "rand", "randn")
REDUCTIONS = {np.sum: np.add.reduce, np.max: np.maximum.reduce, np.amax: np.maximum.reduce,
              np.min: np.minimum.reduce, np.amin: np.minimum.reduce}


class GiveUp(Exception):
    """What a flat tape cannot express; the tape replays op by op instead."""


class Traced(np.ndarray):
    """An array whose NumPy calls the tracer records (only while it traces; otherwise a plain ndarray)."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if _tracer is None:
            return getattr(ufunc, method)(*_plain_all(inputs), **_plain_kwargs(kwargs))
        return _tracer.ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if _tracer is None:
            return func(*_plain_all(args), **_plain_kwargs(kwargs))
        return _tracer.function(func, args, kwargs)

    def __getitem__(self, key: Any) -> Any:
        if _tracer is None:
            return _plain(self)[_plain_key(key)]
        return _tracer.getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        if _tracer is None:
            _plain(self)[_plain_key(key)] = _plain(value)
            return
        _tracer.record(operator.setitem, (_plain(self), _plain_key(key), _tracer.operand(value)), {})
        _plain(self)[_plain_key(key)] = _plain(value)

    def astype(self, dtype: Any, *args: Any, **kwargs: Any) -> Any:
        return np.astype(self, dtype, **kwargs) if _tracer is not None else _plain(self).astype(dtype, *args, **kwargs)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        return np.copy(self) if _tracer is not None else _plain(self).copy(*args, **kwargs)

    def __array_namespace__(self, api_version: Any = None) -> Any:
        return NAMESPACE if _tracer is not None else np

    def _read(self, *args: Any) -> Any:
        raise GiveUp("an op reads a value on the host (a Python branch on an array)")

    __bool__ = __float__ = __int__ = __index__ = item = tolist = _read


def _plain(a: Any) -> Any:
    return a.view(np.ndarray) if isinstance(a, Traced) else a


def _plain_all(items: Any) -> list:
    return [_plain(a) if not isinstance(a, (list, tuple)) else type(a)(_plain_all(a)) for a in items]


def _plain_kwargs(kwargs: dict) -> dict:
    return {k: (tuple(_plain_all(v)) if isinstance(v, tuple) else _plain(v)) for k, v in kwargs.items()}


def _plain_key(key: Any) -> Any:
    return tuple(_plain(k) for k in key) if isinstance(key, tuple) else _plain(key)


_owner = owner


def _into(buffer: np.ndarray, fn: Callable, args: tuple, kwargs: dict) -> None:
    """A call without out=: its result into the buffer, which must fit it exactly (copyto would broadcast)."""
    result = fn(*args, **kwargs)
    if np.shape(result) != buffer.shape:
        from .tape import CaptureError
        raise CaptureError(f"{getattr(fn, '__name__', fn)} gave shape {np.shape(result)} at replay but "
                           f"{buffer.shape} when traced: a shape that depends on the data cannot be replayed")
    np.copyto(buffer, result)


def _gather(buffer: np.ndarray, a: np.ndarray, key: tuple) -> None:
    np.copyto(buffer, a[key])


def _along(a: np.ndarray, indices: np.ndarray, axis: int) -> tuple:
    """take_along_axis(a, indices, axis) as the fancy index a[key]: aranges on every other axis."""
    axis = axis % a.ndim
    shape = [1] * a.ndim
    key = []
    for d in range(a.ndim):
        if d == axis:
            key.append(indices)
        else:
            key.append(np.arange(indices.shape[d]).reshape(shape[:d] + [-1] + shape[d + 1:]))
    return tuple(key)


def positional(call: tuple) -> tuple:
    """ufunc(a, b, out=(c,)) as ufunc(a, b, c): NumPy parses positional outputs faster (~0.15 us a call)."""
    fn, args, kwargs = call
    ufunc = getattr(fn, "__self__", None)
    if isinstance(ufunc, np.ufunc) and fn.__name__ == "__call__" and kwargs.keys() == {"out"} \
            and ufunc not in (np.maximum, np.minimum):  # NumPy 2 deprecates a positional out for these two
        out = kwargs["out"] if isinstance(kwargs["out"], tuple) else (kwargs["out"],)
        if len(args) == ufunc.nin and len(out) == ufunc.nout:
            return ufunc, args + out, {}
    return call


class Tracer:
    """Runs a tape's entries once on Traced arrays and writes down the flat call list."""

    def __init__(self) -> None:
        self.calls: list[tuple[Callable, tuple, dict]] = []
        self.owned: dict[int, np.ndarray] = {}  # id(owner) -> owner: memory whose identity is fixed
        self.constants: dict[int, np.ndarray] = {}  # arrays made from Python values (Namespace)
        self.temps: dict[int, np.ndarray] = {}  # owners of the calls' results, whose memory memory.plan may move

    def own(self, a: np.ndarray) -> np.ndarray:
        """Pin a's memory: the flat tape binds it (a parameter, a static input, a gradient buffer)."""
        base = _owner(a)
        self.owned[id(base)] = base
        return a

    def root(self, a: np.ndarray) -> Any:
        """An array from outside the traced calls, as a Traced view."""
        return self.own(a).view(Traced)

    def wrap(self, a: Any) -> Any:
        """A call's result as a Traced view; its memory is a temporary unless pinned already."""
        if isinstance(a, np.generic):
            a = np.asarray(a)
        if not isinstance(a, np.ndarray):
            raise GiveUp(f"a NumPy call returned {type(a).__name__}")
        if isinstance(a, Traced):
            a = a.view(np.ndarray)
        base = _owner(a)
        if id(base) not in self.owned:
            self.temps[id(base)] = base
        return self.own(a).view(Traced)

    def operand(self, a: Any) -> Any:
        """A call's array operand as the plain array the flat tape binds; checks the memory is pinned."""
        a = _plain(a)
        if isinstance(a, np.ndarray) and a.size > 1:
            base = _owner(a)  # a scalar broadcast (backward's seed through a sum) is still that scalar
            if id(base) not in self.owned and id(base) not in self.constants and base.size > 1:
                raise GiveUp("an op uses an array made outside the traced calls")
        return a

    def record(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        self.calls.append((fn, args, kwargs))

    def redirect(self, buffer: np.ndarray, target: np.ndarray) -> bool:
        """From the call that fills `buffer` on, use `target` instead (same shape and dtype); False where the
        buffer is part of a larger array, or no recorded call fills it, or a later call reads it otherwise."""
        owner = _owner(buffer)
        if not _same(owner, buffer) or buffer.shape != target.shape or buffer.dtype != target.dtype:
            return False
        for first in range(len(self.calls) - 1, -1, -1):
            fn, args, kwargs = self.calls[first]
            out = args[0] if fn is _into else kwargs.get("out")
            if any(isinstance(o, np.ndarray) and _same(o, buffer) for o in (out if isinstance(out, tuple) else (out,))):
                break
        else:
            return False
        swapped = [(fn, _swap(args, buffer, target), _swap(kwargs, buffer, target)) for fn, args, kwargs in
                   self.calls[first:]]
        if any(_owner(a) is owner for call in swapped for a in _arrays(call)):
            return False  # a reshaped or sliced view of it is read later: leave it where it is
        self.calls[first:] = swapped
        self.own(target)
        np.copyto(target, buffer)  # the tracing run's value, where the replays will write it
        return True

    def writes(self, out: Any) -> tuple:
        """out= arrays of a call: each must be memory the flat tape owns."""
        outs = out if isinstance(out, tuple) else (out,)
        plain = tuple(_plain(o) for o in outs)
        for o in plain:
            if id(_owner(o)) not in self.owned:
                raise GiveUp("an op writes into an array made outside the traced calls")
        return plain

    def ufunc(self, ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
        fn = getattr(ufunc, method)
        args = tuple(self.operand(a) for a in inputs)
        kwargs = {k: v for k, v in kwargs.items() if k != "out"} | ({"out": self.writes(kwargs["out"])}
                                                                   if kwargs.get("out") is not None else {})
        result = fn(*args, **kwargs)
        if method == "at":
            self.record(fn, args, kwargs)
            return None
        if "out" not in kwargs:
            result = self.wrap(result)
            kwargs = {**kwargs, "out": (_plain(result),)}
        self.record(fn, args, kwargs)
        return result if isinstance(result, Traced) else self.wrap(result)

    def function(self, func: Any, args: tuple, kwargs: dict) -> Any:
        plain_args = tuple(self.operand(a) if not isinstance(a, (list, tuple)) else type(a)(map(self.operand, a))
                           for a in args)
        plain_kwargs = {k: self.operand(v) for k, v in kwargs.items()}
        result = func(*plain_args, **plain_kwargs)
        if isinstance(result, np.ndarray) and not isinstance(result, Traced) and id(_owner(result)) in self.owned \
                and _owner(result) is not result:
            return result.view(Traced)  # a view of pinned memory (reshape, transpose): nothing to replay
        out = self.wrap(result)
        reduce = REDUCTIONS.get(func)
        if reduce is not None and len(plain_args) == 1 and set(plain_kwargs) <= {"axis", "keepdims", "dtype"}:
            # what np.sum does for a plain ndarray, without its Python wrapper
            self.record(reduce, plain_args, {**plain_kwargs, "out": _plain(out)})
        elif func in OUT_FUNCTIONS and "out" not in plain_kwargs:
            self.record(func, plain_args, {**plain_kwargs, "out": _plain(out)})
        elif func is np.astype:  # a casting copy into the buffer: no temporary to copy again
            self.record(np.copyto, (_plain(out), plain_args[0]), {"casting": "unsafe"})
        elif func is np.take_along_axis and len(plain_args) == 2 and set(plain_kwargs) == {"axis"}:
            # its index tuple built once (take_along_axis builds it per call, ~3 us of Python)
            self.record(_gather, (_plain(out), plain_args[0], _along(*plain_args, plain_kwargs["axis"])), {})
        else:
            self.record(_into, (_plain(out), func, plain_args, plain_kwargs), {})
        return out

    def getitem(self, a: Traced, key: Any) -> Any:
        plain, pkey = _plain(a), _plain_key(key)
        result = plain[pkey]
        if isinstance(result, np.ndarray) and result.base is not None and _owner(result) is _owner(plain):
            return result.view(Traced)  # basic indexing: a view
        out = self.wrap(result)
        keys = tuple(self.operand(k) for k in (pkey if isinstance(pkey, tuple) else (pkey,)))
        self.record(_into, (_plain(out), operator.getitem, (plain, keys if isinstance(pkey, tuple) else keys[0]),
                            {}), {})
        return out


class Namespace:
    """NumPy as op code sees it while tracing. Traced operands dispatch to the tracer anyway; an array made
    from Python values and constants only (xp.arange(c), backward's seed of ones, their reshapes) is a
    constant the flat tape keeps (never written: a write into one gives up); xp.asarray(traced, copy=True)
    is a recorded copy."""

    def __getattr__(self, name: str) -> Any:
        value = getattr(np, name)
        if not callable(value) or isinstance(value, type):
            return value
        if name in ("asarray", "array", "ascontiguousarray"):
            def convert(a: Any, *args: Any, **kwargs: Any) -> Any:
                if _tracer is None or not isinstance(a, Traced):
                    return _constant(value(_plain(a), *args, **kwargs), (a,))
                if not kwargs.get("copy") and kwargs.get("dtype", a.dtype) == a.dtype and not args:
                    return a
                return _tracer.function(np.array, (a,), {"dtype": kwargs.get("dtype"), "copy": True})
            return convert

        def call(*args: Any, **kwargs: Any) -> Any:
            return _constant(value(*args, **kwargs), (*args, *kwargs.values()))
        return call


def _constant(out: Any, operands: tuple) -> Any:
    """Register `out` as a constant when every array it was made from is one (or a scalar)."""
    tracer = _tracer
    if tracer is None or not isinstance(out, np.ndarray) or isinstance(out, Traced):
        return out
    for a in _arrays(list(operands)):
        base = _owner(_plain(a))
        if isinstance(a, Traced) or (id(base) not in tracer.constants and base.size > 1):
            return out
    tracer.constants[id(_owner(out))] = _owner(out)
    return out


NAMESPACE = Namespace()


class RandomBackend:
    """A backend seen through the tracer: its generators become opaque calls re-run at each replay."""

    def __init__(self, backend: Any, tracer: Tracer) -> None:
        self._backend, self._tracer = backend, tracer

    def __getattr__(self, name: str) -> Any:
        if name == "xp":
            return NAMESPACE
        value = getattr(self._backend, name)
        if name in RANDOM:
            def opaque(*args: Any, **kwargs: Any) -> Any:
                out = self._tracer.wrap(value(*args, **kwargs))
                if _takes_out(getattr(value, "__func__", value)):  # the replay draws straight into the buffer
                    self._tracer.record(value, args, dict(kwargs, out=_plain(out)))
                else:
                    self._tracer.record(_into, (_plain(out), value, args, kwargs), {})
                return out
            return opaque
        if name == "kernels":
            reference = _reference()
            if value is not reference and not getattr(value, "same_bits_as_reference", False):
                raise GiveUp("fused kernels other than the xp references are opaque to the tracer")
            return reference  # NumPy's fused CPU kernels give the references' bits: record the references
        if name in ("index_put", "index_add", "argsort", "stable_argsort", "erf", "index"):
            raise GiveUp(f"backend.{name} is opaque to the tracer")
        return value


@functools.lru_cache(maxsize=None)
def _takes_out(method: Any) -> bool:
    """Whether a backend's sampler can write into a given array (NumPy's do: out=)."""
    return "out" in inspect.signature(method).parameters


def _reference() -> Any:
    from .. import kernels
    return kernels.reference


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays are the same memory seen the same way (each _plain() is a new view object)."""
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.shape == b.shape
            and a.strides == b.strides and a.dtype == b.dtype)


def _swap(value: Any, old: np.ndarray, new: np.ndarray) -> Any:
    if isinstance(value, np.ndarray) and _same(value, old):
        return new
    if isinstance(value, tuple):
        return tuple(_swap(v, old, new) for v in value)
    if isinstance(value, dict):
        return {k: _swap(v, old, new) for k, v in value.items()}
    return value


@contextlib.contextmanager
def tracing() -> Iterator[Tracer]:
    """A Tracer that the Traced arrays report to for the block (one tracing at a time)."""
    global _tracer
    with _lock:
        _tracer = tracer = Tracer()
        try:
            yield tracer
        finally:
            _tracer = None
