"""Matrix product (1-D, 2-D, batched, broadcasting) and the Linear layer's op."""
from __future__ import annotations

from ..autograd import Function


def _matmul_shapes_ok(a_shape, b_shape) -> bool:
    k_a = a_shape[-1]
    k_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    return k_a == k_b


class MatMul(Function):
    """a @ b: da = g @ b^T, db = a^T @ g (1-D operands act as a row / column vector)."""

    rule = "da = grad @ b.T;  db = a.T @ grad"

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0 or not _matmul_shapes_ok(a.shape, b.shape):
            raise RuntimeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied")
        da, db = ctx.needs_input_grad
        ctx.save_for_backward(a if db else None, b if da else None)  # da needs b only, db needs a only
        ctx.ndims = (a.ndim, b.ndim)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        a_ndim, b_ndim = ctx.ndims
        xp = ctx.xp
        g = grad
        if a_ndim == 1:
            g = xp.expand_dims(g, axis=-2 if g.ndim >= 1 else 0)
        if b_ndim == 1:
            g = xp.expand_dims(g, axis=-1)
        da = db = None
        if b is not None:                                 # dL/da = g @ b^T  (b as a column if 1-D)
            da = g @ xp.matrix_transpose(b[:, None] if b_ndim == 1 else b)
            da = da[..., 0, :] if a_ndim == 1 else da
        if a is not None:                                 # dL/db = a^T @ g  (a as a row if 1-D)
            db = xp.matrix_transpose(a[None, :] if a_ndim == 1 else a) @ g
            db = db[..., 0] if b_ndim == 1 else db
        return da, db                                     # batch axes are summed by unbroadcast


class Linear(Function):
    """y = x @ W.T + b  (W: (out, in), as in PyTorch)."""

    rule = "dx = grad @ W;  dW = grad.T @ x;  db = sum over batch"

    @staticmethod
    def forward(ctx, x, w, b=None):
        if x.shape[-1] != w.shape[1]:
            raise RuntimeError(f"linear: input of shape {tuple(x.shape)} does not match weight of shape "
                               f"{tuple(w.shape)} (expected last dim {w.shape[1]})")
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, w if need_x else None)  # dx needs w, dW needs x
        y = x @ w.T
        if b is not None:
            y += b  # in place: the product is a fresh array, so no second output buffer
        return y

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved
        xp = ctx.xp
        g2 = xp.reshape(grad, (-1, grad.shape[-1]))       # fold any leading axes into the batch
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = grad @ w if need_x else None                 # the input layer's x needs none: skip a GEMM
        dw = g2.T @ xp.reshape(x, (-1, x.shape[-1])) if need_w else None
        db = xp.sum(g2, axis=0) if need_b else None
        return dx, dw, db


def _same_dtype(op, *tensors):
    """PyTorch does not promote inside matrix products: mixed dtypes are an error naming both."""
    dts = [t.dtype for t in tensors if t is not None]
    if any(d != dts[0] for d in dts):
        raise RuntimeError(f"{op}: expected all operands to have the same dtype, got " + " and ".join(map(str, dts))
                           + "; cast one with .to(dtype)")


def matmul(a, b):
    """Matrix product with NumPy's rules for 1-D and batched operands."""
    _same_dtype("matmul", a, b)
    return MatMul.apply(a, b)


def mm(a, b):
    """Product of two matrices (2-D only, as torch.mm)."""
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {a.shape} and {b.shape}; use matmul for others")
    return matmul(a, b)


def linear(x, weight, bias=None):
    """x @ weight.T + bias."""
    _same_dtype("linear", x, weight, bias)
    return Linear.apply(x, weight, bias)
