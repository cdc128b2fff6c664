"""DataLoader: shuffled mini-batches of Tensors on a device, sliced from whole-dataset arrays."""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from .dataset import Dataset

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over `dataset` in batches of Tensors on `device`, reshuffled each epoch if asked.

    Datasets with an `arrays()` method (TensorDataset, MNIST) take the fast path: their arrays
    are moved to the device once, and each batch is one gather by an index array, on the device.
    Others are collated sample by sample with NumPy. The permutation of each epoch is drawn
    from `generator` (default: `minitorch.backends.host_rng()`, which `minitorch.manual_seed`
    re-seeds); saving `loader.generator.bit_generator.state` after an epoch and restoring it
    before the next reproduces the remaining epochs exactly.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, device: Any = None,
                 generator: np.random.Generator | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.device = device
        self._generator = generator
        self._cache: tuple[Any, tuple[Any, ...]] | None = None  # (backend, device arrays)

    @property
    def generator(self) -> np.random.Generator:
        """The generator the next epoch's permutation comes from (save its bit_generator.state)."""
        if self._generator is not None:
            return self._generator
        from ..backends import host_rng

        return host_rng()  # looked up each time: manual_seed replaces the host generator

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        n = len(self.dataset)
        order = self.generator.permutation(n) if self.shuffle else None
        if _has_fast_path(self.dataset):
            return self._fast(order)
        return self._collated(order)

    def _bounds(self) -> range:
        stop = len(self) * self.batch_size
        return range(0, stop, self.batch_size)

    # -- fast path ---------------------------------------------------------------------------
    def _device_arrays(self) -> tuple[Any, tuple[Any, ...]]:
        from ..backends import get_backend
        from ..tensor import Tensor

        backend = get_backend(self.device)
        if self._cache is None or self._cache[0] is not backend:
            # Once per loader (and device): on CUDA the whole dataset is uploaded here, so an
            # epoch costs one small index upload plus one on-device gather per batch.
            arrays = tuple(Tensor(a, device=backend.device).array for a in self.dataset.arrays())
            self._cache = (backend, arrays)
        return self._cache

    def _fast(self, order: np.ndarray | None) -> Iterator[Any]:
        from ..tensor import Tensor

        backend, arrays = self._device_arrays()
        xp = backend.xp
        n = len(self.dataset)
        # Gather even when not shuffling: batches are fresh arrays, never views that an
        # in-place op could use to corrupt the dataset.
        index = backend.from_host(order if order is not None else np.arange(n))
        for start in self._bounds():
            ids = index[start:min(start + self.batch_size, n)]
            # Wrap without conversion: the gathered arrays are already on the right backend.
            yield tuple(Tensor._make(xp.take(a, ids, axis=0), backend, False, None) for a in arrays)

    # -- generic path ------------------------------------------------------------------------
    def _collated(self, order: np.ndarray | None) -> Iterator[Any]:
        from ..backends import get_backend
        from ..tensor import Tensor

        backend = get_backend(self.device)
        n = len(self.dataset)
        for start in self._bounds():
            stop = min(start + self.batch_size, n)
            ids = order[start:stop] if order is not None else range(start, stop)
            samples = [self.dataset[int(i)] for i in ids]
            if isinstance(samples[0], tuple):
                fields = [_stack([s[k] for s in samples]) for k in range(len(samples[0]))]
                yield tuple(Tensor(f, device=backend.device) for f in fields)
            else:
                yield Tensor(_stack(samples), device=backend.device)


def _has_fast_path(dataset: Any) -> bool:
    """Whether `dataset.arrays()` gives its samples: not when a subclass overrides __getitem__."""
    mro = type(dataset).__mro__
    arrays_owner = next((c for c in mro if "arrays" in c.__dict__), None)
    getitem_owner = next((c for c in mro if "__getitem__" in c.__dict__), None)
    # A subclass that changes __getitem__ (augmentation, say) but not arrays() must be collated.
    return arrays_owner is not None and getitem_owner is not None and issubclass(arrays_owner, getitem_owner)


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
