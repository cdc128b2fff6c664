"""Pooling (max, average, adaptive average) and the unfold / fold window ops."""
from __future__ import annotations

from ..autograd import Function
from ..kernels import window_numpy
from ..kernels.window import _pool_geometry, _taps, fresh
from ._util import require_float
from ._window_args import check_pool_input, conv_out, pair, pool_out
from .conv import numpy_fast


class MaxPool2d(Function):
    """Max over each window; the gradient goes to the (first) maximum of each window, as PyTorch's."""

    rule = "dx = grad sent to each window's max, 0 elsewhere"

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, ceil_mode, indices_out=None):
        geometry = _pool_geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
        ctx.args = (x.shape, kernel, stride, padding, dilation, geometry)
        ctx.ceil_mode = ceil_mode
        ctx.fast = numpy_fast(ctx.backend, x)
        if ctx.fast:  # the winning tap (int8) instead of int64 flat indices: one eighth of the memory traffic
            out, where = window_numpy.max_pool2d_forward(x, kernel, stride, padding, dilation, geometry)
            if indices_out is not None:
                indices_out.append(window_numpy.max_pool2d_indices(where, x.shape, kernel, stride, padding,
                                                                   dilation))
        else:
            out, where = ctx.backend.kernels.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
            if indices_out is not None:
                indices_out.append(where)
        ctx.save_for_backward(where if ctx.needs_input_grad[0] else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        (where,) = ctx.saved
        x_shape, kernel, stride, padding, dilation, geometry = ctx.args
        if ctx.fast:
            return window_numpy.max_pool2d_backward(grad, where, x_shape, kernel, stride, padding, dilation,
                                                    geometry)
        # The window geometry lets the CUDA kernel gather per input element (deterministic, no atomics).
        return ctx.backend.kernels.max_pool2d_backward(grad, where, x_shape, kernel_size=kernel, stride=stride,
                                                       padding=padding, dilation=dilation,
                                                       ceil_mode=ctx.ceil_mode)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over kernel_size windows of (N, C, H, W) or (C, H, W) input, as torch's max_pool2d."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool2d", 2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over windows of (N, C, L) or (C, L) input: a max_pool2d of height 1."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool1d", 1)


def _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, op, dims):
    unbatched = check_pool_input(op, x, dims)
    kernel = pair(kernel_size, "kernel_size", op, dims)
    stride = kernel if stride is None or stride == [] or stride == () else pair(stride, "stride", op, dims)
    padding, dilation = pair(padding, "padding", op, dims, minimum=0), pair(dilation, "dilation", op, dims)
    pool_out(op, x.shape, kernel, stride, padding, dilation, ceil_mode)
    if x.dtype.kind == "b":
        raise NotImplementedError(f'"{op}" not implemented for \'Bool\'')
    x = x.unsqueeze(0) if unbatched else x
    if dims == 1:
        x = x.unsqueeze(2)
        kernel, stride, padding, dilation = (1,) + kernel, (1,) + stride, (0,) + padding, (1,) + dilation
    box: list = [] if return_indices else None
    y = MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode,
                        indices_out=box)
    outs = [y] if not return_indices else [y, _constant(x, box[0])]
    for i, t in enumerate(outs):
        t = t.squeeze(2) if dims == 1 else t
        outs[i] = t.squeeze(0) if unbatched else t
    return tuple(outs) if return_indices else outs[0]


def _constant(like, array):
    from ..tensor import Tensor
    return Tensor._make(array, like.backend, False, None)


def _avg_divisor(xp, dtype, x_shape, kernel, stride, padding, geometry, count_include_pad, divisor_override):
    """(OH, OW) divisors, PyTorch's rules: windows clipped to the padded input; without count_include_pad,
    to the input itself."""
    if divisor_override:
        return xp.asarray(float(divisor_override), dtype=dtype)
    sizes = []
    for o, size, k, s, p in zip(geometry[:2], x_shape[2:], kernel, stride, padding):
        counts = []
        for i in range(o):
            start, end = i * s - p, min(i * s - p + k, size + p)
            counts.append(end - start if count_include_pad else min(end, size) - max(start, 0))
        sizes.append(xp.asarray(counts, dtype=dtype))
    return sizes[0][:, None] * sizes[1][None, :]


class AvgPool2d(Function):
    """Mean over each window: the gradient is spread evenly (grad / divisor) over the window."""

    rule = "dx = grad / divisor, spread over each window"

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        xp = ctx.xp
        n, c, h, w = x.shape
        geometry = _pool_geometry(x.shape, kernel, stride, padding, (1, 1), ceil_mode)
        oh, ow, hp, wp = geometry
        xpad = xp.zeros((n, c, hp, wp), dtype=x.dtype)
        xpad[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w] = x
        total = None
        for r in _taps(oh, kernel[0], stride[0], 1):
            for s in _taps(ow, kernel[1], stride[1], 1):
                total = xpad[:, :, r, s] if total is None else total + xpad[:, :, r, s]
        ctx.div = _avg_divisor(xp, x.dtype, x.shape, kernel, stride, padding, geometry, count_include_pad,
                               divisor_override)
        ctx.args = (x.shape, kernel, stride, padding, geometry)
        return total / ctx.div

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        (n, c, h, w), kernel, stride, padding, (oh, ow, hp, wp) = ctx.args
        g = grad / ctx.div
        dx = xp.zeros((n, c, hp, wp), dtype=grad.dtype)
        for r in _taps(oh, kernel[0], stride[0], 1):
            for s in _taps(ow, kernel[1], stride[1], 1):
                dx[:, :, r, s] += g
        return fresh(dx[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w]) if hp > h or wp > w else dx


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over kernel_size windows of (N, C, H, W) or (C, H, W) input, as torch's avg_pool2d."""
    op = "avg_pool2d"
    unbatched = check_pool_input(op, input)
    require_float(input, op)
    kernel = pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == [] or stride == () else pair(stride, "stride", op)
    padding = pair(padding, "padding", op, minimum=0)
    pool_out(op, input.shape, kernel, stride, padding, (1, 1), ceil_mode)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"{op}: divisor must be not zero, got divisor_override={divisor_override}")
    x = input.unsqueeze(0) if unbatched else input
    y = AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                        count_include_pad=count_include_pad, divisor_override=divisor_override)
    return y.squeeze(0) if unbatched else y


def _bin_matrix(xp, size, out, dtype):
    """(out, size) averaging matrix of adaptive pooling: row i averages [floor(i*size/out), ceil((i+1)*size/out))."""
    i = xp.reshape(xp.arange(out), (out, 1))
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    j = xp.reshape(xp.arange(size), (1, size))
    inside = xp.astype((j >= start) & (j < end), dtype)
    return inside / xp.astype(end - start, dtype)


class AdaptiveAvgPool2d(Function):
    """y = A_h @ x @ A_w^T with row-averaging matrices (bins may overlap); dx = A_h^T @ g @ A_w."""

    rule = "dx = A_h.T @ grad @ A_w  (each bin's grad spread evenly)"

    @staticmethod
    def forward(ctx, x, output_size):
        xp = ctx.xp
        ah = _bin_matrix(xp, x.shape[2], output_size[0], x.dtype)
        aw = _bin_matrix(xp, x.shape[3], output_size[1], x.dtype)
        ctx.save_for_backward(ah, aw)
        return ah @ (x @ xp.matrix_transpose(aw))

    @staticmethod
    def backward(ctx, grad):
        ah, aw = ctx.saved
        return ctx.xp.matrix_transpose(ah) @ (grad @ aw)


def adaptive_avg_pool2d(input, output_size):
    """Average over output_size evenly spread bins of (N, C, H, W) or (C, H, W) input (None keeps a size)."""
    op = "adaptive_avg_pool2d"
    unbatched = check_pool_input(op, input)
    require_float(input, op)
    sizes = (output_size, output_size) if isinstance(output_size, int) or output_size is None else output_size
    if len(sizes) != 2:
        raise RuntimeError(f"{op}: output_size must be an int or 2 ints, got {output_size!r}")
    sizes = tuple(input.shape[-2 + i] if s is None else s for i, s in enumerate(sizes))
    if any(not isinstance(s, int) or s < 0 for s in sizes):
        raise RuntimeError(f"{op}: output_size must be non-negative ints, got {output_size!r}")
    x = input.unsqueeze(0) if unbatched else input
    y = AdaptiveAvgPool2d.apply(x, output_size=sizes)
    return y.squeeze(0) if unbatched else y


class Unfold(Function):
    """Sliding blocks as columns (im2col); the gradient sums each column back into its block (col2im)."""

    rule = "dx = col2im(grad): each column summed back into its block"

    @staticmethod
    def forward(ctx, x, kernel, dilation, padding, stride):
        ctx.args = (tuple(x.shape[2:]), kernel, stride, padding, dilation)
        return ctx.backend.kernels.im2col(x, kernel, stride, padding, dilation)

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.kernels.col2im(grad, *ctx.args)


class Fold(Function):
    """Columns summed into their blocks (col2im); the gradient reads each block back out (im2col)."""

    rule = "dcols = im2col(grad)"

    @staticmethod
    def forward(ctx, cols, output_size, kernel, dilation, padding, stride):
        ctx.args = (kernel, stride, padding, dilation)
        return ctx.backend.kernels.col2im(cols, output_size, kernel, stride, padding, dilation)

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.kernels.im2col(grad, *ctx.args)


def _window_args(op, kernel_size, dilation, padding, stride):
    return (pair(kernel_size, "kernel_size", op), pair(dilation, "dilation", op),
            pair(padding, "padding", op, minimum=0), pair(stride, "stride", op))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """(N, C, H, W) -> (N, C*kh*kw, L) sliding blocks, as torch.nn.functional.unfold."""
    op = "unfold"
    args = _window_args(op, kernel_size, dilation, padding, stride)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected 3-D or 4-D input, got input of shape {tuple(input.shape)}")
    x = input.unsqueeze(0) if input.ndim == 3 else input
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = args
    blocks = conv_out(x.shape[2], kh, sh, ph, dh), conv_out(x.shape[3], kw, sw, pw, dw)
    if min(blocks) < 1:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} with kernel {(kh, kw)}, dilation {(dh, dw)}, "
                           f"padding {(ph, pw)}, stride {(sh, sw)} gives {blocks} sliding blocks: too small")
    y = Unfold.apply(x, *args)
    return y.squeeze(0) if input.ndim == 3 else y


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """(N, C*kh*kw, L) -> (N, C, H, W), summing overlapping blocks, as torch.nn.functional.fold."""
    op = "fold"
    size = pair(output_size, "output_size", op)
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = args = _window_args(op, kernel_size, dilation, padding, stride)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected 2-D or 3-D input, got input of shape {tuple(input.shape)}")
    x = input.unsqueeze(0) if input.ndim == 2 else input
    blocks = conv_out(size[0], kh, sh, ph, dh), conv_out(size[1], kw, sw, pw, dw)
    if x.shape[1] % (kh * kw) or min(blocks) < 1 or blocks[0] * blocks[1] != x.shape[2]:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} does not fit output_size {size}, kernel "
                           f"{(kh, kw)}, dilation {(dh, dw)}, padding {(ph, pw)}, stride {(sh, sw)}: expected "
                           f"dim 1 divisible by {kh * kw} and {blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]} "
                           f"blocks in the last dim")
    y = Fold.apply(x, size, *args)
    return y.squeeze(0) if input.ndim == 2 else y
