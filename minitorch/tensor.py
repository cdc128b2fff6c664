"""Tensor: an xp array, the backend (device) it lives on, a version counter, and its autograd fields."""
from __future__ import annotations

import difflib
import math
from collections import namedtuple
from typing import Any

import numpy as np

from . import dtypes
from .autograd import run_backward
from .backends import Backend, get_backend

MinMax = namedtuple("MinMax", ["values", "indices"])


class Tensor:
    """A multi-dimensional array with reverse-mode automatic differentiation.

    `.array` is the raw xp array (NumPy or CuPy); `.data` is, as in PyTorch, a detached Tensor
    sharing that storage. `_vc` is the version counter shared by all views of one storage: every
    in-place write bumps it, and backward refuses arrays that changed after an op saved them.
    """

    __slots__ = ("array", "backend", "requires_grad", "grad", "grad_fn", "_vc", "_base", "_base_fn",
                 "__weakref__", "__dict__")
    __array_priority__ = 1000  # numpy_array + tensor defers to Tensor.__radd__

    def __init__(self, data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> None:
        backend = get_backend(device if device is not None else _device_of(data))
        array = _to_array(data, backend, dtype)
        if requires_grad and not dtypes.is_floating(array.dtype):
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, got "
                               f"{dtypes.as_dtype(array.dtype)}")
        self.array, self.backend, self.requires_grad = array, backend, requires_grad
        self.grad, self.grad_fn, self._vc, self._base, self._base_fn = None, None, [0], None, None

    @classmethod
    def _make(cls, array: Any, backend: Backend, requires_grad: bool, grad_fn: Any) -> "Tensor":
        """Wrap an array of `backend` without conversion (the ops' fast path)."""
        t = object.__new__(cls)
        t.array, t.backend, t.requires_grad, t.grad, t.grad_fn = array, backend, requires_grad, None, grad_fn
        t._vc, t._base, t._base_fn = [0], None, None
        return t

    # -- properties ----------------------------------------------------------------------
    @property
    def data(self) -> "Tensor":
        """A detached Tensor sharing this storage (writes through it are not tracked), as in PyTorch."""
        return Tensor._make(self.array, self.backend, False, None)

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data must be set to a Tensor, got {type(value).__name__}; "
                            "for the raw array use .array")
        self.array, self.backend = value.array, value.backend

    @property
    def device(self) -> Any:
        return self.backend.device

    @property
    def xp(self) -> Any:
        return self.backend.xp

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return dtypes.as_dtype(self.array.dtype)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def _version(self) -> int:
        """How many in-place writes this storage has seen."""
        return self._vc[0]

    @property
    def T(self) -> "Tensor":
        return ops.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> "Tensor":
        if self.ndim == 0:
            return self
        if self.ndim < 2:
            raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got {self.ndim}-D tensor.")
        return ops.transpose(self, -2, -1)

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return math.prod(self.array.shape)

    nelement = numel

    def element_size(self) -> int:
        return self.dtype.itemsize

    def is_floating_point(self) -> bool:
        return dtypes.is_floating(self.dtype)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Any:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    # -- autograd ------------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's .grad (and retained non-leaves')."""
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        guard = self.backend.guard
        if guard is not None and guard.elsewhere():  # CuPy: the seed is made on this tensor's device
            with guard:
                return self.backward(gradient, retain_graph)
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs (this output has "
                                   f"shape {self.shape}); pass gradient= with the same shape")
            g = self.xp.ones(self.array.shape, dtype=self.array.dtype)
        else:
            # A copy: no gradient that autograd hands out may alias the caller's array.
            g = _to_array(gradient, self.backend, self.dtype)
            if tuple(g.shape) != self.shape:
                raise RuntimeError(f"backward(): gradient shape {tuple(g.shape)} does not match output {self.shape}")
        run_backward(self, g, retain_graph)

    def _accumulate(self, g: Any) -> None:
        """Add g into .grad: the first gradient is adopted, later ones are added in place."""
        hooks = self.__dict__.get("_hooks")
        if hooks:  # a leaf's hooks see (and may replace) its gradient before it is accumulated
            for hook in list(hooks.values()):
                out = hook(Tensor._make(g, self.backend, False, None))
                if out is not None:
                    g = out.array if isinstance(out, Tensor) else out
        if self.grad is None:
            self.grad = Tensor._make(g, self.backend, False, None)
        else:
            self.grad.array += g
            self.grad._vc[0] += 1

    def retain_grad(self) -> None:
        """Keep this non-leaf's gradient in .grad after backward (a hook run after its other hooks)."""
        inplace.retain_grad(self)

    @property
    def retains_grad(self) -> bool:
        """Whether retain_grad() was called on this non-leaf."""
        return inplace.retains_grad(self)

    def register_hook(self, hook: Any) -> Any:
        """Call hook(grad) when this tensor's gradient is computed; it may return a replacement."""
        return inplace.register_hook(self, hook)

    def detach(self) -> "Tensor":
        """The same storage (and version counter), cut from the graph."""
        t = Tensor._make(self.array, self.backend, False, None)
        t._vc = self._vc
        return t

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph, in place: it becomes a leaf that does not require grad."""
        self.grad_fn, self.requires_grad = None, False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not dtypes.is_floating(self.dtype):
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, got {self.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; use detach() for a "
                               "non-leaf")
        self.requires_grad = requires_grad
        return self

    def clone(self) -> "Tensor":
        """A copy with its own storage; differentiable."""
        return ops.clone(self)

    # -- new tensors like this one (its dtype and device unless given) ---------------------
    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> "Tensor":
        return Tensor(data, dtype=dtype or self.dtype, device=self.device, requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> "Tensor":
        return creation.zeros(*size, dtype=dtype or self.dtype, device=self.device, requires_grad=requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> "Tensor":
        return creation.ones(*size, dtype=dtype or self.dtype, device=self.device, requires_grad=requires_grad)

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> "Tensor":
        return creation.full(size, fill_value, dtype=dtype or self.dtype, device=self.device,
                             requires_grad=requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> "Tensor":
        return creation.zeros(*size, dtype=dtype or self.dtype, device=self.device, requires_grad=requires_grad)

    # -- in-place ops (PyTorch's rules: see minitorch/inplace.py) --------------------------
    def add_(self, other: Any, alpha: Any = 1) -> "Tensor":
        return inplace.apply_(self, ops.add, other, alpha=alpha)

    def sub_(self, other: Any, alpha: Any = 1) -> "Tensor":
        return inplace.apply_(self, ops.sub, other, alpha=alpha)

    def mul_(self, other: Any) -> "Tensor":
        return inplace.apply_(self, ops.mul, other)

    def div_(self, other: Any) -> "Tensor":
        return inplace.apply_(self, ops.div, other)

    def pow_(self, exponent: Any) -> "Tensor":
        return inplace.apply_(self, ops.pow, exponent)

    def neg_(self) -> "Tensor":
        return inplace.apply_(self, ops.neg)

    def exp_(self) -> "Tensor":
        return inplace.apply_(self, ops.exp)

    def log_(self) -> "Tensor":
        return inplace.apply_(self, ops.log)

    def sqrt_(self) -> "Tensor":
        return inplace.apply_(self, ops.sqrt)

    def erf_(self) -> "Tensor":
        return inplace.apply_(self, ops.erf)

    def abs_(self) -> "Tensor":
        return inplace.apply_(self, ops.abs)

    def relu_(self) -> "Tensor":
        return inplace.apply_(self, ops.relu)

    def sigmoid_(self) -> "Tensor":
        return inplace.apply_(self, ops.sigmoid)

    def tanh_(self) -> "Tensor":
        return inplace.apply_(self, ops.tanh)

    def clamp_(self, min: Any = None, max: Any = None) -> "Tensor":  # noqa: A002
        return inplace.apply_(self, ops.clamp, min, max)

    def masked_fill_(self, mask: Any, value: Any) -> "Tensor":
        return inplace.apply_(self, ops.masked_fill, mask, value)

    def zero_(self) -> "Tensor":
        return inplace.fill_(self, 0)

    def fill_(self, value: Any) -> "Tensor":
        return inplace.fill_(self, value)

    def copy_(self, src: Any) -> "Tensor":
        return inplace.copy_(self, src)

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator: Any = None) -> "Tensor":
        return inplace.fill_(self, a + (b - a) * creation.rand_like(self, generator=generator).array)

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> "Tensor":
        return inplace.fill_(self, mean + std * creation.randn_like(self, generator=generator).array)

    def __setitem__(self, key: Any, value: Any) -> None:
        inplace.setitem(self, key, value)

    def __iadd__(self, other: Any) -> "Tensor":
        return inplace.apply_(self, ops.add, other)

    def __isub__(self, other: Any) -> "Tensor":
        return inplace.apply_(self, ops.sub, other)

    def __imul__(self, other: Any) -> "Tensor":
        return inplace.apply_(self, ops.mul, other)

    def __itruediv__(self, other: Any) -> "Tensor":
        return inplace.apply_(self, ops.div, other)

    def __ipow__(self, other: Any) -> "Tensor":
        return inplace.apply_(self, ops.pow, other)

    def __imatmul__(self, other: Any) -> "Tensor":
        return inplace.apply_(self, ops.matmul, other)

    # -- arithmetic and comparisons ------------------------------------------------------
    def __add__(self, other: Any) -> "Tensor": return ops.add(self, other)
    def __radd__(self, other: Any) -> "Tensor": return ops.add(other, self)
    def __sub__(self, other: Any) -> "Tensor": return ops.sub(self, other)
    def __rsub__(self, other: Any) -> "Tensor": return ops.sub(other, self)
    def __mul__(self, other: Any) -> "Tensor": return ops.mul(self, other)
    def __rmul__(self, other: Any) -> "Tensor": return ops.mul(other, self)
    def __truediv__(self, other: Any) -> "Tensor": return ops.div(self, other)
    def __rtruediv__(self, other: Any) -> "Tensor":  # scalar / t as PyTorch: reciprocal then scale (saves 1/t only)
        return ops.mul(ops.reciprocal(self), other) if isinstance(other, (int, float, np.number)) else ops.div(other, self)
    def __floordiv__(self, other: Any) -> "Tensor": return ops.floor_divide(self, other)
    def __rfloordiv__(self, other: Any) -> "Tensor": return ops.floor_divide(other, self)
    def __mod__(self, other: Any) -> "Tensor": return ops.remainder(self, other)
    def __rmod__(self, other: Any) -> "Tensor": return ops.remainder(other, self)
    def __pow__(self, other: Any) -> "Tensor": return ops.pow(self, other)
    def __rpow__(self, other: Any) -> "Tensor": return ops.pow(other, self)
    def __matmul__(self, other: Any) -> "Tensor": return ops.matmul(self, other)
    def __rmatmul__(self, other: Any) -> "Tensor": return ops.matmul(other, self)
    def __neg__(self) -> "Tensor": return ops.neg(self)
    def __pos__(self) -> "Tensor": return self
    def __abs__(self) -> "Tensor": return ops.abs(self)
    def __invert__(self) -> "Tensor": return ops.bitwise_not(self)
    def __and__(self, other: Any) -> "Tensor": return ops.bitwise_and(self, other)
    def __rand__(self, other: Any) -> "Tensor": return ops.bitwise_and(other, self)
    def __or__(self, other: Any) -> "Tensor": return ops.bitwise_or(self, other)
    def __ror__(self, other: Any) -> "Tensor": return ops.bitwise_or(other, self)
    def __xor__(self, other: Any) -> "Tensor": return ops.bitwise_xor(self, other)
    def __rxor__(self, other: Any) -> "Tensor": return ops.bitwise_xor(other, self)
    def __lt__(self, other: Any) -> "Tensor": return ops.lt(self, other)
    def __le__(self, other: Any) -> "Tensor": return ops.le(self, other)
    def __gt__(self, other: Any) -> "Tensor": return ops.gt(self, other)
    def __ge__(self, other: Any) -> "Tensor": return ops.ge(self, other)
    def __eq__(self, other: Any) -> "Tensor": return ops.eq(self, other)  # type: ignore[override]
    def __ne__(self, other: Any) -> "Tensor": return ops.ne(self, other)  # type: ignore[override]
    def __getitem__(self, key: Any) -> "Tensor": return ops.getitem(self, key)
    __hash__ = object.__hash__  # __eq__ is elementwise; identity keeps tensors usable as dict keys

    def add(self, other: Any, alpha: Any = 1) -> "Tensor": return ops.add(self, other, alpha=alpha)
    def sub(self, other: Any, alpha: Any = 1) -> "Tensor": return ops.sub(self, other, alpha=alpha)
    def mul(self, other: Any) -> "Tensor": return ops.mul(self, other)
    def div(self, other: Any, rounding_mode: Any = None) -> "Tensor": return ops.div(self, other, rounding_mode)
    def floor_divide(self, other: Any) -> "Tensor": return ops.floor_divide(self, other)
    def remainder(self, other: Any) -> "Tensor": return ops.remainder(self, other)
    def pow(self, exponent: Any) -> "Tensor": return ops.pow(self, exponent)
    def matmul(self, other: Any) -> "Tensor": return ops.matmul(self, other)
    def mm(self, other: Any) -> "Tensor": return ops.mm(self, other)
    def dot(self, other: Any) -> "Tensor": return ops.matmul(self, other)
    def neg(self) -> "Tensor": return ops.neg(self)
    def exp(self) -> "Tensor": return ops.exp(self)
    def log(self) -> "Tensor": return ops.log(self)
    def log1p(self) -> "Tensor": return ops.log1p(self)
    def sqrt(self) -> "Tensor": return ops.sqrt(self)
    def erf(self) -> "Tensor": return ops.erf(self)
    def rsqrt(self) -> "Tensor": return ops.rsqrt(self)
    def square(self) -> "Tensor": return ops.square(self)
    def reciprocal(self) -> "Tensor": return ops.reciprocal(self)
    def abs(self) -> "Tensor": return ops.abs(self)
    def sign(self) -> "Tensor": return ops.sign(self)
    def sin(self) -> "Tensor": return ops.sin(self)
    def cos(self) -> "Tensor": return ops.cos(self)
    def floor(self) -> "Tensor": return ops.floor(self)
    def ceil(self) -> "Tensor": return ops.ceil(self)
    def round(self, decimals: int = 0) -> "Tensor": return ops.round(self, decimals)
    def clamp(self, min: Any = None, max: Any = None) -> "Tensor": return ops.clamp(self, min, max)  # noqa: A002
    clip = clamp
    def clamp_min(self, min: Any) -> "Tensor": return ops.clamp_min(self, min)  # noqa: A002
    def clamp_max(self, max: Any) -> "Tensor": return ops.clamp_max(self, max)  # noqa: A002
    def maximum(self, other: Any) -> "Tensor": return ops.maximum(self, other)
    def minimum(self, other: Any) -> "Tensor": return ops.minimum(self, other)
    def eq(self, other: Any) -> "Tensor": return ops.eq(self, other)
    def ne(self, other: Any) -> "Tensor": return ops.ne(self, other)
    def lt(self, other: Any) -> "Tensor": return ops.lt(self, other)
    def le(self, other: Any) -> "Tensor": return ops.le(self, other)
    def gt(self, other: Any) -> "Tensor": return ops.gt(self, other)
    def ge(self, other: Any) -> "Tensor": return ops.ge(self, other)
    def isnan(self) -> "Tensor": return ops.isnan(self)
    def isinf(self) -> "Tensor": return ops.isinf(self)
    def isfinite(self) -> "Tensor": return ops.isfinite(self)
    def logical_not(self) -> "Tensor": return ops.logical_not(self)
    def logical_and(self, other: "Tensor") -> "Tensor": return ops.logical_and(self, other)
    def logical_or(self, other: "Tensor") -> "Tensor": return ops.logical_or(self, other)
    def logical_xor(self, other: "Tensor") -> "Tensor": return ops.logical_xor(self, other)
    def bitwise_not(self) -> "Tensor": return ops.bitwise_not(self)
    def bitwise_and(self, other: Any) -> "Tensor": return ops.bitwise_and(self, other)
    def bitwise_or(self, other: Any) -> "Tensor": return ops.bitwise_or(self, other)
    def bitwise_xor(self, other: Any) -> "Tensor": return ops.bitwise_xor(self, other)
    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
        return ops.allclose(self, other, rtol, atol, equal_nan)
    def isclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> "Tensor":
        return ops.isclose(self, other, rtol, atol, equal_nan)
    def equal(self, other: Any) -> bool: return ops.equal(self, other)
    def where(self, condition: Any, other: Any) -> "Tensor": return ops.where(condition, self, other)
    def masked_fill(self, mask: Any, value: Any) -> "Tensor": return ops.masked_fill(self, mask, value)
    def lerp(self, end: Any, weight: Any) -> "Tensor": return ops.add(self, ops.mul(ops.sub(end, self), weight))

    # -- reductions ----------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None, keepdims: Any = None) -> "Tensor":
        return ops.sum(self, dim, keepdim if keepdims is None else keepdims, dtype=dtype)  # keepdims: NumPy's name
    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None, keepdims: Any = None) -> "Tensor":
        return ops.mean(self, dim, keepdim if keepdims is None else keepdims, dtype=dtype)
    def var(self, dim: Any = None, keepdim: bool = False, unbiased: bool = True, correction: Any = None) -> "Tensor":
        return ops.var(self, dim, keepdim, unbiased, correction)
    def std(self, dim: Any = None, keepdim: bool = False, unbiased: bool = True, correction: Any = None) -> "Tensor":
        return ops.std(self, dim, keepdim, unbiased, correction)
    def prod(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> "Tensor":
        return ops.prod(self, dim, keepdim, dtype)
    def max(self, dim: Any = None, keepdim: bool = False) -> Any: return ops.max(self, dim, keepdim)
    def min(self, dim: Any = None, keepdim: bool = False) -> Any: return ops.min(self, dim, keepdim)
    def amax(self, dim: Any = None, keepdim: bool = False) -> "Tensor": return ops.amax(self, dim, keepdim)
    def amin(self, dim: Any = None, keepdim: bool = False) -> "Tensor": return ops.amin(self, dim, keepdim)
    def argmax(self, dim: Any = None, keepdim: bool = False) -> "Tensor": return ops.argmax(self, dim, keepdim)
    def argmin(self, dim: Any = None, keepdim: bool = False) -> "Tensor": return ops.argmin(self, dim, keepdim)
    def logsumexp(self, dim: Any, keepdim: bool = False) -> "Tensor": return ops.logsumexp(self, dim, keepdim)
    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> "Tensor":
        return ops.norm(self, p, dim, keepdim, dtype)
    def cumsum(self, dim: int, dtype: Any = None) -> "Tensor": return ops.cumsum(self, dim, dtype)
    def all(self, dim: Any = None, keepdim: bool = False) -> "Tensor": return ops.all(self, dim, keepdim)
    def any(self, dim: Any = None, keepdim: bool = False) -> "Tensor": return ops.any(self, dim, keepdim)
    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
        return ops.topk(self, k, dim, largest, sorted)
    def sort(self, dim: int = -1, descending: bool = False) -> Any: return ops.sort(self, dim, descending)
    def argsort(self, dim: int = -1, descending: bool = False) -> "Tensor": return ops.argsort(self, dim, descending)

    # -- shape -----------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> "Tensor": return ops.reshape(self, *shape)
    def view(self, *shape: Any) -> "Tensor": return ops.view(self, *shape)
    def view_as(self, other: "Tensor") -> "Tensor": return ops.view(self, other.shape)
    def reshape_as(self, other: "Tensor") -> "Tensor": return ops.reshape(self, other.shape)
    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor": return ops.flatten(self, start_dim, end_dim)
    def transpose(self, dim0: int, dim1: int) -> "Tensor": return ops.transpose(self, dim0, dim1)
    def t(self) -> "Tensor":
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return ops.transpose(self, 0, 1) if self.ndim == 2 else self
    def permute(self, *dims: Any) -> "Tensor": return ops.permute(self, *dims)
    def unsqueeze(self, dim: int) -> "Tensor": return ops.unsqueeze(self, dim)
    def squeeze(self, dim: Any = None) -> "Tensor": return ops.squeeze(self, dim)
    def expand(self, *sizes: Any) -> "Tensor": return ops.expand(self, *sizes)
    def expand_as(self, other: "Tensor") -> "Tensor": return ops.expand(self, other.shape)
    def repeat(self, *sizes: Any) -> "Tensor": return ops.repeat(self, *sizes)
    def flip(self, *dims: Any) -> "Tensor": return ops.flip(self, dims[0] if len(dims) == 1 else dims)
    def chunk(self, chunks: int, dim: int = 0) -> tuple: return ops.chunk(self, chunks, dim)
    def unbind(self, dim: int = 0) -> tuple: return ops.unbind(self, dim)
    def narrow(self, dim: int, start: int, length: int) -> "Tensor": return ops.narrow(self, dim, start, length)
    def split(self, split_size: Any, dim: int = 0) -> tuple: return ops.split(self, split_size, dim)
    def gather(self, dim: int, index: Any) -> "Tensor": return ops.gather(self, dim, index)
    def index_select(self, dim: int, index: Any) -> "Tensor": return ops.index_select(self, dim, index)
    def contiguous(self) -> "Tensor": return self
    def is_contiguous(self) -> bool: return True

    # -- activations -----------------------------------------------------------------------
    def relu(self) -> "Tensor": return ops.relu(self)
    def sigmoid(self) -> "Tensor": return ops.sigmoid(self)
    def tanh(self) -> "Tensor": return ops.tanh(self)
    def softmax(self, dim: int = -1, dtype: Any = None) -> "Tensor": return ops.softmax(self, dim, dtype)
    def log_softmax(self, dim: int = -1, dtype: Any = None) -> "Tensor": return ops.log_softmax(self, dim, dtype)

    # -- conversion ----------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A NumPy copy (or view, on the CPU) of the data."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        return self.backend.to_host(self.array)

    def item(self) -> Any:
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        if self.backend.deferred_checks:  # a sync anyway: report device-side check failures here, as PyTorch's asserts
            self.backend.raise_pending_errors()
        return self.backend.to_host(self.array).reshape(()).item()

    def tolist(self) -> Any:
        return self.backend.to_host(self.array).tolist()

    def to(self, *args: Any, **kwargs: Any) -> "Tensor":
        """Move to a device ("cpu", "cuda") and/or cast to a dtype; differentiable.

        `non_blocking` and `copy` are accepted as in PyTorch (copies to the device are already
        asynchronous where the backend allows).
        """
        target_device, dtype = _to_args(args, kwargs)
        t = self if target_device is None else ops.to_device(self, target_device)
        return t if dtype is None else ops.cast(t, dtype)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device: Any = None, non_blocking: bool = False) -> "Tensor":
        return self.to("cuda" if device is None else _cuda_name(device))

    def type(self, dtype: Any = None) -> Any:
        """The type name ("minitorch.FloatTensor") without arguments; a cast with one."""
        if dtype is None:
            return dtypes.type_name(self.dtype)
        return ops.cast(self, dtypes.from_type_name(dtype))

    def type_as(self, other: "Tensor") -> "Tensor": return ops.cast(self, other.dtype)
    def float(self) -> "Tensor": return ops.cast(self, dtypes.float32)
    def double(self) -> "Tensor": return ops.cast(self, dtypes.float64)
    def half(self) -> "Tensor": return ops.cast(self, dtypes.float16)
    def long(self) -> "Tensor": return ops.cast(self, dtypes.int64)
    def int(self) -> "Tensor": return ops.cast(self, dtypes.int32)
    def bool(self) -> "Tensor": return ops.cast(self, dtypes.bool_)
    def byte(self) -> "Tensor": return ops.cast(self, dtypes.uint8)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if dtypes.is_floating(self.dtype) or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.numel()} elements is ambiguous")
        return bool(self.item())

    def __format__(self, spec: str) -> str:
        if self.numel() == 1 and spec:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.backend.to_host(self.array)
        return a if dtype is None else a.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(self.backend.to_host(self.array), separator=", ", prefix="tensor(")
        extras = [f"device='{self.device}'"] if self.device != "cpu" else []
        if self.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool_):
            extras.append(f"dtype={dtypes.type_name(self.dtype, short=True)}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: name the closest existing attribute.
        if name.startswith("__"):
            raise AttributeError(name)
        close = difflib.get_close_matches(name, [n for n in dir(Tensor) if not n.startswith("_")], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise AttributeError(f"'Tensor' object has no attribute '{name}'{hint}")


def _cuda_name(device: Any) -> str:
    return f"cuda:{device}" if isinstance(device, int) else str(device)


def _to_args(args: tuple, kwargs: dict) -> tuple[Any, Any]:
    """(device or None, dtype or None) from Tensor.to's PyTorch-style arguments."""
    target_device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None), kwargs.pop("copy", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            target_device, dtype = a.device, a.dtype
        elif isinstance(a, bool):
            continue  # positional non_blocking
        elif isinstance(a, str) and not dtypes.is_dtype_name(a):
            target_device = a
        else:
            dtype = a
    return target_device, dtype


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


def _to_array(data: Any, backend: Backend, dtype: Any) -> Any:
    """Copy data (Tensor, array of any backend, nested lists, scalar) into an array of `backend`."""
    guard = backend.guard
    if guard is not None and guard.elsewhere():  # CuPy copies and casts on the current device
        with guard:
            return _to_array(data, backend, dtype)
    xp = backend.xp
    if isinstance(data, Tensor):
        data = data.array if data.backend is backend else data.backend.to_host(data.array)
    if hasattr(data, "__array_namespace__") and data.__array_namespace__() is xp:
        array = xp.asarray(data, copy=True)
    else:
        if type(data).__module__.startswith("cupy"):
            data = data.get()
        host = _host_with_dtype(data, dtype) if dtype is not None else dtypes.infer_host_array(data)
        array = backend.from_host(host)
    if dtype is not None and dtypes.as_dtype(array.dtype) != dtypes.as_dtype(dtype):
        array = xp.astype(array, dtypes.backend_dtype(xp, dtype))
    return array


def _host_with_dtype(data: Any, dtype: Any) -> np.ndarray:
    """Python numbers straight to the asked dtype: tensor([0.23], dtype=float64) must not pass through float32."""
    if isinstance(data, (np.ndarray, np.generic)):
        return np.asarray(data)
    try:
        return np.asarray(data, dtype=dtypes.as_dtype(dtype), order="C")
    except (TypeError, ValueError):  # e.g. a list of tensors: infer, then cast
        return dtypes.infer_host_array(data)


def _suggest(module_name: str, names: list[str], name: str) -> AttributeError:
    """An AttributeError for `module.name` that names the closest existing name."""
    public = [n for n in names if not n.startswith("_")]
    close = [n for n in public if n.lower() == name.lower()] or difflib.get_close_matches(name, public, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return AttributeError(f"module '{module_name}' has no attribute '{name}'{hint}")


from . import creation, inplace, ops  # noqa: E402  (they import Tensor; methods above look them up at call time)
