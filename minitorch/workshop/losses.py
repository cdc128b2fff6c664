"""The workshop's losses: `forward(pred, target)` returns the loss (a float with `.item()`), `backward()` dL/dpred."""
from __future__ import annotations

from typing import Any

from .. import dtypes
from ..autograd import enable_grad
from ..ops.losses import CrossEntropy, huber_loss, mse_loss
from ..tensor import Tensor
from .base import context, on_backend, unwrap, wrap


class LossValue(float):
    """A loss as a Python float that also has `.item()`, so PyTorch-style `loss.item()` works.

    It formats, compares and adds like a float (f"{loss:.4f}", `total += loss`); arithmetic gives
    plain floats. It is a number, not a graph: gradients come from `loss_function.backward()`.
    """

    __slots__ = ()

    def item(self) -> float:
        """The value as a plain float, as `Tensor.item()` gives it."""
        return float(self)

    def backward(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a workshop loss value is a number, not an autograd graph: call "
                        "loss_function.backward() for dL/dpredictions and pass it to net.backward(...)")


class CrossEntropyLoss:
    """Softmax of the logits, then the mean negative log-probability of the true class."""

    def __init__(self) -> None:
        self._ctx: Any = None
        self._as_tensor = False

    def __call__(self, predictions: Any, labels: Any) -> LossValue:
        return self.forward(predictions, labels)

    def forward(self, predictions: Any, labels: Any) -> LossValue:
        """predictions: (N, C) raw scores (logits); labels: N class indices in 0..C-1."""
        logits, backend, self._as_tensor = unwrap(predictions)
        if logits.ndim != 2:
            raise ValueError(f"CrossEntropyLoss: expected logits of shape (N, C), got {tuple(logits.shape)}")
        if not dtypes.is_floating(logits.dtype):
            logits = backend.xp.astype(logits, dtypes.backend_dtype(backend.xp, dtypes.get_default_dtype()))
        target = _class_indices(labels, backend, *logits.shape)
        ctx = context(backend, (True, False))  # labels have no gradient
        # One fused op: log-softmax is computed with the max subtracted, so large logits cannot overflow.
        loss = CrossEntropy.forward(ctx, logits, target, -100, 0.0, "mean")
        self._ctx = ctx
        return LossValue(backend.to_host(loss))

    def backward(self) -> Any:
        """dL/dlogits = (softmax(logits) - one_hot(labels)) / N, divided by N once, here."""
        if self._ctx is None:
            raise RuntimeError("CrossEntropyLoss.backward() called before forward()")
        ctx = self._ctx
        xp = ctx.xp
        logits = ctx.saved[0]
        one = xp.asarray(1.0, dtype=logits.dtype)  # dL/dL: the loss is where backpropagation starts
        dx, _ = CrossEntropy.backward(ctx, one)
        return wrap(dx, ctx.backend, self._as_tensor)


def _class_indices(labels: Any, backend: Any, n: int, classes: int) -> Any:
    """Labels as an int64 array on the logits' device, checked against the batch size and class count."""
    t = on_backend(labels, backend)
    xp = backend.xp
    if tuple(t.shape) != (n,):
        hint = " (one-hot labels? pass labels.argmax(axis=1))" if t.ndim == 2 else ""
        raise ValueError(f"CrossEntropyLoss: expected {n} labels of shape ({n},) for logits of shape "
                         f"({n}, {classes}), got shape {tuple(t.shape)}{hint}")
    if dtypes.as_dtype(t.dtype).kind not in "iu":
        raise TypeError(f"CrossEntropyLoss: labels must be integer class indices, got dtype {t.dtype}")
    t = xp.astype(t, xp.int64)
    bad = (t < 0) | (t >= classes)
    if bool(xp.any(bad)):
        value = int(backend.to_host(t)[backend.to_host(bad)][0])
        raise IndexError(f"CrossEntropyLoss: label {value} is out of range for {classes} classes "
                         f"(valid labels are 0..{classes - 1})")
    return t


class _AutogradLoss:
    """A loss composed of the framework's ops: its backward is the autograd engine's backward."""

    def __init__(self) -> None:
        self._pred: Tensor | None = None
        self._loss: Tensor | None = None
        self._as_tensor = False

    def __call__(self, predictions: Any, targets: Any) -> LossValue:
        return self.forward(predictions, targets)

    def _formula(self, pred: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, predictions: Any, targets: Any) -> LossValue:
        """predictions and targets of the same shape; returns the mean loss over all elements."""
        pred, backend, self._as_tensor = unwrap(predictions)
        xp = backend.xp
        if not dtypes.is_floating(pred.dtype):
            pred = xp.astype(pred, dtypes.backend_dtype(xp, dtypes.get_default_dtype()))
        target = xp.astype(on_backend(targets, backend), pred.dtype)
        # A fresh leaf each call: the graph below it is this call's alone.
        self._pred = Tensor._make(pred, backend, True, None)
        with enable_grad():
            self._loss = self._formula(self._pred, Tensor._make(target, backend, False, None))
        return LossValue(self._loss.item())

    def backward(self) -> Any:
        """dL/dpred for the last forward (mean reduction: divided by the element count once)."""
        if self._loss is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        self._pred.grad = None
        self._loss.backward(retain_graph=True)  # retained: backward() may be asked twice, like the layers'
        return wrap(self._pred.grad.array, self._pred.backend, self._as_tensor)


class MSELoss(_AutogradLoss):
    """mean((pred - target)^2); dL/dpred = 2 (pred - target) / number of elements."""

    def _formula(self, pred: Tensor, target: Tensor) -> Tensor:
        return mse_loss(pred, target)


class HuberLoss(_AutogradLoss):
    """Squared error within `delta` of the target, linear beyond it: robust to outliers."""

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        self.delta = delta

    def _formula(self, pred: Tensor, target: Tensor) -> Tensor:
        return huber_loss(pred, target, delta=self.delta)
