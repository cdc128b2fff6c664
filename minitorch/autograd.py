"""Autograd: Function and Context, graph recording, the backward engine, grad modes, gradcheck."""
from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Callable, Sequence

import numpy as np

from .versions import check_versions, check_view, saved_versions, share_storage


class _GradState(threading.local):
    """Grad mode is per thread, as in PyTorch: no_grad() in one thread never affects another."""

    enabled = True
    anomaly = False  # detect_anomaly(): check every op's output and gradients for NaN/Inf
    recorder = None  # minitorch.compile's Recorder while it records a step in this thread (capture/record.py)


_state = _GradState()


def is_grad_enabled() -> bool:
    """Whether new ops record the graph (in this thread)."""
    return _state.enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn graph recording on or off for this thread."""
    _state.enabled = bool(mode)


class _GradMode:
    """Context manager and decorator that sets grad mode and restores it on exit."""

    enabled: bool

    def __enter__(self) -> None:
        self._prev, _state.enabled = _state.enabled, self.enabled

    def __exit__(self, *exc: Any) -> None:
        _state.enabled = self._prev

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


class detect_anomaly:
    """Inside it, the first op whose forward or backward produces NaN or Inf raises a RuntimeError
    naming the op and the line of user code that created it (slow: it reads every result)."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> "detect_anomaly":
        self._prev, _state.anomaly = _state.anomaly, self.check_nan
        return self

    def __exit__(self, *exc: Any) -> None:
        _state.anomaly = self._prev


def _user_line() -> str:
    """file:line: code of the innermost caller outside minitorch (where the user created the op)."""
    import os
    import traceback
    package = os.path.dirname(os.path.abspath(__file__))
    for frame in reversed(traceback.extract_stack()[:-1]):
        if not os.path.abspath(frame.filename).startswith(package + os.sep):
            return f"{frame.filename}:{frame.lineno}: {(frame.line or '').strip()}"
    return "(inside minitorch)"


def _nonfinite(a: Any) -> str | None:
    """'nan' or 'inf' when a floating array holds one, else None."""
    if a is None or getattr(a.dtype, "kind", "f") not in "fc" and "float" not in str(a.dtype):
        return None
    xp = a.__array_namespace__()
    if bool(xp.any(xp.isnan(a))):
        return "nan"
    return None if bool(xp.all(xp.isfinite(a))) else "inf"


def _anomaly_in_forward(name: str, out: Any) -> None:
    bad = _nonfinite(out)
    if bad:
        raise RuntimeError(f"detect_anomaly: {name} produced {bad} values in its forward, created at "
                           f"{_user_line()}")


def _anomaly_in_backward(node: "Context", grads: tuple) -> None:
    for i, g in enumerate(grads):
        bad = _nonfinite(g)
        if bad:
            raise RuntimeError(f"detect_anomaly: Function '{node.name}' returned {bad} values in its {i}th "
                               f"output; the op was created at {node.__dict__.get('site', '(unknown)')}")


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

    __slots__ = ("backend", "saved", "fn", "inputs", "parents", "needs_input_grad", "freed", "versions", "hooks",
                 "__dict__")

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.saved: tuple = ()
        self.freed = False
        # Functions of the output's gradient (register_hook; retain_grad's hook is kept last), or None.
        self.hooks = None
        self.versions = ()    # (tensor, version, which) for each saved input/output: checked in backward

    @property
    def xp(self) -> Any:
        """The array namespace of this op's device."""
        return self.backend.xp

    @property
    def name(self) -> str:
        """The node's name as PyTorch prints it: MulBackward, ..."""
        return f"{self.fn.__name__}Backward"

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays for backward; freed once backward has run (unless retain_graph)."""
        self.saved = arrays


class Function:
    """One op: `forward(ctx, *arrays)` and `backward(ctx, grad)` on raw xp arrays."""

    view = False  # True for ops whose output shares the first input's storage (reshape, permute, ...)

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
        backend, raw, needs = None, [], []
        for a in args:  # one pass: unwrap arrays, check devices, see which inputs need grad
            if isinstance(a, tensor_type):
                if backend is None:
                    backend = a.backend
                elif a.backend is not backend:
                    raise RuntimeError(f"{cls.__name__}: expected all tensors on one device, "
                                       f"got {backend.device} and {a.device}; move one with .to(device)")
                if a._base is not None:
                    check_view(a, cls.__name__)
                needs.append(a.requires_grad)
                raw.append(a.array)
            else:
                needs.append(False)
                raw.append(a)
        record = _state.enabled and any(needs)
        ctx = Context(backend)
        # Known before forward, so an op saves only what the wanted gradients need (d(a*b)/da needs b only).
        ctx.needs_input_grad = tuple(needs) if record else (False,) * len(needs)
        guard = backend.guard if backend is not None else None
        try:
            if guard is None:
                out = cls.forward(ctx, *raw, **kwargs)
            else:  # CuPy allocates and launches on the current device: make it the tensors' one
                with guard:
                    out = cls.forward(ctx, *raw, **kwargs)
        except (ValueError, TypeError) as exc:
            raise _explain(cls.__name__, raw, exc) from exc
        if isinstance(out, np.generic):  # NumPy reductions return scalars: a tensor needs a (0-d) array
            scalar, out = out, np.asarray(out)
            ctx.saved = tuple(out if s is scalar else s for s in ctx.saved)  # so the saved output is version-checked
        if _state.anomaly:
            with guard or contextlib.nullcontext():  # the finiteness check runs on the device too
                _anomaly_in_forward(cls.__name__, out)
            ctx.site = _user_line()
        backend = ctx.__dict__.get("out_backend", backend)  # only ToDevice changes device
        view = ctx.__dict__.get("view", cls.view)
        if not record:
            t = tensor_type._make(out, backend, False, None)
            if view:
                share_storage(t, args[0])
            if _state.recorder is not None:  # minitorch.compile is recording this step: note the op
                _state.recorder.op(cls, args, kwargs, ctx, t)
            return t
        ctx.fn = cls
        ctx.inputs = args
        # Edges are fixed now: a later in-place op that gives an input a new grad_fn must not reroute them.
        ctx.parents = tuple(a.grad_fn if n else None for a, n in zip(args, needs))
        t = tensor_type._make(out, backend, True, ctx)
        if view:
            share_storage(t, args[0])
        if ctx.saved:
            ctx.versions = saved_versions(ctx.saved, args, tensor_type, t)
        if _state.recorder is not None:
            _state.recorder.op(cls, args, kwargs, ctx, t)
        return t


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
        for parent in node.parents:
            if parent is not None and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


# -- backward observers: tools (trace, graph drawings) that watch each op's backward -----------------
backward_observers: list[Callable[..., Any]] = []


class ObserverHandle:
    """Returned by add_backward_observer: `.remove()`, or the end of a `with` block, unregisters it."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def remove(self) -> None:
        for i, f in enumerate(backward_observers):
            if f is self.fn:
                del backward_observers[i]
                return

    def __enter__(self) -> "ObserverHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def add_backward_observer(fn: Callable[..., Any]) -> ObserverHandle:
    """Call fn(node, grad_in, grads_out) for each node backward runs, right after its op's backward.

    node is the Context (its .inputs, .parents and .needs_input_grad are still there), grad_in the
    upstream gradient array after tensor hooks, grads_out the tuple the op's backward returned (raw:
    before unbroadcast and dtype casts). If fn has an `on_accumulate(tensor, grad)` method, it is
    called for each leaf with its gradient summed over paths, before the leaf's hooks and .grad.
    """
    backward_observers.append(fn)
    return ObserverHandle(fn)


def _watch(node: Context, g: Any, grads: tuple, observers: tuple | None) -> None:
    """Per node, only when observers or detect_anomaly are on: observers first, so they see a NaN's op."""
    for fn in observers or ():
        fn(node, g, grads)
    if _state.anomaly:
        _anomaly_in_backward(node, grads)


def _observe_leaves(observers: tuple, leaves: Any) -> None:
    for fn in observers:
        on_accumulate = getattr(fn, "on_accumulate", None)
        if on_accumulate is not None:
            for t, g in leaves:
                on_accumulate(t, g)


_FREED_MSG = ("backward through a graph a second time: its saved arrays were freed after the first "
              "backward; pass retain_graph=True to the first backward() if you need to do this")


def run_backward(root: Any, grad: Any, retain_graph: bool = False) -> None:
    """Propagate `grad` from `root` to every leaf that requires grad, summing over paths.

    On CuPy the walk runs with the device of the root's node current (that of its inputs: for `loss.cpu()`
    the CUDA device), switched to only when another is current. Not handled: a graph spanning two CUDA
    devices runs the nodes of the other one with the root's device current too."""
    guard = (root.grad_fn or root).backend.guard
    if guard is not None and guard.elsewhere():
        with guard:
            return run_backward(root, grad, retain_graph)
    observers = tuple(backward_observers) if backward_observers else None  # the one check when none observe
    if root.grad_fn is None:  # a leaf: its gradient is the seed itself
        if observers is not None:
            _observe_leaves(observers, ((root, grad),))
        root._accumulate(grad)
        return
    watch = _state.anomaly or observers is not None  # read once: the loop checks a local
    pending = {id(root.grad_fn): grad}
    leaf_grads: dict[int, tuple[Any, Any]] = {}
    for node in _topological_order(root.grad_fn):
        if node.freed:
            raise RuntimeError(_FREED_MSG)
        g = pending.pop(id(node), None)
        if g is None:
            continue
        if node.hooks is not None:  # register_hook's functions, then retain_grad's
            g = _run_hooks(node, g)
        check_versions(node)
        grads = node.fn.backward(node, g)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if watch:
            _watch(node, g, grads, observers)
        previous = None
        for t, gi, parent, needed in zip(node.inputs, grads, node.parents, node.needs_input_grad):
            if not needed or gi is None:
                continue
            if gi is previous:  # one array for two inputs (a + b): each path gets its own
                gi = _copy(gi)
            previous = gi
            if gi.shape != t.array.shape:
                gi = unbroadcast(gi, t.array.shape)
            if gi.dtype != t.array.dtype:  # every gradient has its input's dtype
                gi = gi.__array_namespace__().astype(gi, t.array.dtype)
            if parent is not None:
                key = id(parent)
                pending[key] = gi if key not in pending else pending[key] + gi
            else:
                prev = leaf_grads.get(id(t))
                leaf_grads[id(t)] = (t, gi if prev is None else prev[1] + gi)
        if not retain_graph:
            node.saved, node.inputs, node.parents, node.freed = (), (), (), True
    if observers is not None:
        _observe_leaves(observers, leaf_grads.values())
    for t, g in leaf_grads.values():
        t._accumulate(g)


def _copy(a: Any) -> Any:
    return a.__array_namespace__().asarray(a, copy=True)


def _run_hooks(node: Context, g: Any) -> Any:
    """Call the output's gradient hooks in registration order; a hook may return a replacement."""
    tensor_type = _tensor_type()
    for hook in list(node.hooks.values()):
        out = hook(tensor_type._make(g, node.backend, False, None))
        if out is not None:
            g = out.array if isinstance(out, tensor_type) else out
    return g


from .gradcheck import gradcheck  # noqa: E402  (re-exported: minitorch.autograd.gradcheck)
from .tracing import trace  # noqa: E402  (re-exported: minitorch.autograd.trace)

__all__ = ["Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "detect_anomaly",
           "unbroadcast", "run_backward", "gradcheck", "backward_observers", "add_backward_observer", "trace"]
