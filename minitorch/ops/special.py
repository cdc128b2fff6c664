"""Special functions: erf (the Backend computes it: SciPy/CuPy where present, Cody's approximation in xp otherwise)."""
from __future__ import annotations

import math

from ..autograd import Function
from ._util import float_input


class Erf(Function):
    """erf x: d/dx = 2/sqrt(pi) e^{-x^2}."""

    rule = "dx = grad * 2 / sqrt(pi) * exp(-x**2)"

    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x)
        return ctx.backend.erf(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad * (ctx.xp.exp(-x * x) * (2 / math.sqrt(math.pi)))


def erf(x):
    """The error function; integer and bool tensors give the default float dtype, as torch.erf."""
    return Erf.apply(float_input(x))
