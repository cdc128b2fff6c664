"""Conversions: dtype casts and device moves (both differentiable), comparisons (not differentiable)."""
from __future__ import annotations

import operator

from .. import dtypes
from ..autograd import Function
from ..backends import get_backend


class Cast(Function):
    """Change dtype; the gradient is cast back to the input's dtype."""

    rule = "da = grad cast back to a's dtype"

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return ctx.xp.astype(a, dtypes.backend_dtype(ctx.xp, dtype))

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.astype(grad, ctx.dtype)


class ToDevice(Function):
    """Copy to another device through host memory; the gradient travels back the same way."""

    rule = "da = grad copied back to a's device"

    @staticmethod
    def forward(ctx, a, device):
        target = get_backend(device)
        ctx.out_backend = target
        return target.from_host(ctx.backend.to_host(a))

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.from_host(ctx.out_backend.to_host(grad))


def cast(a, dtype):
    """A copy with another dtype (the same tensor when it already has it); casts to integer or bool
    dtypes leave the graph, as in PyTorch (no gradient flows through them)."""
    d = dtypes.as_dtype(dtype)
    if a.dtype == d:
        return a
    if d.kind != "f" and a.requires_grad:
        from ..tensor import Tensor
        return Tensor._make(a.xp.astype(a.array, dtypes.backend_dtype(a.xp, d)), a.backend, False, None)
    return Cast.apply(a, d)


def to_device(a, device):
    """A copy on another device (the same tensor when already there)."""
    if get_backend(device) is a.backend:
        return a
    return ToDevice.apply(a, device)


def _compare(name):
    # operator's function, not the first array's method: that operand may be a Python number (3.0 < t)
    apply = getattr(operator, name)

    def compare(a, b):
        from ..tensor import Tensor
        from ._util import binary_operands, constant
        if a is None or b is None:  # `t == None` is False, as for any Python object
            if name in ("eq", "ne"):
                return name == "ne"
            raise TypeError(f"'{name}' is not supported between a Tensor and None")
        if isinstance(a, Tensor) and isinstance(b, Tensor) and a.backend is not b.backend:
            raise RuntimeError(f"{name}: expected both tensors on one device, got {a.device} and {b.device}")
        a, b = binary_operands(a, b)  # compared in the promoted dtype: int_tensor > 1.5 compares as floats
        ref = a if isinstance(a, Tensor) else b
        raw_a = a.array if isinstance(a, Tensor) else a
        raw_b = b.array if isinstance(b, Tensor) else b
        if name not in ("eq", "ne") and ref.array.dtype == ref.xp.bool:  # the standard orders numbers only
            raw_a, raw_b = ref.xp.astype(raw_a, ref.xp.int8), ref.xp.astype(raw_b, ref.xp.int8)
        return constant(ref.backend, apply(raw_a, raw_b))
    compare.__name__ = name
    compare.__doc__ = f"Elementwise `{name}` comparison: a bool tensor, no gradient."
    return compare


lt, le, gt, ge, eq, ne = (_compare(n) for n in ("lt", "le", "gt", "ge", "eq", "ne"))
