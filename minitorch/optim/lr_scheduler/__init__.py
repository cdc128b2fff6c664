"""Learning-rate schedulers with PyTorch's semantics (chainable steps, closed forms, state dicts)."""
from .base import LRScheduler
from .basic import CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR, MultiStepLR, StepLR
from .composite import ReduceLROnPlateau, SequentialLR
from .onecycle import OneCycleLR

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "LinearLR", "CosineAnnealingLR", "LambdaLR",
           "OneCycleLR", "SequentialLR", "ReduceLROnPlateau"]
