"""The first replay of each tape is checked against an eager run of the same call, bit for bit.

The recorder sees what runs through minitorch (ops, backward, optimizer calls, in-place writes); a step can
still change state behind its back (a raw write into an array, `p.grad = None` by hand, a module counting in
Python). So the first time a tape would replay, the step runs eagerly once more, the state it leaves is kept
aside, the state before is restored, and the tape replays: parameters, buffers, gradients, optimizer state,
the random generators and the result must come out identical, or the tape is refused, naming what differed
(and the eager state is put back, so training continues exactly as without compile).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ..tensor import Tensor
from .tape import Tape


def _copy(a: Any) -> Any:
    return a.__array_namespace__().asarray(a, copy=True)


def _host(t_backend: Any, a: Any) -> np.ndarray:
    return np.asarray(t_backend.to_host(a))


class Snapshot:
    """The state a step can change: named tensors (with .grad), optimizer state, RNG states."""

    def __init__(self, tape: Tape, inputs: list[Tensor], backends: set) -> None:
        named: dict[int, tuple[str, Tensor]] = {}
        for k, t in enumerate(inputs):
            named.setdefault(id(t), (f"input {k}", t))
        for module, _ in tape.guards.modules:
            kind = type(module).__name__
            for name, t in [*module._parameters.items(), *module._buffers.items()]:
                if t is not None:
                    named.setdefault(id(t), (f"{kind}.{name}", t))
        for opt, _ in tape.guards.optimizers:
            for g, group in enumerate(opt.param_groups):
                for i, p in enumerate(group["params"]):
                    named.setdefault(id(p), (f"{type(opt).__name__} group {g} parameter {i}", p))
        for t, *_ in tape.guards.externals:
            named.setdefault(id(t), (f"a tensor of shape {t.shape} from outside the step", t))
        self.tensors = list(named.values())
        self.optimizers = [opt for opt, _ in tape.guards.optimizers]
        self.backends = [b for b in backends if b is not None]

    def take(self) -> dict[str, Any]:
        tensors = []
        for _, t in self.tensors:
            g = t.grad
            tensors.append((t.array, _copy(t.array), g, None if g is None else g.array,
                            None if g is None else _copy(g.array)))
        optimizers = []
        for opt in self.optimizers:
            entries = [(p, dict(s), [(v, v.array, _copy(v.array)) for v in s.values() if isinstance(v, Tensor)])
                       for p, s in opt.state.items()]
            optimizers.append(entries)
        return {"tensors": tensors, "optimizers": optimizers, "rng": [b.rng_state() for b in self.backends]}

    def restore(self, snap: dict[str, Any]) -> None:
        for (_, t), (array, data, g, garray, gdata) in zip(self.tensors, snap["tensors"]):
            t.array = array
            array[...] = data
            t.grad = g
            if g is not None:
                g.array = garray
                garray[...] = gdata
        for opt, entries in zip(self.optimizers, snap["optimizers"]):
            state: defaultdict = defaultdict(dict)
            for p, s, arrays in entries:
                state[p] = dict(s)
                for v, array, data in arrays:
                    v.array = array
                    array[...] = data
            opt.state = state
        for backend, rng in zip(self.backends, snap["rng"]):
            if rng is not None:
                backend.set_rng_state(rng)

    def differences(self, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
        """Names of what differs between two snapshots (values compared bit for bit)."""
        out = []
        for (name, t), x, y in zip(self.tensors, a["tensors"], b["tensors"]):
            if not _same(t.backend, x[1], y[1]):
                out.append(name)
            elif (x[4] is None) != (y[4] is None) or (x[4] is not None and not _same(t.backend, x[4], y[4])):
                out.append(f"{name}.grad")
        for opt, x, y in zip(self.optimizers, a["optimizers"], b["optimizers"]):
            name = f"{type(opt).__name__}.state"
            if [id(p) for p, *_ in x] != [id(p) for p, *_ in y]:
                out.append(name)
                continue
            for (p, sx, ax), (_, sy, ay) in zip(x, y):
                numbers = {k: v for k, v in sx.items() if not isinstance(v, Tensor)}
                if numbers != {k: v for k, v in sy.items() if not isinstance(v, Tensor)} or len(ax) != len(ay) \
                        or not all(_same(p.backend, u[2], v[2]) for u, v in zip(ax, ay)):
                    out.append(name)
                    break
        if a["rng"] != b["rng"]:
            out.append("the random number generator (the replay drew a different amount of random numbers)")
        return out


def _same(backend: Any, x: Any, y: Any) -> bool:
    hx, hy = _host(backend, x), _host(backend, y)
    return hx.shape == hy.shape and hx.dtype == hy.dtype and hx.tobytes() == hy.tobytes()


def _same_result(eager: Any, replayed: Any) -> bool:
    if isinstance(eager, Tensor) and isinstance(replayed, Tensor):
        return _same(eager.backend, eager.array, replayed.array)
    if isinstance(eager, (list, tuple)) and isinstance(replayed, (list, tuple)):
        return len(eager) == len(replayed) and all(map(_same_result, eager, replayed))
    if isinstance(eager, dict) and isinstance(replayed, dict):
        return eager.keys() == replayed.keys() and all(_same_result(eager[k], replayed[k]) for k in eager)
    return type(eager) is type(replayed) and (eager is replayed or eager == replayed)


CHECK_SEED = 20240613  # the generators' seed for both runs where their state cannot be saved and restored


def checked_replay(fn: Any, tape: Tape, inputs: list[Tensor], args: tuple, kwargs: dict,
                   replay: Any = None) -> tuple[list[str], Any]:
    """Run the call eagerly and as a replay from the same state; ([differences], the call's result).

    With no differences the replay's state and result stand; otherwise the eager run's are put back. Where a
    generator's state cannot be restored (CuPy's), both runs draw from fresh generators seeded alike, and the
    real step then runs once more from the saved state with the real generators.
    """
    replay = replay or tape.replay  # or a CUDA graph's launch (cuda_graph.py)
    snap = Snapshot(tape, inputs, tape.backends)
    before = snap.take()
    real = None
    if tape.uses_rng and any(b.rng_state() is None for b in snap.backends):
        real = {b: b.rng for b in snap.backends}
    _reseed(real)
    eager = fn(*args, **kwargs)
    after_eager = snap.take()
    snap.restore(before)
    _reseed(real)
    replayed = replay(inputs)
    diffs = snap.differences(after_eager, snap.take())
    if not _same_result(eager, replayed):
        diffs.append("the step's result")
    if real is not None:  # the real generators, from the saved state: the step as it should have run
        for backend, rng in real.items():
            backend.rng = rng
        snap.restore(before)
        if diffs:
            return diffs, fn(*args, **kwargs)
        return [], replay(inputs)
    if diffs:
        snap.restore(after_eager)
        return diffs, eager
    return [], replayed


def _reseed(real: dict | None) -> None:
    for backend in real or ():
        backend.rng = backend.make_rng(CHECK_SEED)


__all__ = ["checked_replay", "Snapshot"]
