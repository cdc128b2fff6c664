"""Array-API optimizer rules (PyTorch semantics, in place): the CPU path, the fallback and the kernels' oracle."""

from __future__ import annotations

import math
from typing import Any, Sequence

Array = Any  # any array-API array (numpy, cupy, array_api_strict)


def _xp(arrays: Sequence[Array]) -> Any:
    return arrays[0].__array_namespace__()


def _direction(g: Array, p: Array, maximize: bool, weight_decay: float) -> Array:
    """The gradient the rule descends: -g when maximizing, plus the coupled L2 term (never the caller's .grad)."""
    if maximize:
        g = -g
    if weight_decay:
        g = g + weight_decay * p
    return g


def adam_scalars(step: int, lr: float, beta1: float, beta2: float, eps: float) -> tuple[float, float]:
    """(step_size, eps_hat): m / (sqrt(v)/bc2 + eps) * lr/bc1 == step_size * m / (sqrt(v) + eps_hat), so
    the bias corrections fold into two scalars and cost no pass over the parameters. One function, so every
    Adam (reference, out= form, CPU loop) rounds them alike."""
    bc2 = math.sqrt(1.0 - beta2**step)
    return lr / (1.0 - beta1**step) * bc2, eps * bc2


def adam_step(    params: Sequence[Array], grads: Sequence[Array], exp_avgs: Sequence[Array], exp_avg_sqs: Sequence[Array],
    max_exp_avg_sqs: Sequence[Array] | None = None,
    *, step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
    amsgrad: bool = False, maximize: bool = False,
) -> None:
    """One Adam (decoupled=False) or AdamW (decoupled=True) step, in place, optionally AMSGrad / maximize."""
    if not params:
        return
    xp = _xp(params)
    step_size, eps_hat = adam_scalars(step, lr, beta1, beta2, eps)  # temporaries are reused in place
    maxes = max_exp_avg_sqs if amsgrad else [None] * len(params)
    for p, g, m, v, vmax in zip(params, grads, exp_avgs, exp_avg_sqs, maxes):
        if weight_decay and decoupled:
            p *= 1.0 - lr * weight_decay
        g = _direction(g, p, maximize, 0.0 if decoupled else weight_decay)
        m *= beta1
        m += (1.0 - beta1) * g
        v *= beta2
        g2 = (1.0 - beta2) * g
        g2 *= g
        v += g2
        if amsgrad:  # normalise by the largest second moment seen so far (the bias correction stays per step)
            vmax[...] = xp.maximum(vmax, v)
        denom = xp.sqrt(vmax if amsgrad else v)
        denom += eps_hat
        update = m / denom
        update *= step_size
        p -= update


def adam_step_into(
    params: Sequence[Array], grads: Sequence[Array], exp_avgs: Sequence[Array], exp_avg_sqs: Sequence[Array],
    max_exp_avg_sqs: Sequence[Array] | None, scratch: Sequence[Array],
    *, step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
    amsgrad: bool = False, maximize: bool = False,
) -> None:
    """adam_step with every temporary written into `scratch` (one array per parameter): NumPy's `out=`, which
    the array API lacks. The same operations in the same order, so the same bits, without four allocations
    per parameter; the flat-buffer path (optim/flat.py) runs it on NumPy."""
    xp = _xp(params)
    step_size, eps_hat = adam_scalars(step, lr, beta1, beta2, eps)
    maxes = max_exp_avg_sqs if amsgrad else [None] * len(params)
    for p, g, m, v, vmax, t in zip(params, grads, exp_avgs, exp_avg_sqs, maxes, scratch):
        if weight_decay and decoupled:
            p *= 1.0 - lr * weight_decay
        g = _direction(g, p, maximize, 0.0 if decoupled else weight_decay)
        m *= beta1
        xp.multiply(g, 1.0 - beta1, out=t)
        m += t
        v *= beta2
        xp.multiply(g, 1.0 - beta2, out=t)
        t *= g
        v += t
        if amsgrad:
            xp.maximum(vmax, v, out=vmax)
        xp.sqrt(vmax if amsgrad else v, out=t)
        t += eps_hat
        xp.divide(m, t, out=t)
        t *= step_size
        p -= t


def sgd_step(
    params: Sequence[Array], grads: Sequence[Array], momentum_buffers: Sequence[Array] | None,
    *, lr: float, momentum: float, weight_decay: float, nesterov: bool, dampening: float = 0.0,
    maximize: bool = False,
) -> None:
    """One SGD step (momentum with dampening, nesterov, L2 weight decay, maximize), in place.

    Buffers hold zeros before their first step, which the caller runs with dampening=0: b = 0 * mu + g
    is then PyTorch's clone of the first gradient, exactly.
    """
    bufs = momentum_buffers if momentum else [None] * len(params)
    for p, g, buf in zip(params, grads, bufs):
        g = _direction(g, p, maximize, weight_decay)
        if momentum:
            buf *= momentum
            buf += (1.0 - dampening) * g if dampening else g
            g = g + momentum * buf if nesterov else buf
        p -= lr * g


def rmsprop_step(
    params: Sequence[Array], grads: Sequence[Array], square_avgs: Sequence[Array],
    grad_avgs: Sequence[Array] | None, momentum_buffers: Sequence[Array] | None,
    *, lr: float, alpha: float, eps: float, weight_decay: float, momentum: float, centered: bool,
    maximize: bool = False,
) -> None:
    """One RMSprop step (centred, momentum, L2 weight decay, maximize), in place, PyTorch semantics."""
    if not params:
        return
    xp = _xp(params)
    n = len(params)
    for p, g, s, ga, buf in zip(params, grads, square_avgs, grad_avgs or [None] * n, momentum_buffers or [None] * n):
        g = _direction(g, p, maximize, weight_decay)
        s *= alpha
        s += (1.0 - alpha) * (g * g)
        if centered:
            ga *= alpha
            ga += (1.0 - alpha) * g
            avg = xp.sqrt(s - ga * ga) + eps  # the variance, not the raw second moment
        else:
            avg = xp.sqrt(s) + eps
        if momentum:
            buf *= momentum
            buf += g / avg
            p -= lr * buf
        else:
            p -= lr * (g / avg)


def adagrad_step(
    params: Sequence[Array], grads: Sequence[Array], state_sums: Sequence[Array],
    *, step: int, lr: float, lr_decay: float, weight_decay: float, eps: float, maximize: bool = False,
) -> None:
    """One Adagrad step, in place: s += g^2; p -= lr / (1 + (step - 1) lr_decay) * g / (sqrt(s) + eps)."""
    if not params:
        return
    xp = _xp(params)
    clr = lr / (1.0 + (step - 1) * lr_decay)  # the step count is per parameter: callers batch by step
    for p, g, s in zip(params, grads, state_sums):
        g = _direction(g, p, maximize, weight_decay)
        s += g * g
        std = xp.sqrt(s)
        std += eps
        p -= clr * (g / std)


def adadelta_step(
    params: Sequence[Array], grads: Sequence[Array], square_avgs: Sequence[Array], acc_deltas: Sequence[Array],
    *, lr: float, rho: float, eps: float, weight_decay: float, maximize: bool = False,
) -> None:
    """One Adadelta step, in place: delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g; p -= lr delta."""
    if not params:
        return
    xp = _xp(params)
    for p, g, s, acc in zip(params, grads, square_avgs, acc_deltas):
        g = _direction(g, p, maximize, weight_decay)
        s *= rho
        s += (1.0 - rho) * (g * g)
        delta = xp.sqrt(acc + eps) / xp.sqrt(s + eps)
        delta *= g
        acc *= rho
        acc += (1.0 - rho) * (delta * delta)
        p -= lr * delta
