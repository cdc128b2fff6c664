"""Transposed convolution: the gradient of conv2d with respect to its input, as a forward op (col2im of W^T x)."""
from __future__ import annotations

from ..autograd import Function
from ..dtypes import as_dtype
from ..kernels.window import fresh
from ._window_args import check_conv, pair
from .conv import batch_chunks


def _place(xp, src, offset, size):
    """src (N, C, H, W) cropped or zero-extended to rows/cols [offset, offset + size) of itself."""
    n, c, h, w = src.shape
    (oh, ow), (size_h, size_w) = offset, size
    if (oh, ow, size_h, size_w) == (0, 0, h, w):
        return src
    if oh + size_h <= h and ow + size_w <= w:
        return fresh(src[:, :, oh:oh + size_h, ow:ow + size_w])
    out = xp.zeros((n, c, size_h, size_w), dtype=src.dtype)
    rows, cols = min(size_h, h - oh), min(size_w, w - ow)
    out[:, :, :rows, :cols] = src[:, :, oh:oh + rows, ow:ow + cols]
    return out


def _unplace(xp, grad, offset, canvas):
    """The inverse of _place for gradients: grad put back at `offset` on a zero canvas of shape `canvas`."""
    n, c, size_h, size_w = grad.shape
    (oh, ow), (h, w) = offset, canvas
    out = xp.zeros((n, c, h, w), dtype=grad.dtype)
    rows, cols = min(size_h, h - oh), min(size_w, w - ow)
    out[:, :, oh:oh + rows, ow:ow + cols] = grad[:, :, :rows, :cols]
    return out


class ConvTranspose2d(Function):
    """y = col2im(W^T @ x): every input pixel scatters a kernel-sized, weighted patch into the output.

    The patches are summed on the full canvas ((H-1)*s + d*(k-1) + 1 wide) and `padding` is then cropped
    from both sides; output_padding extends the far side (with zeros where the canvas ends).
    """

    rule = "dx = W @ im2col(grad);  dW = x @ im2col(grad).T;  db = sum over batch, pixels"

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups, out_size):
        xp = ctx.xp
        n, cin, h, wd = x.shape
        _, cog, kh, kw = w.shape
        canvas = ((h - 1) * stride[0] + dilation[0] * (kh - 1) + 1, (wd - 1) * stride[1] + dilation[1] * (kw - 1) + 1)
        wg = xp.matrix_transpose(xp.reshape(w, (groups, cin // groups, cog * kh * kw)))
        chunks = batch_chunks(n, groups * cog * kh * kw * h * wd * as_dtype(x.dtype).itemsize)
        parts = []
        for sl in chunks:
            xg = xp.reshape(x[sl, ...], (-1, groups, cin // groups, h * wd))
            cols = xp.reshape(wg @ xg, (xg.shape[0], groups * cog * kh * kw, h * wd))
            full = ctx.backend.kernels.col2im(cols, canvas, (kh, kw), stride, (0, 0), dilation)
            parts.append(_place(xp, full, padding, out_size))
        y = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
        if b is not None:
            y = y + xp.reshape(b, (1, -1, 1, 1))
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
        ctx.args = (stride, padding, dilation, groups, canvas, x.shape, w.shape, chunks)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved
        stride, padding, dilation, groups, canvas, (n, cin, h, wd), (_, cog, kh, kw), chunks = ctx.args
        need_x, need_w, need_b = ctx.needs_input_grad
        xp = ctx.xp
        dxs, dw = [], None
        for sl in chunks:
            # The conv2d that this op is the input-gradient of: im2col of the grad (on the canvas), then W @ cols.
            g = _unplace(xp, grad[sl, ...], padding, canvas)
            cols = ctx.backend.kernels.im2col(g, (kh, kw), stride, (0, 0), dilation)
            cols = xp.reshape(cols, (g.shape[0], groups, cog * kh * kw, h * wd))
            if need_x:
                wg = xp.reshape(w, (groups, cin // groups, cog * kh * kw))
                dxs.append(xp.reshape(wg @ cols, (g.shape[0], cin, h, wd)))
            if need_w:
                xg = xp.reshape(x[sl, ...], (g.shape[0], groups, cin // groups, h * wd))
                part = xp.sum(xg @ xp.matrix_transpose(cols), axis=0)  # dW = x @ cols^T, summed over the batch
                dw = part if dw is None else dw + part
        dx = None if not need_x else dxs[0] if len(dxs) == 1 else xp.concat(dxs, axis=0)
        dw = None if dw is None else xp.reshape(dw, (cin, cog, kh, kw))
        db = xp.sum(grad, axis=(0, 2, 3)) if need_b else None
        return dx, dw, db


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution of (N, Cin, H, W) or (Cin, H, W) input, weight (Cin, Cout/groups, kh, kw)."""
    op = "conv_transpose2d"
    unbatched = check_conv(op, input, weight, bias, groups, 2, transposed=True)
    stride, dilation = pair(stride, "stride", op), pair(dilation, "dilation", op)
    padding, output_padding = pair(padding, "padding", op, minimum=0), pair(output_padding, "output_padding", op,
                                                                            minimum=0)
    if any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(f"{op}: output padding must be smaller than either stride or dilation, but got "
                           f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
    x = input.unsqueeze(0) if unbatched else input
    k = weight.shape[2:]
    out_size = tuple((size - 1) * s - 2 * p + d * (kk - 1) + o + 1
                     for size, s, p, d, kk, o in zip(x.shape[2:], stride, padding, dilation, k, output_padding))
    if min(out_size) < 1:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} with weight {tuple(weight.shape)}, stride "
                           f"{stride}, padding {padding}, dilation {dilation} gives output size {out_size}: "
                           f"too small")
    y = ConvTranspose2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups,
                              out_size=out_size)
    return y.squeeze(0) if unbatched else y
