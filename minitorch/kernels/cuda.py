"""Launchers for the fused .cu kernels, with the same signatures as `reference`."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from . import reference
from .cuda_device import on_device
from .cuda_optim import OPTIM_LAUNCH_THREADS, OptimKernels
from .cuda_window import WINDOW_LAUNCH_THREADS, WindowKernels

Array = Any
WARP_ROWS_MAX_C = 1024  # up to this many classes a warp per row keeps all 32 lanes busy enough
ROWS_PER_BLOCK = 8  # warp-per-row launch: 8 warps = 256 threads
ROW_BLOCK = 512  # block-per-row launch (large C)
ELEMWISE_BLOCK = 256
REDUCE_BLOCK = 256  # the single-block reductions over rows (xent_reduce, xent_mean_scale)
MAX_GRID = 65535  # grid-stride loops cover the rest
BN_BLOCK = 256  # threads per block of the (N, C, HW) reductions
BN_NC_ROWS = (8, 32)  # blockDim.y of the (N, C) reductions (x: 32 channels): 32 rows from N >= 256 on
BN_TARGET_BLOCKS = 256  # about two waves of blocks on a 132-SM H100: enough to saturate memory

# Every kernel a launcher requests, with each threads-per-block it launches it with: the NVRTC test
# (tests/kernels/test_cupy_nvrtc.py) checks each exists and that registers x threads fit a block, and
# checks against recorded launches that this table misses none.
LAUNCH_THREADS: dict[str, tuple[int, ...]] = {
    "xent_forward_warp": (32 * ROWS_PER_BLOCK,),
    "xent_forward_block": (ROW_BLOCK,),
    "xent_reduce": (REDUCE_BLOCK,),
    "xent_mean_scale": (REDUCE_BLOCK,),
    "xent_backward": (32 * ROWS_PER_BLOCK, ROW_BLOCK),
    **{f"{k}_nc": tuple(32 * rows for rows in BN_NC_ROWS) for k in ("bn_stats", "bn_bwd_reduce")},
    **{f"{k}_nchw": (BN_BLOCK,) for k in ("bn_stats", "bn_bwd_reduce")},
    **{k: (ELEMWISE_BLOCK,) for k in ("bn_stats_finish", "bn_bwd_finish", "bn_apply", "bn_bwd_apply")},
    **WINDOW_LAUNCH_THREADS,
    **OPTIM_LAUNCH_THREADS,
}


def _ignore(ignore_index: int | None) -> int:
    """None (no row is ignored) becomes a label no validated target can hold."""
    return -(2**63) if ignore_index is None else ignore_index


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _all_float32(*arrays: Array | None) -> bool:
    return all(a is None or a.dtype == np.float32 for a in arrays)


class CudaKernels(WindowKernels, OptimKernels):
    """Fused kernels launched through `load_module(file).get_function(name)(grid, block, args)`."""

    def __init__(self, load_module: Callable[[str], Any], xp: Any) -> None:
        self._load = load_module
        self.xp = xp
        self._guard = hasattr(xp, "cuda")  # CuPy: run each launcher on its arrays' device (cuda_device.py)
        self._functions: dict[tuple[str, str], Any] = {}
        self._tables: dict[tuple, tuple[Array, Array, Array]] = {}

    def _fn(self, source: str, name: str) -> Any:
        key = (source, name)
        if key not in self._functions:
            self._functions[key] = self._load(source).get_function(name)
        return self._functions[key]

    def _f32(self, a: Array) -> Array:
        return self.xp.ascontiguousarray(a, dtype=np.float32)

    def _elementwise_grid(self, total: int) -> tuple[int]:
        return (max(1, min(_ceil_div(total, ELEMWISE_BLOCK), MAX_GRID)),)

    # ---- softmax + cross-entropy -------------------------------------------------------------
    @on_device
    def softmax_cross_entropy_forward(
        self, logits: Array, target: Array, ignore_index: int, label_smoothing: float, reduction: str
    ) -> tuple[Array, Array]:
        """Per-row losses and lse in one read of the logits; mean/sum reduced on the device."""
        n, c = logits.shape
        if logits.dtype != np.float32 or n == 0 or reduction not in ("none", "sum", "mean"):
            return reference.softmax_cross_entropy_forward(logits, target, ignore_index, label_smoothing, reduction)
        xp = self.xp
        logits = xp.ascontiguousarray(logits)
        target = xp.ascontiguousarray(target, dtype=np.int64)
        row_loss = xp.empty(n, dtype=np.float32)
        lse = xp.empty(n, dtype=np.float32)
        args = (logits, target, row_loss, lse, np.int64(n), np.int32(c), np.int64(_ignore(ignore_index)),
                np.float32(label_smoothing))
        if c <= WARP_ROWS_MAX_C:
            grid, block, name = (_ceil_div(n, ROWS_PER_BLOCK),), (32 * ROWS_PER_BLOCK,), "xent_forward_warp"
        else:
            grid, block, name = (n,), (ROW_BLOCK,), "xent_forward_block"
        self._fn("softmax_xent.cu", name)(grid, block, args)
        if reduction == "none":
            return row_loss, lse
        out = xp.empty(1, dtype=np.float32)
        self._fn("softmax_xent.cu", "xent_reduce")(
            (1,), (REDUCE_BLOCK,),
            (row_loss, target, np.int64(n), np.int64(_ignore(ignore_index)), np.int32(reduction == "mean"), out))
        return xp.reshape(out, ()), lse

    @on_device
    def softmax_cross_entropy_backward(
        self, grad: Array, logits: Array, target: Array, lse: Array,
        ignore_index: int, label_smoothing: float, reduction: str,
    ) -> Array:
        """dlogits in one pass over the logits, recomputing softmax from the saved lse."""
        n, c = logits.shape
        if logits.dtype != np.float32 or n == 0:
            return reference.softmax_cross_entropy_backward(
                grad, logits, target, lse, ignore_index, label_smoothing, reduction)
        xp = self.xp
        logits = xp.ascontiguousarray(logits)
        target = xp.ascontiguousarray(target, dtype=np.int64)
        lse = self._f32(lse)
        if reduction == "none":
            scale, stride = self._f32(grad), 1
        else:
            scale, stride = self._f32(xp.reshape(grad, (1,))), 0
        if reduction == "mean":  # grad / count computed on the device: no host round trip
            mean_scale = xp.empty(1, dtype=np.float32)
            self._fn("softmax_xent.cu", "xent_mean_scale")(
                (1,), (REDUCE_BLOCK,), (scale, target, np.int64(n), np.int64(_ignore(ignore_index)), mean_scale))
            scale = mean_scale
        dx = xp.empty((n, c), dtype=np.float32)
        if c <= WARP_ROWS_MAX_C:
            rows, grid, block = ROWS_PER_BLOCK, (_ceil_div(n, ROWS_PER_BLOCK), 1), (32 * ROWS_PER_BLOCK,)
        else:  # long rows: several blocks per row (grid.y) so a small batch still fills the GPU
            rows, grid, block = 1, (n, max(1, min(c // (8 * ROW_BLOCK), MAX_GRID))), (ROW_BLOCK,)
        self._fn("softmax_xent.cu", "xent_backward")(
            grid, block, (logits, target, lse, scale, np.int64(stride), dx, np.int64(n), np.int32(c),
                          np.int64(_ignore(ignore_index)), np.float32(label_smoothing), np.int32(rows)))
        return dx

    # ---- BatchNorm -----------------------------------------------------------------------------
    def _bn_layout(self, x: Array) -> tuple[int, int, int]:
        n, c = x.shape[0], x.shape[1]
        return n, c, math.prod(x.shape[2:])

    def _bn_split(self, n: int, c: int, hw: int) -> tuple[str, tuple, tuple, int, tuple]:
        """Reduction layout: (kernel suffix, grid, block, batch slices S, shape args)."""
        if hw == 1:  # (N, C): 32 channels across a warp, rows over blockDim.y (and grid.y slices)
            rows = BN_NC_ROWS[1] if n >= 256 else BN_NC_ROWS[0]
            tiles, per_block = _ceil_div(c, 32), rows * 16
            suffix, block, dims = "nc", (32, rows), (np.int64(n), np.int32(c))
        else:  # (N, C, HW): blocks per channel walking its planes
            tiles, per_block = c, BN_BLOCK * 16
            suffix, block, dims = "nchw", (BN_BLOCK,), (np.int64(n), np.int32(c), np.int64(hw))
        # Split the batch only while channels alone give too few blocks, keeping >= 16 elements per thread.
        s = max(1, min(n * hw // per_block, BN_TARGET_BLOCKS // tiles, 64))
        return suffix, (tiles, s), block, s, dims

    def _bn_apply(self, x: Array, weight: Array | None, bias: Array | None, mean: Array, stat: Array,
                  stat_is_var: bool, eps: float) -> Array:
        n, c, hw = self._bn_layout(x)
        y = self.xp.empty_like(x)
        w = mean if weight is None else self._f32(weight)  # placeholder pointer when absent (flag says so)
        b = mean if bias is None else self._f32(bias)
        self._fn("batchnorm.cu", "bn_apply")(
            self._elementwise_grid(x.size), (ELEMWISE_BLOCK,),
            (x, y, w, b, mean, stat, np.int64(x.size), np.int32(c), np.int64(hw), np.int32(weight is not None),
             np.int32(bias is not None), np.int32(stat_is_var), np.float32(eps)))
        return y

    @on_device
    def batch_norm_forward_train(
        self, x: Array, weight: Array | None, bias: Array | None,
        running_mean: Array | None, running_var: Array | None, momentum: float, eps: float,
    ) -> tuple[Array, Array, Array]:
        """Welford stats + fused running-stat update, then one normalise+affine pass."""
        running = (running_mean, running_var)
        contiguous = all(r is None or r.flags.c_contiguous for r in running)
        if not (_all_float32(x, weight, bias, *running) and contiguous) or x.size == 0:
            return reference.batch_norm_forward_train(x, weight, bias, running_mean, running_var, momentum, eps)
        xp = self.xp
        x = xp.ascontiguousarray(x)
        n, c, hw = self._bn_layout(x)
        mean = xp.empty(c, dtype=np.float32)
        invstd = xp.empty(c, dtype=np.float32)
        has_running = running_mean is not None and running_var is not None
        rm, rv = (running_mean, running_var) if has_running else (mean, invstd)  # placeholders, flag off
        outputs = (mean, invstd, rm, rv, np.int32(has_running), np.float32(momentum), np.float32(eps))
        suffix, grid, block, s, dims = self._bn_split(n, c, hw)
        partial = xp.empty(3 * s * c if s > 1 else 1, dtype=np.float32)  # (count, mean, M2) per slice
        self._fn("batchnorm.cu", f"bn_stats_{suffix}")(grid, block, (x, *dims, partial, *outputs))
        if s > 1:
            self._fn("batchnorm.cu", "bn_stats_finish")(
                (_ceil_div(c, ELEMWISE_BLOCK),), (ELEMWISE_BLOCK,), (partial, np.int32(s), np.int32(c), *outputs))
        return self._bn_apply(x, weight, bias, mean, invstd, False, eps), mean, invstd

    @on_device
    def batch_norm_forward_eval(
        self, x: Array, weight: Array | None, bias: Array | None,
        running_mean: Array, running_var: Array, eps: float,
    ) -> Array:
        """One elementwise launch: invstd is formed from running_var inside the kernel."""
        if not _all_float32(x, weight, bias, running_mean, running_var) or x.size == 0:
            return reference.batch_norm_forward_eval(x, weight, bias, running_mean, running_var, eps)
        x = self.xp.ascontiguousarray(x)
        return self._bn_apply(x, weight, bias, self._f32(running_mean), self._f32(running_var), True, eps)

    @on_device
    def batch_norm_backward(
        self, dy: Array, x: Array, weight: Array | None, mean: Array, invstd: Array,
    ) -> tuple[Array, Array, Array]:
        """Per-channel sums of dy and dy*x_hat, then one elementwise pass for dx."""
        if not _all_float32(dy, x, weight, mean, invstd) or x.size == 0:
            return reference.batch_norm_backward(dy, x, weight, mean, invstd)
        xp = self.xp
        x, dy = xp.ascontiguousarray(x), xp.ascontiguousarray(dy)
        mean, invstd = self._f32(mean), self._f32(invstd)
        n, c, hw = self._bn_layout(x)
        dweight = xp.empty(c, dtype=np.float32)
        dbias = xp.empty(c, dtype=np.float32)
        suffix, grid, block, s, dims = self._bn_split(n, c, hw)
        partial = xp.empty(2 * s * c if s > 1 else 1, dtype=np.float32)  # (sum dy, sum dy*(x-mean)) per slice
        self._fn("batchnorm.cu", f"bn_bwd_reduce_{suffix}")(
            grid, block, (dy, x, mean, invstd, *dims, partial, dweight, dbias))
        if s > 1:
            self._fn("batchnorm.cu", "bn_bwd_finish")(
                (_ceil_div(c, ELEMWISE_BLOCK),), (ELEMWISE_BLOCK,), (partial, np.int32(s), np.int32(c), invstd,
                                                                     dweight, dbias))
        dx = xp.empty_like(x)
        w = mean if weight is None else self._f32(weight)
        self._fn("batchnorm.cu", "bn_bwd_apply")(
            self._elementwise_grid(x.size), (ELEMWISE_BLOCK,),
            (dy, x, w, mean, invstd, dweight, dbias, dx, np.int64(x.size), np.int32(c), np.int64(hw),
             np.float32(1.0 / (n * hw)), np.int32(weight is not None)))
        return dx, dweight, dbias
