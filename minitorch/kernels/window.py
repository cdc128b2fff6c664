"""Array-API references for sliding-window kernels: im2col / col2im and max pooling."""

from __future__ import annotations

import math
from typing import Any

Array = Any  # any array-API array (numpy, cupy, array_api_strict)
Pair = tuple[int, int]


def _out_len(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool = False) -> int:
    """Output length of a window scan, PyTorch's formula (ceil_mode drops a last window that starts in padding)."""
    span = size + 2 * p - d * (k - 1) - 1
    n = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (n - 1) * s >= size + p:
        n -= 1
    return n


def _taps(o: int, k: int, s: int, d: int) -> list[slice]:
    """For each kernel tap, the strided slice of the padded axis that the o outputs read."""
    return [slice(i * d, i * d + s * (o - 1) + 1, s) for i in range(k)]


def _padded(x: Array, shape: Pair, padding: Pair, fill: float) -> Array:
    """x (N, C, H, W) placed at offset `padding` in a (N, C, *shape) array filled with `fill`."""
    xp = x.__array_namespace__()
    n, c, h, w = x.shape
    ph, pw = padding
    if (h + 2 * ph, w + 2 * pw) == shape and ph == pw == 0:
        return x
    out = xp.full((n, c) + tuple(shape), fill, dtype=x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def fresh(a: Array) -> Array:
    """A copy of `a` in its own contiguous array (a cropped view would not take .view as PyTorch's results do)."""
    out = a.__array_namespace__().empty(a.shape, dtype=a.dtype)
    out[...] = a
    return out


def im2col(x: Array, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Array:
    """(N, C, H, W) -> (N, C*kh*kw, OH*OW), torch.nn.functional.unfold's layout (c, then ki, then kj)."""
    xp = x.__array_namespace__()
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = _out_len(h, kh, sh, ph, dh), _out_len(w, kw, sw, pw, dw)
    xpad = _padded(x, (h + 2 * ph, w + 2 * pw), padding, 0)
    cols = xp.empty((n, c, kh * kw, oh, ow), dtype=x.dtype)
    for i, rows in enumerate(_taps(oh, kh, sh, dh)):
        for j, colsl in enumerate(_taps(ow, kw, sw, dw)):
            cols[:, :, i * kw + j, :, :] = xpad[:, :, rows, colsl]
    return xp.reshape(cols, (n, c * kh * kw, oh * ow))


def col2im(cols: Array, output_size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Array:
    """(N, C*kh*kw, L) -> (N, C, H, W), summing overlapping windows: torch.nn.functional.fold."""
    xp = cols.__array_namespace__()
    (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = output_size, kernel_size, stride, padding, dilation
    n, ckk, length = cols.shape
    oh, ow = _out_len(h, kh, sh, ph, dh), _out_len(w, kw, sw, pw, dw)
    if ckk % (kh * kw) or oh * ow != length:
        raise RuntimeError(f"col2im: columns of shape {tuple(cols.shape)} do not fit kernel {(kh, kw)} "
                           f"({kh * kw} taps) and {oh}x{ow}={oh * ow} blocks of output {(h, w)}")
    c = ckk // (kh * kw)
    blocks = xp.reshape(cols, (n, c, kh * kw, oh, ow))
    out = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i, rows in enumerate(_taps(oh, kh, sh, dh)):
        for j, colsl in enumerate(_taps(ow, kw, sw, dw)):
            out[:, :, rows, colsl] += blocks[:, :, i * kw + j, :, :]
    return out if ph == pw == 0 else fresh(out[:, :, ph:ph + h, pw:pw + w])


def _pool_geometry(shape: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
                   ceil_mode: bool) -> tuple[int, int, int, int]:
    """(OH, OW, padded H, padded W): ceil_mode may need more right/bottom padding for its last window."""
    h, w = shape[-2:]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = _out_len(h, kh, sh, ph, dh, ceil_mode), _out_len(w, kw, sw, pw, dw, ceil_mode)
    hp = max(h + 2 * ph, (oh - 1) * sh + dh * (kh - 1) + 1)
    wp = max(w + 2 * pw, (ow - 1) * sw + dw * (kw - 1) + 1)
    return oh, ow, hp, wp


def max_pool2d_forward(x: Array, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
                       ceil_mode: bool) -> tuple[Array, Array]:
    """Max over each window -> (out (N,C,OH,OW), int64 indices h*W + w into the input plane, as torch's)."""
    xp = x.__array_namespace__()
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow, hp, wp = _pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    fill = -math.inf if xp.isdtype(x.dtype, "real floating") else xp.iinfo(x.dtype).min
    xpad = _padded(x, (hp, wp), padding, fill)  # padding never wins a max
    taps = [xpad[:, :, r, s] for r in _taps(oh, kh, sh, dh) for s in _taps(ow, kw, sw, dw)]
    windows = xp.stack(taps, axis=2)  # (N, C, kh*kw, OH, OW) in window scan order
    k = xp.argmax(windows, axis=2, keepdims=True)  # first max wins a tie, as PyTorch
    if xp.isdtype(x.dtype, "real floating"):
        # PyTorch takes every NaN it meets, so the last NaN of a window wins. Computed whether or not there
        # is one: asking first would be a read back to the host (a sync on CUDA).
        nan = xp.isnan(windows)
        last = (len(taps) - 1) - xp.argmax(xp.astype(xp.flip(nan, axis=2), xp.int8), axis=2, keepdims=True)
        k = xp.where(xp.any(nan, axis=2, keepdims=True), last, k)
    out = xp.take_along_axis(windows, k, axis=2)[:, :, 0, :, :]
    k = xp.astype(k[:, :, 0, :, :], xp.int64)
    row = xp.reshape(xp.arange(oh, dtype=xp.int64) * sh - ph, (oh, 1)) + (k // kw) * dh
    col = xp.reshape(xp.arange(ow, dtype=xp.int64) * sw - pw, (1, ow)) + (k % kw) * dw
    return out, row * w + col


def _windows_sharing_an_input(kernel_size: Pair | None = None, stride: Pair | None = None,
                              dilation: Pair | None = None, **_: Any) -> int | None:
    """The most pooling windows one input element can fall in (None without the geometry)."""
    if kernel_size is None or stride is None or dilation is None:
        return None
    return math.prod(-(-(d * (k - 1) + 1) // s) for k, s, d in zip(kernel_size, stride, dilation))


def max_pool2d_backward(grad: Array, indices: Array, input_shape: tuple[int, ...], **geometry: Any) -> Array:
    """grad_input (N,C,H,W): each output's grad added at its argmax (a scatter-add, built from sorting).

    `geometry` (kernel_size, stride, dilation, ...) is what the CUDA kernel uses to gather. Here it bounds
    how many windows can share an input, so the number of summing passes is known without reading the
    indices back (a sync on CUDA); without it the passes stop at the first that finds no equal keys."""
    xp = grad.__array_namespace__()
    n, c, h, w = input_shape
    m, size = math.prod(grad.shape), n * c * h * w
    if m == 0 or size == 0:
        return xp.zeros((n, c, h, w), dtype=grad.dtype)
    # The standard has no scatter-add. Sort the targets (flat input positions), sum each run of equal
    # targets (a run is at most the number of windows sharing an input, so a few passes), then let every
    # input position look its run up with searchsorted.
    plane = xp.reshape(xp.arange(n * c, dtype=xp.int64) * (h * w), (n, c, 1))
    key = xp.reshape(xp.reshape(xp.astype(indices, xp.int64), (n, c, -1)) + plane, (m,))
    order = xp.argsort(key, stable=True)
    key, g = xp.take(key, order), xp.take(xp.reshape(grad, (m,)), order)
    total, longest = g, _windows_sharing_an_input(**geometry)
    for d in range(1, min(m, longest or m)):
        same = key[:m - d] == key[d:]
        if longest is None and not bool(xp.any(same)):
            break
        # Only the first of a run keeps its sum: the start of each run collects everything after it.
        total = xp.concat([total[:m - d] + xp.where(same, g[d:], xp.zeros_like(g[d:])), total[m - d:]])
    pos = xp.arange(size, dtype=xp.int64)
    first = xp.searchsorted(key, pos)  # the start of the run for pos, if pos is a target at all
    found = xp.clip(first, max=m - 1)  # a Python bound: no 0-d array to upload
    hit = xp.take(key, found) == pos
    out = xp.where(hit, xp.take(total, found), xp.zeros((), dtype=grad.dtype))
    return xp.reshape(out, (n, c, h, w))
