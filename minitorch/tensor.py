"""Tensor: an xp array, the backend (device) it lives on, and its autograd fields."""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any

import numpy as np

from . import dtypes
from .autograd import run_backward
from .backends import Backend, get_backend

MinMax = namedtuple("MinMax", ["values", "indices"])


class Tensor:
    """A multi-dimensional array with reverse-mode automatic differentiation."""

    __slots__ = ("data", "backend", "requires_grad", "grad", "grad_fn", "__weakref__", "__dict__")
    __array_priority__ = 1000  # numpy_array + tensor defers to Tensor.__radd__

    def __init__(self, data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> None:
        backend = get_backend(device if device is not None else _device_of(data))
        array = _to_array(data, backend, dtype)
        if requires_grad and not dtypes.is_floating(array.dtype):
            raise RuntimeError(f"only floating-point tensors can require grad, got {dtypes.as_dtype(array.dtype)}")
        self.data, self.backend, self.requires_grad = array, backend, requires_grad
        self.grad, self.grad_fn = None, None

    @classmethod
    def _make(cls, data: Any, backend: Backend, requires_grad: bool, grad_fn: Any) -> "Tensor":
        """Wrap an array of `backend` without conversion (the ops' fast path)."""
        t = object.__new__(cls)
        t.data, t.backend, t.requires_grad, t.grad, t.grad_fn = data, backend, requires_grad, None, grad_fn
        return t

    # -- properties ----------------------------------------------------------------------
    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def xp(self) -> Any:
        return self.backend.xp

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return dtypes.as_dtype(self.data.dtype)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> "Tensor":
        return ops.permute(self, tuple(reversed(range(self.ndim))))

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return math.prod(self.data.shape)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # -- autograd ------------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's .grad (and retained non-leaves')."""
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no grad_fn")
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(f"backward(): output of shape {self.shape} is not a scalar; "
                                   "pass gradient= with the same shape to backpropagate a non-scalar")
            g = self.xp.ones(self.data.shape, dtype=self.data.dtype)
        else:
            g = gradient.data if isinstance(gradient, Tensor) else _to_array(gradient, self.backend, self.dtype)
            if tuple(g.shape) != self.shape:
                raise RuntimeError(f"backward(): gradient shape {tuple(g.shape)} does not match output {self.shape}")
        run_backward(self, g, retain_graph)

    def _accumulate(self, g: Any) -> None:
        self.grad = Tensor._make(g if self.grad is None else self.grad.data + g, self.backend, False, None)

    def retain_grad(self) -> None:
        """Keep this non-leaf's gradient in .grad after backward."""
        if self.grad_fn is not None:
            self.grad_fn.retained = self

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor._make(self.data, self.backend, False, None)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not dtypes.is_floating(self.dtype):
            raise RuntimeError(f"only floating-point tensors can require grad, got {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def zero_(self) -> "Tensor":
        self.data[...] = 0
        return self

    # -- conversion ----------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A NumPy copy (or view, on the CPU) of the data."""
        return self.backend.to_host(self.data)

    def item(self) -> Any:
        if self.numel() != 1:
            raise RuntimeError(f"item(): tensor of shape {self.shape} has {self.numel()} elements, not 1")
        return self.numpy().reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def to(self, target: Any) -> "Tensor":
        """Move to a device ("cpu", "cuda") or cast to a dtype; differentiable."""
        if isinstance(target, str) and not _looks_like_dtype(target):
            return ops.to_device(self, target)
        return ops.cast(self, target)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    def float(self) -> "Tensor":
        return ops.cast(self, dtypes.float32)

    def double(self) -> "Tensor":
        return ops.cast(self, dtypes.float64)

    def long(self) -> "Tensor":
        return ops.cast(self, dtypes.int64)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = [f"device='{self.device}'"] if self.device != "cpu" else []
        if self.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.fn.__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    __hash__ = object.__hash__


def _device_of(data: Any) -> Any:
    """The device an incoming array already lives on (None: the default device)."""
    if isinstance(data, Tensor):
        return data.device
    module = type(data).__module__
    if module.startswith("cupy"):
        return f"cuda:{data.device.id}"
    if module.startswith("array_api_strict"):
        return "strict"
    return None


def _looks_like_dtype(name: str) -> bool:
    try:
        dtypes.as_dtype(name)
        return True
    except TypeError:
        return False


def _to_array(data: Any, backend: Backend, dtype: Any) -> Any:
    """Copy data (Tensor, array of any backend, nested lists, scalar) into an array of `backend`."""
    xp = backend.xp
    if isinstance(data, Tensor):
        data = data.data if data.backend is backend else data.numpy()
    if hasattr(data, "__array_namespace__") and data.__array_namespace__() is xp:
        array = xp.asarray(data, copy=True)
    else:
        if type(data).__module__.startswith("cupy"):
            data = data.get()
        host = np.asarray(data, order="C")
        if dtype is None and host.dtype == np.float64 and not isinstance(data, np.ndarray):
            host = host.astype(np.float32)  # Python floats become float32, as in PyTorch
        array = backend.from_host(host)
    if dtype is not None and dtypes.as_dtype(array.dtype) != dtypes.as_dtype(dtype):
        array = xp.astype(array, dtypes.backend_dtype(xp, dtype))
    return array


from . import ops  # noqa: E402  (ops import Tensor; the dunders below call into them)
from .ops import tensor_methods  # noqa: E402,F401  (attaches math methods and dunders)
