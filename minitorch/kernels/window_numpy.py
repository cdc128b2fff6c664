"""NumPy-only fast paths for conv2d and max_pool2d (the array-API references in window.py are the oracle).

Inside, a conv works channels-last: its columns are (N*OH*OW, kh*kw*C) rows with C contiguous, built by one
transposing copy of the input and kw*C-long runs, and its products are (N*OH*OW, C) row blocks. What it hands
back (outputs, input gradients) is contiguous NCHW, as PyTorch's, so `.view` works on it as it does there.
Big temporaries come from a pool and are reused across steps: a fresh multi-MB array costs more in page
faults than the work done in it.
"""
from __future__ import annotations

import sys
import threading
from collections import OrderedDict

import numpy as np
from numpy.lib.stride_tricks import as_strided

_POOL_MIN_BYTES = 1 << 20  # smaller temporaries are cheap for malloc to recycle
_POOL_KEYS = 16


def _refcounts(bufs: list) -> list[int]:
    return [sys.getrefcount(b) for b in bufs]


class _BufferPool:
    """Arrays handed out again once nobody holds them (or a view of them) any more."""

    def __init__(self) -> None:
        self._free: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        # The count of an array that only the pool's list holds, measured on the same code path (interpreters
        # differ in which of their own references they count): any view (its .base) or holder adds to it.
        self._unheld = _refcounts([np.empty(1)])[0]

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of shape/dtype, reusing an unreferenced pooled one when there is one."""
        if np.prod(shape) * np.dtype(dtype).itemsize < _POOL_MIN_BYTES:
            return np.empty(shape, dtype)
        key = (tuple(shape), np.dtype(dtype))
        with self._lock:
            bufs = self._free.setdefault(key, [])
            self._free.move_to_end(key)
            for buf, count in zip(bufs, _refcounts(bufs)):
                if count == self._unheld:  # no view, saved tensor or caller holds it: safe to overwrite
                    return buf
            buf = np.empty(shape, dtype)
            if len(bufs) < 2:  # forward + backward of one layer hold at most two at a time
                bufs.append(buf)
            while len(self._free) > _POOL_KEYS:
                self._free.popitem(last=False)
            return buf


POOL = _BufferPool()


def _taps(o: int, k: int, s: int, d: int) -> list[slice]:
    return [slice(i * d, i * d + s * (o - 1) + 1, s) for i in range(k)]


def _nhwc_padded(x: np.ndarray, padding: tuple[int, int], fill: float, shape: tuple[int, int] | None = None):
    """x (N, C, H, W) as channels-last (N, Hp, Wp, C), padded with `fill` (a view when nothing to pad)."""
    n, c, h, w = x.shape
    ph, pw = padding
    hp, wp = shape or (h + 2 * ph, w + 2 * pw)
    xh = x.transpose(0, 2, 3, 1)
    if (hp, wp) == (h, w):
        # One transposing copy beats gathering every window tap from channel-strided memory (measured 2x).
        return xh if xh.flags.c_contiguous else _copy_into(POOL.empty(xh.shape, x.dtype), xh)
    out = POOL.empty((n, hp, wp, c), x.dtype)
    # Fill only the border: the interior is overwritten at once.
    out[:, :ph], out[:, ph + h:], out[:, ph:ph + h, :pw], out[:, ph:ph + h, pw + w:] = fill, fill, fill, fill
    out[:, ph:ph + h, pw:pw + w] = xh
    return out


def conv_columns(x: np.ndarray, kernel: tuple[int, int], stride, padding, dilation) -> np.ndarray:
    """Channels-last columns (N*OH*OW, kh*kw*C) of x (N, C, H, W): one pooled buffer, one copy per tap."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    xh = _nhwc_padded(x, padding, 0.0)
    oh, ow = (xh.shape[1] - dh * (kh - 1) - 1) // sh + 1, (xh.shape[2] - dw * (kw - 1) - 1) // sw + 1
    cols = POOL.empty((n * oh * ow, kh * kw * c), x.dtype)
    if dw == 1:
        # The kw taps of one kernel row are kw*C consecutive elements of channels-last memory: copy them as
        # one run per output position (a third of the copy loops for 3x3; measured 1.5x faster).
        c5 = cols.reshape(n, oh, ow, kh, kw * c)
        sc = xh.itemsize  # canonical C-order strides: NumPy leaves a size-1 axis's stride arbitrary
        sw_, sh_, sn = c * sc, xh.shape[2] * c * sc, xh.shape[1] * xh.shape[2] * c * sc
        for i in range(kh):
            rows = as_strided(xh[:, i * dh:], (n, oh, ow, kw * c), (sn, sh_ * sh, sw_ * sw, sc), writeable=False)
            c5[:, :, :, i, :] = rows
        return cols
    c6 = cols.reshape(n, oh, ow, kh, kw, c)
    for i, r in enumerate(_taps(oh, kh, sh, dh)):
        for j, s in enumerate(_taps(ow, kw, sw, dw)):
            c6[:, :, :, i, j, :] = xh[:, r, s, :]
    return cols


def conv2d_forward(x, w, b, stride, padding, dilation, keep_cols: bool, out=None):
    """y (N, Cout, OH, OW), contiguous (or written into `out`); also the columns if keep_cols (else None)."""
    n, c, h, wd = x.shape
    cout, _, kh, kw = w.shape
    cols = conv_columns(x, (kh, kw), stride, padding, dilation)
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    wmat = w.transpose(0, 2, 3, 1).reshape(cout, kh * kw * c)  # same (ki, kj, c) order as the columns
    y = np.matmul(cols, wmat.T, out=POOL.empty((cols.shape[0], cout), x.dtype))
    out = POOL.empty((n, cout, oh, ow), x.dtype) if out is None else out
    y = y.reshape(n, oh, ow, cout).transpose(0, 3, 1, 2)
    if b is None:
        out[...] = y
    else:  # the bias rides on the transposing copy: one pass instead of two
        np.add(y, b.reshape(cout, 1, 1), out=out)
    return out, (cols if keep_cols else None)


def grad_rows(grad: np.ndarray) -> np.ndarray:
    """grad (N, C, H, W) as a (N*H*W, C) matrix (free when grad already has channels-last memory)."""
    n, c, h, w = grad.shape
    gh = grad.transpose(0, 2, 3, 1)
    if not gh.flags.c_contiguous:
        gh = _copy_into(POOL.empty(gh.shape, grad.dtype), gh)
    return gh.reshape(n * h * w, c)


def _copy_into(out: np.ndarray, src: np.ndarray) -> np.ndarray:
    out[...] = src
    return out


def _zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """np.zeros from the pool: fresh multi-MB arrays cost more in page faults (~2 ms/MB measured here, with
    NumPy's transparent-huge-page advice) than the work done in them."""
    out = POOL.empty(shape, dtype)
    out.fill(0)
    return out


def conv2d_backward_weight(g2, cols, w_shape):
    """dW = grad^T @ columns (grad as grad_rows), back in (Cout, C, kh, kw) order; also db = sum over N, H, W."""
    cout, c, kh, kw = w_shape
    dw = (g2.T @ cols).reshape(cout, kh, kw, c).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(dw), g2.sum(axis=0)


def conv2d_backward_weight_nchw(grad, cols, w_shape):
    """conv2d_backward_weight from a contiguous NCHW grad, as one (Cout, L) @ (L, kh*kw*C) product per sample.

    When dx is not wanted (a first layer), this skips grad_rows' transposing copy (4x faster for Conv2d(1, 32, 3)).
    """
    cout, c, kh, kw = w_shape
    n = grad.shape[0]
    length = grad.shape[2] * grad.shape[3]
    dw = np.matmul(grad.reshape(n, cout, length), cols.reshape(n, length, kh * kw * c)).sum(axis=0)
    return np.ascontiguousarray(dw.reshape(cout, kh, kw, c).transpose(0, 3, 1, 2)), grad.sum(axis=(0, 2, 3))


def conv2d_backward_input(g2, out_hw, w, x_shape, stride, padding, dilation):
    """dx: for each kernel tap one (N*OH*OW, Cout) @ (Cout, C) product added into its shifted, strided slice.

    Cheaper than one big GEMM into full-size columns and a col2im: the temporary is one tap wide.
    """
    n, c, h, wd = x_shape
    _, _, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh, ow = out_hw
    dx = _zeros((n, h + 2 * ph, wd + 2 * pw, c), g2.dtype)
    tmp = POOL.empty((n * oh * ow, c), g2.dtype)
    t4 = tmp.reshape(n, oh, ow, c)
    for i, r in enumerate(_taps(oh, kh, sh, dh)):
        for j, s in enumerate(_taps(ow, kw, sw, dw)):
            np.matmul(g2, w[:, :, i, j], out=tmp)
            dx[:, r, s, :] += t4
    return _copy_into(POOL.empty(x_shape, g2.dtype), dx[:, ph:ph + h, pw:pw + wd].transpose(0, 3, 1, 2))


def _nchw_padded(x: np.ndarray, padding: tuple[int, int], fill: float, shape: tuple[int, int]) -> np.ndarray:
    """x (N, C, H, W) placed at offset `padding` in a pooled (N, C, *shape) array filled with `fill`."""
    n, c, h, w = x.shape
    ph, pw = padding
    if tuple(shape) == (h, w):
        return x
    out = POOL.empty((n, c) + tuple(shape), x.dtype)
    out.fill(fill)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _spatial(channels_last: bool):
    """Index of spatial slices (rows, cols) in channels-last (N, H, W, C) or NCHW arrays."""
    if channels_last:
        return lambda r, s: (slice(None), r, s, slice(None))
    return lambda r, s: (slice(None), slice(None), r, s)


def max_pool2d_forward(x, kernel, stride, padding, dilation, geometry):
    """(out, tap): out contiguous NCHW, tap the int8 index of each window's winning kernel tap, NCHW-shaped in the
    memory order the scan used (the backward follows it). The first max wins; the last NaN, as PyTorch's."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    n, c = x.shape[:2]
    oh, ow, hp, wp = geometry
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    # Scan in the input's own memory order: reading windows across channel strides is several times slower.
    last = not x.flags.c_contiguous and x.transpose(0, 2, 3, 1).flags.c_contiguous
    xl = _nhwc_padded(x, padding, fill, (hp, wp)) if last else _nchw_padded(x, padding, fill, (hp, wp))
    at = _spatial(last)
    views = [xl[at(r, s)] for r in _taps(oh, kh, sh, dh) for s in _taps(ow, kw, sw, dw)]
    best = _copy_into(POOL.empty(views[0].shape, x.dtype), views[0])
    tap = np.zeros(best.shape, np.int8)
    better, step = np.empty(best.shape, bool), np.empty(best.shape, np.int8)
    # min() is NaN iff some element is: the NaN rule costs more passes per tap, so only then.
    nan_rule = x.dtype.kind == "f" and bool(np.isnan(xl.min()))
    for t, v in enumerate(views[1:], start=1):
        np.greater(v, best, out=better)  # strict: the first of equal maxima keeps the window
        if nan_rule:
            better |= np.isnan(v)  # PyTorch takes every NaN it meets: the last NaN of a window wins
            np.copyto(best, v, where=better)
        else:
            np.maximum(best, v, out=best)
        # tap = better ? t : tap, as arithmetic: masked writes on a ~50% random mask mispredict (3-10x slower).
        np.subtract(t, tap, out=step)
        step *= better.view(np.int8)
        tap += step
    if not last:
        return best, tap
    return _copy_into(POOL.empty((n, c, oh, ow), x.dtype), best.transpose(0, 3, 1, 2)), tap.transpose(0, 3, 1, 2)


def max_pool2d_indices(tap, x_shape, kernel, stride, padding, dilation):
    """torch's return_indices (int64 h*W + w into the input plane) from the winning taps (N, C, OH, OW)."""
    (_, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh, ow = tap.shape[2:]
    t = tap.astype(np.int64)
    row = (np.arange(oh) * sh - ph)[:, None] + (t // kw) * dh
    col = (np.arange(ow) * sw - pw) + (t % kw) * dw
    return np.ascontiguousarray(row * x_shape[3] + col)


def max_pool2d_backward(grad, tap, x_shape, kernel, stride, padding, dilation, geometry):
    """grad_input (contiguous NCHW): each tap's slice of the (padded) input gets the grads of the outputs it won."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    n, c, h, w = x_shape
    oh, ow, hp, wp = geometry
    last = not tap.flags.c_contiguous  # the layout the forward scanned in
    order = (0, 2, 3, 1) if last else (0, 1, 2, 3)
    tl, gl = tap.transpose(order), grad.transpose(order)
    if not gl.flags.c_contiguous:  # a small copy: masked writes from strided data are slow
        gl = _copy_into(POOL.empty(gl.shape, grad.dtype), gl)
    dx = _zeros((n, hp, wp, c) if last else (n, c, hp, wp), grad.dtype)
    overlap = sh < dh * (kh - 1) + 1 or sw < dw * (kw - 1) + 1
    # g * hit is branch-free (masked writes on a random mask are 3x slower), but inf/NaN * 0 is NaN, so
    # grads that are not all finite go through the masked writes, which keep them off the losing inputs.
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf or an overflow only means: not finite
        masked = bool(gl.size) and not np.isfinite(np.add.reduce(gl, axis=None))
    hit = np.empty(tl.shape, bool)
    part = np.empty(gl.shape, gl.dtype) if overlap and not masked else None
    at, t = _spatial(last), 0
    for r in _taps(oh, kh, sh, dh):
        for s in _taps(ow, kw, sw, dw):
            np.equal(tl, t, out=hit)
            dst = dx[at(r, s)]
            if masked:
                np.add(dst, gl, out=dst, where=hit)
            elif overlap:
                dst += np.multiply(gl, hit, out=part)
            else:  # disjoint windows: each input element is written at most once
                np.multiply(gl, hit, out=dst)
            t += 1
    inner = dx[at(slice(ph, ph + h), slice(pw, pw + w))]
    if last:
        inner = inner.transpose(0, 3, 1, 2)
    return inner if inner.flags.c_contiguous else _copy_into(POOL.empty(x_shape, grad.dtype), inner)


__all__ = ["POOL", "grad_rows", "conv_columns", "conv2d_forward", "conv2d_backward_weight",
           "conv2d_backward_weight_nchw", "conv2d_backward_input", "max_pool2d_forward", "max_pool2d_indices",
           "max_pool2d_backward"]
