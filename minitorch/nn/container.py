"""Sequential: modules applied one after another."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

from .module import Module


class Sequential(Module):
    """Chains modules: forward(x) feeds x through each in order (children named "0", "1", ... or by an OrderedDict)."""

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def _index(self, idx: int) -> str:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for a Sequential of {n} modules")
        return list(self._modules)[idx % n]

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            # Keeps the original names, as PyTorch does, so state_dict keys of the slice match the whole.
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(self._index(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)[idx] if isinstance(idx, slice) else [self._index(idx)]
        for key in keys:
            del self._modules[key]
        # Renumber so that indices and names agree again, as PyTorch does.
        items = list(self._modules.items())
        self._modules.clear()
        for i, (name, module) in enumerate(items):
            self._modules[str(i) if name.isdigit() else name] = module

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add a module at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Any) -> Sequential:
        """Append each of `modules`; returns self."""
        for m in modules:
            self.append(m)
        return self
