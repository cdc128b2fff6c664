"""Launchers for the multi-tensor optimizer kernels of optim.cu, mixed into CudaKernels; same signatures as
the rules in `optim_reference` (float32 contiguous tensors fuse; anything else falls back to the reference)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from . import reference
from .cuda_device import on_device

Array = Any
OPTIM_CHUNK = 4096  # elements per block iteration of the multi-tensor optimizer kernels
OPTIM_BLOCK = 256
MAX_GRID = 65535  # blocks loop over chunks beyond this
# Kernel name -> threads per block of its launches (collected into cuda.LAUNCH_THREADS).
OPTIM_LAUNCH_THREADS: dict[str, tuple[int, ...]] = {
    f"{rule}_multi": (OPTIM_BLOCK,) for rule in ("adam", "sgd", "adagrad", "adadelta")}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _ptr(a: Array) -> int:
    """Device address of an array: CuPy's CUDA pointer, or NumPy's host pointer for the emulator."""
    iface = getattr(a, "__cuda_array_interface__", None) or a.__array_interface__
    return int(iface["data"][0])


class OptimKernels:
    """Mixin: needs `self.xp`, `self._fn(source, name)` and a `self._tables` dict (CudaKernels sets them)."""

    xp: Any
    _fn: Any  # (source, kernel name) -> launchable kernel
    _tables: dict[tuple, tuple[Array, Array, Array]]

    def _multi_tensor_tables(self, roles: Sequence[Sequence[Array]]) -> tuple[Array, Array, Array, int]:
        """Device tables (pointers by role, sizes, first chunk per tensor), cached by address."""
        ptrs = [_ptr(a) for role in roles for a in role]
        sizes = [int(a.size) for a in roles[0]]
        key = (*ptrs, *sizes)
        if key not in self._tables:
            starts = np.cumsum([0] + [_ceil_div(s, OPTIM_CHUNK) for s in sizes], dtype=np.int64)
            if len(self._tables) > 16:  # grads are often fresh arrays each step: keep the cache small
                self._tables.clear()
            self._tables[key] = (self.xp.asarray(np.array(ptrs, dtype=np.uint64)),
                                 self.xp.asarray(np.array(sizes, dtype=np.int64)), self.xp.asarray(starts))
        table, size_arr, starts_arr = self._tables[key]
        n_chunks = sum(_ceil_div(s, OPTIM_CHUNK) for s in sizes)
        return table, size_arr, starts_arr, n_chunks

    def _can_fuse(self, inplace: Sequence[Array], grads: Sequence[Array]) -> bool:
        return (all(a.dtype == np.float32 and a.flags.c_contiguous for a in inplace)
                and all(g.dtype == np.float32 for g in grads))

    def _launch(self, kernel: str, roles: list[Sequence[Array]], *scalars: Any) -> None:
        """One launch of `kernel` over every tensor; roles[1] (the grads) are made contiguous first."""
        roles[1] = [self.xp.ascontiguousarray(g) for g in roles[1]]  # kept alive until the launch is queued
        table, sizes, starts, n_chunks = self._multi_tensor_tables(roles)
        if n_chunks:
            self._fn("optim.cu", kernel)(
                (min(n_chunks, MAX_GRID),), (OPTIM_BLOCK,),
                (table, sizes, starts, np.int32(len(roles[0])), np.int64(OPTIM_CHUNK), *scalars))

    @on_device
    def adam_step(
        self, params: Sequence[Array], grads: Sequence[Array], exp_avgs: Sequence[Array],
        exp_avg_sqs: Sequence[Array], max_exp_avg_sqs: Sequence[Array] | None = None, *, step: int, lr: float,
        beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool, amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        """Adam/AdamW (AMSGrad, maximize) over every parameter in a single launch."""
        if not params:
            return
        maxes = list(max_exp_avg_sqs) if amsgrad else []
        if not self._can_fuse([*params, *exp_avgs, *exp_avg_sqs, *maxes], grads):
            return reference.adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step=step, lr=lr,
                                       beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                                       decoupled=decoupled, amsgrad=amsgrad, maximize=maximize)
        f = np.float32
        self._launch("adam_multi", [params, grads, exp_avgs, exp_avg_sqs, maxes or exp_avg_sqs],
                     f(lr), f(beta1), f(beta2), f(eps), f(weight_decay), np.int32(decoupled), np.int32(amsgrad),
                     np.int32(maximize), f(lr / (1.0 - beta1**step)), f(math.sqrt(1.0 - beta2**step)))

    @on_device
    def sgd_step(
        self, params: Sequence[Array], grads: Sequence[Array], momentum_buffers: Sequence[Array] | None,
        *, lr: float, momentum: float, weight_decay: float, nesterov: bool, dampening: float = 0.0,
        maximize: bool = False,
    ) -> None:
        """SGD (momentum with dampening, nesterov, weight decay, maximize) over every parameter in one launch."""
        if not params:
            return
        bufs = list(momentum_buffers) if momentum else []
        if not self._can_fuse([*params, *bufs], grads):
            return reference.sgd_step(params, grads, momentum_buffers, lr=lr, momentum=momentum,
                                      weight_decay=weight_decay, nesterov=nesterov, dampening=dampening,
                                      maximize=maximize)
        f = np.float32
        # Without momentum the buffer role is never read; params stand in for it.
        self._launch("sgd_multi", [params, grads, bufs or params], f(lr), f(momentum), f(dampening),
                     f(weight_decay), np.int32(nesterov), np.int32(bool(momentum)), np.int32(maximize))

    @on_device
    def adagrad_step(
        self, params: Sequence[Array], grads: Sequence[Array], state_sums: Sequence[Array],
        *, step: int, lr: float, lr_decay: float, weight_decay: float, eps: float, maximize: bool = False,
    ) -> None:
        """Adagrad over every parameter (all at the same step count) in a single launch."""
        if not params:
            return
        if not self._can_fuse([*params, *state_sums], grads):
            return reference.adagrad_step(params, grads, state_sums, step=step, lr=lr, lr_decay=lr_decay,
                                          weight_decay=weight_decay, eps=eps, maximize=maximize)
        clr = lr / (1.0 + (step - 1) * lr_decay)
        f = np.float32
        self._launch("adagrad_multi", [params, grads, state_sums], f(clr), f(weight_decay), f(eps),
                     np.int32(maximize))

    @on_device
    def adadelta_step(
        self, params: Sequence[Array], grads: Sequence[Array], square_avgs: Sequence[Array],
        acc_deltas: Sequence[Array], *, lr: float, rho: float, eps: float, weight_decay: float,
        maximize: bool = False,
    ) -> None:
        """Adadelta over every parameter in a single launch."""
        if not params:
            return
        if not self._can_fuse([*params, *square_avgs, *acc_deltas], grads):
            return reference.adadelta_step(params, grads, square_avgs, acc_deltas, lr=lr, rho=rho, eps=eps,
                                           weight_decay=weight_decay, maximize=maximize)
        f = np.float32
        self._launch("adadelta_multi", [params, grads, square_avgs, acc_deltas], f(lr), f(rho), f(eps),
                     f(weight_decay), np.int32(maximize))
