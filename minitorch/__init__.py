"""minitorch: a small deep-learning framework with a PyTorch-shaped API on NumPy (CPU) or CuPy (CUDA)."""
from . import autograd, backends, dtypes
from .autograd import enable_grad, is_grad_enabled, no_grad
from .backends import available_devices, default_device, get_backend, is_available, set_default_device
from .backends import manual_seed
from .creation import arange, full, ones, ones_like, rand, randn, randn_like, tensor, zeros, zeros_like
from .dtypes import bool_, double, float16, float32, float64, int32, int64, long, uint8
from .ops import cat, exp, log, matmul, maximum, minimum, sqrt, stack, where
from .tensor import Tensor
from . import data, nn, optim, training
from .serialization import load, save

__version__ = "0.1.0"


def cuda_is_available() -> bool:
    """Whether the CuPy backend can run here (CuPy importable, a device, a working compiler)."""
    return is_available("cupy")
