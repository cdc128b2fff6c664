"""Convolutions: conv2d (and conv1d as a conv2d of height 1), through im2col columns and one matmul per group."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..dtypes import as_dtype
from ..autograd import Function
from ..kernels import window_numpy
from ..kernels.window import fresh
from ._window_args import check_conv, conv_out, pair

# Most bytes one im2col column buffer may take; larger batches are processed in chunks of samples.
IM2COL_BUDGET_BYTES = 64 * 2**20


def batch_chunks(n: int, per_sample_bytes: int) -> list[slice]:
    """Slices of the batch whose column buffers each fit IM2COL_BUDGET_BYTES (at least one sample each)."""
    step = max(1, IM2COL_BUDGET_BYTES // max(1, per_sample_bytes))
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def numpy_fast(backend, *arrays) -> bool:
    """Whether the NumPy-only fast path applies: NumPy backend, float32/64, fused paths switched on."""
    return (backend.name == "numpy" and kernels.fused_enabled()
            and all(a is None or a.dtype in (np.float32, np.float64) for a in arrays))


def pad_bottom_right(xp, x, extra):
    """x with `extra` = (rows, cols) more zeros at the bottom / right (padding='same' with an even kernel)."""
    if extra == (0, 0):
        return x
    n, c, h, w = x.shape
    out = xp.zeros((n, c, h + extra[0], w + extra[1]), dtype=x.dtype)
    out[:, :, :h, :w] = x
    return out


def _xp_columns(k, x, kernel, stride, padding, dilation, groups):
    """im2col of x split per group: (N, groups, C/groups*kh*kw, OH*OW)."""
    xp = x.__array_namespace__()
    cols = k.im2col(x, kernel, stride, padding, dilation)
    return xp.reshape(cols, (x.shape[0], groups, cols.shape[1] // groups, cols.shape[2]))


class Conv2d(Function):
    """y = W * x + b: im2col lays every window out as a column, so the convolution is one matmul per group."""

    rule = "dx = col2im(W.T @ grad);  dW = grad @ im2col(x).T;  db = sum over batch, pixels"

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups, extra=(0, 0)):
        xp = ctx.xp
        need_x, need_w, _ = ctx.needs_input_grad
        x = pad_bottom_right(xp, x, extra)
        n, c, h, wd = x.shape
        cout, cg, kh, kw = w.shape
        oh, ow = conv_out(h, kh, stride[0], padding[0], dilation[0]), conv_out(wd, kw, stride[1], padding[1],
                                                                                dilation[1])
        chunks = batch_chunks(n, c * kh * kw * oh * ow * as_dtype(x.dtype).itemsize)
        ctx.args = (stride, padding, dilation, groups, extra, x.shape, w.shape, chunks)
        ctx.fast = groups == 1 and numpy_fast(ctx.backend, x, w, b)
        if ctx.fast:
            geometry = (stride, padding, dilation)
            if len(chunks) == 1:
                y, cols = window_numpy.conv2d_forward(x, w, b, *geometry, keep_cols=need_w)
            else:
                y, cols = np.empty((n, cout, oh, ow), x.dtype), None
                for sl in chunks:
                    window_numpy.conv2d_forward(x[sl], w, b, *geometry, keep_cols=False, out=y[sl])
        else:
            wg = xp.reshape(w, (groups, cout // groups, cg * kh * kw))
            cols, parts = None, []
            for sl in chunks:
                cols = _xp_columns(ctx.backend.kernels, x[sl, ...], (kh, kw), stride, padding, dilation, groups)
                parts.append(xp.reshape(wg @ cols, (cols.shape[0], cout, oh, ow)))
            y = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
            if b is not None:
                y = y + xp.reshape(b, (1, cout, 1, 1))
            cols = cols if need_w and len(chunks) == 1 else None
        # dx needs W; dW needs the columns (kept when they came in one chunk) or x to rebuild them.
        ctx.save_for_backward(w if need_x else None, cols, x if need_w and cols is None else None)
        return y

    @staticmethod
    def backward(ctx, grad):
        w, cols, x = ctx.saved
        stride, padding, dilation, groups, extra, x_shape, w_shape, chunks = ctx.args
        need_x, need_w, need_b = ctx.needs_input_grad
        xp = ctx.xp
        dx = dw = db = None
        if ctx.fast and not need_x and cols is not None and grad.flags.c_contiguous:
            dw, db = window_numpy.conv2d_backward_weight_nchw(grad, cols, w_shape)
        elif ctx.fast:
            g2 = window_numpy.grad_rows(grad)  # (N*OH*OW, Cout), sample-major: shared by dW and dx
            if need_w:
                if cols is not None:
                    dw, db = window_numpy.conv2d_backward_weight(g2, cols, w_shape)
                else:
                    dw, per = 0, grad.shape[2] * grad.shape[3]
                    for sl in chunks:
                        cols = window_numpy.conv_columns(x[sl], w_shape[2:], stride, padding, dilation)
                        dw = dw + window_numpy.conv2d_backward_weight(g2[sl.start * per:sl.stop * per], cols,
                                                                      w_shape)[0]
                        cols = None  # drop it before the next chunk takes a pooled buffer
            if need_x:
                dx = window_numpy.conv2d_backward_input(g2, grad.shape[2:], w, x_shape, stride, padding, dilation)
        else:
            n, cout, oh, ow = grad.shape
            cg, kh, kw = w_shape[1:]
            gm = xp.reshape(grad, (n, groups, cout // groups, oh * ow))
            k = ctx.backend.kernels
            if need_w:
                dw = xp.zeros((groups, cout // groups, cg * kh * kw), dtype=grad.dtype)
                for sl in chunks:
                    c_sl = cols if cols is not None else _xp_columns(k, x[sl, ...], (kh, kw), stride, padding,
                                                                    dilation, groups)
                    dw = dw + xp.sum(gm[sl, ...] @ xp.matrix_transpose(c_sl), axis=0)  # dW = g @ cols^T
                dw = xp.reshape(dw, w_shape)
            if need_x:
                wg = xp.reshape(w, (groups, cout // groups, cg * kh * kw))
                parts = []
                for sl in chunks:
                    dcols = xp.matrix_transpose(wg) @ gm[sl, ...]  # each column's grad = W^T @ g
                    dcols = xp.reshape(dcols, (dcols.shape[0], groups * cg * kh * kw, oh * ow))
                    parts.append(k.col2im(dcols, x_shape[2:], (kh, kw), stride, padding, dilation))
                dx = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
        if need_b and db is None:
            db = xp.sum(grad, axis=(0, 2, 3))
        if dx is not None and extra != (0, 0):
            dx = fresh(dx[:, :, :x_shape[2] - extra[0], :x_shape[3] - extra[1]])
        return dx, dw, db


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over (N, C, H, W) or (C, H, W) input, as torch's conv2d."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, "conv2d", 2)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over (N, C, L) or (C, L) input: a conv2d of height 1."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, "conv1d", 1)


def _conv(x, w, b, stride, padding, dilation, groups, op, dims):
    unbatched = check_conv(op, x, w, b, groups, dims)
    if unbatched:
        x = x.unsqueeze(0)
    stride, dilation = pair(stride, "stride", op, dims), pair(dilation, "dilation", op, dims)
    ksize = tuple(w.shape[2:])
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise RuntimeError(f"{op}: invalid padding string {padding!r}, expected 'same' or 'valid'")
        if padding == "same" and any(s != 1 for s in stride):
            raise RuntimeError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
        total = [0] * dims if padding == "valid" else [d * (k - 1) for d, k in zip(dilation, ksize)]
        pad, extra = tuple(t // 2 for t in total), tuple(t % 2 for t in total)  # torch puts the odd one last
    else:
        pad, extra = pair(padding, "padding", op, dims, minimum=0), (0,) * dims
    if dims == 1:
        x, w = x.unsqueeze(2), w.unsqueeze(2)
        stride, dilation, pad, extra = (1,) + stride, (1,) + dilation, (0,) + pad, (0,) + extra
    for i, (size, k) in enumerate(zip(x.shape[2:], w.shape[2:])):
        if size + 2 * pad[i] + extra[i] < dilation[i] * (k - 1) + 1:
            raise RuntimeError(f"{op}: padded input of shape {tuple(x.shape)} (padding {pad}) is smaller than the "
                               f"kernel (weight shape {tuple(w.shape)}, dilation {dilation})")
    y = Conv2d.apply(x, w, b, stride=stride, padding=pad, dilation=dilation, groups=groups, extra=extra)
    if dims == 1:
        y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y
