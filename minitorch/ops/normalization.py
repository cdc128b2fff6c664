"""Normalisation: batch_norm (fused kernels, or composed from ops) and layer_norm."""
from __future__ import annotations


from ..autograd import Function, no_grad
from .. import kernels


class BatchNormTrain(Function):
    """Batch statistics per channel (axis 1), running stats updated in place, then normalise + affine."""

    rule = "dx = w * invstd * (grad - mean(grad) - xhat * mean(grad * xhat));  dw = sum(grad * xhat);  db = sum(grad)"

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum=0.1, eps=1e-5):
        k = ctx.backend.kernels
        y, mean, invstd = k.batch_norm_forward_train(x, weight, bias, running_mean, running_var, momentum, eps)
        ctx.save_for_backward(x, weight, mean, invstd)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd = ctx.saved
        dx, dw, db = ctx.backend.kernels.batch_norm_backward(grad, x, weight, mean, invstd)
        return dx, dw, db, None, None


class BatchNormEval(Function):
    """y = a x + b per channel, with a and b folded from the running statistics."""

    rule = "dx = grad * w / sqrt(running_var + eps);  dw = sum(grad * xhat);  db = sum(grad)"

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps=1e-5):
        ctx.save_for_backward(x, weight, running_mean, running_var)
        ctx.eps = eps
        return ctx.backend.kernels.batch_norm_forward_eval(x, weight, bias, running_mean, running_var, eps)

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, var = ctx.saved
        xp = ctx.xp
        shape = (1, -1) + (1,) * (x.ndim - 2)
        axes = (0,) + tuple(range(2, x.ndim))
        invstd = xp.reshape(1 / xp.sqrt(var + ctx.eps), shape)
        x_hat = (x - xp.reshape(mean, shape)) * invstd
        scale = invstd if weight is None else invstd * xp.reshape(weight, shape)
        return grad * scale, xp.sum(grad * x_hat, axis=axes), xp.sum(grad, axis=axes), None, None


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (axis 1) of (N, C) or (N, C, *spatial) input, as torch's batch_norm."""
    if x.ndim < 2:
        raise RuntimeError(f"batch_norm: expected input of shape (N, C) or (N, C, ...), got {x.shape}")
    channels = x.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.shape != (channels,):
            raise RuntimeError(f"batch_norm: {name} of shape {t.shape} does not match {channels} channels "
                               f"of input {x.shape}")
    rm = None if running_mean is None else running_mean.array
    rv = None if running_var is None else running_var.array
    if not training:
        if rm is None or rv is None:
            raise RuntimeError("batch_norm: eval mode needs running_mean and running_var")
        if kernels.fused_enabled():
            return BatchNormEval.apply(x, weight, bias, rm, rv, eps=eps)
        return _composed(x, weight, bias, rm, rv, eps)
    count = x.numel() // channels
    if count <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                         f"shape {x.shape}; use a batch of at least 2 or call .eval()")
    if kernels.fused_enabled():
        return BatchNormTrain.apply(x, weight, bias, rm, rv, momentum=momentum, eps=eps)
    axes = (0,) + tuple(range(2, x.ndim))
    mean = x.mean(dim=axes)
    var = x.var(dim=axes, unbiased=False)
    if rm is not None:
        with no_grad():
            rm[...] = (1 - momentum) * rm + momentum * mean.array
            rv[...] = (1 - momentum) * rv + momentum * var.array * (count / (count - 1))
    return _composed(x, weight, bias, mean, var, eps)


def _composed(x, weight, bias, mean, var, eps):
    """(x - mean) / sqrt(var + eps) * weight + bias, built from differentiable ops."""
    from ..tensor import Tensor
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = mean if isinstance(mean, Tensor) else Tensor._make(mean, x.backend, False, None)
    var = var if isinstance(var, Tensor) else Tensor._make(var, x.backend, False, None)
    y = (x - mean.reshape(shape)) / (var.reshape(shape) + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing `normalized_shape` dims, then scale and shift."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(normalized_shape):] != normalized_shape:
        raise RuntimeError(f"layer_norm: input of shape {x.shape} does not end with normalized_shape "
                           f"{normalized_shape}")
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mean = x.mean(dim=axes, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(dim=axes, keepdim=True)
    y = centered / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y
