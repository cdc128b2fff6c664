"""check_backward: a layer's hand-written backward against the true gradients, naming the usual mistake.

    result = check_backward(MyLinear(3, 2), np.random.randn(4, 3))
    print(result)          # per gradient: ok, or what looks wrong (transposed, off by the batch size, ...)
    assert result.ok

The true gradients come from minitorch's autograd when the layer's forward runs on Tensors (it uses
operators only), checked against one finite-difference directional derivative; otherwise from
float64 central finite differences of the forward. The check runs on copies: the layer keeps its
parameters, stored gradients and running statistics.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import Context
from ..backends import Backend, get_backend
from ..tensor import Tensor
from .diagnose import Verdict, compare
from .gradcheck import _host

AUTOGRAD = "minitorch autograd"
NUMERIC = "float64 central finite differences"
_GRAD_NAMES = ("d{}", "dL_d{}", "d_{}", "grad_{}", "{}_grad")
_PARAM_NAMES = {"w", "b", "weight", "weights", "bias", "gamma", "beta"}  # "not set" is reported for these


@dataclass
class BackwardCheck:
    """What check_backward found: ok, the reference used, and a verdict per gradient; str() is the report."""

    layer: str
    reference: str  # AUTOGRAD or NUMERIC
    verdicts: list[Verdict] = field(default_factory=list)
    why_numeric: str = ""  # why autograd could not give the reference

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)

    @property
    def errors(self) -> dict[str, float]:
        """Max absolute error per gradient (nan where the shape is wrong or it is missing)."""
        return {v.name: v.max_error for v in self.verdicts}

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        width = max(len(v.name) for v in self.verdicts)
        lines = [f"check_backward({self.layer}): {'ok' if self.ok else 'FAILED'}",
                 f"  reference: {self.reference}" + (f", because {self.why_numeric}" if self.why_numeric else "")]
        for v in self.verdicts:
            lines.append(f"  {v.name:<{width}}  {'ok   ' if v.ok else 'WRONG'}  "
                         + (f"max error {v.max_error:.2g}" if v.ok else v.diagnosis))
        return "\n".join(lines)


def check_backward(layer: Any, x: Any, *, atol: float = 1e-6, rtol: float = 1e-4,
                   params: dict[str, str] | None = None, seed: int = 0) -> BackwardCheck:
    """Compare layer.backward's dL/dx and parameter gradients with the true ones for a random dL/dy.

    params: {parameter attribute: gradient attribute}, when they are not the layer's `params` tuple or
    the usual names (W and dW, dL_dW, grad_W, ...). Use a small layer and x: finite differences run
    the forward twice per number.
    """
    x = np.array(_host(x), dtype=np.float64)
    candidates = _parameters(layer, params)
    student = _copy(layer, [p for p, _ in candidates])
    y = _host(_forward(student, x.copy(), seed))
    g = np.random.default_rng((seed, 1)).standard_normal(y.shape)  # not a stream a user picks for x
    dx = student.backward(g.copy())
    got = {"dL_dx": None if dx is None else _host(dx)}
    checked = []
    for p, names in candidates:
        name = next(filter(None, (_attribute(student, n) for n in names)), None)
        if name is not None or p.lstrip("_").lower() in _PARAM_NAMES:
            checked.append(p)
            got[name or names[0]] = None if name is None else _host(getattr(student, name))
    want, why_numeric = _reference(layer, checked, x, g, seed)
    batch = x.shape[0] if x.ndim else 1
    verdicts = [compare(name, got[name], w, batch, x if name == "dL_dx" else None, atol, rtol)
                for name, w in zip(got, want)]
    return BackwardCheck(_describe(layer), NUMERIC if why_numeric else AUTOGRAD, verdicts, why_numeric)


def _parameters(layer: Any, params: dict[str, str] | None) -> list[tuple[str, tuple[str, ...]]]:
    """(parameter attribute, names its gradient may have): given, declared (workshop `params`), or guessed."""
    if params is not None:
        return [(p, (g,)) for p, g in params.items()]
    declared = getattr(layer, "params", None)
    if declared and all(isinstance(pair, tuple) and len(pair) == 2 for pair in declared):
        return [(p, (g,)) for p, g in declared]
    found = []
    for name, value in vars(layer).items():
        if _is_float_array(value):
            bases = dict.fromkeys((name, name.lstrip("_")))
            found.append((name, tuple(dict.fromkeys(f.format(b) for f in _GRAD_NAMES for b in bases))))
    gradient_names = {n.lower() for _, names in found for n in names}
    return [(p, names) for p, names in found if p.lower() not in gradient_names]  # dW is not a parameter


def _reference(layer: Any, params: list[str], x: np.ndarray, g: np.ndarray, seed: int) -> tuple[list, str]:
    """The true [dL/dx, dL/dparam...], and why not by autograd ("" when by autograd)."""
    numeric = _Numeric(layer, params, x, g, seed)
    grads, why_not = _autograd(layer, params, x, g, seed)
    if grads is not None:
        if numeric.agrees(grads):
            return grads, ""
        why_not = "autograd's gradient disagreed with finite differences: the forward leaves the graph somewhere"
    return numeric.gradients(), why_not


def _autograd(layer: Any, params: list[str], x: np.ndarray, g: np.ndarray,
              seed: int) -> tuple[list | None, str]:
    """The gradients by autograd, running the layer's own forward on Tensors; (None, why) where it can't."""
    probe = _copy(layer, params)
    leaves = [Tensor(x, requires_grad=True)]
    for p in params:
        t = Tensor(_host(getattr(probe, p)), requires_grad=True)
        setattr(probe, p, t)
        if getattr(probe, p) is not t:
            return None, f"the layer turns its parameter {p} into an array"
        leaves.append(t)
    try:
        with np.errstate(all="ignore"):
            y = _forward(probe, leaves[0], seed)
    except Exception as exc:  # noqa: BLE001  (any failure just means: not on Tensors)
        return None, f"its forward does not run on minitorch Tensors ({type(exc).__name__}: {exc})"
    if not (isinstance(y, Tensor) and y.requires_grad):
        return None, "its forward does not record a minitorch graph (it computes on raw arrays)"
    (y * Tensor(g)).sum().backward()
    if any(t.grad is None for t in leaves):
        return None, "some gradient did not reach its input through the graph"
    return [_host(t.grad) for t in leaves], ""


class _Numeric:
    """L(x, params) = sum(forward(x) * g) on a float64 copy of the layer, nudged in place."""

    def __init__(self, layer: Any, params: list[str], x: np.ndarray, g: np.ndarray, seed: int) -> None:
        self.probe, self.x, self.g, self.seed = _copy(layer, params), x.copy(), g, seed
        self.loss()  # a first forward: layers that move parameters to the input's device and dtype do it now
        self.arrays = [self.x] + [getattr(self.probe, p) for p in params]
        for p, a in zip(params, self.arrays[1:]):
            if not (isinstance(a, np.ndarray) and a.dtype == np.float64):
                raise TypeError(f"check_backward: parameter {p} is a {type(a).__name__} of {a.dtype} after forward; "
                                "finite differences need float64 NumPy arrays")

    def loss(self) -> float:
        with np.errstate(all="ignore"):
            return float(np.sum(_host(_forward(self.probe, self.x.copy(), self.seed)) * self.g))

    def agrees(self, grads: list[np.ndarray], eps: float = 1e-6) -> bool:
        """One directional derivative along a random v (v = 0 where x == 0: kinks) against autograd's."""
        rng = np.random.default_rng((self.seed, 2))
        vs = [rng.standard_normal(a.shape) for a in self.arrays]
        vs[0][self.x == 0] = 0.0
        predicted = sum(float(np.sum(gr * v)) for gr, v in zip(grads, vs))
        plus, minus = self._nudged(vs, eps), self._nudged(vs, -eps)
        scale = sum(float(np.sum(np.abs(gr * v))) for gr, v in zip(grads, vs))
        return abs((plus - minus) / (2 * eps) - predicted) <= 1e-6 + 1e-5 * scale

    def _nudged(self, vs: list[np.ndarray], step: float) -> float:
        for a, v in zip(self.arrays, vs):
            a += step * v
        try:
            return self.loss()
        finally:
            for a, v in zip(self.arrays, vs):
                a -= step * v

    def gradients(self, eps: float = 1e-6) -> list[np.ndarray]:
        """dL/d(each array) entry by entry; where x == 0 is a kink, the derivative from below (ReLU's 0)."""
        centre = self.loss()
        grads = []
        for k, a in enumerate(self.arrays):
            grad = np.zeros(a.shape)
            for i in np.ndindex(a.shape):
                old = a[i]
                a[i] = old + eps
                plus = self.loss()
                a[i] = old - eps
                minus = self.loss()
                a[i] = old
                grad[i] = (plus - minus) / (2 * eps)
                if k == 0 and old == 0:
                    below, above = (centre - minus) / eps, (plus - centre) / eps
                    if abs(above - below) > 1e-4 * (1 + abs(grad[i])):
                        grad[i] = below
            grads.append(grad)
        return grads


def _forward(layer: Any, x: Any, seed: int) -> Any:
    """layer.forward(x) drawing the same random numbers every call (Dropout's mask), the caller's RNGs kept."""
    backend = get_backend("cpu")
    saved, state = backend.rng, np.random.get_state()
    backend.rng = backend.make_rng(seed)
    np.random.seed(seed)
    try:
        return layer.forward(x)
    finally:
        backend.rng = saved
        np.random.set_state(state)


def _copy(layer: Any, params: list[str]) -> Any:
    """A copy to run (forward's caches and running statistics land there), with float64 parameters."""
    # Backends hold modules and cannot be copied; an op context is replaced by the next forward.
    memo = {id(v): v for v in vars(layer).values() if isinstance(v, (Backend, Context))}
    try:
        new = copy.deepcopy(layer, memo)
    except Exception:  # noqa: BLE001  (something in it cannot be copied: at least its arrays are its own)
        new = copy.copy(layer)
        for name, value in vars(layer).items():
            if hasattr(value, "__array_namespace__") and not isinstance(value, Tensor):
                new.__dict__[name] = value.__array_namespace__().asarray(value, copy=True)
    for p in params:
        setattr(new, p, np.array(_host(getattr(layer, p)), dtype=np.float64))
    return new


def _attribute(obj: Any, name: str) -> str | None:
    """The name of obj's attribute called `name`, matched without case (dL_dW, dL_dw), if it is set."""
    if getattr(obj, name, None) is not None:
        return name
    return next((k for k, v in vars(obj).items() if k.lower() == name.lower() and v is not None), None)


def _is_float_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > 0


def _describe(layer: Any) -> str:
    text = repr(layer)
    return text if len(text) <= 60 and "object at 0x" not in text else type(layer).__name__
