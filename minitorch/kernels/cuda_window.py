"""Launchers for window.cu (im2col, col2im, max-pool), mixed into CudaKernels; same signatures as `reference`."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import reference
from .cuda_device import on_device

Array = Any
Pair = tuple[int, int]
BLOCK = 256
MAX_GRID = 65535  # grid-stride loops cover the rest (tests lower it to exercise them)
INT32_SAFE = 2**30  # every in-plane quantity and their sums stay inside the kernels' 32-bit ints
SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
# Kernel name -> threads per block of its launches (collected into cuda.LAUNCH_THREADS).
WINDOW_LAUNCH_THREADS: dict[str, tuple[int, ...]] = {
    f"{name}_{suffix}": (BLOCK,) for suffix in SUFFIX.values()
    for name in ("im2col", "col2im", "max_pool2d_forward", "max_pool2d_backward", "max_pool2d_backward_scatter")}


def _out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's output length; with ceil_mode the last window must start inside the input or left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _geometry(h: int, w: int, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
              ceil_mode: bool = False) -> tuple[int, ...] | None:
    """(H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw) as the kernels take it, or None when the kernels
    cannot run it (bad arguments, empty output, 32-bit overflow): the caller then defers to the reference."""
    try:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (tuple(int(v) for v in a) for a in
                                                  (kernel_size, stride, padding, dilation))
    except (TypeError, ValueError):
        return None
    if min(kh, kw, sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        return None
    oh, ow = _out_size(h, kh, sh, ph, dh, ceil_mode), _out_size(w, kw, sw, pw, dw, ceil_mode)
    dims = (h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw)
    if oh < 1 or ow < 1 or max(dims) >= INT32_SAFE or max(h * w, oh * ow, kh * kw, (kh - 1) * dh + h + ph,
                                                          (kw - 1) * dw + w + pw) >= INT32_SAFE:
        return None
    return dims


class WindowKernels:
    """im2col / col2im / max_pool2d forward and backward; needs `self.xp` and `self._fn` from CudaKernels."""

    xp: Any  # both provided by CudaKernels
    _fn: Callable[[str, str], Any]

    def _window_launch(self, name: str, dtype: Any, total: int, args: tuple) -> None:
        grid = (max(1, min(-(-total // BLOCK), MAX_GRID)),)
        ints = tuple(np.int32(v) for v in args[-12:])  # the WINDOW_ARGS block, always last
        self._fn("window.cu", f"{name}_{SUFFIX[np.dtype(dtype)]}")(grid, (BLOCK,), (*args[:-12], *ints))

    @on_device
    def im2col(self, x: Array, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Array:
        """(N, C, H, W) -> (N, C*kh*kw, OH*OW) columns, zero padding (torch unfold's layout)."""
        geo = _geometry(*x.shape[2:], kernel_size, stride, padding, dilation) if x.ndim == 4 else None
        if geo is None or np.dtype(x.dtype) not in SUFFIX or x.size == 0:
            return reference.im2col(x, kernel_size, stride, padding, dilation)
        n, c = x.shape[:2]
        oh, ow, kh, kw = geo[2:6]
        cols = self.xp.empty((n, c * kh * kw, oh * ow), dtype=x.dtype)
        self._window_launch("im2col", x.dtype, n * c * oh * ow,
                            (self.xp.ascontiguousarray(x), cols, np.int64(n * c), *geo))
        return cols

    @on_device
    def col2im(self, cols: Array, output_size: Pair, kernel_size: Pair, stride: Pair, padding: Pair,
               dilation: Pair) -> Array:
        """(N, C*kh*kw, L) columns -> (N, C, H, W), overlapping entries summed (torch fold)."""
        try:
            h, w = (int(v) for v in output_size)
            kh, kw = (int(v) for v in kernel_size)
        except (TypeError, ValueError):
            h = w = kh = kw = 0
        geo = _geometry(h, w, kernel_size, stride, padding, dilation) if cols.ndim == 3 and kh * kw > 0 else None
        if (geo is None or np.dtype(cols.dtype) not in SUFFIX or cols.size == 0 or cols.shape[1] % (kh * kw)
                or cols.shape[2] != geo[2] * geo[3]):
            return reference.col2im(cols, output_size, kernel_size, stride, padding, dilation)
        n, c = cols.shape[0], cols.shape[1] // (kh * kw)
        x = self.xp.empty((n, c, h, w), dtype=cols.dtype)
        self._window_launch("col2im", cols.dtype, n * c * h * w,
                            (self.xp.ascontiguousarray(cols), x, np.int64(n * c), *geo))
        return x

    @on_device
    def max_pool2d_forward(self, x: Array, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
                           ceil_mode: bool) -> tuple[Array, Array]:
        """(out, int64 indices h*W + w into each input plane), PyTorch's tie and NaN rules."""
        geo = _geometry(*x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode) if x.ndim == 4 else None
        # Padding beyond half the kernel (PyTorch rejects it) can leave a window without one input element.
        if (geo is None or np.dtype(x.dtype) not in SUFFIX or x.size == 0
                or geo[8] > geo[4] // 2 or geo[9] > geo[5] // 2):
            return reference.max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode)
        n, c = x.shape[:2]
        oh, ow = geo[2:4]
        out = self.xp.empty((n, c, oh, ow), dtype=x.dtype)
        indices = self.xp.empty((n, c, oh, ow), dtype=np.int64)
        self._window_launch("max_pool2d_forward", x.dtype, out.size,
                            (self.xp.ascontiguousarray(x), out, indices, np.int64(n * c), *geo))
        return out, indices

    @on_device
    def max_pool2d_backward(self, grad: Array, indices: Array, input_shape: tuple[int, ...], *,
                            kernel_size: Pair | None = None, stride: Pair | None = None,
                            padding: Pair | None = None, dilation: Pair | None = None,
                            ceil_mode: bool = False) -> Array:
        """grad_input: grad summed at indices. Given the forward's geometry (keywords), a deterministic
        gather; without it, an atomic scatter (exact unless windows overlap)."""
        n, c, h, w = (int(v) for v in input_shape)
        ok = (np.dtype(grad.dtype) in SUFFIX and grad.ndim == 4 and grad.shape[:2] == (n, c)
              and indices.shape == grad.shape and grad.size > 0 and h * w < INT32_SAFE)
        if not ok:
            return reference.max_pool2d_backward(grad, indices, input_shape, kernel_size=kernel_size, stride=stride,
                                                 dilation=dilation)
        xp = self.xp
        grad, indices = xp.ascontiguousarray(grad), xp.ascontiguousarray(indices, dtype=np.int64)
        geo = None
        if None not in (kernel_size, stride, padding, dilation):
            geo = _geometry(h, w, kernel_size, stride, padding, dilation, ceil_mode)
            if geo is not None and geo[2:4] != tuple(grad.shape[2:]):
                geo = None  # not the geometry these indices came from: the scatter needs none
        if geo is not None:
            dx = xp.empty((n, c, h, w), dtype=grad.dtype)
            self._window_launch("max_pool2d_backward", grad.dtype, dx.size, (grad, indices, dx, np.int64(n * c), *geo))
            return dx
        dx = xp.zeros((n, c, h, w), dtype=grad.dtype)
        plane = grad.shape[2] * grad.shape[3]
        self._fn("window.cu", f"max_pool2d_backward_scatter_{SUFFIX[np.dtype(grad.dtype)]}")(
            (max(1, min(-(-grad.size // BLOCK), MAX_GRID)),), (BLOCK,),
            (grad, indices, dx, np.int64(n * c), np.int64(plane), np.int64(h * w)))
        return dx
