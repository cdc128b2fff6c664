"""SyncBatchNorm: BatchNorm whose batch statistics are those of the global batch, over all ranks.

Forward all-reduces each channel's (sum, sum of squares, count), accumulated in float64; backward
all-reduces the two sums the input gradient needs, as PyTorch's SyncBatchNorm does (the weight and bias
gradients stay per rank: DistributedDataParallel averages them with the other gradients).
"""
from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..nn.module import Module
from ..nn.norm import _BatchNorm
from ..tensor import Tensor


def _sum_channels(xp: Any, a: Any) -> Any:
    """Per-channel sums over every axis but 1, accumulated in float64."""
    return xp.sum(a, axis=(0,) + tuple(range(2, a.ndim)), dtype=xp.float64)


class SyncBatchNormTrain(Function):
    """Global batch statistics per channel; running stats updated in place; normalise + affine."""

    rule = ("dx = w * invstd * (grad - sum(grad)/N - xmu * invstd^2 * sum(grad * xmu)/N), both sums over all "
            "ranks;  dw = sum(grad * xhat);  db = sum(grad)  (this rank's)")

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum=0.1, eps=1e-5):
        xp = ctx.xp
        c, x64 = x.shape[1], xp.astype(x, xp.float64)
        stats = xp.concat([_sum_channels(xp, x64), _sum_channels(xp, x64 * x64),
                           xp.full((1,), x.size // c, dtype=xp.float64)])
        stats = _all_reduce(stats, ctx.backend)
        n = float(stats[-1])
        if n <= 1:
            raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel when training, got "
                             f"{int(n)} over all ranks")
        mean = stats[:c] / n
        var = xp.maximum(stats[c:2 * c] / n - mean * mean, 0.0)
        if running_mean is not None:
            running_mean[...] = (1 - momentum) * running_mean + momentum * xp.astype(mean, running_mean.dtype)
            unbiased = xp.astype(var * (n / (n - 1)), running_var.dtype)
            running_var[...] = (1 - momentum) * running_var + momentum * unbiased
        shape = (1, c) + (1,) * (x.ndim - 2)
        mean = xp.reshape(xp.astype(mean, x.dtype), shape)
        invstd = xp.reshape(xp.astype(1 / xp.sqrt(var + eps), x.dtype), shape)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.count = n
        y = (x - mean) * invstd
        if weight is not None:
            y = y * xp.reshape(weight, shape) + xp.reshape(bias, shape)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd = ctx.saved
        xp, c = ctx.xp, x.shape[1]
        xmu = x - mean
        sum_dy, sum_dy_xmu = _sum_channels(xp, grad), _sum_channels(xp, grad * xmu)
        dw = db = dx = None
        if weight is not None:
            dw = xp.astype(sum_dy_xmu * xp.astype(xp.reshape(invstd, (c,)), xp.float64), weight.dtype)
            db = xp.astype(sum_dy, weight.dtype)
        if ctx.needs_input_grad[0]:
            total = _all_reduce(xp.concat([sum_dy, sum_dy_xmu]), ctx.backend)
            shape = mean.shape
            mean_dy = xp.reshape(xp.astype(total[:c] / ctx.count, x.dtype), shape)
            mean_dy_xmu = xp.reshape(xp.astype(total[c:] / ctx.count, x.dtype), shape)
            scale = invstd if weight is None else invstd * xp.reshape(weight, shape)
            dx = (grad - mean_dy - xmu * (invstd * invstd) * mean_dy_xmu) * scale
        return dx, dw, db, None, None


def _all_reduce(array: Any, backend: Any) -> Any:
    """SUM over all ranks of a raw array (wrapped, so the collective's checks apply)."""
    from .collectives import all_reduce
    t = Tensor._make(array, backend, False, None)
    all_reduce(t, "sum")
    return t.array


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, *) input whose training statistics span all ranks' batches (torch's SyncBatchNorm).

    Outside a process group, in eval mode and in a world of one, it is BatchNorm exactly.
    """

    _dims = (2, 3, 4, 5)

    def forward(self, x: Tensor) -> Tensor:
        from .group import _group
        if not self.training or _group is None or _group.world_size == 1:
            return super().forward(x)
        if x.ndim < 2 or x.shape[1] != self.num_features:
            return super().forward(x)  # BatchNorm's checks raise its errors
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            counter = self.num_batches_tracked.array
            counter[...] = counter + 1
            if self.momentum is None:  # cumulative moving average, as PyTorch
                momentum = 1.0 / int(self.num_batches_tracked.item())
        rm = None if self.running_mean is None else self.running_mean.array
        rv = None if self.running_var is None else self.running_var.array
        return SyncBatchNormTrain.apply(x, self.weight, self.bias, rm, rv, momentum=momentum, eps=self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """`module` with every BatchNorm*d replaced by a SyncBatchNorm sharing its parameters and buffers."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
            for name in ("weight", "bias"):
                if module.affine:
                    setattr(out, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                out.register_buffer(name, getattr(module, name))
            out.train(module.training)
        for name, child in list(module.named_children()):
            converted = cls.convert_sync_batchnorm(child, process_group)
            if converted is not child:
                setattr(out, name, converted)
        return out
