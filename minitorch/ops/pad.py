"""pad: torch.nn.functional.pad (pad tuple last dim first; negative pads crop; constant/reflect/replicate/circular)."""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Function
from ._util import scalar_array

_MODES = ("constant", "reflect", "replicate", "circular")


class ConstantPad(Function):
    """x placed inside a tensor filled with `value`; its gradient is the matching window of the output's."""

    rule = "dx = grad cropped to x's window"

    @staticmethod
    def forward(ctx, x, value, out_shape, src, dst):
        ctx.shape, ctx.src, ctx.dst = x.shape, src, dst
        out = ctx.xp.full(out_shape, value, dtype=x.dtype)
        out[dst] = x[src]
        return out

    @staticmethod
    def backward(ctx, grad):
        dx = ctx.xp.zeros(ctx.shape, dtype=grad.dtype)
        dx[ctx.src] = grad[ctx.dst]  # cropped input elements and the fill get no gradient
        return dx, None, None, None, None


def pad(input, pad, mode="constant", value=None):
    """Pad (or, with negative amounts, crop) the last len(pad) // 2 dims, as torch.nn.functional.pad."""
    pads = _check_pad(pad, input.ndim)
    if mode not in _MODES:
        raise NotImplementedError(f"pad: unrecognised padding mode {mode!r}; expected one of {', '.join(_MODES)}")
    # (left, right) per padded dim, first dim first.
    widths = [(0, 0)] * (input.ndim - len(pads) // 2) + [(pads[2 * i], pads[2 * i + 1])
                                                         for i in reversed(range(len(pads) // 2))]
    for d, ((lo, hi), n) in enumerate(zip(widths, input.shape)):
        if n + lo + hi < 0:
            raise RuntimeError(f"pad: the input size {n}, plus negative padding {lo} and {hi} resulted in a negative "
                               f"output size, which is invalid. Check dimension {d} of your input {input.shape}")
    if mode == "constant":
        return _constant(input, widths, 0 if value is None else value)
    if value is not None and value != 0:
        raise RuntimeError(f'pad: padding mode "{mode}" doesn\'t take in value argument')
    return _indexed(input, widths, mode, len(pads))


def _check_pad(pad, ndim):
    pads = tuple(pad)
    for i, p in enumerate(pads):
        if isinstance(p, bool) or not isinstance(p, (numbers.Integral, np.integer)):
            raise TypeError(f"pad(): argument 'pad' (position 2) must be tuple of ints, but found element of type "
                            f"{type(p).__name__} at pos {i}")
    if len(pads) % 2:
        raise RuntimeError(f"pad: padding length must be divisible by 2, got {len(pads)} ({pads})")
    if len(pads) // 2 > ndim:
        raise RuntimeError(f"pad: padding length should be less than or equal to two times the input dimension but "
                           f"got padding length {len(pads)} and input of dimension {ndim}")
    return tuple(int(p) for p in pads)


def _constant(x, widths, value):
    src = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(widths, x.shape))
    out_shape = tuple(n + lo + hi for (lo, hi), n in zip(widths, x.shape))
    dst = tuple(slice(max(lo, 0), max(lo, 0) + s.stop - s.start) if s.stop > s.start else slice(0, 0)
                for (lo, _), s in zip(widths, src))
    # value in x's kind, as a Python scalar (what full() takes): 2.7 -> 2 for integers, 2 -> True for bool.
    kind = x.dtype.kind
    fill = float(value) if kind == "f" else bool(value) if kind == "b" else int(scalar_array(np, value, x.dtype))
    return ConstantPad.apply(x, fill, out_shape, src, dst)


def _indexed(x, widths, mode, length):
    """reflect / replicate / circular: per padded dim, index_select with the source position of every output."""
    from ..creation import tensor
    from .indexing import index_select
    if length // 2 + 1 > x.ndim or x.ndim > length // 2 + 2:
        raise NotImplementedError(f"pad: padding size {length} is not supported for {x.ndim}D input in mode "
                                  f"{mode!r}; non-constant padding of k dims needs a (k+1)D or (k+2)D input "
                                  "(batch and channel dims first), as in PyTorch")
    out = x
    for d, ((lo, hi), n) in enumerate(zip(widths, x.shape)):
        if lo == 0 and hi == 0:
            continue
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(f"pad: padding size should be less than the corresponding input dimension, but got "
                               f"padding ({lo}, {hi}) at dimension {d} of input {x.shape}")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError(f"pad: padding ({lo}, {hi}) at dimension {d} of input {x.shape} causes wrapping around "
                               "more than once")
        if mode == "replicate" and n == 0:
            raise RuntimeError(f"pad: cannot replicate-pad dimension {d} of input {x.shape}: it is empty")
        i = np.arange(-lo, n + hi)  # the input position each output position reads, before folding back in
        if mode == "reflect":
            i = np.abs(i)
            i = (n - 1) - np.abs((n - 1) - i)
        elif mode == "replicate":
            i = np.clip(i, 0, n - 1)
        else:  # circular wraps what is left after cropping, as PyTorch
            start, m = max(-lo, 0), n + min(lo, 0) + min(hi, 0)
            i = start + (np.arange(m + max(lo, 0) + max(hi, 0)) - max(lo, 0)) % max(m, 1)
        out = index_select(out, d, tensor(i, device=x.device))
    return out
