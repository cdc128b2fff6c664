"""Sorting: sort, argsort, topk.

The order comes from Backend.argsort (stable, NaN largest, as PyTorch); the values are a gather
by that order, so their gradient is gather's: each value's gradient goes back to where it came from.
"""
from __future__ import annotations

from collections import namedtuple

from .indexing import Gather, _dim

# Named as torch.return_types.sort / topk print: `values, indices = x.sort()` and `.values` both work.
SortResult = namedtuple("sort", ["values", "indices"])
TopKResult = namedtuple("topk", ["values", "indices"])


def _order(a, dim, descending, k=None):
    """int64 indices that sort `a` along `dim` (the first k of them, when given): a Tensor, no gradient."""
    from ..tensor import Tensor
    backend, xp = a.backend, a.xp
    keys = a.array if a.dtype.kind != "b" else xp.astype(a.array, xp.uint8)  # the standard sorts numbers only
    out = backend.argsort(keys, axis=dim, descending=descending)
    if k is not None:
        out = out[(slice(None),) * dim + (slice(0, k), Ellipsis)]
    return Tensor._make(xp.astype(out, xp.int64), backend, False, None)  # astype copies: no view of `out`


def argsort(a, dim=-1, descending=False, stable=False):
    """Indices that sort `a` along `dim` (always stable here; `stable` is accepted for PyTorch's signature)."""
    if a.ndim == 0:
        _dim(dim, 0, "argsort")
        return _order(a.reshape(1), 0, descending).reshape(())
    return _order(a, _dim(dim, a.ndim, "argsort"), descending)


def sort(a, dim=-1, descending=False, stable=False):
    """(values, indices) of `a` sorted along `dim`; ties keep their order, NaN sorts as the largest value."""
    if a.ndim == 0:
        _dim(dim, 0, "sort")
        values, indices = sort(a.reshape(1), 0, descending)
        return SortResult(values.reshape(()), indices.reshape(()))
    dim = _dim(dim, a.ndim, "sort")
    indices = _order(a, dim, descending)
    return SortResult(Gather.apply(a, indices, dim), indices)


def topk(a, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    """(values, indices) of the k largest (smallest, with largest=False) entries along `dim`.

    They always come sorted; PyTorch leaves the order unspecified when sorted=False.
    """
    if a.dtype.kind == "b":
        raise RuntimeError("topk does not support bool dtypes on CPU")
    if a.ndim == 0:
        _dim(dim, 0, "topk")
        values, indices = topk(a.reshape(1), k, 0, largest, sorted)
        return TopKResult(values.reshape(()), indices.reshape(()))
    dim = _dim(dim, a.ndim, "topk")
    if not 0 <= k <= a.shape[dim]:
        raise RuntimeError(f"topk(): selected index k out of range (k={k}, dimension {dim} has size {a.shape[dim]})")
    indices = _order(a, dim, descending=largest, k=k)
    return TopKResult(Gather.apply(a, indices, dim), indices)
