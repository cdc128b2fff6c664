"""Drawings of the recorded graph and of training health; loaded on first use, so `import minitorch`
never needs graphviz (or matplotlib)."""
from __future__ import annotations

import importlib
from typing import Any

# public name -> the submodule that defines it
_LAZY = {"graph": "graph", "Graph": "graph", "plot_health": "health"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        # Importing viz/graph.py set `graph` here to the submodule: the function takes its place.
        globals()[name] = value
        return value
    raise AttributeError(f"module 'minitorch.viz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = list(_LAZY)
