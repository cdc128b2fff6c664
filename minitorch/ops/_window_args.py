"""Argument checks shared by the convolution and pooling ops (messages name the op, the shapes and the value)."""
from __future__ import annotations

from typing import Any

from .. import dtypes


def pair(value: Any, name: str, op: str, dims: int = 2, minimum: int = 1) -> tuple[int, ...]:
    """An int or a sequence of `dims` ints (one is repeated) as a tuple, each at least `minimum`."""
    if isinstance(value, str):
        raise TypeError(f"{op}: {name} must be an int or a tuple of ints, got {value!r}")
    vals = (value,) * dims if isinstance(value, int) else tuple(value)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        raise TypeError(f"{op}: {name} must be an int or a tuple of ints, got {value!r}")
    if len(vals) == 1:
        vals = vals * dims
    if len(vals) != dims:
        raise RuntimeError(f"{op}: expected {name} to be a single int or {dims} ints, got {name}={value!r}")
    if any(v < minimum for v in vals):
        what = "negative" if minimum == 0 else "non-positive"
        raise RuntimeError(f"{op}: {what} {name} is not supported, got {name}={value!r}")
    return vals


def conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    """Output length of a window scan: floor((size + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def check_conv(op: str, x: Any, w: Any, b: Any, groups: int, dims: int, transposed: bool = False) -> bool:
    """Validate a convolution's operands; returns whether the input is unbatched (no N axis)."""
    if x.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"{op}: expected {dims + 1}-D (unbatched) or {dims + 2}-D (batched) input, "
                           f"got input of shape {tuple(x.shape)}")
    if w.ndim != dims + 2:
        raise RuntimeError(f"{op}: expected a {dims + 2}-D weight, got weight of shape {tuple(w.shape)}")
    if not isinstance(groups, int) or groups < 1:
        raise RuntimeError(f"{op}: non-positive groups is not supported, got groups={groups!r}")
    channels = x.shape[-dims - 1]
    wshape = tuple(w.shape)
    if transposed:
        expect_in, cout = wshape[0], wshape[1] * groups
        if wshape[0] % groups:
            raise RuntimeError(f"{op}: groups={groups} does not divide the {wshape[0]} input channels of "
                               f"weight shape {wshape}")
    else:
        expect_in, cout = wshape[1] * groups, wshape[0]
        if cout % groups:
            raise RuntimeError(f"{op}: groups={groups} does not divide the {cout} output channels of "
                               f"weight shape {wshape}")
    if channels != expect_in:
        grp = f", groups={groups}" if groups > 1 else ""
        raise RuntimeError(f"{op}: input has {channels} channels but weight expects {expect_in} "
                           f"(weight shape {wshape}{grp}; input shape {tuple(x.shape)})")
    if b is not None and tuple(b.shape) != (cout,):
        raise RuntimeError(f"{op}: expected bias of shape ({cout},) for weight shape {wshape}, "
                           f"got bias of shape {tuple(b.shape)}")
    for name, t in (("weight", w), ("bias", b)):
        if t is not None and t.dtype != x.dtype:
            raise RuntimeError(f"{op}: input dtype {x.dtype} and {name} dtype {t.dtype} differ; "
                               f"convert one with .to(dtype)")
    if x.dtype == dtypes.bool_:
        raise NotImplementedError(f'"{op}" not implemented for \'Bool\'')
    return x.ndim == dims + 1


def check_pool_input(op: str, x: Any, dims: int = 2) -> bool:
    """(N, C, *spatial) or unbatched (C, *spatial) with non-empty spatial dims; returns whether unbatched."""
    if x.ndim not in (dims + 1, dims + 2) or any(s == 0 for s in x.shape[-dims:]):
        raise RuntimeError(f"{op}: expected {dims + 1}-D or {dims + 2}-D input with non-zero spatial sizes, "
                           f"got input of shape {tuple(x.shape)}")
    return x.ndim == dims + 1


def pool_out(op: str, x_shape: tuple, kernel, stride, padding, dilation, ceil_mode: bool) -> tuple[int, ...]:
    """Output sizes of a pooling window scan, PyTorch's rules: padding <= kernel/2; non-empty output."""
    outs = []
    for size, k, s, p, d in zip(x_shape[-len(kernel):], kernel, stride, padding, dilation):
        if p > k // 2:
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation={d}")
        span = size + 2 * p - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= size + p:  # the last window would start in the right padding
            o -= 1
        outs.append(o)
    if any(o < 1 for o in outs):
        raise RuntimeError(f"{op}: input of shape {tuple(x_shape)} gives output size {tuple(outs)}: output size "
                           f"is too small (kernel {tuple(kernel)}, stride {tuple(stride)}, padding {tuple(padding)}, "
                           f"dilation {tuple(dilation)})")
    return tuple(outs)
