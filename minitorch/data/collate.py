"""Building a batch on the host: fetch a batch's samples from the dataset and collate them (what workers run)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["Fetch", "default_collate"]


class Fetch:
    """dataset[i] for a batch of indices, collated: picklable, so worker processes can run it."""

    def __init__(self, dataset: Any, collate: Callable) -> None:
        self.dataset, self.collate = dataset, collate
        self.index: int | None = None  # the sample being fetched, for a worker's error report

    def __call__(self, ids: np.ndarray) -> Any:
        samples = []
        for i in ids:
            self.index = int(i)
            samples.append(self.dataset[self.index])
        self.index = None  # a failure from here on is the collate function's
        return self.collate(samples)


def default_collate(samples: list) -> Any:
    """Stack samples field by field on the host: tuples give tuples, dicts give dicts, arrays one array."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(_stack([s[k] for s in samples]) for k in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([s[k] for s in samples]) for k in first}
    return _stack(samples)


def _stack(values: list[Any]) -> np.ndarray:
    """Stack one field of a batch on the host: Tensors and arrays keep their dtype."""
    from ..tensor import Tensor

    first = values[0]
    if isinstance(first, Tensor):
        return np.stack([v.backend.to_host(v.array) for v in values])
    if isinstance(first, (bool, np.bool_)):
        return np.asarray(values, dtype=np.bool_)
    if isinstance(first, (int, np.integer)):
        return np.asarray(values, dtype=np.int64)  # class labels: int64, as losses expect
    if type(first) is float:
        return np.asarray(values, dtype=np.float32)  # Python floats: the default float dtype
    return np.stack([np.asarray(v) for v in values])
