"""Activations: relu, leaky_relu, sigmoid, tanh, gelu, softmax, log_softmax."""
from __future__ import annotations

import math
import warnings

from .. import dtypes
from ..autograd import Function
from ._util import float_input, is_float, require_float


class ReLU(Function):
    """max(x, 0): the gradient passes where the output is positive."""

    rule = "dx = grad * (x > 0)"

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.maximum(x, ctx.xp.zeros((), dtype=x.dtype))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        # Multiplying by a 0/1 float mask is ~10x faster than `where` on a random mask (NumPy).
        return grad * ctx.xp.astype(y > 0, grad.dtype)


class LeakyReLU(Function):
    """x if x > 0 else slope * x."""

    rule = "dx = grad * (1 if x > 0 else slope)"

    @staticmethod
    def forward(ctx, x, slope=0.01):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return ctx.xp.where(x > 0, x, slope * x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return ctx.xp.where(x > 0, grad, ctx.slope * grad)


class Sigmoid(Function):
    """1 / (1 + e^-x): dy/dx = y (1 - y)."""

    rule = "dx = grad * y * (1 - y)"

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        # Evaluate e^{-|x|} only, so large |x| never overflows.
        e = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return grad * y * (1 - y)


class Tanh(Function):
    """tanh x: dy/dx = 1 - y^2."""

    rule = "dx = grad * (1 - y**2)"

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return grad * (1 - y * y)


class GELU(Function):
    """x Phi(x) with the exact (erf) Phi, or PyTorch's tanh approximation."""

    rule = "dx = grad * (Phi(x) + x * phi(x))  (tanh form: its derivative)"

    @staticmethod
    def forward(ctx, x, approximate="none"):
        xp = ctx.xp
        ctx.approximate = approximate
        if approximate == "tanh":
            ctx.save_for_backward(x)
            return 0.5 * x * (1 + xp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
        cdf = 0.5 * (1 + ctx.backend.erf(x * (1 / math.sqrt(2))))
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x, cdf)  # Phi(x) kept: backward needs no second erf
        return x * cdf

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        if ctx.approximate == "tanh":
            (x,) = ctx.saved
            k = math.sqrt(2 / math.pi)
            t = xp.tanh(k * (x + 0.044715 * x ** 3))
            return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x))
        x, cdf = ctx.saved
        pdf = xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return grad * (cdf + x * pdf)


class Softmax(Function):
    """e^x / sum e^x along dim: dx = y * (g - sum(g * y))."""

    rule = "dx = y * (grad - sum(grad * y))"

    @staticmethod
    def forward(ctx, x, dim=-1):
        xp = ctx.xp
        e = xp.exp(x - _row_max(xp, x, dim))
        y = e / xp.sum(e, axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return y * (grad - ctx.xp.sum(grad * y, axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    """x - logsumexp(x) along dim (max subtracted first): dx = g - softmax * sum(g)."""

    rule = "dx = grad - softmax(x) * sum(grad)"

    @staticmethod
    def forward(ctx, x, dim=-1):
        xp = ctx.xp
        shifted = x - _row_max(xp, x, dim)
        y = shifted - xp.log(xp.sum(xp.exp(shifted), axis=dim, keepdims=True))
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        xp = ctx.xp
        return grad - xp.exp(y) * xp.sum(grad, axis=ctx.dim, keepdims=True)


def _row_max(xp, x, dim):
    """The max along dim, kept as a length-1 axis, to shift by (0 for an empty tensor, which has none)."""
    return xp.max(x, axis=dim, keepdims=True) if x.size else xp.zeros((), dtype=x.dtype)


def relu(x):
    """max(x, 0), in x's dtype (integer tensors stay integer)."""
    if x.dtype == dtypes.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    return ReLU.apply(x)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope * x."""
    require_float(x, "leaky_relu_cpu")
    return LeakyReLU.apply(x, slope=negative_slope)


def sigmoid(x): return Sigmoid.apply(float_input(x))
def tanh(x): return Tanh.apply(float_input(x))


def gelu(x, approximate="none"):
    """x * Phi(x), exact or with PyTorch's tanh approximation."""
    require_float(x, "GeluKernelImpl")
    return GELU.apply(x, approximate=approximate)


def _implicit_dim(name, ndim):
    """PyTorch's dim for softmax(x) without dim= (deprecated there, with this warning): 0 for 0-, 1- and 3-D
    input (read as unbatched (C, H, W)), else 1."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(x, dim=None, dtype=None):
    """e^x / sum(e^x) along dim (x cast to dtype= first, when given; dim=None: PyTorch's implicit choice)."""
    dim = _implicit_dim("softmax", x.ndim) if dim is None else dim
    x = x if dtype is None else x.to(dtype)
    if x.numel() == 0 and not is_float(x):  # no kernel runs on nothing: PyTorch returns it as it is
        return x.clone()
    require_float(x, "softmax_lastdim_kernel_impl")
    return Softmax.apply(x, dim=dim)


def log_softmax(x, dim=None, dtype=None):
    """x - logsumexp(x) along dim (x cast to dtype= first, when given; dim=None: PyTorch's implicit choice)."""
    dim = _implicit_dim("log_softmax", x.ndim) if dim is None else dim
    x = x if dtype is None else x.to(dtype)
    if x.numel() == 0 and not is_float(x):
        return x.clone()
    require_float(x, "log_softmax_lastdim_kernel_impl")
    return LogSoftmax.apply(x, dim=dim)
