"""The NumPy backend's fused kernels: the xp references, except Adam, which runs as one Numba loop where
Numba is installed (the `performance` extra).

NumPy has no fused multiply-add, so its Adam is twelve passes over every parameter, each a read and a write
of the whole array; one loop reads p, g, m, v once and writes them once (a workshop-sized step: ~250 -> ~60
us). The loop performs the reference's float operations in the reference's order, each rounded to the
array's dtype (no fast-math, so no contraction into FMAs): the same bits, which tests/kernels/test_cpu.py
checks. Without Numba, and for what the loop does not take (other dtypes, strided arrays), the reference runs.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import numpy as np

from . import reference
from .optim_reference import adam_scalars

Array = Any
_LOOP_DTYPES = (np.float32, np.float64)


@functools.cache
def _adam_loop() -> Callable[..., None] | None:
    """The jitted per-element Adam update, or None without Numba (imported here: `import minitorch` never
    pays for it)."""
    try:
        import numba
    except ImportError:
        return None

    # error_model="numpy": a division by zero gives inf/nan as in NumPy, not a Python exception, so the
    # loop has no branch per division and vectorises. cache=True keeps the compiled code between processes.
    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def adam_loop(p, g, m, v, vmax, beta1, one_minus_beta1, beta2, one_minus_beta2, eps_hat, step_size,
                  weight_decay, decay_scale, coupled, decoupled, maximize, amsgrad):  # pragma: no cover (jitted)
        for i in range(p.shape[0]):
            if decoupled:
                p[i] = p[i] * decay_scale
            gi = -g[i] if maximize else g[i]
            if coupled:
                gi = gi + weight_decay * p[i]
            mi = m[i] * beta1 + one_minus_beta1 * gi
            vi = v[i] * beta2 + (one_minus_beta2 * gi) * gi
            m[i] = mi
            v[i] = vi
            if amsgrad:
                vm = vmax[i]
                if vi > vm or vi != vi:  # np.maximum: the larger, or NaN if either is NaN
                    vm = vi
                vmax[i] = vm
                vi = vm
            p[i] = p[i] - (mi / (math.sqrt(vi) + eps_hat)) * step_size

    return adam_loop


def _loopable(arrays: Sequence[Array], dtype: Any) -> bool:
    return dtype.type in _LOOP_DTYPES and all(
        type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous for a in arrays)


def adam_step(
    params: Sequence[Array], grads: Sequence[Array], exp_avgs: Sequence[Array], exp_avg_sqs: Sequence[Array],
    max_exp_avg_sqs: Sequence[Array] | None = None,
    *, step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
    amsgrad: bool = False, maximize: bool = False,
) -> None:
    """reference.adam_step, bit for bit, as one pass per parameter (Numba installed)."""
    loop = _adam_loop()
    step_size, eps_hat = adam_scalars(step, lr, beta1, beta2, eps)
    maxes = max_exp_avg_sqs if amsgrad else [None] * len(params)
    for p, g, m, v, vmax in zip(params, grads, exp_avgs, exp_avg_sqs, maxes):
        arrays = (p, g, m, v) + ((vmax,) if amsgrad else ())
        if loop is None or not _loopable(arrays, p.dtype):
            reference.adam_step([p], [g], [m], [v], [vmax], step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                weight_decay=weight_decay, decoupled=decoupled, amsgrad=amsgrad, maximize=maximize)
            continue
        # Each scalar as NumPy 2 casts a Python float beside an array of p's dtype, so the loop rounds alike.
        s = p.dtype.type
        flat = [a.reshape(-1) for a in arrays]
        loop(*flat[:4], flat[4] if amsgrad else flat[3], s(beta1), s(1.0 - beta1), s(beta2), s(1.0 - beta2),
             s(eps_hat), s(step_size), s(weight_decay), s(1.0 - lr * weight_decay),
             bool(weight_decay) and not decoupled, bool(weight_decay) and decoupled, bool(maximize), bool(amsgrad))


class CpuKernels:
    """`backend.kernels` on NumPy: the reference kernels, and the fused Adam above where Numba is installed
    (without it, `rule()` gets the reference itself, whose flat-buffer form runs without temporaries)."""

    same_bits_as_reference = True  # so a compiled step may record the references in their place

    def __getattr__(self, name: str) -> Any:
        if name == "adam_step" and _adam_loop() is not None:
            return adam_step
        return getattr(reference, name)


cpu_kernels = CpuKernels()
