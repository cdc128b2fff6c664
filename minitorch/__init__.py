"""minitorch: a small deep-learning framework with a PyTorch-shaped API on NumPy (CPU) or CuPy (CUDA).

The namespace follows torch's, so `import minitorch as torch` runs tutorial code: tensor creation,
the functional form of every Tensor method PyTorch also has as a function (mt.relu(x), mt.sum(x, 1),
mt.cat, mt.topk, ...), dtype names (mt.float32, mt.long, mt.bool, ...), mt.device, mt.cuda,
mt.utils.data, mt.nn, mt.optim. A missing name raises an AttributeError naming the closest one.
"""
from __future__ import annotations

from typing import Any

from numpy import dtype  # minitorch's dtypes are NumPy dtype objects: isinstance(x.dtype, mt.dtype) holds

from . import autograd, backends, dtypes
from .autograd import enable_grad, is_grad_enabled, no_grad
from .backends import available_devices, default_device, get_backend, is_available, set_default_device
from .backends import manual_seed
from .creation import (Generator, arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace,
                       multinomial, normal, ones, ones_like, rand, rand_like, randint, randint_like, randn, randn_like,
                       randperm, tensor, zeros, zeros_like)
from .device import device
from .errors import CheckpointError, CheckpointWriteError, DataFileError
from .dtypes import can_cast, get_default_dtype, promote_types, result_type, set_default_dtype
from .functions import (abs_, bmm, clamp_, clip_, detach, detach_, dot, exp_, fill_, get_default_device,
                        inference_mode, is_floating_point, is_tensor, lerp, log_, mm, neg_, numel, relu_,
                        set_grad_enabled, sigmoid_, sqrt_, t, tanh_, tile, zero_)
from .ops import (abs, add, all, allclose, amax, amin, any, argmax, argmin, argsort, bitwise_and, bitwise_not,
                  bitwise_or, bitwise_xor, cat, ceil, chunk, clamp, clamp_max, clamp_min, clone, cos, cumsum, div, eq,
                  equal, exp, flatten, flip, floor, floor_divide, gather, ge, gt, index_select, isclose, isfinite, isinf,
                  isnan, le, log, log1p, log_softmax, logical_and, logical_not, logical_or, logical_xor, logsumexp, lt,
                  masked_fill, matmul, max, maximum, mean, min, minimum, mul, narrow, ne, neg, norm, permute, pow, prod,
                  reciprocal, relu, remainder, reshape, round, rsqrt, sigmoid, sign, sin, softmax, sort, split, sqrt,
                  square, squeeze, stack, std, sub, sum, tanh, topk, transpose, unbind, unsqueeze, var, where)
from .ops import expand as broadcast_to
from .ops import conv1d, conv2d, conv_transpose2d, max_pool1d, max_pool2d  # torch.<name> exists for these
from .ops import erf
from .tensor import Tensor
from . import accelerator, cuda, data, nn, optim, training, utils, viz
from .serialization import load, save
from .capture import CaptureError, compile  # noqa: A004  (torch.compile's name)

# PyTorch's other names for the same functions.
concat = concatenate = cat
clip = clamp
absolute = abs
negative = neg
multiply = mul
divide = true_divide = div
subtract = sub
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne
swapaxes = swapdims = transpose

__version__ = "0.1.0"


def cuda_is_available() -> bool:
    """Whether the CuPy backend can run here (same as minitorch.cuda.is_available())."""
    return cuda.is_available()


def __getattr__(name: str) -> Any:
    """Only reached for a name that does not exist: say which existing name is closest."""
    if name.startswith("__"):
        raise AttributeError(name)
    from .tensor import _suggest
    raise _suggest(__name__, list(globals()), name)


# dtype names last: `float`, `int` and `bool` shadow the builtins in this module's namespace, as in torch.
from .dtypes import (bool_, double, float16, float32, float64, half, int8, int16, int32, int64, long,  # noqa: E402
                     short, uint8)
from .dtypes import float, int  # noqa: E402, A004
bool = bool_  # noqa: A001  (torch.bool is the dtype)
