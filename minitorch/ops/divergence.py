"""Elementwise losses beyond mse/l1/huber: smooth_l1_loss, and the KL divergence kl_div."""
from __future__ import annotations

import math
import warnings

from .. import dtypes
from ..autograd import Function
from ._util import binary_operands, is_float
from .nll import check_reduction


class SmoothL1(Function):
    """Elementwise smooth L1 of d = input - target: d^2 / (2 beta) within beta, |d| - beta/2 beyond.

    Its gradient is d / beta clipped to [-1, 1] (PyTorch's; at |d| = beta both sides give +-1).
    """

    rule = "dx = grad * clip((x - t) / beta, -1, 1);  dt = -dx"

    @staticmethod
    def forward(ctx, x, t, beta=1.0):
        xp = ctx.xp
        d = x - t
        ad = xp.abs(d)
        ctx.save_for_backward(d)
        ctx.beta = beta
        return xp.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta)

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved
        dx = grad * ctx.xp.clip(d / ctx.beta, -1, 1)
        return dx, -dx, None


class KLDiv(Function):
    """Pointwise KL term of log-probabilities x against target t: t (log t - x), or e^t (t - x) with log_target.

    dx = -t (or -e^t); dt = log t + 1 - x (or e^t (t - x + 1)). At t = 0 the term is 0 (xlogy's convention)
    and dt is nan, as PyTorch's xlogy gradient gives there.
    """

    rule = "dx = -grad * t;  dt = grad * (log(t) + 1 - x)  (t as probabilities)"

    @staticmethod
    def forward(ctx, x, t, log_target=False):
        xp = ctx.xp
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, t)  # only the target's gradient reads x
        ctx.log_target = log_target
        if log_target:
            return xp.exp(t) * (t - x)
        return _xlogx(xp, t) - t * x

    @staticmethod
    def backward(ctx, grad):
        x, t = ctx.saved
        xp = ctx.xp
        dx = dt = None
        if ctx.log_target:
            e = xp.exp(t)
            if ctx.needs_input_grad[0]:
                dx = -grad * e
            if ctx.needs_input_grad[1]:
                dt = grad * e * (t - x + 1)
            return dx, dt, None
        if ctx.needs_input_grad[0]:
            dx = -grad * t
        if ctx.needs_input_grad[1]:
            positive = t > 0
            log_t = xp.log(xp.where(positive, t, xp.ones_like(t)))
            dt = grad * (xp.where(positive, log_t + 1, xp.full_like(t, math.nan)) - x)
        return dx, dt, None


def _xlogx(xp, t):
    """t log t with 0 at t = 0 and nan below 0 (torch.xlogy(t, t)), without NumPy's warnings."""
    positive = t > 0
    tlogt = t * xp.log(xp.where(positive, t, xp.ones_like(t)))
    return xp.where(positive, tlogt, xp.where(t == 0, xp.zeros_like(t), xp.full_like(t, math.nan)))


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """Quadratic within beta of the target (scaled by 1/beta), linear beyond; beta = 0 is l1_loss (as PyTorch)."""
    from .losses import _same_shape, l1_loss
    check_reduction(reduction)
    if not beta >= 0:  # also refuses nan, as PyTorch
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got beta={beta}).")
    _same_shape("smooth_l1_loss", input, target)
    x, t = binary_operands(input, target)
    dtype = x.dtype if hasattr(x, "dtype") else t.dtype
    if not dtypes.is_floating(dtype):
        raise NotImplementedError(f"\"smooth_l1_loss\" not implemented for '{dtypes.scalar_type_name(dtype)}'")
    if beta == 0:
        return l1_loss(input, target, reduction)
    return _reduce(SmoothL1.apply(x, t, beta=float(beta)), reduction)


_MEAN_WARNING = ("reduction: 'mean' divides the total loss by both the batch size and the support size."
                 "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                 "'mean' will be changed to behave the same as 'batchmean' in the next major release.")


def kl_div(input, target, reduction="mean", log_target=False):
    """KL divergence sum t (log t - input) of log-probabilities `input` from `target`, as PyTorch's kl_div.

    "batchmean" divides the sum by input.shape[0] (the KL divergence per sample); "mean" divides by every
    element and warns, as PyTorch does. Input and target broadcast, as in PyTorch.
    """
    from ..tensor import Tensor
    check_reduction(reduction, ("mean", "batchmean", "sum", "none"))
    if not isinstance(target, Tensor):
        target = Tensor(target, device=input.device)
    if not (is_float(input) and is_float(target)):
        raise RuntimeError(f"kl_div: Integral inputs not supported (input of dtype {input.dtype}, target of dtype "
                           f"{target.dtype})")
    loss = KLDiv.apply(*binary_operands(input, target), log_target=bool(log_target))
    if reduction == "mean":
        warnings.warn(_MEAN_WARNING, UserWarning, stacklevel=2)
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction)
