"""Read a recorded autograd graph into plain data: op nodes, leaf nodes, edges, broadcast sums, module calls."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from ..autograd import broadcast_shapes
from ..tensor import Tensor

FREED = ("the autograd graph of this tensor was already freed by backward(): call minitorch.viz.graph(loss) "
         "before loss.backward(), or pass retain_graph=True to backward()")

# Ops whose gradients come back in the broadcast output's shape, so autograd sums them down to each input.
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Remainder", "Maximum", "Minimum", "Clamp", "Where",
               "BinaryCrossEntropy", "BinaryCrossEntropyWithLogits", "SmoothL1", "Huber", "KLDiv"}


@dataclass
class Op:
    """One recorded op (a Context): what the picture shows of it."""

    id: str
    name: str
    rule: str
    inputs: list[tuple[int, ...]]
    output: tuple[int, ...] | None = None
    dtype: str | None = None
    slots: list[tuple[int, str]] = field(default_factory=list)  # (input position, source node id)
    args: list[str] = field(default_factory=list)  # forward's argument names
    absent: set[str] = field(default_factory=set)  # forward arguments given as None (bias=False)
    unneeded: set[str] = field(default_factory=set)  # inputs whose gradient backward skips
    grad: dict | None = None


@dataclass
class Leaf:
    """A tensor that no recorded op produced: a parameter, an input, a constant."""

    id: str
    shape: tuple[int, ...]
    dtype: str
    requires_grad: bool
    arg: str  # the name the consuming op gives it (Linear's "x", "w", ...): the label of an unnamed leaf
    tensor: Any = None  # held only until names are resolved
    name: str | None = None
    buffer: bool = False
    owner: Any = None  # the innermost module call that has it as a parameter or buffer
    grad: dict | None = None


@dataclass
class Edge:
    """A tensor flowing from `src` (op or leaf) into input `position` of op `dst`."""

    src: str
    dst: str
    position: int
    shape: tuple[int, ...]
    index: int  # among the op's tensor inputs
    grad: bool  # whether a gradient flows back along it
    sum_axes: tuple[int, ...] = ()


@dataclass
class Call:
    """One module call on the graph: the ops between its output node and its input nodes."""

    module: Any
    out: str  # the op id of its output
    ops: set[str]
    order: int  # position among the calls sharing one output (inner first)
    name: str = ""
    parent: "Call | None" = None
    depth: int = 0


def summed_axes(op: str, index: int, shapes: list[tuple[int, ...]], out: tuple[int, ...] | None
                ) -> tuple[int, ...]:
    """The axes autograd.unbroadcast sums when the gradient of tensor input `index` (of `shapes`) comes
    back from the op in a larger shape: the axes broadcasting added or stretched."""
    shape = shapes[index]
    if op == "MatMul" and len(shapes) == 2:
        a, b = shapes
        batch = broadcast_shapes(a[:-2], b[:-2]) or ()
        grad = batch + (shape[-2:] if len(shape) >= 2 else shape)
    elif op in ELEMENTWISE and out is not None:
        grad = out
    else:
        return ()
    extra = len(grad) - len(shape)
    if extra < 0:
        return ()
    return tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1 and grad[extra + i] != 1)


def rule_lines(op: Op) -> list[dict]:
    """The rule's parts ("dW = grad.T @ x"), each with whether backward computes it here: a part for an
    argument given as None (no bias) is left out; one for an input that needs no gradient is kept, marked."""
    lines = []
    for part in filter(None, (p.strip() for p in op.rule.split(";  "))):
        lhs = part.partition(" = ")[0].strip().lower()
        arg = _argument(lhs[1:], op.args) if lhs.startswith("d") and " " not in lhs else None
        if arg in op.absent:
            continue
        lines.append({"text": part, "computed": arg not in op.unneeded})
    return lines


def _argument(name: str, args: list[str]) -> str | None:
    """The forward argument a rule's `d<name>` is the gradient of: that name, else the one name it begins."""
    if name in (a.lower() for a in args):
        return next(a for a in args if a.lower() == name)
    starts = [a for a in args if a.lower().startswith(name)]
    return starts[0] if len(starts) == 1 and name else None


def _arg_names(fn: type) -> list[str]:
    try:
        params = list(inspect.signature(fn.forward).parameters)
    except (TypeError, ValueError):
        return []
    return params[1:] if params and params[0] in ("ctx", "cls") else params[2:]


class Capture:
    """The graph below `root` as Ops, Leaves and Edges; `contexts` maps id(Context) -> Op id."""

    def __init__(self, root: Tensor) -> None:
        if not isinstance(root, Tensor):
            raise TypeError(f"minitorch.viz.graph expects a Tensor, got {type(root).__name__}")
        if root.grad_fn is None:
            raise ValueError("this tensor has no recorded graph (it is a leaf, or was computed under no_grad() or "
                             "from tensors that do not require grad): nothing to draw")
        self.ops: dict[str, Op] = {}
        self.leaves: dict[str, Leaf] = {}
        self.edges: list[Edge] = []
        self.contexts: dict[int, str] = {}
        self.held: list[Any] = []  # the Contexts, so their ids stay theirs until backward has been observed
        self.root = self._walk(root.grad_fn)
        self.ops[self.root].output, self.ops[self.root].dtype = tuple(root.shape), str(root.dtype)
        self._mark_broadcasts()
        self.calls = self._calls()

    def _walk(self, root_ctx: Any) -> str:
        order, seen, stack = [], set(), [(root_ctx, False)]
        while stack:  # post-order: every Context once, after the Contexts that produced its inputs
            ctx, expanded = stack.pop()
            if expanded:
                order.append(ctx)
                continue
            if id(ctx) in seen:
                continue
            if ctx.freed:
                raise RuntimeError(FREED)
            seen.add(id(ctx))
            stack.append((ctx, True))
            stack.extend((p, False) for p in reversed(ctx.parents) if p is not None and id(p) not in seen)
        for i, ctx in enumerate(order):
            self.contexts[id(ctx)] = f"op{i}"
        self.held = order
        leaf_ids: dict[int, str] = {}
        for ctx in order:
            op = self._op(ctx)
            k = 0  # the input's index among the op's tensor inputs
            for pos, t in enumerate(ctx.inputs):
                if not isinstance(t, Tensor):
                    continue
                parent = ctx.parents[pos] if pos < len(ctx.parents) else None
                if parent is not None:
                    src = self.contexts[id(parent)]
                    producer = self._op(parent)
                    if producer.output is None:  # an op's output is what its consumers received
                        producer.output, producer.dtype = tuple(t.shape), str(t.dtype)
                else:
                    src = leaf_ids.get(id(t))
                    if src is None:
                        src = leaf_ids[id(t)] = f"leaf{len(leaf_ids)}"
                        arg = op.args[pos] if pos < len(op.args) else f"input {pos}"
                        self.leaves[src] = Leaf(src, tuple(t.shape), str(t.dtype), t.requires_grad, arg, t)
                op.slots.append((pos, src))
                self.edges.append(Edge(src, op.id, pos, tuple(t.shape), k, t.requires_grad))
                k += 1
        return self.contexts[id(root_ctx)]

    def _mark_broadcasts(self) -> None:
        for e in self.edges:
            if e.grad:
                op = self.ops[e.dst]
                e.sum_axes = summed_axes(op.name, e.index, op.inputs, op.output)

    def _op(self, ctx: Any) -> Op:
        key = self.contexts[id(ctx)]
        if key not in self.ops:
            shapes = [tuple(t.shape) for t in ctx.inputs if isinstance(t, Tensor)]
            op = self.ops[key] = Op(key, ctx.fn.__name__, getattr(ctx.fn, "rule", ""), shapes)
            op.args = _arg_names(ctx.fn)
            for name, given, needed in zip(op.args, ctx.inputs, ctx.needs_input_grad):
                if given is None:
                    op.absent.add(name)
                elif isinstance(given, Tensor) and not needed:
                    op.unneeded.add(name)
        return self.ops[key]

    def _calls(self) -> list[Call]:
        """Every module call tagged on the graph (Module.__call__'s `module_calls`), nested by containment."""
        merged: dict[tuple[int, int], Call] = {}
        for ctx in self.held:
            for order, (module, inputs) in enumerate(ctx.__dict__.get("module_calls") or ()):
                stop = {self.contexts.get(id(n)) for n in inputs if n is not None}
                ops = self._between(ctx, stop)
                key = (id(module), id(inputs))  # one call's outputs share its inputs tuple: one box for all
                if key in merged:
                    merged[key].ops |= ops
                elif ops:
                    merged[key] = Call(module, self.contexts[id(ctx)], ops, order)
        calls = list(merged.values())
        calls.sort(key=lambda c: (len(c.ops), c.order))
        for i, c in enumerate(calls):  # the parent: the smallest call after it that contains it
            c.parent = next((p for p in calls[i + 1:] if c.ops <= p.ops), None)
        for c in calls:
            p = c.parent
            while p is not None:
                c.depth, p = c.depth + 1, p.parent
        return calls

    def _between(self, ctx: Any, stop: set[str | None]) -> set[str]:
        found, stack = set(), [ctx]
        while stack:
            node = stack.pop()
            key = self.contexts[id(node)]
            if key in stop or key in found:
                continue
            found.add(key)
            stack.extend(p for p in node.parents if p is not None)
        return found
