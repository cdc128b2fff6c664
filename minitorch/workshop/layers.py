"""The workshop's layers: each forward/backward is the framework's op forward/backward on raw arrays."""
from __future__ import annotations

import math
from typing import Any

from .. import dtypes
from ..ops import activations as act
from ..ops.dropout import Dropout as DropoutOp
from ..ops.matmul import Linear as LinearOp
from ..ops.normalization import BatchNormEval, BatchNormTrain
from .base import Layer, _alias, context, on_backend


class Linear(Layer):
    """y = x @ W.T + b, with W of shape (out_features, in_features), as PyTorch stores it.

    The tutorials disagree here: the workshop tutorial and its visual guide write Z = X @ W + b with W
    of shape (in, out); the from-scratch `deeplearning` library, the course notes and PyTorch keep W
    as (out, in). minitorch follows PyTorch, so `Linear(784, 256).W.shape == (256, 784)` and `dW`
    has W's shape. Assigning an (in, out) W, or updating with an (in, out) dW, is an error that says
    so (a square W cannot be told apart: transpose (in, out) weights yourself).
    """

    params = (("W", "dW"), ("b", "db"))
    _w, _b = _alias("W"), _alias("b")            # the from-scratch tutorial's names
    dL_dW, dL_db = _alias("dW"), _alias("db")

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        xp = self.backend.xp
        dtype = dtypes.backend_dtype(xp, dtypes.get_default_dtype())
        # Kaiming (He) init: variance 2 / fan_in keeps the signal's scale through a ReLU, which halves it.
        self.W = self.backend.randn((out_features, in_features), dtype) * math.sqrt(2.0 / in_features)
        self.b = xp.zeros((out_features,), dtype=dtype)
        self.dW: Any = None
        self.db: Any = None

    @property
    def W(self) -> Any:
        """The weight, (out_features, in_features), an array on the layer's device."""
        return self._weight

    @W.setter
    def W(self, value: Any) -> None:
        self._weight = self._checked("W", value, (self.out_features, self.in_features))

    @property
    def b(self) -> Any:
        """The bias, (out_features,)."""
        return self._bias

    @b.setter
    def b(self, value: Any) -> None:
        self._bias = self._checked("b", value, (self.out_features,))

    def _checked(self, name: str, value: Any, shape: tuple[int, ...]) -> Any:
        """`value` (array, Tensor, list) as a float array on the layer's device, if it has `shape`."""
        array = on_backend(value, self.backend)
        if tuple(array.shape) != shape:
            raise ValueError(f"{self!r}: {name} must have shape {shape}, got {tuple(array.shape)}"
                             + self._transposed_hint(name, tuple(array.shape), shape))
        if not dtypes.is_floating(array.dtype):
            array = self.backend.xp.astype(array, dtypes.backend_dtype(self.backend.xp, dtypes.get_default_dtype()))
        return array

    def _transposed_hint(self, name: str, got: tuple[int, ...], want: tuple[int, ...]) -> str:
        if name != "W" or got != want[::-1] or got == want:
            return super()._transposed_hint(name, got, want)
        return ("; it is (in, out), as in the workshop tutorial's Z = X @ W + b, but minitorch's workshop Linear "
                "stores W as (out, in), as PyTorch and the from-scratch `deeplearning` tutorial do "
                "(y = x @ W.T + b, dW = dL_dy.T @ x): transpose it (.T)")

    def forward(self, x: Any) -> Any:
        """x: (N, in_features) -> (N, out_features)."""
        x, backend = self._begin(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            hint = " (one sample? reshape it to (1, -1))" if x.ndim == 1 else ""
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_features}), "
                             f"got {tuple(x.shape)}{hint}")
        ctx = context(backend, (True, True, True))
        return self._save(ctx, LinearOp.forward(ctx, x, self.W, self.b))

    def backward(self, dL_dy: Any) -> Any:
        """Keeps dW = dL_dy.T @ x and db = sum of dL_dy over the batch; returns dL_dx = dL_dy @ W."""
        ctx, g, as_tensor = self._upstream(dL_dy)
        dx, self.dW, self.db = LinearOp.backward(ctx, g)
        return self._give(dx, as_tensor)

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"


class BatchNorm1D(Layer):
    """Normalise each feature over the batch, then scale by gamma and shift by beta."""

    params = (("gamma", "dgamma"), ("beta", "dbeta"))
    buffers = ("running_mean", "running_var")

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        xp = self.backend.xp
        dtype = dtypes.backend_dtype(xp, dtypes.get_default_dtype())
        self.gamma = xp.ones((num_features,), dtype=dtype)
        self.beta = xp.zeros((num_features,), dtype=dtype)
        # Running estimates for evaluation, where a batch's own statistics may not exist (one sample).
        self.running_mean = xp.zeros((num_features,), dtype=dtype)
        self.running_var = xp.ones((num_features,), dtype=dtype)
        self.dgamma: Any = None
        self.dbeta: Any = None

    def forward(self, x: Any) -> Any:
        """x: (N, num_features); training uses the batch's statistics and updates the running ones."""
        x, backend = self._begin(x)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1D({self.num_features}): expected input of shape (N, {self.num_features}), "
                             f"got {tuple(x.shape)}")
        ctx = context(backend, (True, True, True, False, False))
        if not self.training:
            y = BatchNormEval.forward(ctx, x, self.gamma, self.beta, self.running_mean, self.running_var,
                                           eps=self.eps)
            return self._save(ctx, y)
        if x.shape[0] < 2:
            raise ValueError(f"BatchNorm1D: a batch of {x.shape[0]} sample has no variance to normalise by; "
                             "train with batches of at least 2, or call .eval() first")
        # Updates running_mean / running_var in place, with the unbiased (n / (n - 1)) batch variance.
        y = BatchNormTrain.forward(ctx, x, self.gamma, self.beta, self.running_mean, self.running_var,
                                        momentum=self.momentum, eps=self.eps)
        return self._save(ctx, y)

    def backward(self, dL_dy: Any) -> Any:
        """Keeps dgamma, dbeta; returns dL_dx (through the batch statistics when training)."""
        ctx, g, as_tensor = self._upstream(dL_dy)
        op = BatchNormTrain if ctx.training else BatchNormEval
        dx, self.dgamma, self.dbeta, _, _ = op.backward(ctx, g)
        return self._give(dx, as_tensor)

    def _save(self, ctx: Any, y: Any) -> Any:
        ctx.training = self.training  # backward must match the forward's mode, even if eval() came between
        return super()._save(ctx, y)

    def __repr__(self) -> str:
        return f"BatchNorm1D({self.num_features}, momentum={self.momentum}, eps={self.eps})"


class _Activation(Layer):
    """A parameter-free elementwise layer: forward and backward are one op's."""

    op: Any = None

    def _kwargs(self) -> dict[str, Any]:
        return {}

    def forward(self, x: Any) -> Any:
        x, backend = self._begin(x)
        ctx = context(backend, (True,))
        return self._save(ctx, self.op.forward(ctx, x, **self._kwargs()))

    def backward(self, dL_dy: Any) -> Any:
        ctx, g, as_tensor = self._upstream(dL_dy)
        return self._give(self.op.backward(ctx, g), as_tensor)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(_Activation):
    """max(x, 0); the gradient passes only where x > 0."""

    op = act.ReLU


class Sigmoid(_Activation):
    """1 / (1 + e^-x); dL/dx = dL/dy * y * (1 - y)."""

    op = act.Sigmoid


class Tanh(_Activation):
    """tanh(x); dL/dx = dL/dy * (1 - y^2)."""

    op = act.Tanh


class LeakyReLU(_Activation):
    """x where x > 0, else alpha * x: negative inputs keep a small gradient."""

    op = act.LeakyReLU

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = alpha

    def _kwargs(self) -> dict[str, Any]:
        return {"slope": self.alpha}

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha})"


class Dropout(Layer):
    """Inverted dropout: in training zero each value with probability p and scale the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p is a probability, between 0 and 1; got {p}")
        self.p = p

    def forward(self, x: Any) -> Any:
        """Training: a fresh random mask each call; evaluation: the identity (no rescaling needed)."""
        x, backend = self._begin(x)
        ctx = context(backend, (True,))
        ctx.identity = not self.training or self.p == 0.0
        if ctx.identity:
            return self._save(ctx, x)
        if self.p == 1.0:  # everything dropped: 1/(1-p) would divide by zero
            ctx.identity = None
            return self._save(ctx, x * 0)
        return self._save(ctx, DropoutOp.forward(ctx, x, p=self.p))

    def backward(self, dL_dy: Any) -> Any:
        """The gradient flows only through the kept values, scaled as they were."""
        ctx, g, as_tensor = self._upstream(dL_dy)
        if ctx.identity is None:
            return self._give(g * 0, as_tensor)
        return self._give(g if ctx.identity else DropoutOp.backward(ctx, g), as_tensor)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
