"""What every workshop layer shares: array/Tensor handling, parameter bookkeeping, train/eval."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes
from ..autograd import Context
from ..backends import Backend, get_backend
from ..tensor import Tensor


def unwrap(x: Any) -> tuple[Any, Backend, bool]:
    """(raw xp array, its backend, whether it came as a Tensor) for a Tensor, an array or a list."""
    if isinstance(x, Tensor):
        return x.array, x.backend, True
    module = type(x).__module__.split(".")[0]
    if module == "cupy":
        return x, get_backend(f"cuda:{x.device.id}"), False
    if module == "array_api_strict":
        return x, get_backend("strict"), False
    return np.asarray(x), get_backend("cpu"), False


def wrap(array: Any, backend: Backend, as_tensor: bool) -> Any:
    """Give back the same kind the caller passed in: a Tensor for a Tensor, else the raw array."""
    return Tensor._make(array, backend, False, None) if as_tensor else array


def on_backend(x: Any, backend: Backend) -> Any:
    """`x` (Tensor, array, list) as a raw array of `backend`, copied through the host only if it lives elsewhere."""
    array, source, _ = unwrap(x)
    return array if source is backend else backend.from_host(source.to_host(array))


def context(backend: Backend, needs_input_grad: tuple[bool, ...]) -> Context:
    """A fresh op Context; `needs_input_grad` tells the op's backward which inputs want a gradient."""
    ctx = Context(backend)
    ctx.needs_input_grad = needs_input_grad
    return ctx


def _alias(name: str) -> property:
    """A second name for an attribute (the tutorials' `_w`, `dL_dW`, ...), readable and writable."""
    return property(lambda self: getattr(self, name), lambda self, value: setattr(self, name, value),
                    doc=f"Alias of `{name}`.")


class Layer:
    """A layer with `forward(x)`, `backward(dL_dy) -> dL_dx` and, if it has any, parameters updated by SGD."""

    params: tuple[tuple[str, str], ...] = ()   # (parameter name, its gradient's name)
    buffers: tuple[str, ...] = ()               # state that is not trained (BatchNorm's running stats)

    def __init__(self) -> None:
        self.training = True
        self.backend = get_backend()  # parameters start on the default device
        self._ctx: Context | None = None
        self._as_tensor = False
        self._out_shape: tuple[int, ...] = ()

    def __call__(self, x: Any) -> Any:
        return self.forward(x)

    def forward(self, x: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward(x) -> y")

    def backward(self, dL_dy: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define backward(dL_dy) -> dL_dx")

    def train(self, mode: bool = True) -> "Layer":
        """Training mode: BatchNorm uses batch statistics, Dropout drops."""
        self.training = mode
        return self

    def eval(self) -> "Layer":
        """Evaluation mode: BatchNorm uses running statistics, Dropout is the identity."""
        return self.train(False)

    def parameters(self) -> list[Any]:
        """The trainable arrays (on the layer's device), in a fixed order."""
        return [getattr(self, p) for p, _ in self.params]

    def gradients(self) -> list[Any]:
        """The gradients of `parameters()` from the last backward (None before one)."""
        return [getattr(self, g) for _, g in self.params]

    def update(self, lr: float) -> None:
        """Plain SGD, in place so every alias of a parameter sees the step: p -= lr * dp."""
        for (p_name, g_name), p, g in zip(self.params, self.parameters(), self.gradients()):
            if g is None:
                continue
            if tuple(g.shape) != tuple(p.shape):  # else `p -= lr * g` could broadcast, or fail without names
                raise ValueError(f"{type(self).__name__}.update: gradient {g_name} has shape {tuple(g.shape)} "
                                 f"but {p_name} has shape {tuple(p.shape)}"
                                 + self._transposed_hint(p_name, tuple(g.shape), tuple(p.shape)))
            p -= lr * g

    def _transposed_hint(self, name: str, got: tuple[int, ...], want: tuple[int, ...]) -> str:
        """Extra words for a shape error where `got` is `want` transposed (Linear names the convention)."""
        return "; it looks transposed" if got == want[::-1] != want else ""

    # -- helpers for subclasses --------------------------------------------------------------
    def _begin(self, x: Any) -> tuple[Any, Backend]:
        """Unwrap the input and bring parameters to its device and float dtype (ints become floats)."""
        array, backend, self._as_tensor = unwrap(x)
        if not (self.params or self.buffers):
            return array, backend
        xp = backend.xp
        if not dtypes.is_floating(array.dtype):  # e.g. raw uint8 pixels: compute in the layer's dtype
            array = xp.astype(array, dtypes.backend_dtype(xp, self.dtype))
        # Parameters follow the input, so float64 data trains a float64 layer (as NumPy code would).
        if backend is not self.backend or dtypes.as_dtype(array.dtype) != self.dtype:
            self._move(backend, array.dtype)
        return array, backend

    @property
    def dtype(self) -> np.dtype:
        """The float dtype of the parameters."""
        return dtypes.as_dtype(getattr(self, (self.params[0][0] if self.params else self.buffers[0])).dtype)

    def _move(self, backend: Backend, dtype: Any) -> None:
        """Copy parameters and buffers to `backend` in `dtype`; old gradients no longer match them."""
        moved = {}
        for name in [p for p, _ in self.params] + list(self.buffers):
            array = getattr(self, name)
            if backend is not self.backend:
                array = backend.from_host(self.backend.to_host(array))
            moved[name] = backend.xp.astype(array, dtype)
        self.backend = backend   # first: a checked setter (Linear.W) brings values to self.backend
        for name, array in moved.items():
            setattr(self, name, array)
        for _, g in self.params:
            setattr(self, g, None)

    def _save(self, ctx: Context, y: Any) -> Any:
        """Keep the op's context for backward and hand the output back as the caller's kind."""
        self._ctx, self._out_shape = ctx, tuple(y.shape)
        return wrap(y, ctx.backend, self._as_tensor)

    def _upstream(self, dL_dy: Any) -> tuple[Context, Any, bool]:
        """(the forward's context, dL/dy as an array of its backend, whether dL/dy came as a Tensor)."""
        name = type(self).__name__
        if self._ctx is None:
            raise RuntimeError(f"{name}.backward() called before {name}.forward()")
        g = on_backend(dL_dy, self._ctx.backend)
        if tuple(g.shape) != self._out_shape:
            raise ValueError(f"{name}.backward(): gradient of shape {tuple(g.shape)} does not match the "
                             f"output of forward, of shape {self._out_shape}")
        return self._ctx, g, isinstance(dL_dy, Tensor)

    def _give(self, dx: Any, as_tensor: bool) -> Any:
        """dL/dx as the same kind (Tensor or array) as the dL/dy that came in."""
        return wrap(dx, self._ctx.backend, as_tensor)
