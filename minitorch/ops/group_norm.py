"""GroupNorm: each sample's channels split into groups, each group normalised over its channels and positions."""
from __future__ import annotations

from ..autograd import Function
from ._util import require_float


class GroupNorm(Function):
    """y = (x - mean_g) / sqrt(var_g + eps) * w_c + b_c, statistics over each (sample, group)."""

    rule = "dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = grad * w;  dw = sum(grad * xhat);  db = sum(grad)"

    @staticmethod
    def forward(ctx, x, weight, bias, groups, eps=1e-5):
        xp = ctx.xp
        n, c = x.shape[0], x.shape[1]
        xg = xp.reshape(x, (n, groups, -1))
        mean = xp.mean(xg, axis=2, keepdims=True)
        centered = xg - mean
        rstd = 1 / xp.sqrt(xp.mean(centered * centered, axis=2, keepdims=True) + eps)
        x_hat = xp.reshape(centered * rstd, (n, c, -1))  # per channel again: (N, C, positions)
        y = x_hat
        if weight is not None:
            y = y * xp.reshape(weight, (1, c, 1))
        if bias is not None:
            y = y + xp.reshape(bias, (1, c, 1))
        ctx.save_for_backward(x_hat, rstd, weight)
        ctx.groups, ctx.shape = groups, x.shape
        return xp.reshape(y, x.shape)

    @staticmethod
    def backward(ctx, grad):
        x_hat, rstd, weight = ctx.saved
        xp = ctx.xp
        n, c = ctx.shape[0], ctx.shape[1]
        g = xp.reshape(grad, (n, c, -1))
        # Affine parameters: summed over the batch and the positions each channel's value was applied to.
        dw = xp.sum(g * x_hat, axis=(0, 2)) if ctx.needs_input_grad[1] else None
        db = xp.sum(g, axis=(0, 2)) if ctx.needs_input_grad[2] else None
        dx = None
        if ctx.needs_input_grad[0]:
            # Through the normalisation, per group: rstd * (d_hat - mean(d_hat) - x_hat * mean(d_hat * x_hat)).
            d_hat = g if weight is None else g * xp.reshape(weight, (1, c, 1))
            d_hat, xh = xp.reshape(d_hat, (n, ctx.groups, -1)), xp.reshape(x_hat, (n, ctx.groups, -1))
            dx = rstd * (d_hat - xp.mean(d_hat, axis=2, keepdims=True)
                         - xh * xp.mean(d_hat * xh, axis=2, keepdims=True))
            dx = xp.reshape(dx, ctx.shape)
        return dx, dw, db, None


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise (N, C, *) input over groups of C // num_groups channels and all positions, as torch's."""
    if x.ndim < 2:
        raise RuntimeError(f"group_norm: expected at least 2 dimensions for input tensor but received {x.ndim} "
                           f"(shape {x.shape})")
    c = x.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(f"group_norm: expected number of channels in input to be divisible by num_groups, but "
                           f"got input of shape {x.shape} and num_groups={num_groups}")
    require_float(x, "GroupNormKernelImpl")
    if x.numel() // num_groups == 1:  # PyTorch's check (via _verify_batch_size): one value per group
        raise ValueError(f"group_norm: expected more than 1 value per group when training, got input of shape "
                         f"{x.shape} with num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise RuntimeError(f"group_norm: expected {name} to be a vector of size equal to the number of channels "
                               f"in input, but got {name} of shape {t.shape} and input of shape {x.shape}")
        if t is not None and t.dtype != x.dtype:
            raise RuntimeError(f"group_norm: {name} is {t.dtype} but input is {x.dtype}; cast one of them "
                               "(PyTorch refuses mixed dtypes here too)")
    if x.numel() == 0:  # nothing to normalise: PyTorch returns an empty result
        return x * 1.0
    return GroupNorm.apply(x, weight, bias, num_groups, eps=eps)
