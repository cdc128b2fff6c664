"""Array-API references for the fused kernels: the CPU path, the fallback and the test oracle."""

from __future__ import annotations

import math
from typing import Any

# The optimizer rules live in optim_reference; re-exported so `reference.<rule>` names every rule.
from .optim_reference import adadelta_step, adagrad_step, adam_step, rmsprop_step, sgd_step  # noqa: F401
from .window import col2im, im2col, max_pool2d_backward, max_pool2d_forward  # noqa: F401

Array = Any  # any array-API array (numpy, cupy, array_api_strict)


def _per_row_scale(valid: Array, grad: Array, count: Array | None, dtype: Any) -> Array:
    """g_i / count for kept rows, exactly 0 for ignored ones (where, so a NaN grad cannot leak)."""
    xp = valid.__array_namespace__()
    g = grad if count is None else grad / xp.where(count > 0, count, xp.ones_like(count))
    return xp.where(valid, xp.astype(g, dtype), 0.0)  # a Python 0.0: no 0-d upload, dtype kept


def first_bad_label(target: Array, classes: int, ignore_index: int) -> Array:
    """A 0-d int64 array: the first label outside [0, classes) that is not ignore_index, else ignore_index.

    cross_entropy's label check on devices where reading the labels would be a sync: ten small ops,
    no read. (A fused kernel could raise the same flag from xent_forward at no extra launch.)
    """
    xp = target.__array_namespace__()
    t = xp.astype(xp.reshape(target, (-1,)), xp.int64, copy=False)
    bad = ((t < 0) | (t >= classes)) & (t != ignore_index)
    named = xp.where(bad, t, ignore_index)  # a Python int: no 0-d upload
    first = xp.argmax(xp.astype(bad, xp.int8))  # 0 when nothing is bad, and named[0] is then ignore_index
    return xp.take(named, xp.reshape(first, (1,)))[0]


def softmax_cross_entropy_forward(
    logits: Array, target: Array, ignore_index: int | None, label_smoothing: float, reduction: str
) -> tuple[Array, Array]:
    """Cross-entropy of softmax(logits) against class indices; returns (loss, per-row lse).

    ignore_index=None promises that no row is ignored (the caller checked), which skips the masking.
    """
    xp = logits.__array_namespace__()
    n, c = logits.shape
    valid = None if ignore_index is None else target != ignore_index
    m = xp.max(logits, axis=1, keepdims=True)
    if valid is not None:
        # An ignored row of -inf has max -inf; shifting it by 0 instead keeps x - m free of inf - inf. (A kept
        # row of -inf has a NaN loss and gradient either way, as in PyTorch.)
        m = xp.where(m > -math.inf, m, 0.0)
    z = logits - m  # the only full-size temporary the standard forces on us
    s = xp.sum(xp.exp(z), axis=1)
    if valid is not None:
        # An ignored row of -inf sums to 0: take log(1) there rather than warn about log(0).
        s = xp.where(valid, s, 1.0)
        # A label outside [0, C) reaches here only where its check is deferred (CUDA): read class 0 and
        # make the row's loss NaN, as the kernel does, rather than index outside the row.
        in_range = (target >= 0) & (target < c)
        target = xp.where(valid & in_range, target, 0)
    log_s = xp.log(s)
    z_t = xp.take_along_axis(z, target[:, None], axis=1)[:, 0]
    if valid is not None:
        z_t = xp.where(in_range | ~valid, z_t, math.nan)
    # Work on shifted values: lse - x_t == log_s - z_t keeps precision when |x| ~ 1e4.
    if label_smoothing:
        loss = log_s - (1.0 - label_smoothing) * z_t - (label_smoothing / c) * xp.sum(z, axis=1)
    else:
        loss = log_s - z_t
    if valid is not None:
        loss = xp.where(valid, loss, 0.0)  # where, not a 0-mask multiply: inf * 0 would be NaN
    lse = log_s + m[:, 0]
    if reduction == "none":
        return loss, lse
    total = xp.sum(loss)
    if reduction == "sum":
        return total, lse
    if reduction != "mean":
        raise ValueError(f"cross_entropy: unknown reduction {reduction!r} (expected 'mean', 'sum' or 'none')")
    if valid is None:
        return total / n, lse
    count = xp.sum(xp.astype(valid, logits.dtype))
    # PyTorch gives NaN when every row is ignored; build it without a 0/0 warning.
    return xp.where(count > 0, total / xp.where(count > 0, count, 1.0), math.nan), lse


def softmax_cross_entropy_backward(
    grad: Array, logits: Array, target: Array, lse: Array,
    ignore_index: int | None, label_smoothing: float, reduction: str,
) -> Array:
    """d loss / d logits = g_i (softmax(x_i) - q_i) / count, recomputed from the saved lse."""
    xp = logits.__array_namespace__()
    n, c = logits.shape
    dtype = logits.dtype
    if ignore_index is None:  # no ignored rows: count is n
        scale = xp.astype(grad, dtype) / n if reduction == "mean" else xp.astype(grad, dtype)
    else:
        valid = target != ignore_index
        count = xp.sum(xp.astype(valid, dtype)) if reduction == "mean" else None
        scale = _per_row_scale(valid, grad, count, dtype)
        # lse = +inf on ignored rows makes their softmax exactly 0, so the later scale-by-0 stays finite.
        lse = xp.where(valid, lse, math.inf)
    dx = xp.exp(logits - lse[:, None])
    if label_smoothing:
        dx -= label_smoothing / c
    # A multiply, not `dx[onehot] -= ...`: a boolean-mask index waits for the device on CUDA (it must count).
    onehot = xp.astype(xp.arange(c, dtype=target.dtype) == target[:, None], dtype)
    dx -= onehot if not label_smoothing else (1.0 - label_smoothing) * onehot
    dx *= scale[:, None] if scale.ndim else scale
    return dx


def _channel_view(x: Array, v: Array) -> Array:
    """Reshape a per-channel (C,) vector so it broadcasts against x of shape (N, C, *spatial)."""
    if x.ndim == 2:
        return v  # (C,) already broadcasts against (N, C)
    xp = x.__array_namespace__()
    return xp.reshape(v, (1, x.shape[1]) + (1,) * (x.ndim - 2))


def _reduce_axes(x: Array) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.ndim))


def _channel_dot(a: Array, b: Array) -> Array:
    """Per channel (axis 1), the sum of a * b over every other axis. NumPy's and CuPy's einsum do it in one
    read of each, without the (N, C, ...) product (2x faster at (256, 256), 2.5x at (64, 32, 14, 14));
    the array API has no einsum (its vecdot is 8x slower here), so elsewhere the product is summed."""
    xp = a.__array_namespace__()
    einsum = getattr(xp, "einsum", None)
    if einsum is None:
        return xp.sum(a * b, axis=_reduce_axes(a))
    dims = "nctuvw"[:a.ndim]
    return einsum(f"{dims},{dims}->c", a, b)


def batch_norm_forward_train(
    x: Array, weight: Array | None, bias: Array | None,
    running_mean: Array | None, running_var: Array | None, momentum: float, eps: float,
) -> tuple[Array, Array, Array]:
    """Normalise with batch statistics, update running stats in place; returns (y, mean, invstd)."""
    xp = x.__array_namespace__()
    axes = _reduce_axes(x)
    n = x.size // x.shape[1]
    mean = xp.sum(x, axis=axes) / n  # sum / n: NumPy's mean() wrapper costs more than the sum at small sizes
    y = x - _channel_view(x, mean)  # centred first: a two-pass variance, no E[x^2]-E[x]^2 cancellation
    var = _channel_dot(y, y) / n
    invstd = 1.0 / xp.sqrt(var + eps)
    if running_mean is not None:
        running_mean *= 1.0 - momentum
        running_mean += momentum * mean
    if running_var is not None:
        running_var *= 1.0 - momentum
        running_var += (momentum * n / (n - 1)) * var
    scale = invstd if weight is None else invstd * weight
    y *= _channel_view(x, scale)  # reuse the centred buffer as the output
    if bias is not None:
        y += _channel_view(x, bias)
    return y, mean, invstd


def batch_norm_forward_eval(
    x: Array, weight: Array | None, bias: Array | None,
    running_mean: Array, running_var: Array, eps: float,
) -> Array:
    """y = a*x + b per channel, with a, b folded from the running statistics."""
    xp = x.__array_namespace__()
    a = 1.0 / xp.sqrt(running_var + eps)
    if weight is not None:
        a = a * weight
    b = -running_mean * a
    if bias is not None:
        b = b + bias
    y = x * _channel_view(x, a)
    y += _channel_view(x, b)
    return y


def batch_norm_backward(
    dy: Array, x: Array, weight: Array | None, mean: Array, invstd: Array,
) -> tuple[Array, Array, Array]:
    """Gradients of batch-statistics BatchNorm: (dx, dweight, dbias)."""
    xp = x.__array_namespace__()
    axes = _reduce_axes(x)
    n = x.size // x.shape[1]
    centred = x - _channel_view(x, mean)  # xhat = centred * invstd, never built: invstd is folded per channel
    dbias = xp.sum(dy, axis=axes)
    dweight = _channel_dot(dy, centred) * invstd  # sum(dy * xhat)
    a = invstd if weight is None else invstd * weight
    # dx = a * (dy - mean(dy) - xhat * mean(dy * xhat)), building it in the centred buffer.
    centred *= _channel_view(x, invstd * (dweight / n))
    dx = dy - centred
    dx -= _channel_view(x, dbias / n)
    dx *= _channel_view(x, a)
    return dx, dweight, dbias
