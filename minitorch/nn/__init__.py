"""Neural-network building blocks: Module, Parameter, layers, losses, init and functional forms."""
from . import functional, init, utils
from .container import Sequential
from .layers import (GELU, Dropout, Flatten, Identity, LeakyReLU, Linear, LogSoftmax, ReLU, Sigmoid, Softmax,
                     Tanh)
from .loss import CrossEntropyLoss, HuberLoss, L1Loss, MSELoss
from .module import Module
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Sequential", "Linear", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout",
           "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax", "Flatten", "Identity",
           "CrossEntropyLoss", "MSELoss", "L1Loss", "HuberLoss", "functional", "init", "utils"]


def __getattr__(name: str) -> object:
    """Only reached for a name that does not exist: say which existing name is closest."""
    if name.startswith("__"):
        raise AttributeError(name)
    from ..tensor import _suggest
    raise _suggest(__name__, list(globals()), name)
