"""summary(model, input): a torchinfo-style table of the module calls of one forward, and its totals."""
from __future__ import annotations

import contextlib
import math
import sys
from typing import Any, Iterator

import numpy as np

from .. import backends, creation, dtypes
from ..autograd import no_grad
from ..tensor import Tensor
from .module import Module


class Trace:
    """Forward hooks on every module of a model that record each call: name, depth, input and output shapes."""

    def __init__(self, model: Module) -> None:
        self.names = {id(m): name for name, m in model.named_modules()}
        self.modules = [m for _, m in model.named_modules()]
        self.rows: list[dict] = []
        self.stack: list[dict] = []  # calls entered and not yet returned: after an error, the failing path

    @contextlib.contextmanager
    def hooked(self) -> Iterator[Trace]:
        """Record while inside; the hooks are removed on exit, also on error."""
        handles = []
        try:
            for m in self.modules:  # appended last: they see the args and output the user's hooks left
                handles.append(m.register_forward_pre_hook(self._enter))
                handles.append(m.register_forward_hook(self._leave))
            yield self
        finally:
            for h in handles:
                h.remove()

    def _enter(self, module: Module, args: tuple) -> None:
        row = {"name": self.names.get(id(module), "?"), "class": type(module).__name__, "depth": len(self.stack),
               "module": module, "input_shapes": [t.shape for t in _tensors(args)], "output_shape": None,
               "output_bytes": 0}
        self.rows.append(row)
        self.stack.append(row)

    def _leave(self, module: Module, args: tuple, output: Any) -> None:
        row = self.stack.pop()
        outs = _tensors(output)
        row["output_shape"] = outs[0].shape if isinstance(output, Tensor) else [t.shape for t in outs]
        row["output_bytes"] = sum(_nbytes(t) for t in outs)


@contextlib.contextmanager
def preserved(model: Module) -> Iterator[None]:
    """Run code that calls the model without leaving a trace: training flags, buffers (BatchNorm's running
    statistics) and every global generator are as before on exit. Generators are swapped for throwaway
    ones rather than saved, since CuPy's cannot report their state; the coach's checks are paused, so
    they neither warn about nor use up their one warning on a call the user did not make."""
    modes = [(m, m.training) for m in model.modules()]
    coach = sys.modules.get("minitorch.coach")
    watches = {k: v for k, v in vars(coach).items() if k.startswith("watch_")} if coach else {}
    saved = [(m._buffers, name, t, t.array, t.xp.asarray(t.array, copy=True))
             for m in model.modules() for name, t in m._buffers.items() if t is not None]
    rngs = [(b, b.rng) for b in list(backends._backends.values())]
    host = backends._host_rng
    try:
        for k in watches:
            setattr(coach, k, False)
        for b, _ in rngs:
            b.rng = b.make_rng(0)
        backends._host_rng = np.random.default_rng(0)
        yield
    finally:
        for k, v in watches.items():
            setattr(coach, k, v)
        backends._host_rng = host
        for b, rng in rngs:
            b.rng = rng
        for buffers, name, t, array, copy in saved:  # whether forward re-bound the buffer, its array or its values
            buffers[name], t.array = t, array
            array[...] = copy  # in place: a view of the buffer held elsewhere stays right
        for m, mode in modes:
            object.__setattr__(m, "training", mode)


class ModelSummary:
    """What summary() returns: `rows` (one dict per module call shown), the totals, and the table as str()."""

    def __init__(self, model: Module, rows: list[dict], depth: int, input_bytes: int) -> None:
        params = list(model.parameters())
        self.depth, self.input_bytes = depth, input_bytes
        self.total_params = sum(p.numel() for p in params)
        self.trainable_params = sum(p.numel() for p in params if p.requires_grad)
        self.frozen_params = self.total_params - self.trainable_params
        self.param_bytes = sum(_nbytes(p) for p in params)
        self.buffer_bytes = sum(_nbytes(b) for b in model.buffers())
        # A container's output is its last child's: only leaf modules' outputs are new memory.
        self.activation_bytes = sum(r["output_bytes"] for r in rows if not r["module"]._modules)
        seen: set[int] = set()
        self.rows = [_counted(r, depth, seen) for r in rows if r["depth"] <= depth]

    def __str__(self) -> str:
        head = ("Layer (type)", "Output Shape", "Param #", "Trainable", "Activations")
        body = [("  " * r["depth"] + (f"{r['name']} ({r['class']})" if r["name"] else r["class"]),
                 _shape(r["output_shape"]), _params(r), r["trainable"], _bytes(r["output_bytes"])) for r in self.rows]
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
        line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                       for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
        rule = "=" * len(line(head))
        totals = [f"Total params: {self.total_params:,}", f"Trainable params: {self.trainable_params:,}",
                  f"Frozen params: {self.frozen_params:,}", rule,
                  f"Input size: {_bytes(self.input_bytes)}",
                  f"Activation memory (leaf outputs): {_bytes(self.activation_bytes)}",
                  f"Parameter memory: {_bytes(self.param_bytes)}", f"Buffer memory: {_bytes(self.buffer_bytes)}"]
        return "\n".join([rule, line(head), rule, *map(line, body), rule, *totals, rule])

    __repr__ = __str__


def summary(model: Module, input: Any = None, *, input_size: Any = None, dtype: Any = None, device: Any = None,
            depth: int = 3, mode: str = "eval") -> ModelSummary:
    """Run one forward under no_grad and tabulate each module call (shown down to `depth`); the model's
    mode, buffers and the global RNG are left as they were. input: a Tensor or a tuple of positional
    inputs; input_size: a shape (or a list of shapes) for random inputs on the model's device and dtype;
    mode: "eval" (as torchinfo), "train" or "same" (the model's current mode)."""
    if (input is None) == (input_size is None):
        raise ValueError("summary: pass exactly one of input and input_size")
    if mode not in ("eval", "train", "same"):
        raise ValueError(f"summary: mode must be 'eval', 'train' or 'same', got {mode!r}")
    trace = Trace(model)
    with preserved(model), no_grad():
        if mode != "same":
            model.train(mode == "train")
        if input is None:
            first = next(iter(model.parameters()), None)
            device = device if device is not None else (first.device if first is not None else None)
            dtype = dtype if dtype is not None else (first.dtype if first is not None and
                                                     dtypes.is_floating(first.dtype) else None)
            sizes = [input_size] if all(isinstance(n, int) for n in input_size) else list(input_size)
            args = tuple(creation.randn(*s, dtype=dtype, device=device) for s in sizes)
        else:
            args = tuple(input) if isinstance(input, (tuple, list)) else (input,)
        with trace.hooked():
            try:
                model(*args)
            except Exception as exc:  # the trace already holds the walk that explains the error
                from .explain import EXPLAINED, attach, describe  # noqa: PLC0415
                if isinstance(exc, EXPLAINED):
                    attach(exc, describe(trace))
                raise
    return ModelSummary(model, trace.rows, depth, sum(_nbytes(t) for t in _tensors(args)))


def _counted(row: dict, depth: int, seen: set[int]) -> dict:
    """The row as shown: its own parameters if its children have rows, else its whole subtree's; a module
    called again is marked reused (its parameters were counted at its first call)."""
    module, row = row["module"], dict(row)
    row["reused"] = id(module) in seen
    seen.add(id(module))
    collapsed = row["depth"] == depth or not module._modules
    params = list(module.parameters(recurse=collapsed))
    n = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    row.update(params=n, trainable_params=trainable, frozen_params=n - trainable, has_children=not collapsed,
               trainable={0: "--"}.get(n, "True" if trainable == n else "False" if trainable == 0 else "Partial"))
    return row


def _tensors(value: Any) -> list[Tensor]:
    """The tensors in a value: a Tensor, or a tuple/list/dict of them (one level, as module outputs are)."""
    if isinstance(value, Tensor):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (tuple, list)) else ()
    return [v for v in items if isinstance(v, Tensor)]


def _nbytes(t: Tensor) -> int:
    return math.prod(t.shape) * t.dtype.itemsize


def _shape(shape: Any) -> str:
    if shape is None:
        return "--"
    if isinstance(shape, list):
        return ", ".join(map(_shape, shape)) or "--"
    return "[" + ", ".join(map(str, shape)) + "]"


def _params(row: dict) -> str:
    return "(reused)" if row["reused"] else "--" if row["params"] == 0 else f"{row['params']:,}"


def _bytes(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"
