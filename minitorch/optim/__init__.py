"""Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta) and learning-rate schedulers."""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler"]


def __getattr__(name: str) -> object:
    """Only reached for a name that does not exist: say which existing name is closest."""
    if name.startswith("__"):
        raise AttributeError(name)
    from ..tensor import _suggest
    raise _suggest(__name__, list(globals()), name)
