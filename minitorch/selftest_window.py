"""Selftest checks for window.cu (im2col, col2im, max-pool): kernels against independent float64 NumPy loops
and, where minitorch/kernels/window.py is present, against the array-API references too."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .selftest import Result, compare

Array = Any
Pair = tuple[int, int]


def _out_len(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's rule: with ceil_mode a last window must still start inside the input or left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    n = -(-span // s) + 1 if ceil_mode else span // s + 1
    return n - 1 if ceil_mode and (n - 1) * s >= size + p else n


def _windows(x: np.ndarray, k: Pair, s: Pair, p: Pair, d: Pair, fill: float, ceil_mode: bool = False):
    """Yields (ki, kj, view (N, C, OH, OW) of the input padded with `fill`, inside mask (OH, OW), flat index)."""
    n, c, h, w = x.shape
    oh, ow = _out_len(h, k[0], s[0], p[0], d[0], ceil_mode), _out_len(w, k[1], s[1], p[1], d[1], ceil_mode)
    big_h, big_w = (oh - 1) * s[0] + (k[0] - 1) * d[0] + 1, (ow - 1) * s[1] + (k[1] - 1) * d[1] + 1
    padded = np.full((n, c, max(big_h, h + p[0]), max(big_w, w + p[1])), fill, dtype=np.float64)
    padded[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = x
    rows, cols = np.arange(oh) * s[0] - p[0], np.arange(ow) * s[1] - p[1]
    for ki in range(k[0]):
        for kj in range(k[1]):
            r, q = rows + ki * d[0], cols + kj * d[1]
            view = padded[:, :, r + p[0]][:, :, :, q + p[1]]
            inside = ((r >= 0) & (r < h))[:, None] & ((q >= 0) & (q < w))[None, :]
            yield ki, kj, view, inside, r[:, None] * w + q[None, :]


def naive_im2col(x: np.ndarray, k: Pair, s: Pair, p: Pair, d: Pair) -> np.ndarray:
    parts = [view for _, _, view, _, _ in _windows(x, k, s, p, d, 0.0)]
    n, c, oh, ow = parts[0].shape
    return np.stack(parts, axis=2).reshape(n, c * k[0] * k[1], oh * ow)


def naive_col2im(cols: np.ndarray, size: Pair, k: Pair, s: Pair, p: Pair, d: Pair) -> np.ndarray:
    n, ckk, _ = cols.shape
    x = np.zeros((n, ckk // (k[0] * k[1]), *size))
    c6 = cols.reshape(n, -1, k[0] * k[1], _out_len(size[0], k[0], s[0], p[0], d[0], False),
                      _out_len(size[1], k[1], s[1], p[1], d[1], False))
    flat = x.reshape(n, x.shape[1], -1)
    for ki, kj, _, inside, at in _windows(x, k, s, p, d, 0.0):
        np.add.at(flat, (slice(None), slice(None), at[inside]), c6[:, :, ki * k[1] + kj][:, :, inside])
    return x


def naive_max_pool(x: np.ndarray, k: Pair, s: Pair, p: Pair, d: Pair, ceil_mode: bool) -> tuple[np.ndarray, ...]:
    """PyTorch's scan: take v when v > best or v is NaN; the index starts at the first inside element."""
    best, idx = None, None
    for _, _, view, inside, at in _windows(x, k, s, p, d, -np.inf, ceil_mode):
        if best is None:
            best, idx, seen = np.full(view.shape, -np.inf), np.zeros(view.shape, np.int64), np.zeros(inside.shape, bool)
        first = inside & ~seen
        idx[..., first] = at[first]
        seen |= inside
        take = ((view > best) | np.isnan(view)) & inside
        best, idx = np.where(take, view, best), np.where(take, at, idx)
    return best, idx


def naive_max_pool_backward(grad: np.ndarray, idx: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    n, c, h, w = shape
    dx = np.zeros((n * c, h * w))
    np.add.at(dx, (np.arange(n * c)[:, None], idx.reshape(n * c, -1)), grad.reshape(n * c, -1))
    return dx.reshape(shape)


def _references() -> Any | None:
    try:
        from .kernels import window
    except ImportError:  # written by another change; the NumPy loops above stand in until then
        return None
    return window


def _input(xp: Any, shape: tuple[int, ...], dtype: str, rng: np.random.Generator, ties: bool = False,
           nans: int = 0) -> tuple[Array, np.ndarray]:
    a = rng.integers(-2, 3, size=shape).astype(np.float64) if ties else rng.normal(size=shape)
    flat = a.reshape(-1)
    flat[rng.choice(flat.size, size=min(nans, flat.size), replace=False)] = np.nan
    a = a.astype(dtype)
    return xp.asarray(a), a.astype(np.float64)


def _host(a: Array) -> np.ndarray:
    return np.asarray(a.get() if hasattr(a, "get") else a)


def _exact(name: str, got: Array, want: Array) -> Result:
    """Indices must match exactly, as int64."""
    g, want = _host(got), _host(want)
    if g.shape != want.shape or g.dtype != np.int64:
        return Result(f"{name} (shape {g.shape} {g.dtype}, want {want.shape} int64)", float("inf"), False)
    wrong = int(np.count_nonzero(g != want))
    return Result(f"{name} ({wrong} differ)", float(wrong), wrong == 0)


def check_im2col(k: Any, xp: Any, shape: tuple[int, ...], kernel_size: Pair, stride: Pair = (1, 1),
                 padding: Pair = (0, 0), dilation: Pair = (1, 1), *, dtype: str = "float32",
                 seed: int = 0) -> list[Result]:
    """im2col: exact copies, so any difference is a bug (zero tolerance)."""
    x, x64 = _input(xp, shape, dtype, np.random.default_rng(seed))
    geo = (kernel_size, stride, padding, dilation)
    cols = k.im2col(x, *geo)
    out = [compare("cols", cols, naive_im2col(x64, *geo), rtol=0, atol=0)]
    if (ref := _references()) is not None:
        out.append(compare("cols vs reference", cols, ref.im2col(xp.asarray(x64), *geo), rtol=0, atol=0))
    return out


def check_col2im(k: Any, xp: Any, shape: tuple[int, ...], kernel_size: Pair, stride: Pair = (1, 1),
                 padding: Pair = (0, 0), dilation: Pair = (1, 1), *, dtype: str = "float32",
                 seed: int = 0) -> list[Result]:
    """col2im (fold) to an output of `shape`: overlapping column entries summed."""
    n, c, h, w = shape
    geo = (kernel_size, stride, padding, dilation)
    L = _out_len(h, kernel_size[0], stride[0], padding[0], dilation[0], False) * \
        _out_len(w, kernel_size[1], stride[1], padding[1], dilation[1], False)
    cols, cols64 = _input(xp, (n, c * kernel_size[0] * kernel_size[1], L), dtype, np.random.default_rng(seed))
    x = k.col2im(cols, (h, w), *geo)
    out = [compare("x", x, naive_col2im(cols64, (h, w), *geo))]
    if (ref := _references()) is not None:
        out.append(compare("x vs reference", x, ref.col2im(xp.asarray(cols64), (h, w), *geo)))
    return out


def check_max_pool2d(k: Any, xp: Any, shape: tuple[int, ...], kernel_size: Pair, stride: Pair | None = None,
                     padding: Pair = (0, 0), dilation: Pair = (1, 1), ceil_mode: bool = False, *,
                     dtype: str = "float32", ties: bool = False, nans: int = 0, seed: int = 0) -> list[Result]:
    """Forward (values, exact indices) and both backward paths (gather with geometry, scatter without)."""
    rng = np.random.default_rng(seed)
    stride = kernel_size if stride is None else stride
    geo = (kernel_size, stride, padding, dilation)
    x, x64 = _input(xp, shape, dtype, rng, ties, nans)
    y, idx = k.max_pool2d_forward(x, *geo, ceil_mode)
    y_r, idx_r = naive_max_pool(x64, *geo, ceil_mode)
    out = [compare("out", y, y_r, rtol=0, atol=0), _exact("indices", idx, idx_r)]
    g, g64 = _input(xp, y_r.shape, dtype, rng)
    dx_r = naive_max_pool_backward(g64, idx_r, x64.shape)
    kw = dict(zip(("kernel_size", "stride", "padding", "dilation"), geo), ceil_mode=ceil_mode)
    out += [compare("dx (gather)", k.max_pool2d_backward(g, idx, shape, **kw), dx_r),
            compare("dx (scatter)", k.max_pool2d_backward(g, idx, shape), dx_r)]
    # window.py picks the first NaN of a window and, for a window of -inf next to padding, a padding
    # position; PyTorch (and the kernels) the last NaN and the first inside element: finite inputs only.
    if (ref := _references()) is not None and np.isfinite(x64).all():
        y_w, idx_w = ref.max_pool2d_forward(xp.asarray(x64), *geo, ceil_mode)
        out += [compare("out vs reference", y, y_w, rtol=0, atol=0), _exact("indices vs reference", idx, idx_w),
                compare("dx vs reference", k.max_pool2d_backward(g, idx, shape, **kw),
                        ref.max_pool2d_backward(xp.asarray(g64), idx_w, shape))]
    return out


# Small enough for the emulator; run by `python -m minitorch.selftest` after the other kernels.
WINDOW_QUICK: list[tuple[str, Callable[[Any, Any], list[Result]]]] = [
    ("im2col 3x2 kernel, stride, padding, dilation", lambda k, xp: check_im2col(
        k, xp, (2, 3, 9, 8), (3, 2), (2, 1), (1, 1), (2, 1))),
    ("col2im 3x3 kernel, overlapping windows", lambda k, xp: check_col2im(k, xp, (2, 3, 9, 8), (3, 3), (1, 2), (1, 0))),
    ("max_pool2d 3x3/2 pad 1, ceil_mode, ties", lambda k, xp: check_max_pool2d(
        k, xp, (2, 3, 10, 9), (3, 3), (2, 2), (1, 1), ceil_mode=True, ties=True)),
    ("max_pool2d 2x2/2 float64 with NaNs", lambda k, xp: check_max_pool2d(
        k, xp, (2, 2, 8, 8), (2, 2), dtype="float64", nans=5)),
]
