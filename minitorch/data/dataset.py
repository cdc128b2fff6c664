"""Dataset: anything with __getitem__ and __len__; TensorDataset: rows of equal-length arrays; ConcatDataset, Subset,
random_split."""

from __future__ import annotations

import bisect
import itertools
import math
from typing import Any

__all__ = ["Dataset", "TensorDataset", "ConcatDataset", "Subset", "random_split", "permutation"]


class Dataset:
    """Base class: a sized collection whose i-th item is a sample (usually a tuple)."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other: Any) -> "ConcatDataset":
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are (t[i] for t in tensors): Tensors or arrays sharing their first dimension."""

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor or array")
        lengths = []
        for t in tensors:
            if not getattr(t, "shape", ()):
                raise ValueError(
                    f"TensorDataset: every input needs a first (sample) dimension; got "
                    f"{type(t).__name__} of shape {getattr(t, 'shape', None)}"
                )
            lengths.append(t.shape[0])
        if len(set(lengths)) > 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
            raise ValueError(
                f"TensorDataset: inputs must have the same first dimension (number of samples); "
                f"got lengths {lengths} (shapes {shapes})"
            )
        self.tensors = tensors

    def __getitem__(self, index: int) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def arrays(self) -> tuple:
        """The inputs themselves, for DataLoader's fast path (it slices them by index arrays)."""
        return self.tensors


class ConcatDataset(Dataset):
    """The samples of several datasets, one after the other."""

    def __init__(self, datasets: Any) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        # IndexError for both ends (PyTorch raises ValueError below -len): it is what ends `for x in dataset`.
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for a dataset of length {n}")
        if index < 0:
            index += n
        k = bisect.bisect_right(self.cumulative_sizes, index)
        return self.datasets[k][index - (self.cumulative_sizes[k - 1] if k else 0)]


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset: Any, indices: Any) -> None:
        self.dataset, self.indices = dataset, [int(i) for i in indices]

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Any, lengths: Any, generator: Any = None) -> list[Subset]:
    """Split `dataset` into non-overlapping random Subsets of the given lengths (or fractions summing to 1).

    The permutation comes from `generator` (a minitorch.Generator or a NumPy Generator; default: the
    host generator that `minitorch.manual_seed` seeds), so the same seed gives the same split.
    """
    from ..backends import host_rng

    n = len(dataset)
    lengths = list(lengths)
    if any(v < 0 for v in lengths):  # PyTorch would return overlapping subsets
        raise ValueError(f"random_split: lengths must be non-negative, got {lengths}")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:  # fractions, PyTorch's rounding
        if any(not 0 <= f <= 1 for f in lengths):
            raise ValueError(f"random_split: fractions must be between 0 and 1, got {lengths}")
        counts = [math.floor(n * f) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: sum of input lengths ({sum(lengths)}) does not equal the length of the "
                         f"input dataset ({n})")
    order = permutation(generator if generator is not None else host_rng(), n).tolist()
    offsets = itertools.accumulate(lengths)
    return [Subset(dataset, order[end - size:end]) for end, size in zip(offsets, lengths)]


def permutation(generator: Any, n: int) -> Any:
    """A random order of range(n) (a NumPy int array) from a NumPy Generator or a minitorch.Generator."""
    if hasattr(generator, "permutation"):
        return generator.permutation(n)
    from ..ops.random import randperm
    return randperm(n, generator=generator, device=generator.device).numpy()
