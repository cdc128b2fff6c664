"""Binary cross-entropy: of probabilities (binary_cross_entropy) and, stably, of logits (..._with_logits)."""
from __future__ import annotations

from .. import dtypes
from ..autograd import Function, broadcast_shapes, is_grad_enabled
from ._util import is_float
from .nll import check_reduction

# PyTorch clips 1 / (x (1 - x)) in the gradient at 1 / EPSILON, and log at -100 in the loss.
EPSILON = 1e-12
LOG_FLOOR = -100.0


class BinaryCrossEntropy(Function):
    """-w (y log x + (1 - y) log(1 - x)), each log clamped at -100 as PyTorch's.

    dx = w (x - y) / max(x (1 - x), 1e-12); dy = -w logit(x) (PyTorch's target gradient, not clamped).
    """

    rule = "dx = grad * w * (x - y) / (x * (1 - x));  dy = -grad * w * logit(x)"

    @staticmethod
    def forward(ctx, x, y, w=None):
        xp = ctx.xp
        log_x, log_1mx = _log(xp, x), _log1p_neg(xp, x)
        loss = (y - 1) * xp.maximum(log_1mx, _floor(xp, x)) - y * xp.maximum(log_x, _floor(xp, x))
        ctx.save_for_backward(x, y, w)
        return loss if w is None else loss * w

    @staticmethod
    def backward(ctx, grad):
        x, y, w = ctx.saved
        xp = ctx.xp
        g = grad if w is None else grad * w
        dx = dy = None
        if ctx.needs_input_grad[0]:
            dx = g * (x - y) / xp.maximum((1 - x) * x, xp.asarray(EPSILON, dtype=x.dtype))
        if ctx.needs_input_grad[1]:
            dy = -g * (_log(xp, x) - _log1p_neg(xp, x))
        return dx, dy, None


class BinaryCrossEntropyWithLogits(Function):
    """(1 - y) x - (1 + (p - 1) y) log sigmoid(x), times w: PyTorch's formula, finite for any finite x.

    dx = w ((p y + 1 - y) sigmoid(x) - p y); dy = w (log sigmoid(-x) - p log sigmoid(x)) (p = 1 without pos_weight).
    """

    rule = "dx = grad * w * (sigmoid(x) - y);  dy = -grad * w * x  (without pos_weight)"

    @staticmethod
    def forward(ctx, x, y, w=None, p=None):
        xp = ctx.xp
        log_sig = _log_sigmoid(xp, x)
        loss = (1 - y) * x - (log_sig if p is None else ((p - 1) * y + 1) * log_sig)
        ctx.save_for_backward(x, y, w, p)
        return loss if w is None else loss * w

    @staticmethod
    def backward(ctx, grad):
        x, y, w, p = ctx.saved
        xp = ctx.xp
        g = grad if w is None else grad * w
        dx = dy = None
        if ctx.needs_input_grad[0]:
            if p is None:
                dx = g * (_sigmoid(xp, x) - y)
            else:
                py = p * y
                dx = g * ((py + 1 - y) * _sigmoid(xp, x) - py)
        if ctx.needs_input_grad[1]:
            dy = g * (-x if p is None else _log_sigmoid(xp, -x) - _log_sigmoid(xp, x) * p)
        return dx, dy, None, None


def _floor(xp, x):
    return xp.asarray(LOG_FLOOR, dtype=x.dtype)


def _log(xp, x):
    """log x, with -inf at 0 and no NumPy divide-by-zero warning (x is already checked to be in [0, 1])."""
    positive = x > 0
    return xp.where(positive, xp.log(xp.where(positive, x, xp.ones_like(x))), xp.full_like(x, -float("inf")))


def _log1p_neg(xp, x):
    """log(1 - x), with -inf at 1 and no warning."""
    below = x < 1
    return xp.where(below, xp.log1p(-xp.where(below, x, xp.zeros_like(x))), xp.full_like(x, -float("inf")))


def _log_sigmoid(xp, x):
    """min(x, 0) - log1p(e^-|x|): never overflows."""
    return xp.minimum(x, xp.zeros_like(x)) - xp.log1p(xp.exp(-xp.abs(x)))


def _sigmoid(xp, x):
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _weight(op, name, w, x):
    """A weight tensor broadcastable to the input's shape, in its dtype and on its device, needing no gradient."""
    from ..tensor import Tensor
    from .convert import cast
    if not isinstance(w, Tensor):
        w = Tensor(w, device=x.device)
    if broadcast_shapes(w.shape, x.shape) != x.shape:
        raise RuntimeError(f"{op}: {name} of shape {w.shape} does not broadcast to the input's shape {x.shape}")
    if w.device != x.device:
        raise RuntimeError(f"{op}: expected {name} on {x.device}, got {w.device}; move one with .to(device)")
    if w.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}: the function is not differentiable with respect to argument '{name}'. This "
                           "input cannot have requires_grad True (as in PyTorch; detach() it)")
    return w.array if w.dtype == x.dtype else cast(w.detach(), x.dtype).array


def _in_unit_interval(name, t, what):
    xp = t.xp
    if t.numel() and not bool(xp.all((t.array >= 0) & (t.array <= 1))):
        raise RuntimeError(f"{name}: all elements of {what} should be between 0 and 1 ({what} of shape {t.shape})")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy of probabilities in [0, 1] against targets in [0, 1], as PyTorch's."""
    from ..tensor import Tensor
    check_reduction(reduction)
    op = "binary_cross_entropy"
    if not isinstance(target, Tensor):
        target = Tensor(target, device=input.device)
    if target.shape != input.shape:
        raise ValueError(f"{op}: Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    if target.dtype != input.dtype:
        raise RuntimeError(f"{op}: Found dtype {dtypes.scalar_type_name(target.dtype)} but expected "
                           f"{dtypes.scalar_type_name(input.dtype)} (target of dtype {target.dtype}, input of "
                           f"dtype {input.dtype})")
    if not is_float(input):
        raise NotImplementedError(f'"{op}" not implemented for \'{dtypes.scalar_type_name(input.dtype)}\'')
    _in_unit_interval(op, input, "input")
    _in_unit_interval(op, target, "target")
    w = None if weight is None else _weight(op, "weight", weight, input)
    return _reduce(BinaryCrossEntropy.apply(input, target, w), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Binary cross-entropy of sigmoid(input) against targets, computed from the logits stably, as PyTorch's."""
    from ..tensor import Tensor
    from ._util import promote
    from .convert import cast
    check_reduction(reduction)
    op = "binary_cross_entropy_with_logits"
    if not isinstance(target, Tensor):
        target = Tensor(target, device=input.device)
    if target.shape != input.shape:
        raise ValueError(f"{op}: Target size ({target.shape}) must be the same as input size ({input.shape})")
    if not is_float(input):
        raise NotImplementedError(f'"{op}" not implemented for \'{dtypes.scalar_type_name(input.dtype)}\'')
    if not is_float(target):
        raise RuntimeError(f"{op}: result type {dtypes.scalar_type_name(input.dtype)} can't be cast to the desired "
                           f"output type {dtypes.scalar_type_name(target.dtype)} (the target's dtype)")
    x, y = promote(input, target)[0]
    w = None if weight is None else _weight(op, "weight", weight, x)
    p = None if pos_weight is None else _weight(op, "pos_weight", pos_weight, x)
    loss = BinaryCrossEntropyWithLogits.apply(x, y, w, p)
    # PyTorch computes the loss in place in a buffer of the target's dtype: the result has that dtype.
    return _reduce(loss if loss.dtype == target.dtype else cast(loss, target.dtype), reduction)
