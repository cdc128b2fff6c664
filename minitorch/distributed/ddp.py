"""DistributedDataParallel: the same model on every rank, gradients averaged over ranks after each backward.

How the averaging is triggered without touching the backward engine: each forward records which parameters
its output depends on (a walk of the recorded graph); a hook on each parameter counts their gradients as
backward hands them out, and the last one's hook averages them all with one allreduce over a flat buffer,
returning its own averaged share. minitorch's engine hands leaf gradients out only after the whole graph
has run, so buckets reduced during backward (PyTorch's overlap) would have nothing to overlap with.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from .. import backends
from ..autograd import is_grad_enabled
from ..nn.module import Module
from ..tensor import Tensor
from .collectives import all_reduce, broadcast
from .group import Group, group


class DistributedDataParallel(Module):
    """Wraps `module` (`.module`): rank 0's parameters and buffers at construction, averaged gradients after
    each backward, rank 0's buffers before each forward (broadcast_buffers). state_dict() and
    load_state_dict() are the wrapped module's, with its keys (no "module." prefix), so checkpoints move
    between 1 and N ranks. Random ops (dropout) are re-seeded per rank here when manual_seed was used."""

    def __init__(self, module: Module, broadcast_buffers: bool = True) -> None:
        super().__init__()
        self.module = module
        g = group()
        _check_same_model(g, module)
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        _broadcast_coalesced(list(module.parameters()) + list(module.buffers()))
        self._grads = [p for p in module.parameters() if p.requires_grad]
        self._ids = {id(p) for p in self._grads}
        self._expected: set[int] | None = None  # parameters the last forward's output depends on
        self._arrived = 0
        self._handles = [p.register_hook(self._hook(p)) for p in self._grads]
        _seed_per_rank(g.rank)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        g = group()
        if self._expected is not None and self._arrived:
            raise RuntimeError(f"DistributedDataParallel: the last backward gave gradients to only {self._arrived} "
                               f"of the {len(self._expected)} parameters its forward used, so they were not "
                               "averaged across ranks; call backward on a loss that uses the whole output")
        self._expected, self._arrived = None, 0
        sync = g.world_size > 1 and is_grad_enabled() and self.require_backward_grad_sync
        if sync and self.broadcast_buffers:
            _broadcast_coalesced(list(self.module.buffers()))
        out = self.module(*args, **kwargs)
        if sync:
            self._expected = self._reachable(out) or None
        return out

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Forwards inside accumulate gradients locally; the first backward after it averages the sum."""
        previous, self.require_backward_grad_sync = self.require_backward_grad_sync, False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> Any:
        return self.module.state_dict(prefix, keep_vars)

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> Any:
        """The wrapped module's load_state_dict; keys saved from PyTorch's DDP ("module.*") are accepted too."""
        if state_dict and all(k.startswith("module.") for k in state_dict):
            state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
        return self.module.load_state_dict(state_dict, strict)

    # -- gradient averaging ----------------------------------------------------------------
    def _reachable(self, out: Any) -> set[int]:
        """ids of the parameters (needing grad) that the recorded graph of `out` reaches."""
        found: set[int] = set()
        seen: set[int] = set()
        stack = []
        for t in _tensors(out):
            if t.grad_fn is not None:
                stack.append(t.grad_fn)
            elif id(t) in self._ids:
                found.add(id(t))
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            for t, parent, needed in zip(node.inputs, node.parents, node.needs_input_grad):
                if needed and parent is not None:
                    stack.append(parent)
                elif needed and id(t) in self._ids:
                    found.add(id(t))
        return found

    def _hook(self, p: Tensor) -> Any:
        def count(grad: Tensor) -> Any:
            if self._expected is None or id(p) not in self._expected:
                return None
            self._arrived += 1
            if self._arrived < len(self._expected):
                return None
            self._expected, self._arrived = None, 0
            return self._average(p, grad.array)
        return count

    def _average(self, last: Tensor, last_grad: Any) -> Any:
        """Average every gradient over ranks (one allreduce per dtype); the value `last`'s hook returns."""
        world, result = group().world_size, None
        for members in _by_dtype(self._grads).values():
            xp = members[0].xp
            parts, used = [], []
            for q in members:
                a = None if q.grad is None else q.grad.array
                if q is last:
                    a = last_grad if a is None else a + last_grad
                used.append(a is not None)
                parts.append(xp.zeros(q.numel(), dtype=q.array.dtype) if a is None else xp.reshape(a, (-1,)))
            backend = members[0].backend
            parts.append(backend.from_host(np.asarray(used, dtype=str(members[0].dtype))))
            flat = Tensor._make(xp.concat(parts), backend, False, None)
            all_reduce(flat, "sum")  # the used flags ride along: a parameter no rank used keeps grad None
            offset, n = 0, len(members)
            for i, q in enumerate(members):
                size = q.numel()
                avg = xp.reshape(flat.array[offset:offset + size] / world, q.shape)
                offset += size
                if q is last:
                    if q.grad is not None:  # backward adds the returned value to .grad: 0 + avg is avg exactly
                        q.grad.array[...] = 0
                    result = avg
                elif q.grad is not None:
                    q.grad.array[...] = avg
                    q.grad._vc[0] += 1
                elif bool(flat.array[flat.array.shape[0] - n + i] > 0):
                    q.grad = Tensor._make(avg, q.backend, False, None)
        return result


def _tensors(out: Any) -> Iterator[Tensor]:
    """The Tensors in a forward's output (a Tensor, or lists, tuples and dicts of them)."""
    if isinstance(out, Tensor):
        yield out
    elif isinstance(out, (list, tuple)):
        for o in out:
            yield from _tensors(o)
    elif isinstance(out, dict):
        for o in out.values():
            yield from _tensors(o)


def _by_dtype(tensors: list[Tensor]) -> dict[tuple[str, str], list[Tensor]]:
    groups: dict[tuple[str, str], list[Tensor]] = {}
    for t in tensors:
        groups.setdefault((str(t.device), str(t.dtype)), []).append(t)
    return groups


def _broadcast_coalesced(tensors: list[Tensor]) -> None:
    """Rank 0's values into `tensors` on every rank: one broadcast per dtype."""
    for members in _by_dtype(tensors).values():
        xp = members[0].xp
        flat = Tensor._make(xp.concat([xp.reshape(t.array, (-1,)) for t in members]), members[0].backend, False,
                            None)
        broadcast(flat, 0)
        offset = 0
        for t in members:
            size = t.numel()
            t.array[...] = xp.reshape(flat.array[offset:offset + size], t.shape)
            t._vc[0] += 1
            offset += size


def _check_same_model(g: Group, module: Module) -> None:
    """Raise on every rank, naming the first difference, unless all ranks hold the same parameters and buffers."""
    mine = [("parameter", n, tuple(t.shape), str(t.dtype), t.requires_grad) for n, t in module.named_parameters()]
    mine += [("buffer", n, tuple(t.shape), str(t.dtype), False) for n, t in module.named_buffers()]
    every = g.comm.allgather(mine)
    for rank, theirs in enumerate(every):
        for a, b in zip(every[0], theirs):
            if a != b:
                raise RuntimeError(f"DistributedDataParallel: the model differs across ranks: rank 0 has {_say(a)} "
                                   f"where rank {rank} has {_say(b)}")
        if len(theirs) != len(every[0]):
            raise RuntimeError(f"DistributedDataParallel: the model differs across ranks: rank 0 has "
                               f"{len(every[0])} parameters and buffers, rank {rank} has {len(theirs)}")


def _say(entry: tuple) -> str:
    kind, name, shape, dtype, grad = entry
    return f"{kind} '{name}' of shape {shape} and dtype {dtype}" + (", requires_grad" if grad else "")


def _seed_per_rank(rank: int) -> None:
    """After manual_seed(s) every rank draws the same numbers; from here on rank r draws from (s, r), so
    dropout masks differ across ranks as they would over a larger batch in one process."""
    seed = backends._seed
    if seed is not None:  # unseeded generators were seeded from the OS, independently in each process
        backends.manual_seed(int(np.random.SeedSequence([seed, rank]).generate_state(1)[0]))
