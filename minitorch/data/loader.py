"""DataLoader: shuffled mini-batches of Tensors on a device, sliced from whole-dataset arrays."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from .collate import Fetch, default_collate
from .dataset import Dataset, Subset, permutation

__all__ = ["DataLoader", "default_collate"]


class DataLoader:
    """Iterate over `dataset` in batches of Tensors on `device`, reshuffled each epoch if asked.

    Datasets with an `arrays()` method (TensorDataset, MNIST without transforms, a Subset of one)
    take the fast path: their arrays are moved to the device once, and each batch is one gather by an index
    array, on the device. Others are collated sample by sample on the host (`collate_fn`, default
    `default_collate`). The order of each epoch comes from `sampler` / `batch_sampler` when given,
    else from `generator` (default: `minitorch.backends.host_rng()`, which `manual_seed` re-seeds);
    saving `loader.generator.bit_generator.state` after an epoch and restoring it before the next
    reproduces the remaining epochs exactly.

    PyTorch's other arguments mean here:
      num_workers: worker processes for the collated path (see data/workers.py); the fast path
        gathers on the device in-process, which no worker would speed up. prefetch_factor
        (default 2), persistent_workers, timeout, worker_init_fn and multiprocessing_context
        behave as in PyTorch and, as there, need num_workers > 0.
      pin_memory: on a machine with CUDA, host batches are copied into page-locked memory, so
        their copy to the GPU runs at full speed and asynchronously (`x.to("cuda",
        non_blocking=True)`, or device="cuda" here); the fast path to CUDA makes no per-batch
        host copies, and without CUDA there is nothing to pin: both are no-ops.
      collate_fn: a custom one sees every sample (so no fast path); what it returns is yielded as
        it is, its Tensors moved to `device` when one is given.
      in_order: batches always come in order (allowed for in_order=False too); batch_size=None
        (no automatic batching) is refused with a ValueError.
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = False,
                 sampler: Iterable | None = None, batch_sampler: Iterable | None = None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False, drop_last: bool = False,
                 timeout: float = 0, worker_init_fn: Callable | None = None, multiprocessing_context: Any = None,
                 generator: Any = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True,
                 device: Any = None) -> None:
        _check_options(batch_size, shuffle, sampler, batch_sampler, drop_last, num_workers, timeout,
                       prefetch_factor, persistent_workers)
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.drop_last = drop_last
        self.device = device
        self.num_workers, self.timeout, self.worker_init_fn = int(num_workers), float(timeout), worker_init_fn
        self.prefetch_factor = (2 if prefetch_factor is None else int(prefetch_factor)) if num_workers else None
        self.persistent_workers, self.multiprocessing_context = persistent_workers, multiprocessing_context
        self.collate_fn = collate_fn
        self.pin_memory, self.pin_memory_device, self.in_order = bool(pin_memory), pin_memory_device, in_order
        self._generator = generator
        self._cache: tuple[Any, tuple[Any, ...]] | None = None  # (backend, device arrays)
        self._pool: Any = None  # persistent workers
        self._seeds: tuple[Any, np.random.Generator] | None = None  # (parent generator, worker seed source)

    @property
    def generator(self) -> Any:
        """The generator (NumPy's, or a minitorch.Generator) the next epoch's permutation comes from."""
        if self._generator is not None:
            return self._generator
        from ..backends import host_rng

        return host_rng()  # looked up each time: manual_seed replaces the host generator

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        order, bounds = self._epoch()
        if _is_array_backed(self.dataset) and self.collate_fn is None:
            return self._fast(order, bounds)
        return self._collated(order, bounds)

    def _epoch(self) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """This epoch's indices in order, and each batch's [start, stop) in them."""
        if self.batch_sampler is not None:
            batches = [np.asarray(list(b), dtype=np.int64) for b in self.batch_sampler]
            sizes = [len(b) for b in batches]
            starts = np.cumsum([0] + sizes).tolist()
            order = np.concatenate(batches) if batches else np.zeros(0, np.int64)
            return order, list(zip(starts[:-1], starts[1:]))
        if self.sampler is not None:
            order = np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        elif self.shuffle:
            order = permutation(self.generator, len(self.dataset))
        else:
            order = np.arange(len(self.dataset))
        n = len(order)
        stop = n - n % self.batch_size if self.drop_last else n
        return order, [(s, min(s + self.batch_size, n)) for s in range(0, stop, self.batch_size)]

    # -- fast path ---------------------------------------------------------------------------
    def _device_arrays(self) -> tuple[Any, tuple[Any, ...]]:
        from ..backends import get_backend
        from ..tensor import Tensor

        backend = get_backend(self.device)
        if self._cache is None or self._cache[0] is not backend:
            # Once per loader (and device): on CUDA the whole dataset is uploaded here, so an
            # epoch costs one small index upload plus one on-device gather per batch.
            arrays = _fast_arrays(self.dataset)
            self._cache = (backend, tuple(Tensor(a, device=backend.device).array for a in arrays))
        return self._cache

    def _fast(self, order: np.ndarray, bounds: list) -> Iterator[Any]:
        from ..tensor import Tensor

        backend, device_arrays = self._device_arrays()
        xp, pinner = backend.xp, self._pinner(backend)
        # Gather even when not shuffling: batches are fresh arrays, never views that an
        # in-place op could use to corrupt the dataset.
        index = backend.from_host(order)
        for start, stop in bounds:
            ids = index[start:stop]
            batch = (xp.take(a, ids, axis=0) for a in device_arrays)
            # Wrap without conversion: the gathered arrays are already on the right backend.
            yield tuple(Tensor._make(b if pinner is None else pinner.pin(b), backend, False, None) for b in batch)

    # -- generic path ------------------------------------------------------------------------
    def _collated(self, order: np.ndarray, bounds: list) -> Iterator[Any]:
        from ..backends import get_backend

        backend = get_backend(self.device)
        pinner = self._pinner(backend)
        batches = [order[start:stop] for start, stop in bounds]
        fetch = Fetch(self.dataset, self.collate_fn or default_collate)
        if self.num_workers == 0:
            results: Iterator[Any] = (fetch(ids) for ids in batches)
        else:
            results = self._from_workers(fetch, batches)
        try:
            for batch in results:
                if self.collate_fn is None:
                    batch = _tensors(batch, backend, pinner)
                else:
                    batch = _move(batch, backend if self.device is not None else None, pinner)
                yield batch
        finally:  # a loop left early (break, an exception, Ctrl-C): stop the workers now, not at garbage collection
            results.close()  # type: ignore[attr-defined]

    def _from_workers(self, fetch: Callable, batches: list) -> Iterator[Any]:
        from .workers import WorkerPool

        pool = self._pool
        if pool is None or not pool.alive():
            pool = WorkerPool(self.num_workers, self._worker_seed(), self.dataset, fetch, self.worker_init_fn,
                              self.multiprocessing_context)
            if self.persistent_workers:
                self._pool = pool
        try:
            yield from pool.run(batches, self.prefetch_factor * self.num_workers, self.timeout)
        except GeneratorExit:  # the loop was left early: persistent workers stay for the next epoch
            if not self.persistent_workers:
                pool.shutdown()
            raise
        except BaseException:  # an error, or Ctrl-C mid-read: the queues may be half used, so never reuse them
            pool.shutdown()
            self._pool = None
            raise
        else:
            if not self.persistent_workers:
                pool.shutdown()

    def _worker_seed(self) -> int:
        """The base seed of a new set of workers: from a child of the generator, so that the shuffle order
        (drawn from the generator itself) is the same whatever num_workers is."""
        gen = self.generator
        if self._seeds is None or self._seeds[0] is not gen:
            try:
                child = gen.spawn(1)[0]  # a NumPy Generator
            except AttributeError:  # a minitorch.Generator
                child = np.random.default_rng(gen.initial_seed())
            except TypeError:  # a NumPy Generator without a SeedSequence to spawn from
                child = np.random.default_rng()
            self._seeds = (gen, child)
        return int(self._seeds[1].integers(2**31 - 2**16))

    def _pinner(self, backend: Any) -> Any:
        """The CUDA backend that pins host batches, or None (pin_memory off, no CUDA, or batches on a GPU)."""
        if not self.pin_memory or backend.device.startswith("cuda") and _is_array_backed(self.dataset):
            return None
        from ..backends import cupy_backend, get_backend

        if backend.device.startswith("cuda"):
            return backend
        if backend.device != "cpu" or not cupy_backend.availability()[0]:
            return None
        return get_backend(self.pin_memory_device or "cuda")

    def __del__(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown()


def _check_options(batch_size: Any, shuffle: Any, sampler: Any, batch_sampler: Any, drop_last: bool,
                   num_workers: Any, timeout: Any, prefetch_factor: Any, persistent_workers: bool) -> None:
    """PyTorch's argument errors, and ours for what minitorch does not do."""
    if batch_sampler is not None:
        if batch_size != 1 or shuffle or sampler is not None or drop_last:
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                             "and drop_last")
    elif batch_size is None:
        raise ValueError("DataLoader: batch_size=None (no automatic batching) is not supported; use batch_size=1")
    elif isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
    if sampler is not None and shuffle:
        raise ValueError("sampler option is mutually exclusive with shuffle")
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
        raise ValueError(f"num_workers option should be a non-negative integer, got {num_workers!r}")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing. let num_workers > 0 "
                         "to enable multiprocessing, otherwise set prefetch_factor to None.")
    if prefetch_factor is not None and prefetch_factor < 1:
        raise ValueError(f"prefetch_factor option should be a positive integer, got {prefetch_factor!r}")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")


def _is_array_backed(dataset: Any) -> bool:
    """Whether the dataset's samples are the rows of arrays (so the fast path can serve it)."""
    return _is_array_backed(dataset.dataset) if type(dataset) is Subset else _has_fast_path(dataset)


def _fast_arrays(dataset: Any) -> tuple:
    """The arrays whose rows are the samples of an array-backed dataset (computed once per loader)."""
    if type(dataset) is Subset:
        return tuple(a[np.asarray(dataset.indices, dtype=np.int64)] for a in _fast_arrays(dataset.dataset))
    return tuple(dataset.arrays())


def _has_fast_path(dataset: Any) -> bool:
    """Whether `dataset.arrays()` gives its samples: not when a subclass overrides __getitem__, nor with transforms."""
    if getattr(dataset, "transform", None) is not None or getattr(dataset, "target_transform", None) is not None:
        return False  # MNIST(transform=...): each sample is built by __getitem__
    mro = type(dataset).__mro__
    arrays_owner = next((c for c in mro if "arrays" in c.__dict__), None)
    getitem_owner = next((c for c in mro if "__getitem__" in c.__dict__), None)
    # A subclass that changes __getitem__ (augmentation, say) but not arrays() must be collated.
    return arrays_owner is not None and getitem_owner is not None and issubclass(arrays_owner, getitem_owner)


def _tensors(batch: Any, backend: Any, pinner: Any) -> Any:
    """default_collate's host arrays as Tensors on `backend` (through page-locked memory if pinning)."""
    from ..tensor import Tensor

    if isinstance(batch, tuple):
        return tuple(_tensors(f, backend, pinner) for f in batch)
    if isinstance(batch, dict):
        return {k: _tensors(f, backend, pinner) for k, f in batch.items()}
    if pinner is None:
        return Tensor(batch, device=backend.device)
    pinned = pinner.pin(np.ascontiguousarray(batch))
    return Tensor._make(backend.from_host(pinned) if backend is pinner else pinned, backend, False, None)


def _move(batch: Any, backend: Any, pinner: Any) -> Any:
    """A custom collate_fn's result with its Tensors moved to `backend` (when the loader has a device)."""
    from ..tensor import Tensor

    if isinstance(batch, Tensor):
        if pinner is not None and batch.device == "cpu":
            return _tensors(batch.array, backend or batch.backend, pinner)
        return batch if backend is None else batch.to(backend.device)
    if type(batch) in (tuple, list):
        return type(batch)(_move(b, backend, pinner) for b in batch)
    if isinstance(batch, dict):
        return {k: _move(v, backend, pinner) for k, v in batch.items()}
    return batch
