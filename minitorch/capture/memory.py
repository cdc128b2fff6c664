"""Memory for a flat tape's temporaries, planned by lifetime, so that the step's working set stays in cache.

Tracing keeps each call's result as that call's own buffer. Kept apart, they are dozens of arrays a step
touches once each: a working set many times the size of the CPU's caches, where NumPy's allocator (handing
back a block just freed) would have kept a handful hot. So, as a compiler allocates registers, each
temporary gets memory from the moment a call first writes it to the last call that reads it, and a block
whose temporary is dead goes to the next temporary of the same size. Temporaries that outlive the calls
(a gradient .grad adopts, a returned value) keep their own memory. Views made during tracing are remade at
the same offset and strides in the new memory.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def owner(a: np.ndarray) -> np.ndarray:
    """The array that owns a's memory (views of a subclass stop NumPy from collapsing .base chains)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def arrays(value: Any) -> list[np.ndarray]:
    """The arrays inside a call's arguments."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in arrays(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in arrays(v)]
    return []


def plan(calls: list[tuple], temps: dict[int, np.ndarray], pinned: set[int]) -> list[tuple]:
    """`calls` with each temporary (id(owner) -> owner) not in `pinned` moved to memory shared by lifetime."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, call in enumerate(calls):
        for a in arrays(call[1:]):
            key = id(owner(a))
            if key in temps:
                first.setdefault(key, i)
                last[key] = i
    movable = [k for k in first if k not in pinned and temps[k].flags.c_contiguous]
    by_start: dict[int, list[int]] = {}
    for k in movable:
        by_start.setdefault(first[k], []).append(k)
    free: dict[int, list[np.ndarray]] = {}
    live: list[int] = []
    home: dict[int, np.ndarray] = {}
    for i in range(len(calls)):
        for k in [k for k in live if last[k] < i]:  # dead before this call: its block is free again
            live.remove(k)
            free.setdefault(temps[k].nbytes, []).append(home[k])
        for k in by_start.get(i, ()):
            blocks = free.get(temps[k].nbytes)
            home[k] = blocks.pop() if blocks else np.empty(temps[k].nbytes, np.uint8)
            live.append(k)
    moved = {k: home[k].view(temps[k].dtype).reshape(temps[k].shape) for k in home}
    remade: dict[int, np.ndarray] = {}

    def move(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            o = owner(value)
            new = moved.get(id(o))
            if new is None:
                return value
            if id(value) not in remade:
                offset = value.__array_interface__["data"][0] - o.__array_interface__["data"][0]
                remade[id(value)] = np.ndarray(value.shape, value.dtype, buffer=new, offset=offset,
                                               strides=value.strides)
            return remade[id(value)]
        if isinstance(value, tuple):
            return tuple(move(v) for v in value)
        if isinstance(value, list):
            return [move(v) for v in value]
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        return value
    return [(fn, move(args), move(kwargs)) for fn, args, kwargs in calls]
