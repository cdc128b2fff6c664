"""Autograd: Function and Context, graph recording, the backward engine, grad modes, gradcheck."""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether new ops record the graph."""
    return _grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode and restores it on exit."""

    enabled: bool

    def __enter__(self) -> None:
        global _grad_enabled
        self._prev, _grad_enabled = _grad_enabled, self.enabled

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Ops inside record no graph (evaluation, optimizer updates)."""

    enabled = False


class enable_grad(_GradMode):
    """Ops inside record the graph, even within `no_grad`."""

    enabled = True


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum `grad` down to `shape`: the gradient of broadcasting is a sum over the broadcast axes."""
    if grad.shape == shape:
        return grad
    xp = grad.__array_namespace__()
    extra = grad.ndim - len(shape)
    if extra:
        grad = xp.sum(grad, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    return grad


class Context:
    """What a Function's forward leaves for its backward; also the graph node of its output."""

    __slots__ = ("backend", "saved", "fn", "inputs", "needs_input_grad", "retained", "freed", "__dict__")

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.saved: tuple = ()
        self.retained = None  # the output tensor, when it called retain_grad()
        self.freed = False

    @property
    def xp(self) -> Any:
        """The array namespace of this op's device."""
        return self.backend.xp

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays for backward; freed once backward has run (unless retain_graph)."""
        self.saved = arrays


class Function:
    """One op: `forward(ctx, *arrays)` and `backward(ctx, grad)` on raw xp arrays."""

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run forward on the tensors' arrays; record the graph when an input requires grad."""
        tensor_type = _tensor_type()
        backend, needs, raw = None, False, []
        for a in args:  # one pass: unwrap arrays, check devices, see whether any input needs grad
            if isinstance(a, tensor_type):
                if backend is None:
                    backend = a.backend
                elif a.backend is not backend:
                    raise RuntimeError(f"{cls.__name__}: expected all tensors on one device, "
                                       f"got {backend.device} and {a.device}; move one with .to(device)")
                needs = needs or a.requires_grad
                raw.append(a.data)
            else:
                raw.append(a)
        ctx = Context(backend)
        try:
            out = cls.forward(ctx, *raw, **kwargs)
        except (ValueError, TypeError) as exc:
            raise _explain(cls.__name__, raw, exc) from exc
        backend = ctx.__dict__.get("out_backend", backend)  # only ToDevice changes device
        if not (needs and _grad_enabled):
            return tensor_type._make(out, backend, False, None)
        ctx.fn = cls
        ctx.inputs = args
        ctx.needs_input_grad = tuple(isinstance(a, tensor_type) and a.requires_grad for a in args)
        return tensor_type._make(out, backend, True, ctx)


_TENSOR = None


def _tensor_type() -> type:
    """minitorch.Tensor, looked up once (tensor.py imports this module, so not at import time)."""
    global _TENSOR
    if _TENSOR is None:
        from .tensor import Tensor
        _TENSOR = Tensor
    return _TENSOR


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    """NumPy's broadcast of shapes, or None when they do not broadcast."""
    out: list[int] = []
    for dims in zip(*(((1,) * (max(map(len, shapes)) - len(s)) + tuple(s)) for s in shapes)):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _explain(op: str, raw: Sequence[Any], exc: Exception) -> Exception:
    """A forward failure restated with the op's name and its operands' shapes."""
    shapes = [tuple(a.shape) for a in raw if hasattr(a, "shape")]
    if len(shapes) >= 2 and broadcast_shapes(*shapes) is None:
        return RuntimeError(f"{op}: shapes " + " and ".join(map(str, shapes)) + " cannot be broadcast together")
    return type(exc)(f"{op} with input shapes {', '.join(map(str, shapes))}: {exc}")


def _topological_order(root: Context) -> list[Context]:
    """Graph nodes reachable from `root`, each before the nodes that produced its inputs."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)  # post-order: after everything it depends on
            continue
        if id(node) in visited:  # marked on expansion, so a node reached twice is placed once, late enough
            continue
        visited.add(id(node))
        stack.append((node, True))
        for t, needed in zip(node.inputs, node.needs_input_grad):
            if needed:  # only tensors that require grad lead anywhere (and only they have grad_fn)
                parent = t.grad_fn
                if parent is not None and id(parent) not in visited:
                    stack.append((parent, False))
    order.reverse()
    return order


_FREED_MSG = ("backward through a graph a second time: its saved arrays were freed after the first "
              "backward; pass retain_graph=True to the first backward() if you need to do this")


def run_backward(root: Any, grad: Any, retain_graph: bool = False) -> None:
    """Propagate `grad` from `root` to every leaf that requires grad, summing over paths."""
    if root.grad_fn is None:  # a leaf: its gradient is the seed itself
        root._accumulate(grad)
        return
    pending = {id(root.grad_fn): grad}
    leaf_grads: dict[int, tuple[Any, Any]] = {}
    for node in _topological_order(root.grad_fn):
        if node.freed:
            raise RuntimeError(_FREED_MSG)
        g = pending.pop(id(node), None)
        if g is None:
            continue
        if node.retained is not None:
            node.retained._accumulate(g)
        grads = node.fn.backward(node, g)
        if not isinstance(grads, tuple):
            grads = (grads,)
        for t, gi, needed in zip(node.inputs, grads, node.needs_input_grad):
            if not needed or gi is None:
                continue
            if gi.shape != t.data.shape:
                gi = unbroadcast(gi, t.data.shape)
            if t.grad_fn is not None:
                key = id(t.grad_fn)
                pending[key] = gi if key not in pending else pending[key] + gi
            else:
                prev = leaf_grads.get(id(t))
                leaf_grads[id(t)] = (t, gi if prev is None else prev[1] + gi)
        if not retain_graph:
            node.saved, node.inputs, node.freed = (), (), True
    seen: set[int] = set()
    for t, g in leaf_grads.values():
        # One array can reach two leaves (z = x + y); copy so in-place zeroing of one spares the other.
        if id(g) in seen:
            g = g.__array_namespace__().asarray(g, copy=True)
        seen.add(id(g))
        t._accumulate(g)


from .gradcheck import gradcheck  # noqa: E402  (re-exported: minitorch.autograd.gradcheck)

__all__ = ["Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "unbroadcast",
           "run_backward", "gradcheck"]
