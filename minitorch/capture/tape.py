"""The tape: one recorded training step as a list of entries that replay it on raw arrays.

Each entry re-runs exactly what the eager step ran, in the same order: an op's own `forward`, the
backward engine's walk (the op's own `backward`, the same sums over paths, unbroadcasts and casts, the
same accumulation into `.grad`), the calls the recorder replays whole (optimizer.step(), zero_grad(),
in-place writes), and the checks op wrappers make on the host (cross_entropy's labels in range). What it
skips is the bookkeeping that only builds and checks a graph: Tensor objects, Module.__call__, graph edges,
version counters, the topological sort. Values live in `vals`, one slot per array the step made; the step's
input tensors fill the first slots at each replay.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..autograd import Context, unbroadcast
from ..tensor import Tensor


class CaptureError(RuntimeError):
    """A step that minitorch.compile cannot replay faithfully; the message names the line and the reason."""


# A spec says where a value comes from at replay: ("s", slot) a recorded array; ("t", tensor) a tensor from
# outside the step, read when the entry runs (so an optimizer's in-place update is seen); ("c", value) a
# constant; ("in", k) the k-th input tensor itself and ("obj", tensor) a tensor itself (leaves that
# accumulate a gradient).
def resolve(spec: tuple, vals: list[Any], inputs: list[Any]) -> Any:
    kind, what = spec
    if kind == "s":
        return vals[what]
    if kind == "t":
        return what.array
    if kind == "c" or kind == "obj":
        return what
    return inputs[what]


class Forward:
    """An op's forward: a fresh Context, the recorded inputs, the output into its slot."""

    __slots__ = ("fn", "specs", "kwargs", "kwspecs", "out", "needs", "backend", "index", "shape", "site")

    def __init__(self, fn: type, specs: list[tuple], kwargs: dict, kwspecs: dict | None, out: int,
                 needs: tuple, backend: Any, index: int, shape: tuple, site: tuple) -> None:
        self.fn, self.specs, self.kwargs, self.kwspecs, self.out = fn, specs, kwargs, kwspecs, out
        self.needs, self.backend, self.index, self.shape, self.site = needs, backend, index, shape, site

    def run(self, vals: list[Any], ctxs: list[Any], inputs: list[Any]) -> None:
        ctx = Context(self.backend)
        ctx.needs_input_grad = self.needs
        raw = [vals[w] if k == "s" else w.array if k == "t" else w for k, w in self.specs]
        kwargs = self.kwargs
        if self.kwspecs:
            kwargs = {**kwargs, **{n: resolve(s, vals, inputs) for n, s in self.kwspecs.items()}}
        out = self.fn.forward(ctx, *raw, **kwargs)
        if isinstance(out, np.generic):  # as Function.apply: a tensor holds a (0-d) array, and so does saved
            scalar, out = out, np.asarray(out)
            ctx.saved = tuple(out if s is scalar else s for s in ctx.saved)
        if tuple(out.shape) != self.shape:
            raise CaptureError(f"{_where(self.site)}: {self.fn.__name__} gave shape {tuple(out.shape)} at replay but "
                               f"{self.shape} when recorded: a shape that depends on the data cannot be replayed")
        vals[self.out] = out
        ctxs[self.index] = ctx


class Backward:
    """One backward pass: each node's own backward in the recorded order, routed as run_backward routes."""

    __slots__ = ("nodes", "seed", "site")

    def __init__(self, seed: tuple, site: tuple) -> None:
        # nodes: (forward index, op class, routes); a route is (i, parent forward index or None, leaf spec,
        # leaf key, shape, dtype): where the op's i-th input gradient goes, as the engine sends it.
        self.nodes: list[tuple[int, type, list[tuple]]] = []
        self.seed, self.site = seed, site

    def run(self, vals: list[Any], ctxs: list[Any], inputs: list[Any]) -> None:
        self.accumulate(self.compute(vals, ctxs), vals, inputs)

    def compute(self, vals: list[Any], ctxs: list[Any], xp: Any = None) -> dict[int, list]:
        """The gradients, summed over paths: {leaf key: [leaf spec, gradient]}, in the engine's order
        (xp: the namespace that makes the seed of ones; the tracer passes its own)."""
        shape, dtype, seed_xp = self.seed
        xp = xp or seed_xp
        pending: dict[int, Any] = {self.nodes[0][0]: xp.ones(shape, dtype=dtype)}
        leaves: dict[int, list] = {}
        for index, fn, routes in self.nodes:
            g = pending.pop(index, None)
            if g is None:
                raise CaptureError(f"{_where(self.site)}: backward took another path at replay than when recorded")
            grads = fn.backward(ctxs[index], g)
            if not isinstance(grads, tuple):
                grads = (grads,)
            previous = None
            for i, parent, leaf, key, shape, dtype in routes:
                gi = grads[i] if i < len(grads) else None
                if gi is None:
                    continue
                if gi is previous:  # one array for two inputs (a + b): each path gets its own
                    gi = gi.__array_namespace__().asarray(gi, copy=True)
                previous = gi
                if gi.shape != shape:
                    gi = unbroadcast(gi, shape)
                if gi.dtype != dtype:
                    gi = gi.__array_namespace__().astype(gi, dtype)
                if parent is not None:
                    pending[parent] = gi if parent not in pending else pending[parent] + gi
                else:
                    prev = leaves.get(key)
                    leaves[key] = [leaf, gi] if prev is None else [leaf, prev[1] + gi]
        return leaves

    @staticmethod
    def accumulate(leaves: dict[int, list], vals: list[Any], inputs: list[Any], copy: bool = False) -> None:
        """Each leaf's .grad: adopt the gradient, or add it in (Tensor._accumulate, as the engine does)."""
        for leaf, g in leaves.values():
            if copy:  # a CUDA graph's buffer: .grad must not alias what the next launch overwrites
                g = g.__array_namespace__().asarray(g, copy=True)
            resolve(leaf, vals, inputs)._accumulate(g)


class Call:
    """A call the recorder replays whole (optimizer.step(), zero_grad(), clip_grad_norm_, a module's counter):
    fn(*args, **kwargs), its returned tensor's array (if any) into slot `out`."""

    __slots__ = ("fn", "args", "kwargs", "out", "graph_safe")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict | None = None, out: int | None = None,
                 graph_safe: str = "no") -> None:
        self.fn, self.args, self.kwargs, self.out = fn, args, kwargs or {}, out
        # For a CUDA graph (cuda_graph.py): "kernel" it only launches kernels on device data; "grad" it only
        # touches .grad (zero_grad), so it can run before the graphed part; "no" it must run eagerly in place.
        self.graph_safe = graph_safe

    def run(self, vals: list[Any], ctxs: list[Any], inputs: list[Any]) -> None:
        result = self.fn(*self.args, **self.kwargs)
        if self.out is not None:
            vals[self.out] = result.array


class Rerecord(Exception):
    """Raised by a check ahead of a replay: this call's inputs break a decision the recording made on the
    host (cross_entropy's "no row is ignored"), so the step is recorded anew instead of replayed."""


class Check:
    """A check an op's Python wrapper makes on the host (a label in [0, C)): fn(*arrays) on each replay's
    arrays, so that a bad value raises as it would eagerly instead of giving a wrong result. A check of the
    step's own inputs runs ahead of the whole replay (Tape.precheck); one of values the step computes runs
    in its place among the entries."""

    __slots__ = ("fn", "specs")

    def __init__(self, fn: Callable[..., Any], specs: list[tuple]) -> None:
        self.fn, self.specs = fn, specs

    def run(self, vals: list[Any], ctxs: list[Any], inputs: list[Any]) -> None:
        self.fn(*[resolve(s, vals, inputs) for s in self.specs])


class Store:
    """An in-place write into a tensor's storage (inplace._store): target[key] = value."""

    __slots__ = ("target", "key", "key_specs", "value", "backend")

    def __init__(self, target: tuple, key: Any, key_specs: tuple | None, value: tuple, backend: Any) -> None:
        self.target, self.key, self.key_specs, self.value, self.backend = target, key, key_specs, value, backend

    def run(self, vals: list[Any], ctxs: list[Any], inputs: list[Any]) -> None:
        kind, what = self.target
        value = resolve(self.value, vals, inputs)
        key = self.key if self.key_specs is None else tuple(resolve(s, vals, inputs) for s in self.key_specs)
        if kind == "t":  # a tensor from outside: its own storage, and its version counter
            self.backend.index_put(what.array, key, value)
            what._vc[0] += 1
        else:
            self.backend.index_put(resolve(self.target, vals, inputs), key, value)


def _where(site: tuple) -> str:
    """'file:line: code' of a recorded site (filename, lineno)."""
    import linecache
    filename, lineno = site
    if not filename:
        return "(inside minitorch)"
    return f"{filename}:{lineno}: {linecache.getline(filename, lineno).strip()}"


class Tape:
    """A recorded step: its entries, the slots they fill, the guards that say it still applies, its result."""

    def __init__(self, entries: list[Any], n_slots: int, n_forward: int, result: Any, guards: Any) -> None:
        self.entries, self.n_slots, self.n_forward = entries, n_slots, n_forward
        self.result, self.guards = result, guards  # result: the returned structure, as specs
        self.checked = False  # set once a replay was compared against an eager run (check.py)
        self.replays = 0
        self.backends: set[Any] = set()  # the devices its ops ran on (their random generators are checked)
        self.uses_rng = False  # whether the step draws random numbers (dropout)
        self.graph: Any = None  # its CUDA graph (cuda_graph.py), or the reason it has none
        self.fast: Any = None  # its flat NumPy tape (trace.py), or the reason it has none
        self.on_cupy = self.on_numpy = False
        self.guard: Any = None  # the device guard of its one CUDA device (cuda:N), set by the recorder
        self.prechecks: list[Check] = []  # checks of the step's inputs, run before anything of a replay

    def precheck(self, inputs: list[Any]) -> str | None:
        """Run the checks of this call's inputs before any of the step runs: a bad label raises as eagerly,
        with nothing changed yet; returns why the step must be recorded anew (Rerecord), or None."""
        try:
            for check in self.prechecks:
                check.fn(*[inputs[slot].array for _, slot in check.specs])
        except Rerecord as why:
            return str(why)
        return None

    def replay(self, inputs: list[Any]) -> Any:
        """Run the step on new input tensors (same shapes and dtypes as recorded); returns fn's result."""
        if self.guard is not None:  # CuPy on cuda:N: the replayed ops allocate on the current device
            with self.guard:
                return self._replay(inputs)
        return self._replay(inputs)

    def _replay(self, inputs: list[Any]) -> Any:
        vals: list[Any] = [None] * self.n_slots
        for k, t in enumerate(inputs):
            vals[k] = t.array
        ctxs: list[Any] = [None] * self.n_forward
        for entry in self.entries:
            entry.run(vals, ctxs, inputs)
        self.replays += 1
        return build_result(self.result, vals, inputs)


def build_result(spec: Any, vals: list[Any], inputs: list[Any]) -> Any:
    """The step's return value from its recorded structure: a tensor per recorded array (detached)."""
    kind = spec[0]
    if kind == "tensor":
        _, where, backend = spec
        if where[0] == "s":
            return Tensor._make(vals[where[1]], backend, False, None)
        return resolve(where, vals, inputs)
    if kind == "seq":
        items = [build_result(s, vals, inputs) for s in spec[2]]
        return spec[1](items) if spec[1] in (list, tuple) else spec[1](*items)  # a namedtuple takes fields
    if kind == "dict":
        return {k: build_result(s, vals, inputs) for k, s in spec[1].items()}
    return spec[1]


def copied(value: Any, buffers: set[int]) -> Any:
    """The result with each tensor on one of `buffers` copied: the next replay overwrites those buffers."""
    if isinstance(value, Tensor):
        if id(value.array) not in buffers:
            return value
        return Tensor._make(value.xp.asarray(value.array, copy=True), value.backend, False, None)
    if isinstance(value, (list, tuple)):
        items = [copied(v, buffers) for v in value]
        return type(value)(items) if type(value) in (list, tuple) else type(value)(*items)
    if isinstance(value, dict):
        return {k: copied(v, buffers) for k, v in value.items()}
    return value
