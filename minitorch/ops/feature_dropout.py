"""Channel (feature) dropout: dropout2d zeroes whole channels, each with probability p, and scales the rest."""
from __future__ import annotations

import warnings

from ._util import is_float
from .dropout import Dropout


def dropout2d(x, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) input with probability p (scaling the rest by 1/(1-p)) in training."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: dropout probability has to be between 0 and 1, but got {p}")
    if x.ndim < 2:
        raise RuntimeError(f"dropout2d: feature dropout requires at least 2 dimensions in the input, got shape "
                           f"{x.shape}")
    if x.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {x.ndim}-D input to dropout2d, which is deprecated and will result in "
                      "an error in a future release of PyTorch", stacklevel=2)
    if x.ndim == 3:
        # PyTorch (to this day) reads a 3-D input as (N, C, L): channel-wise 1-D dropout over dims 0 and 1.
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim, "
                      "as PyTorch does; use dropout1d to keep that meaning", stacklevel=2)
    if not training or p == 0.0:
        return x
    if not is_float(x):
        raise RuntimeError(f"dropout2d: result type Float can't be cast to the desired output type {x.dtype}")
    per_channel = tuple(x.shape[:2]) + (1,) * (x.ndim - 2)  # one multiplier per (sample, channel)
    fn = (lambda t: t * 0.0) if p == 1.0 else (lambda t: Dropout.apply(t, p=p, mask_shape=per_channel))
    if not inplace:
        return fn(x)
    from ..inplace import apply_
    return apply_(x, fn)
