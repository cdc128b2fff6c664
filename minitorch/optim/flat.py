"""Flat buffers: a group's parameters, gradients and optimizer state as one array per device and dtype.

An update rule over N tensors costs N times its handful of array calls; over one flat buffer it costs the
handful once. With `flat=True` an optimizer re-homes each group's floating-point parameters, per device and
dtype, into one flat array: `p.array` becomes a view of it (the Parameter objects stay the same, so modules,
state_dict() and checkpoints see no difference; a view of a parameter taken before no longer shares its
storage, as after PyTorch's flatten_parameters). State (Adam's moments, momentum buffers) is made as views
of flat buffers of the same layout, and each gradient is copied into the flat gradient buffer at its first
step, after which `.grad` is a view of it: later backward passes accumulate in place, and clipping or an
allreduce see one array. `zero_grad()` still sets `.grad` to None, as in PyTorch: a None gradient just has no
view until a step copies the next one in. Whatever breaks the layout (`.to()`, a cast, `p.data = ...`, a
parameter without a gradient this step) sends that step down the per-tensor path: the rules are elementwise,
so the numbers are the same either way.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from ..kernels import optim_reference as reference
from ..tensor import Tensor


class FlatBuffer:
    """Parameters of one backend and dtype laid out in flat arrays: parameters, gradients and each state."""

    def __init__(self, params: Sequence[Tensor]) -> None:
        self.params = list(params)
        p0 = self.params[0]
        self.backend, self.dtype = p0.backend, p0.array.dtype
        self.shapes = [tuple(p.array.shape) for p in self.params]
        sizes = [math.prod(s) for s in self.shapes]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        self._by_first: dict[int, Any] = {}  # id(first view) -> its flat state array: recognises a list of views
        self.param_flat, self.param_views = self._allocate()
        for p, view in zip(self.params, self.param_views):
            view[...] = p.array
            p.array = view
        self.grad_flat: Any = None
        self.grad_views: list[Any] = []
        self.state: dict[str, tuple[Any, list[Any]]] = {}  # name -> (flat array, views)
        self.scratch: Any = None  # NumPy's temporaries for adam_step_into, made on first use
        self.state_tensors: dict[str, list[Tensor]] = {}  # name -> the optimizer's state tensors, one per view

    def _allocate(self) -> tuple[Any, list[Any]]:
        xp = self.backend.xp
        flat = xp.zeros((self.offsets[-1],), dtype=self.dtype)
        views = [xp.reshape(flat[a:b], shape) for a, b, shape in zip(self.offsets, self.offsets[1:], self.shapes)]
        return flat, views

    def fits(self, index: int, p: Tensor) -> bool:
        """Whether parameter `index` is still a view of this buffer."""
        return p.array is self.param_views[index]

    def intact(self, params: Sequence[Tensor]) -> bool:
        """Whether `params` are exactly this buffer's parameters, in order, each still a view of it."""
        if len(params) != len(self.params):
            return False
        return all(p is q and p.array is v for p, q, v in zip(params, self.params, self.param_views))

    def state_view(self, name: str, index: int) -> Any:
        """Parameter `index`'s view of the flat state buffer `name` (zeros, allocated on first use)."""
        if name not in self.state:
            flat, views = self._allocate()
            self._by_first[id(views[0])] = flat
            self.state[name] = (flat, views)
        return self.state[name][1][index]

    def flat_of(self, arrays: Sequence[Any]) -> Any:
        """The flat state buffer whose views are exactly `arrays`, in order; else None."""
        flat = self._by_first.get(id(arrays[0])) if arrays else None
        for f, views in self.state.values():
            if f is flat:
                return flat if len(arrays) == len(views) and all(a is v for a, v in zip(arrays, views)) else None
        return None

    def run(self, rule: Callable[..., None], states: Sequence[Any], hyper: dict[str, Any]) -> None:
        """rule([params], [grads], *states, **hyper) on the whole flat buffers (each state a flat array or None)."""
        if self.grad_flat is None:
            self.grad_flat, self.grad_views = self._allocate()
        for p, view in zip(self.params, self.grad_views):
            g = p.grad
            if g.array is not view:
                view[...] = g.array
                g.array = view  # later backward passes accumulate into the flat buffer, in place
        states = [None if s is None else [s] for s in states]
        if rule is reference.adam_step and self.backend.xp is np:  # NumPy takes out=: no temporaries
            if self.scratch is None:
                self.scratch = np.empty_like(self.param_flat)
            reference.adam_step_into([self.param_flat], [self.grad_flat], *states, [self.scratch], **hyper)
            return
        rule([self.param_flat], [self.grad_flat], *states, **hyper)


def layout(params: Sequence[Tensor]) -> dict[int, tuple[FlatBuffer, int]]:
    """Re-home the floating-point params into one FlatBuffer per (backend, dtype): {id(param): (buffer, index)}.

    A parameter whose storage another one shares (tied, or a view of it) is left where it is: moving one
    would untie them.
    """
    by_kind: dict[tuple[Any, str], list[Tensor]] = {}
    for p in params:
        if "float" in str(p.array.dtype) and not any(q is not p and _overlap(p, q) for q in params):
            by_kind.setdefault((p.backend, str(p.array.dtype)), []).append(p)
    homes: dict[int, tuple[FlatBuffer, int]] = {}
    for group in by_kind.values():
        buf = FlatBuffer(group)
        homes.update((id(p), (buf, i)) for i, p in enumerate(group))
    return homes


def _overlap(p: Tensor, q: Tensor) -> bool:
    a, b = p.array, q.array
    if a is b:
        return True
    base_a, base_b = getattr(a, "base", None), getattr(b, "base", None)
    return base_a is not None and (base_a is b or base_a is base_b) or base_b is a
