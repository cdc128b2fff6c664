"""Losses: cross_entropy (fused softmax + CE, or composed from ops), mse, l1, huber."""
from __future__ import annotations

from .. import coach, dtypes, kernels
from ..autograd import Function
from ._util import binary_operands
from .nll import rows as _flatten_classes  # (N, C, d...) -> (N*d, C), shared with nll_loss
from .nll import check_labels, weighted_cross_entropy


class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood over (N, C) logits; dx = g (softmax - q) / count."""

    rule = "dlogits = grad * (softmax - onehot) / N"

    @staticmethod
    def forward(ctx, logits, target, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
        k = ctx.backend.kernels
        loss, lse = k.softmax_cross_entropy_forward(logits, target, ignore_index, label_smoothing, reduction)
        ctx.save_for_backward(logits, target, lse)
        ctx.args = (ignore_index, label_smoothing, reduction)
        return loss

    @staticmethod
    def backward(ctx, grad):
        logits, target, lse = ctx.saved
        dx = ctx.backend.kernels.softmax_cross_entropy_backward(grad, logits, target, lse, *ctx.args)
        return dx, None


def _check_targets(x, target, ignore_index) -> bool:
    """Raise on labels outside [0, C) other than ignore_index (deferred on CUDA: see `check_labels`); return
    whether any row may be ignored."""
    expected = (x.shape[0],) + x.shape[2:] if x.ndim > 1 else ()
    if target.shape != expected:
        raise RuntimeError(f"cross_entropy: target of shape {target.shape} does not match input of shape "
                           f"{x.shape} (expected target shape {expected})")
    if "int" not in str(target.dtype):
        raise TypeError(f"cross_entropy: target must hold integer class indices, got dtype {target.dtype}")
    return check_labels("cross_entropy", target, x.shape[1] if x.ndim > 1 else x.shape[0], ignore_index, "target")


def cross_entropy(input, target, reduction="mean", ignore_index=-100, label_smoothing=0.0, weight=None):
    """Softmax cross-entropy of logits against class indices (or class probabilities), with PyTorch's options."""
    from ..tensor import Tensor
    if not isinstance(target, Tensor):
        target = Tensor(target, device=input.device)
    if coach.watch_loss:  # the first calls only: probabilities as input, a first loss far from ln(C)
        coach.cross_entropy_called(input, target, reduction)
    if isinstance(reduction, Tensor):  # torch's third positional argument is weight; here it is reduction
        raise TypeError("cross_entropy: got a tensor for reduction (PyTorch's third positional argument is weight; "
                        "minitorch's is reduction): pass class weights as weight=")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if dtypes.is_floating(target.dtype):
        if ignore_index >= 0:
            raise RuntimeError(f"cross_entropy: ignore_index is not supported for floating point target "
                               f"(got ignore_index={ignore_index})")
        return _probability_cross_entropy(input, target, reduction, label_smoothing, weight)
    may_ignore = _check_targets(input, target, ignore_index)
    if weight is not None:  # the fused kernels have no weights: log_softmax + the weighted NLL
        return weighted_cross_entropy(input, target, weight, ignore_index, label_smoothing, reduction)
    x, t = _flatten_classes(input, target)
    if kernels.fused_enabled():
        # None tells the kernels no row is ignored, so they skip the masking work (never while a step is
        # recorded for minitorch.compile: its replays may see ignored rows; the bits are the same either way).
        loss = CrossEntropy.apply(x, t.array, ignore_index if may_ignore else None, label_smoothing, reduction)
    else:
        loss = composed_cross_entropy(x, t, ignore_index, label_smoothing, reduction)
    if reduction == "none" and input.ndim != 2:
        loss = loss.reshape(target.shape)
    return loss


def _probability_cross_entropy(x, target, reduction, label_smoothing, weight=None):
    """Class-probability targets (same shape as the input): -sum_c w_c q_c log softmax(x)_c per sample."""
    from ..tensor import Tensor
    from .activations import log_softmax
    if target.shape != x.shape:
        raise RuntimeError(f"cross_entropy: probability target of shape {target.shape} must match input of shape "
                           f"{x.shape} (or pass integer class indices)")
    dim = 1 if x.ndim > 1 else 0
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / x.shape[dim]
    product = log_softmax(x, dim=dim) * target
    if weight is not None:  # PyTorch's mean still divides by the sample count here, not by the weights
        weight = weight if isinstance(weight, Tensor) else Tensor(weight, device=x.device)
        if weight.shape != (x.shape[dim],):
            raise RuntimeError(f"cross_entropy: weight tensor should be defined either for all {x.shape[dim]} "
                               f"classes or no classes but got weight tensor of shape: {list(weight.shape)}")
        product = product * weight.reshape((-1,) + (1,) * (x.ndim - dim - 1))
    per_sample = -product.sum(dim=dim)
    if reduction == "none":
        return per_sample
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


def composed_cross_entropy(x, target, ignore_index, label_smoothing, reduction):
    """The unfused reference: log_softmax, a smoothed one-hot, a masked sum."""
    from .activations import log_softmax
    from .elementwise import where
    xp = x.xp
    t = target.array
    classes = x.shape[1]
    valid = t != ignore_index
    # Ignored rows are zeroed before log_softmax, so a row of -inf there cannot produce NaN.
    safe = where(valid[:, None], x, 0.0)
    onehot = xp.astype(t[:, None] == xp.arange(classes, dtype=t.dtype), x.array.dtype)
    q = (1 - label_smoothing) * onehot + label_smoothing / classes
    per_row = -(log_softmax(safe, dim=1) * q).sum(dim=1)
    per_row = where(valid, per_row, 0.0)
    if reduction == "none":
        return per_row
    total = per_row.sum()
    if reduction == "sum":
        return total
    return total / xp.astype(xp.sum(xp.astype(valid, x.array.dtype)), x.array.dtype)


def _same_shape(name, input, target):
    if input.shape != target.shape:
        raise RuntimeError(f"{name}: input of shape {input.shape} and target of shape {target.shape} differ "
                           "(broadcasting them is almost always a bug; reshape one)")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mse_loss(input, target, reduction="mean"):
    """Mean squared error."""
    _same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error."""
    _same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction)


class Huber(Function):
    """Elementwise Huber loss of d = input - target: d^2/2 within delta, delta (|d| - delta/2) beyond.

    Its gradient is d clipped to [-delta, delta], written directly: composing it from `where` would send
    0 * inf = NaN down the branch not taken when d is infinite.
    """

    rule = "dx = grad * clip(x - t, -delta, delta);  dt = -dx"

    @staticmethod
    def forward(ctx, x, t, delta=1.0):
        xp = ctx.xp
        d = x - t
        ad = xp.abs(d)
        ctx.save_for_backward(d)
        ctx.delta = delta
        return xp.where(ad <= delta, 0.5 * d * d, delta * (ad - 0.5 * delta))

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved
        xp = ctx.xp
        dx = grad * xp.clip(d, -ctx.delta, ctx.delta)
        return dx, -dx, None


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Quadratic within delta of the target, linear beyond it (as torch.nn.functional.huber_loss)."""
    _same_shape("huber_loss", input, target)
    return _reduce(Huber.apply(*binary_operands(input, target), delta=delta), reduction)
