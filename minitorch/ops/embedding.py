"""Embedding lookup: rows of a weight matrix picked by integer indices; backward scatter-adds into the weight."""
from __future__ import annotations

import functools

from .. import dtypes
from ..autograd import Function, _state
from ..tensor import Tensor


class Embedding(Function):
    """weight[indices]: each looked-up row's gradient is added back to that row (repeats accumulate)."""

    rule = "dweight = grad rows added into the rows looked up"

    @staticmethod
    def forward(ctx, weight, indices, padding_idx=None, scale_grad_by_freq=False):
        xp = ctx.xp
        flat = xp.reshape(indices, (-1,))
        ctx.save_for_backward(flat)
        ctx.shape, ctx.padding_idx, ctx.by_freq = weight.shape, padding_idx, scale_grad_by_freq
        return xp.reshape(xp.take(weight, flat, axis=0), tuple(indices.shape) + (weight.shape[1],))

    @staticmethod
    def backward(ctx, grad):
        (flat,) = ctx.saved
        xp = ctx.xp
        dw = xp.zeros(ctx.shape, dtype=grad.dtype)
        ctx.backend.index_add(dw, flat, xp.reshape(grad, (-1, ctx.shape[1])))  # the scatter-add of the lookup
        if ctx.by_freq:  # each row's summed gradient divided by how often the batch looked it up
            counts = xp.zeros((ctx.shape[0],), dtype=grad.dtype)
            ctx.backend.index_add(counts, flat, xp.ones(flat.shape, dtype=grad.dtype))
            dw = dw / xp.reshape(xp.maximum(counts, xp.ones_like(counts)), (-1, 1))
        if ctx.padding_idx is not None:
            dw[ctx.padding_idx, :] = 0.0  # the padding row is a constant: it never learns
        return dw, None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of `weight` (num_embeddings, dim) at the integer `input`: shape input.shape + (dim,)."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"embedding(): input and weight must be Tensors, got {type(input).__name__} and "
                        f"{type(weight).__name__}")
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: 'weight' must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    if input.dtype not in (dtypes.int64, dtypes.int32):
        raise RuntimeError(f"embedding: expected indices of dtype int64 or int32, got {input.dtype}")
    if input.device != weight.device:
        raise RuntimeError(f"embedding: indices on {input.device} and weight on {weight.device}; move one with "
                           ".to(device)")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError(f"embedding: padding_idx must be within num_embeddings, got padding_idx={padding_idx} "
                                 f"and num_embeddings={num}")
        padding_idx = padding_idx % num
    if sparse:
        raise NotImplementedError("embedding: sparse=True is not supported (minitorch has no sparse gradients); "
                                  "use the default dense gradient")
    _check_indices(input, num)
    if max_norm is not None:
        _renorm_(weight, input, max_norm, norm_type)
    return Embedding.apply(weight, input.array, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)


def _renorm_(weight, input, max_norm, norm_type):
    """Rescale, in place and outside autograd (as PyTorch's embedding_renorm_), each looked-up row whose
    norm_type-norm exceeds max_norm to norm max_norm."""
    from ..inplace import _store
    xp = weight.xp
    rows_idx = xp.reshape(input.array, (-1,))  # repeats are harmless: each writes the same rescaled row
    rows = xp.take(weight.array, rows_idx, axis=0)
    if norm_type == float("inf"):
        norms = xp.max(xp.abs(rows), axis=1)
    else:
        norms = xp.sum(xp.abs(rows) ** norm_type, axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), xp.ones_like(norms))
    _store(weight, rows_idx, rows * xp.reshape(scale, (-1, 1)))


def _check_indices(input, num):
    """Raise IndexError naming the first index outside [0, num) (a device sync on CUDA, like index_select's);
    recorded by minitorch.compile to rerun on each replay's indices."""
    _indices_ok(input.backend, num, input.array)
    if _state.recorder is not None:
        _state.recorder.check(functools.partial(_indices_ok, input.backend, num), input)


def _indices_ok(backend, num, a):
    """_check_indices on the raw index array `a`."""
    if a.size == 0:
        return
    bad = (a < 0) | (a >= num)
    if bool(backend.xp.any(bad)):
        value = int(backend.to_host(a)[backend.to_host(bad)].reshape(-1)[0])
        raise IndexError(f"embedding: index {value} is out of range for num_embeddings={num} (valid indices are "
                         f"0..{num - 1})")
