"""Functional forms of the layers and losses (stateless; same semantics as torch.nn.functional)."""
from __future__ import annotations

from typing import Any

from ..ops import (batch_norm, cross_entropy, dropout, gelu, huber_loss, l1_loss, layer_norm, leaky_relu, linear,
                   log_softmax, mse_loss, one_hot, relu, sigmoid, softmax, tanh)

__all__ = ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "cross_entropy",
           "mse_loss", "l1_loss", "huber_loss", "dropout", "batch_norm", "layer_norm", "one_hot"]


def __getattr__(name: str) -> Any:
    """Only reached for a name that does not exist: say which existing name is closest."""
    if name.startswith("__"):
        raise AttributeError(name)
    from ..tensor import _suggest
    raise _suggest(__name__, list(globals()), name)
