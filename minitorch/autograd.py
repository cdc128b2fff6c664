"""Autograd: Function and Context, graph recording, the backward engine, grad modes, gradcheck."""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Sequence

import numpy as np


class _GradState(threading.local):
    """Grad mode is per thread, as in PyTorch: no_grad() in one thread never affects another."""

    enabled = True
    anomaly = False  # detect_anomaly(): check every op's output and gradients for NaN/Inf


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

    __slots__ = ("backend", "saved", "fn", "inputs", "parents", "needs_input_grad", "retained", "freed",
                 "versions", "hooks", "__dict__")

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.saved: tuple = ()
        self.retained = None  # the output tensor, when it called retain_grad()
        self.freed = False
        self.hooks = None     # functions of the output's gradient (Tensor.register_hook), or None
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
                    _check_view(a, cls.__name__)
                needs.append(a.requires_grad)
                raw.append(a.array)
            else:
                needs.append(False)
                raw.append(a)
        record = _state.enabled and any(needs)
        ctx = Context(backend)
        # Known before forward, so an op saves only what the wanted gradients need (d(a*b)/da needs b only).
        ctx.needs_input_grad = tuple(needs) if record else (False,) * len(needs)
        try:
            out = cls.forward(ctx, *raw, **kwargs)
        except (ValueError, TypeError) as exc:
            raise _explain(cls.__name__, raw, exc) from exc
        if isinstance(out, np.generic):  # NumPy reductions return scalars: a tensor needs a (0-d) array
            scalar, out = out, np.asarray(out)
            ctx.saved = tuple(out if s is scalar else s for s in ctx.saved)  # so the saved output is version-checked
        if _state.anomaly:
            _anomaly_in_forward(cls.__name__, out)
            ctx.site = _user_line()
        backend = ctx.__dict__.get("out_backend", backend)  # only ToDevice changes device
        view = ctx.__dict__.get("view", cls.view)
        if not record:
            t = tensor_type._make(out, backend, False, None)
            if view:
                _share_storage(t, args[0])
            return t
        ctx.fn = cls
        ctx.inputs = args
        # Edges are fixed now: a later in-place op that gives an input a new grad_fn must not reroute them.
        ctx.parents = tuple(a.grad_fn if n else None for a, n in zip(args, needs))
        t = tensor_type._make(out, backend, True, ctx)
        if view:
            _share_storage(t, args[0])
        if ctx.saved:
            ctx.versions = _saved_versions(ctx.saved, args, tensor_type, t)
        return t


def _share_storage(view: Any, base: Any) -> None:
    """Give a view its base's version counter; remember the base's history to detect rebasing."""
    view._vc = base._vc
    root = base._base if base._base is not None else base
    view._base, view._base_fn = root, root.grad_fn


def _check_view(t: Any, op: str) -> None:
    """A view whose base was rewritten in place by a recorded op describes an old graph: refuse it."""
    if t._base.grad_fn is not t._base_fn:
        raise RuntimeError(f"{op}: this tensor is a view of a tensor that was modified in place by an operation "
                           "recorded by autograd after the view was taken, so its gradient would be wrong. "
                           "minitorch does not rebase views (PyTorch does): take the view again after the "
                           "in-place op, or clone() the view before it")


def _saved_versions(saved: tuple, args: tuple, tensor_type: type, out: Any) -> tuple:
    """(tensor, version, which) for each input or output whose storage the op saved; checked in backward."""
    found = []
    for s in saved:
        if _same_storage(s, out.array):
            found.append((out, 0, "output 0"))
            continue
        for i, a in enumerate(args):
            if isinstance(a, tensor_type) and _same_storage(s, a.array):
                found.append((a, a._vc[0], f"input {i}"))
                break
    return tuple(found)


def _same_storage(s: Any, a: Any) -> bool:
    """Whether s and a are one array or views of one buffer (NumPy's and CuPy's .base)."""
    if s is a:
        return True
    sb, ab = getattr(s, "base", None), getattr(a, "base", None)
    return (sb is not None and (sb is a or sb is ab)) or (ab is not None and ab is s)


def _check_versions(node: Context) -> None:
    for t, version, which in node.versions:
        if t._vc[0] != version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: [{t.dtype} tensor of shape {list(t.shape)}], which is {which} of {node.name}, "
                f"is at version {t._vc[0]}; expected version {version} instead. Hint: clone() it before "
                "the in-place change, or use the out-of-place op")


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
        if node.hooks is not None:
            g = _run_hooks(node, g)
        if node.retained is not None:
            node.retained._accumulate(_copy(g))  # a copy: g flows on, and views of it may reach leaves
        _check_versions(node)
        grads = node.fn.backward(node, g)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if _state.anomaly:
            _anomaly_in_backward(node, grads)
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

__all__ = ["Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "detect_anomaly",
           "unbroadcast", "run_backward", "gradcheck"]
