"""Pieces of a tensor along one axis: narrow, split, chunk, unbind. Each piece is a view (basic
indexing, so it shares its input's storage and version counter), as in PyTorch."""
from __future__ import annotations

from .indexing import GetItem


def _axis(a, dim: int, op: str) -> int:
    if a.ndim == 0:
        raise RuntimeError(f"{op} expects at least a 1-dimensional tensor")
    if not -a.ndim <= dim < a.ndim:
        raise IndexError(f"{op}(): dimension {dim} is out of range for a tensor with {a.ndim} dimensions")
    return dim % a.ndim


def _slice(a, dim: int, key) -> object:
    return GetItem.apply(a, (slice(None),) * dim + (key, Ellipsis))


def narrow(a, dim, start, length):
    """The view a[..., start:start + length, ...] along `dim` (a negative start counts from the end)."""
    dim = _axis(a, dim, "narrow")
    n = a.shape[dim]
    if not -n <= start <= n:
        raise IndexError(f"narrow(): start out of range (expected to be in range of [{-n}, {n}], but got {start})")
    start = start + n if start < 0 else start
    if length < 0 or start + length > n:
        raise RuntimeError(f"narrow(): start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return _slice(a, dim, slice(start, start + length))


def split(a, split_size_or_sections, dim=0):
    """Views of `a` along `dim`: pieces of split_size (the last may be smaller), or of the listed sizes."""
    dim = _axis(a, dim, "split")
    n = a.shape[dim]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                               f"dimension {dim}), but got split_sizes={sizes}")
    else:
        size = int(split_size_or_sections)
        if size < 0 or (size == 0 and n != 0):
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, and never negative, but got "
                               f"split_size={size} for a dimension of size {n}")
        sizes = [min(size, n - start) for start in range(0, n, size)] if n else [0]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return tuple(_slice(a, dim, slice(start, start + size)) for start, size in zip(starts, sizes))


def chunk(a, chunks, dim=0):
    """Up to `chunks` views of `a` along `dim`, of ceil(size / chunks) each (the last may be smaller)."""
    dim = _axis(a, dim, "chunk")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = a.shape[dim]
    return split(a, -(-n // chunks) if n else [0] * chunks, dim)


def unbind(a, dim=0):
    """The views a[..., i, ...] for each i along `dim` (the axis removed), as a tuple."""
    if a.ndim == 0:
        raise IndexError("unbind(): dimension specified as 0 but tensor has no dimensions")
    dim = _axis(a, dim, "unbind")
    return tuple(_slice(a, dim, i) for i in range(a.shape[dim]))
