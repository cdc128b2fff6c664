"""RemovableHandle: what register_*_hook returns, as torch.utils.hooks.RemovableHandle."""
from __future__ import annotations

import itertools
import weakref
from typing import Any

_ids = itertools.count()


class RemovableHandle:
    """Removes one hook: `handle.remove()`, or the end of a `with handle:` block.

    Holds weak references, so a handle never keeps a module's hook dicts alive; `extra_dict`
    (a dict or a list of dicts) names side tables (with_kwargs, always_call) cleaned up with it.
    """

    id: int

    def __init__(self, hooks_dict: dict, *, extra_dict: Any = None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = next(_ids)
        extras = [extra_dict] if isinstance(extra_dict, dict) else list(extra_dict or ())
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None:
                d.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<RemovableHandle id={self.id}>"


__all__ = ["RemovableHandle"]
