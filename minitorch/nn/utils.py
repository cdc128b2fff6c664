"""Gradient utilities: clip_grad_norm_, clip_grad_value_."""
from __future__ import annotations

import math
from typing import Any, Iterable

from ..capture.hooks import replayed
from ..tensor import Tensor


@replayed  # raw-array work: a step minitorch.compile records replays it as one call
def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale gradients so their joint norm is at most max_norm; returns the norm before clipping."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        from ..creation import tensor
        return tensor(0.0)
    backend = grads[0].backend
    xp = backend.xp

    def on_device(a: Any) -> Any:  # per-parameter norms meet on the first grad's device
        return a if a.__array_namespace__() is xp else backend.from_host(backend.to_host(a))

    if norm_type == math.inf:
        norms = [on_device(xp.max(xp.abs(g.array))) for g in grads]
        total = xp.max(xp.stack([xp.astype(n, xp.float64) for n in norms]))
    else:
        norms = [on_device(xp.sum(xp.abs(xp.astype(g.array, xp.float64)) ** norm_type)) for g in grads]
        total = xp.sum(xp.stack(norms)) ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}; "
                           "pass error_if_nonfinite=False to clip anyway")
    # Always multiply by the clamped factor (no data-dependent branch, so no device sync on CUDA).
    coef = max_norm / (total + 1e-6)
    coef = xp.where(coef < 1.0, coef, xp.ones_like(coef))
    for g in grads:
        c = coef if g.backend is backend else g.backend.from_host(backend.to_host(coef))
        g.array = g.array * _cast_like(c, g.array)
    return Tensor._make(xp.astype(total, grads[0].array.dtype), backend, False, None)


@replayed
def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient elementwise into [-clip_value, clip_value] (NaN stays NaN, as in PyTorch)."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    c = float(clip_value)
    for p in params:
        if p.grad is None:
            continue
        xp = p.grad.xp
        # clamp_min then clamp_max, PyTorch's order: a negative clip_value leaves every entry at clip_value.
        g = p.grad.array
        g = xp.where(g < -c, xp.asarray(-c, dtype=g.dtype), g)
        p.grad.array = xp.where(g > c, xp.asarray(c, dtype=g.dtype), g)


def _cast_like(c: Any, like: Any) -> Any:
    """c cast to the dtype of `like` (float32 grads stay float32 under a float64 norm)."""
    return like.__array_namespace__().astype(c, like.dtype)
