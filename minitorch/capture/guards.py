"""What must still hold for a recorded step to replay, and what modules do outside ops that a replay repeats."""
from __future__ import annotations

from typing import Any, Callable


def _count_batch(module: Any) -> None:
    """BatchNorm's forward bumps num_batches_tracked on the raw array, outside any op: replayed here."""
    counter = module.num_batches_tracked.array
    counter[...] = counter + 1


def module_effects(module: Any) -> list[Callable[[Any], None]]:
    """Side effects a module's forward has outside ops, which the tape must repeat at each replay."""
    from ..nn.norm import _BatchNorm
    if isinstance(module, _BatchNorm) and module.training and module.track_running_stats:
        return [_count_batch]
    return []


class Guards:
    """What must still hold for a tape to replay: modules' train/eval modes, outside tensors' shapes and
    dtypes and requires_grad, optimizers' parameter groups."""

    def __init__(self, modules: dict, externals: dict, optimizers: dict) -> None:
        self.modules = list(modules.values())
        self.externals = [(t, t.array, tuple(t.array.shape), t.array.dtype, t.backend, t.requires_grad)
                          for t in externals.values()]
        self.optimizers = [(opt, _groups(opt)) for opt in optimizers.values()]

    def failed(self) -> str | None:
        """Why the tape no longer applies, or None."""
        for module, training in self.modules:
            if module.training != training:
                return f"{type(module).__name__} is now in {'train' if module.training else 'eval'} mode"
        for t, array, shape, dtype, backend, requires_grad in self.externals:
            a = t.array
            if a is not array and (tuple(a.shape) != shape or a.dtype != dtype or t.backend is not backend):
                return f"a tensor from outside the step changed shape, dtype or device ({shape} -> {tuple(a.shape)})"
            if t.requires_grad != requires_grad:
                return "a tensor's requires_grad changed"
        for opt, groups in self.optimizers:
            if _groups(opt) != groups:
                return f"{type(opt).__name__}'s parameters changed"
        return None


def _groups(opt: Any) -> list[tuple[int, ...]]:
    return [tuple(map(id, g["params"])) for g in opt.param_groups]
