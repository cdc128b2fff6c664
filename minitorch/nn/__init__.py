"""Neural-network building blocks: Module, Parameter, layers, losses, init and functional forms."""
from . import functional, init, utils
from .container import Sequential
from .layers import (GELU, Dropout, Flatten, Identity, LeakyReLU, Linear, LogSoftmax, ReLU, Sigmoid, Softmax,
                     Tanh)
from .loss import CrossEntropyLoss, HuberLoss, L1Loss, MSELoss
from .loss import BCELoss, BCEWithLogitsLoss, KLDivLoss, NLLLoss, SmoothL1Loss
from .module import Module
from .activation import ELU, Hardtanh, ReLU6, SiLU, Softplus
from .sparse import Embedding
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList
from .layers import Dropout2d
from .norm import GroupNorm
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm
from .parameter import Parameter
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .layers import Unflatten
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .summary import ModelSummary, summary  # the function shadows the submodule's name, as intended
from ..distributed.sync_batchnorm import SyncBatchNorm  # torch.nn.SyncBatchNorm; needs .norm above

__all__ = ["Module", "Parameter", "Sequential", "Linear", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout",
           "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax", "Flatten", "Identity",
           "CrossEntropyLoss", "MSELoss", "L1Loss", "HuberLoss", "functional", "init", "utils"]
__all__ += ["NLLLoss", "BCELoss", "BCEWithLogitsLoss", "SmoothL1Loss", "KLDivLoss"]
__all__ += ["ELU", "SiLU", "Softplus", "Hardtanh", "ReLU6", "Dropout2d", "GroupNorm", "Embedding", "ModuleList",
            "ModuleDict", "ParameterList", "ParameterDict"]
__all__ += ["Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Unflatten"]
__all__ += ["summary", "ModelSummary"]


def __getattr__(name: str) -> object:
    """Only reached for a name that does not exist: say which existing name is closest."""
    if name.startswith("__"):
        raise AttributeError(name)
    from ..tensor import _suggest
    raise _suggest(__name__, list(globals()), name)
