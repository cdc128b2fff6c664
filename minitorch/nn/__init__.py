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
