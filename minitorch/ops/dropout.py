"""Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p)."""
from __future__ import annotations

from ..autograd import Function


class Dropout(Function):
    """Keeps the expected value, so evaluation needs no rescaling."""

    rule = "dx = grad * mask  (forward's mask: 0 or 1/(1-p))"

    @staticmethod
    def forward(ctx, x, p=0.5, mask_shape=None):
        # mask_shape: one multiplier per broadcast block (dropout2d: per (sample, channel)); default elementwise.
        mask = ctx.backend.dropout_mask(mask_shape or x.shape, p, x.dtype)  # 0 or 1/(1-p), drawn on the device
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved
        return grad * mask


def dropout(x, p=0.5, training=True):
    """Inverted dropout in training; the identity otherwise."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return Dropout.apply(x, p=p)
