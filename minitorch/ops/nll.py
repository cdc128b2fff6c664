"""Negative log-likelihood over log-probabilities: nll_loss, and cross_entropy's weighted (composed) path."""
from __future__ import annotations

import functools

from .. import dtypes, kernels
from ..autograd import Function, _state, is_grad_enabled
from ._util import require_float

REDUCTIONS = ("mean", "sum", "none")


class NLL(Function):
    """Per row i with label t_i (rows labelled ignore_index count 0), over (M, C) log-probabilities p:

        loss_i = -(1 - eps) w[t_i] p[i, t_i] - eps / C * sum_c w[c] p[i, c]

    "mean" divides the sum by sum_i w[t_i] over the kept rows (PyTorch's weighted mean; w = 1 without
    weights, so it is the count of kept rows). eps = 0 is nll_loss; eps > 0 is cross_entropy's label
    smoothing, PyTorch's formula. dp[i, c] = -g_i [(1 - eps) w[t_i] (c == t_i) + eps / C w[c]] / denominator.
    """

    rule = "dlogp = -grad * w[t] * onehot(t) / sum(w[t])"

    @staticmethod
    def forward(ctx, logp, target, weight=None, ignore_index=-100, smoothing=0.0, reduction="mean"):
        xp = ctx.xp
        classes = logp.shape[1]
        keep = target != ignore_index
        # Ignored rows read (and then drop) class 0; so do bad labels where their check is deferred (CUDA).
        label = xp.where(keep & (target >= 0) & (target < classes), target, xp.zeros_like(target))
        zero = xp.zeros((), dtype=logp.dtype)
        picked = xp.take_along_axis(logp, label[:, None], axis=1)[:, 0]
        w_t = xp.astype(keep, logp.dtype) if weight is None else xp.where(keep, xp.take(weight, label), zero)
        per_row = -w_t * picked
        if smoothing:
            spread = logp if weight is None else logp * weight
            per_row = (1 - smoothing) * per_row - smoothing / classes * xp.where(keep, xp.sum(spread, axis=1), zero)
        if reduction == "none":
            out, scale = per_row, xp.astype(keep, logp.dtype)
        elif reduction == "sum":
            out, scale = xp.sum(per_row), xp.astype(keep, logp.dtype)
        else:
            total = xp.sum(w_t)
            out = quiet_divide(xp, xp.sum(per_row), total)
            scale = xp.where(keep, quiet_divide(xp, xp.ones_like(w_t), total), zero)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(label, w_t, scale, weight)
            ctx.args = (classes, smoothing)
        return out

    @staticmethod
    def backward(ctx, grad):
        label, w_t, scale, weight = ctx.saved
        classes, smoothing = ctx.args
        xp = ctx.xp
        g = grad * scale  # per row: the upstream gradient over the mean's denominator, 0 on ignored rows
        onehot = xp.astype(label[:, None] == xp.arange(classes, dtype=label.dtype), g.dtype)
        dlogp = -(1 - smoothing) * (g * w_t)[:, None] * onehot
        if smoothing:
            spread = g[:, None] if weight is None else g[:, None] * weight
            dlogp = dlogp - smoothing / classes * spread
        return dlogp, None, None


def quiet_divide(xp, num, den):
    """num / den with IEEE results where den == 0 (nan for 0/0, +-inf otherwise), without NumPy's warning:
    an all-ignored batch is a normal event, and PyTorch gives nan there silently."""
    nonzero = den != 0
    ratio = num / xp.where(nonzero, den, xp.ones_like(den))
    inf = xp.full_like(ratio, float("inf"))
    limit = xp.where(num > 0, inf, xp.where(num < 0, -inf, xp.full_like(ratio, float("nan"))))
    return xp.where(nonzero, ratio, limit)


def check_reduction(reduction, allowed=REDUCTIONS) -> None:
    """PyTorch's error for an unknown reduction."""
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(f"{reduction} is not a valid value for reduction (expected one of {', '.join(allowed)})")


def check_weight(op, x, weight, classes):
    """A class-weight tensor of shape (C,), in the input's dtype, on its device, that needs no gradient."""
    from ..tensor import Tensor
    if not isinstance(weight, Tensor):
        weight = Tensor(weight, device=x.device)
    if weight.shape != (classes,):
        raise RuntimeError(f"{op}: weight tensor should be defined either for all {classes} classes or no classes "
                           f"but got weight tensor of shape: {list(weight.shape)}")
    if weight.dtype != x.dtype:
        raise RuntimeError(f"{op}: expected scalar type {dtypes.scalar_type_name(x.dtype)} but found "
                           f"{dtypes.scalar_type_name(weight.dtype)} (weight of dtype {weight.dtype}, input of "
                           f"dtype {x.dtype})")
    if weight.device != x.device:
        raise RuntimeError(f"{op}: expected weight on {x.device}, got {weight.device}; move one with .to(device)")
    if weight.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}: the function is not differentiable with respect to argument 'weight'. This "
                           "input cannot have requires_grad True (as in PyTorch; detach() it)")
    return weight


def check_nll_target(x, target, ignore_index):
    """nll_loss's shape, dtype (int64 or uint8, as PyTorch) and label checks; returns the int64 target."""
    from .convert import cast
    if x.ndim < 1:
        raise ValueError(f"nll_loss: Expected 1 or more dimensions (got 0) for input of shape {x.shape}")
    if target.dtype not in (dtypes.int64, dtypes.uint8):
        raise RuntimeError(f"nll_loss: expected target dtype to be Long or Byte, but got "
                           f"{dtypes.scalar_type_name(target.dtype)} (dtype {target.dtype})")
    if x.ndim == 1:
        if target.ndim > 1:
            raise RuntimeError(f"nll_loss: 0D or 1D target tensor expected, multi-target not supported "
                               f"(target of shape {target.shape})")
        if target.ndim == 1 and target.shape[0] != 1:
            raise ValueError(f"nll_loss: For 1D input, 1D target must have size 1, but got target size: "
                             f"{target.shape[0]}")
    else:
        if target.ndim == 0 or target.shape[0] != x.shape[0]:
            size = target.shape[0] if target.ndim else "none (a 0-d target)"
            raise ValueError(f"nll_loss: Expected input batch_size ({x.shape[0]}) to match target batch_size "
                             f"({size}) (input of shape {x.shape}, target of shape {target.shape})")
        expected = (x.shape[0],) + x.shape[2:]
        if target.shape != expected:
            raise RuntimeError(f"nll_loss: Expected target size {list(expected)}, got {list(target.shape)} "
                               f"(input of shape {x.shape})")
    if target.dtype != dtypes.int64:
        target = cast(target, dtypes.int64)
    check_labels("nll_loss", target, x.shape[1] if x.ndim > 1 else x.shape[0], ignore_index)
    return target


def check_labels(op, target, classes, ignore_index, noun="Target") -> bool:
    """Raise IndexError naming the first label outside [0, C) that is not ignore_index; return whether a row
    may be ignored (so the kernels must mask). Where reading the labels would wait for the device (CUDA),
    the check leaves a flag there instead, raised by `backend.raise_pending_errors()` (called by
    `minitorch.cuda.synchronize()` and by the training loop every 50 steps), and masking is always on:
    the kept rows are counted on the device.

    While minitorch.compile records a step, the check is recorded to rerun at each replay. On labels passed
    into the step it runs ahead of the replay, which then keeps this batch's decision: a later batch that
    ignores rows the recording did not is recorded anew. On labels the step computes, masking stays on."""
    may_ignore = labels_ok(target.backend, op, noun, classes, ignore_index, target.array)
    rec = _state.recorder
    if rec is not None:
        may_ignore = may_ignore or not rec.ahead(target)
        rec.check(functools.partial(replayed_labels_ok, target.backend, op, noun, classes, ignore_index, may_ignore),
                  target)
    return may_ignore


def replayed_labels_ok(backend, op, noun, classes, ignore_index, recorded, t) -> None:
    """check_labels at a compiled step's replay: raise as eagerly, and ask for a new recording when this
    batch has ignored rows and the recorded one promised the kernels none."""
    if labels_ok(backend, op, noun, classes, ignore_index, t) and not recorded:
        from ..capture.tape import Rerecord
        raise Rerecord(f"{op}: this batch has labels equal to ignore_index={ignore_index}; the recorded one had "
                       "none")


def labels_ok(backend, op, noun, classes, ignore_index, t) -> bool:
    """check_labels on the raw label array `t` (what a compiled step's replay reruns)."""
    if t.size == 0:
        return False
    if backend.deferred_checks:
        with backend.guard:  # the flag's small ops run on the labels' device (cuda:N), whichever is current
            flag = kernels.reference.first_bad_label(t, classes, ignore_index)
        backend.defer_check((op, classes, ignore_index), flag, ignore_index,
                            lambda value: label_error(op, noun, value, classes, ignore_index))
        return True
    xp = backend.xp
    low, high = int(xp.min(t)), int(xp.max(t))
    if low >= 0 and high < classes:  # the common case, in two reductions
        return low <= ignore_index <= high
    bad = ((t < 0) | (t >= classes)) & (t != ignore_index)
    if bool(xp.any(bad)):
        raise label_error(op, noun, int(backend.to_host(t)[backend.to_host(bad)][0]), classes, ignore_index)
    return True


def label_error(op, noun, value, classes, ignore_index) -> IndexError:
    """The error for a label outside [0, C): it names the value and the class count."""
    return IndexError(f"{op}: {noun} {value} is out of bounds for {classes} classes "
                      f"(valid labels are 0..{classes - 1}, or ignore_index={ignore_index})")


def rows(x, target):
    """(N, C, d1, ...) and (N, d1, ...) -> (N*d, C) and (N*d,); (C,) and () -> (1, C) and (1,)."""
    if x.ndim == 1:
        return x.reshape(1, -1), target.reshape(1)
    if x.ndim > 2:
        dims = (0,) + tuple(range(2, x.ndim)) + (1,)
        return x.permute(dims).reshape(-1, x.shape[1]), target.reshape(-1)
    return x, target


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, d1, ...) at class-index targets, as PyTorch."""
    from ..tensor import Tensor
    check_reduction(reduction)
    if not isinstance(target, Tensor):
        target = Tensor(target, device=input.device)
    require_float(input, "nll_loss")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"nll_loss: ignore_index must be an int, got {ignore_index!r}")
    target = check_nll_target(input, target, ignore_index)
    w = None
    if weight is not None:
        w = check_weight("nll_loss", input, weight, input.shape[1] if input.ndim > 1 else input.shape[0]).array
    x, t = rows(input, target)
    loss = NLL.apply(x, t.array, w, ignore_index, 0.0, reduction)
    return loss.reshape(target.shape) if reduction == "none" and input.ndim != 2 else loss


def weighted_cross_entropy(input, target, weight, ignore_index, label_smoothing, reduction):
    """cross_entropy with class weights and class-index targets: log_softmax, then the smoothed, weighted NLL."""
    from .activations import log_softmax
    from .elementwise import where
    w = check_weight("cross_entropy", input, weight, input.shape[1] if input.ndim > 1 else input.shape[0]).array
    x, t = rows(input, target)
    keep = t.array != ignore_index
    # Ignored rows are zeroed before log_softmax, so a row of -inf there cannot produce NaN.
    logp = log_softmax(where(keep[:, None], x, 0.0), dim=1)
    loss = NLL.apply(logp, t.array, w, ignore_index, label_smoothing, reduction)
    return loss.reshape(target.shape) if reduction == "none" and input.ndim != 2 else loss
