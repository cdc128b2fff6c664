"""Dataset: anything with __getitem__ and __len__; TensorDataset: rows of equal-length arrays."""

from __future__ import annotations

from typing import Any

__all__ = ["Dataset", "TensorDataset"]


class Dataset:
    """Base class: a sized collection whose i-th item is a sample (usually a tuple)."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


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
