"""Top-level functions PyTorch has that are not ops of their own: predicates, shape checks before a
matmul, the in-place forms (torch.relu_(t) ...), views by another name, and grad-mode switches
spelled as in PyTorch. The ops themselves are exported from minitorch.ops by minitorch/__init__.py.
"""
from __future__ import annotations

import builtins
import functools
from typing import Any, Callable

from . import ops
from .autograd import is_grad_enabled
from .autograd import set_grad_enabled as _set_grad_mode
from .device import device
from .tensor import Tensor


# -- predicates and sizes ------------------------------------------------------------------------
def is_tensor(obj: Any) -> builtins.bool:
    """Whether obj is a minitorch Tensor."""
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> builtins.bool:  # noqa: A002
    """Whether the tensor's dtype is a floating-point type."""
    return input.is_floating_point()


def numel(input: Tensor) -> builtins.int:  # noqa: A002
    """The number of elements."""
    return input.numel()


def get_default_device() -> device:
    """The device new tensors go to (see set_default_device)."""
    from .backends import default_device
    return device(default_device())


# -- products with PyTorch's shape rules ----------------------------------------------------------
def _check_ndim(name: str, want: builtins.int, *tensors: Tensor) -> None:
    for t in tensors:
        if t.ndim != want:
            raise RuntimeError(f"{name}: expected {want}-D tensors, got shapes {[tuple(x.shape) for x in tensors]}")


def mm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002
    """Matrix product of two 2-D tensors."""
    _check_ndim("mm", 2, input, mat2)
    return ops.matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002
    """Batched matrix product of two 3-D tensors (b, n, m) @ (b, m, p)."""
    _check_ndim("bmm", 3, input, mat2)
    return ops.matmul(input, mat2)


def dot(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Inner product of two 1-D tensors."""
    _check_ndim("dot", 1, input, other)
    return ops.matmul(input, other)


# -- views and copies by other names --------------------------------------------------------------
def t(input: Tensor) -> Tensor:  # noqa: A002
    """The transpose of a tensor of at most 2 dims."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return input.t()


def detach(input: Tensor) -> Tensor:  # noqa: A002
    """The same storage, cut from the graph."""
    return input.detach()


def detach_(input: Tensor) -> Tensor:  # noqa: A002
    """Cut the tensor from the graph, in place."""
    return input.detach_()


def tile(input: Tensor, dims: Any) -> Tensor:  # noqa: A002
    """input repeated dims[i] times along each axis; missing leading dims count as 1 (unlike repeat)."""
    dims = tuple(dims)
    return ops.repeat(input, (1,) * (input.ndim - len(dims)) + dims)


def lerp(input: Tensor, end: Any, weight: Any) -> Tensor:  # noqa: A002
    """input + weight * (end - input)."""
    return input.lerp(end, weight)


# -- in-place forms: torch.relu_(t) is t.relu_() ---------------------------------------------------
def relu_(input: Tensor) -> Tensor: return input.relu_()  # noqa: A002, E704
def sigmoid_(input: Tensor) -> Tensor: return input.sigmoid_()  # noqa: A002, E704
def tanh_(input: Tensor) -> Tensor: return input.tanh_()  # noqa: A002, E704
def exp_(input: Tensor) -> Tensor: return input.exp_()  # noqa: A002, E704
def log_(input: Tensor) -> Tensor: return input.log_()  # noqa: A002, E704
def sqrt_(input: Tensor) -> Tensor: return input.sqrt_()  # noqa: A002, E704
def abs_(input: Tensor) -> Tensor: return input.abs_()  # noqa: A002, E704
def neg_(input: Tensor) -> Tensor: return input.neg_()  # noqa: A002, E704
def zero_(input: Tensor) -> Tensor: return input.zero_()  # noqa: A002, E704
def fill_(input: Tensor, value: Any) -> Tensor: return input.fill_(value)  # noqa: A002, E704
def clamp_(input: Tensor, min: Any = None, max: Any = None) -> Tensor: return input.clamp_(min, max)  # noqa: A002, E704
clip_ = clamp_


# -- grad mode ------------------------------------------------------------------------------------
class set_grad_enabled:  # noqa: N801  (named as torch.set_grad_enabled)
    """Turn graph recording on or off: as a call (`set_grad_enabled(False)`), or for a block
    (`with set_grad_enabled(phase == "train"):`), restoring the previous mode on exit."""

    def __init__(self, mode: builtins.bool) -> None:
        self.mode, self.prev = builtins.bool(mode), is_grad_enabled()
        _set_grad_mode(self.mode)  # takes effect now, as in PyTorch

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        _set_grad_mode(self.prev)

    def __call__(self, fn: Callable) -> Callable:
        _set_grad_mode(self.prev)  # used as a decorator: the mode applies inside fn only

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)
        return wrapper


class inference_mode:  # noqa: N801
    """`no_grad` under PyTorch's other name (minitorch has no separate inference tensors)."""

    def __init__(self, mode: builtins.bool = True) -> None:
        self.mode = builtins.bool(mode)

    def __enter__(self) -> None:
        self.prev = is_grad_enabled()
        if self.mode:
            _set_grad_mode(False)

    def __exit__(self, *exc: Any) -> None:
        _set_grad_mode(self.prev)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with inference_mode(self.mode):
                return fn(*args, **kwargs)
        return wrapper
