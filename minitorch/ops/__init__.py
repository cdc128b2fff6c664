"""Ops: one small Function class per op, with a lowercase wrapper that takes and returns Tensors."""
from .activations import gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .convert import cast, eq, ge, gt, le, lt, ne, to_device
from .dropout import dropout
from .elementwise import abs, add, clamp, div, exp, log, maximum, minimum, mul, neg, pow, sqrt, sub, where
from .losses import cross_entropy, huber_loss, l1_loss, mse_loss
from .matmul import linear, matmul
from .norm import batch_norm, layer_norm
from .reduce import amax, argmax, argmin, max, mean, min, std, sum, var
from .shape import (cat, clone, flatten, getitem, index_put, permute, reshape, squeeze, stack, transpose, unsqueeze,
                    view)
