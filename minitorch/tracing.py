"""autograd.trace(): print what backward does, op by op, as a student would on paper.

    with minitorch.autograd.trace(names=model):
        loss.backward()

For each node, in the order backward visits it: its upstream gradient (shape and a summary), the
op's local rule, and where each input's gradient goes: to which node, or into which leaf's .grad,
summed over which broadcast axes, and whether it is a second path that gets added. Then each leaf's
total, as it goes into .grad. It is a backward observer (autograd.add_backward_observer).
"""
from __future__ import annotations

import sys
from typing import IO, Any

import numpy as np

from .autograd import Context, _tensor_type, _topological_order, add_backward_observer


class trace:
    """Print each node backward runs (at most `max_nodes` per backward call, then one '... N more' line).

    names: a Module (its named_parameters) or a dict of name -> tensor, to call leaves by name;
    unnamed leaves are leaf#1, leaf#2, ... in the order backward reaches them.
    """

    def __init__(self, file: IO[str] | None = None, max_nodes: int = 50, names: Any = None) -> None:
        self.file, self.max_nodes = file, max_nodes
        if names is not None and hasattr(names, "named_parameters"):
            names = dict(names.named_parameters())
        named = dict(names or {})
        self._names = {id(t): str(n) for n, t in named.items()}
        self._named = list(named.values())  # held, so that their ids stay theirs
        self._handle: Any = None
        self._run: _Run | None = None

    def __enter__(self) -> "trace":
        self._handle = add_backward_observer(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handle.remove()
        self._run = None

    def __call__(self, node: Context, grad_in: Any, grads_out: tuple) -> None:
        """The node observer: one entry per node, and a line per input saying where its gradient goes."""
        run = self._run
        if run is None or not run.expects(node):  # a new backward call: its root comes first
            run = self._run = _Run(node, self)
        run.visit(node)
        if not run.room():  # past max_nodes: no summaries to compute, backward just runs
            return
        tensor_type = _tensor_type()
        lines = [f"#{run.number[id(node)]} {node.name}  {_summary(_backend(node), grad_in)}{run.paths(node)}"]
        rule = getattr(node.fn, "rule", "")
        if rule:
            lines.append(f"   rule: {rule}")
        for i, (t, gi, parent, needed) in enumerate(zip(node.inputs, grads_out, node.parents,
                                                        node.needs_input_grad)):
            if isinstance(t, tensor_type):  # numbers and arrays passed to an op have no gradient to follow
                lines.append(f"   input {i} {tuple(t.array.shape)}: " + run.destination(t, gi, parent, needed))
        run.emit(lines)

    def on_accumulate(self, t: Any, grad: Any) -> None:
        """The leaf observer: a leaf's gradient, summed over its paths, on its way into .grad."""
        run = self._run
        if run is None or id(t) not in run.leaves:  # backward() called on a leaf: no node came first
            run = self._run = _Run(None, self, leaf=t)
        run.leaves.pop(id(t))
        if run.room():
            run.emit([f"{run.label(t)}.grad += {_summary(t.backend, grad)}{run.paths(t)}"])

    def _name(self, t: Any) -> str | None:
        return self._names.get(id(t))


class _Run:
    """What one backward call looks like to the trace: node numbers, leaves to come, paths seen so far."""

    def __init__(self, root: Context | None, owner: trace, leaf: Any = None) -> None:
        self.owner, self.file = owner, owner.file or sys.stdout
        self.order = _topological_order(root) if root is not None else []  # what run_backward visits
        self.number = {id(n): i for i, n in enumerate(self.order, 1)}
        self.leaves = {id(leaf): leaf} if leaf is not None else {}
        for n in self.order:
            for t, parent, needed in zip(n.inputs, n.parents, n.needs_input_grad):
                if needed and parent is None:
                    self.leaves.setdefault(id(t), t)
        self.last, self.printed, self.stopped, self.unnamed = 0, 0, False, 0
        self.received: dict[int, int] = {}
        self.labels: dict[int, str] = {}
        self.total = len(self.order) + len(self.leaves)
        print(f"backward: {_count(self.total, 'node')} ({_count(len(self.order), 'op')}, "
              f"{_count(len(self.leaves), 'leaf', 'leaves')}), in the order backward visits them", file=self.file)

    def expects(self, node: Context) -> bool:
        """Whether node belongs to this backward call and comes after the nodes already seen."""
        return self.number.get(id(node), 0) > self.last

    def visit(self, node: Context) -> None:
        self.last = self.number[id(node)]

    def destination(self, t: Any, gi: Any, parent: Context | None, needed: bool) -> str:
        """Where input t's gradient goes: its broadcast sum, then the node or the leaf's .grad."""
        if not needed:
            return "no gradient (does not require grad)"
        if gi is None:
            return "no gradient (the op gives none)"
        shape, text = tuple(t.array.shape), ""
        if tuple(gi.shape) != shape:
            text = f"{_summed_axes(tuple(gi.shape), shape)}({tuple(gi.shape)} -> {shape}), "
        key = id(parent) if parent is not None else id(t)
        self.received[key] = paths = self.received.get(key, 0) + 1
        text += (f"to #{self.number.get(id(parent), '?')} {parent.name}" if parent is not None
                 else f"added to {self.label(t)}.grad")
        return text + (f" ({_ordinal(paths)} path: sum of paths)" if paths > 1 else "")

    def paths(self, target: Any) -> str:
        """'  (sum of 2 paths)' for a node or leaf that got gradient along more than one path."""
        paths = self.received.get(id(target), 0)
        return f"  (sum of {paths} paths)" if paths > 1 else ""

    def label(self, t: Any) -> str:
        """A leaf's name: the one the user gave, else leaf#k in the order backward reaches it."""
        if id(t) not in self.labels:
            name = self.owner._name(t)
            if name is None:
                self.unnamed += 1
                name = f"leaf#{self.unnamed}"
            self.labels[id(t)] = name
        return self.labels[id(t)]

    def room(self) -> bool:
        """Whether another node may be printed; the first time not, say how many are left out."""
        if self.printed < self.owner.max_nodes:
            return True
        if not self.stopped:
            self.stopped = True
            print(f"... {self.total - self.printed} more nodes", file=self.file)
        return False

    def emit(self, lines: list[str]) -> None:
        self.printed += 1
        print("\n".join(lines), file=self.file)


def _backend(node: Context) -> Any:
    """The backend of the node's output, where its upstream gradient lives (ToDevice changes it)."""
    return node.__dict__.get("out_backend", node.backend)


def _summary(backend: Any, a: Any) -> str:
    """'grad (4, 3)  mean ..  std ..  min ..  max ..': enough numbers to spot a vanishing or exploding one."""
    h = np.asarray(backend.to_host(a), dtype=np.float64)
    shape = f"grad {tuple(h.shape)}"
    if h.size == 0:
        return shape
    return f"{shape}  mean {h.mean():.4g}  std {h.std():.4g}  min {h.min():.4g}  max {h.max():.4g}"


def _summed_axes(grad_shape: tuple[int, ...], shape: tuple[int, ...]) -> str:
    """'summed over axis 0 ': the axes unbroadcast sums (leading extra axes, and where the input had size 1)."""
    extra = len(grad_shape) - len(shape)
    if extra < 0:
        return ""
    axes = list(range(extra)) + [extra + i for i, n in enumerate(shape) if n == 1 and grad_shape[extra + i] != 1]
    return "" if not axes else f"summed over axis {axes[0]} " if len(axes) == 1 else f"summed over axes {tuple(axes)} "


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _ordinal(k: int) -> str:
    return {2: "second", 3: "third", 4: "fourth", 5: "fifth"}.get(k, f"{k}th")
