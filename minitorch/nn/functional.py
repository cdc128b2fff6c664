"""Functional forms of the layers and losses (stateless; same semantics as torch.nn.functional)."""
from __future__ import annotations

from typing import Any

from ..ops import binary_cross_entropy, binary_cross_entropy_with_logits, kl_div, nll_loss, smooth_l1_loss
from ..ops import (batch_norm, cross_entropy, dropout, gelu, huber_loss, l1_loss, layer_norm, leaky_relu, linear,
                   log_softmax, mse_loss, one_hot, relu, sigmoid, softmax, tanh)
from ..ops import dropout2d, elu, embedding, group_norm, hardtanh, pad, relu6, silu, softplus
from ..ops import (adaptive_avg_pool2d, avg_pool2d, conv1d, conv2d, conv_transpose2d, fold, max_pool1d, max_pool2d,
                   unfold)

__all__ = ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "cross_entropy",
           "mse_loss", "l1_loss", "huber_loss", "dropout", "batch_norm", "layer_norm", "one_hot"]
__all__ += ["nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "smooth_l1_loss", "kl_div"]
__all__ += ["elu", "silu", "softplus", "hardtanh", "relu6", "dropout2d", "group_norm", "embedding", "pad"]
__all__ += ["conv1d", "conv2d", "conv_transpose2d", "max_pool1d", "max_pool2d", "avg_pool2d",
            "adaptive_avg_pool2d", "unfold", "fold"]


def __getattr__(name: str) -> Any:
    """Only reached for a name that does not exist: say which existing name is closest."""
    if name.startswith("__"):
        raise AttributeError(name)
    from ..tensor import _suggest
    raise _suggest(__name__, list(globals()), name)
