"""Ops: one small Function class per op, with a lowercase wrapper that takes and returns Tensors."""
from .activations import gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .convert import cast, eq, ge, gt, le, lt, ne, to_device
from .dropout import dropout
from .elementwise import add, div, floor_divide, mul, neg, pow, remainder, sub
from .extrema import amax, amin, argmax, argmin, logsumexp, max, min
from .losses import cross_entropy, huber_loss, l1_loss, mse_loss
from .matmul import linear, matmul, mm
from .normalization import batch_norm, layer_norm
from .logical import (allclose, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, equal, isclose, isfinite, isinf,
                      isnan, logical_and, logical_not, logical_or, logical_xor)
from .reduce import all, any, cumsum, mean, prod, std, sum, var
from .selection import clamp, clamp_max, clamp_min, maximum, minimum, where
from .unary import abs, ceil, cos, exp, floor, log, log1p, reciprocal, round, rsqrt, sign, sin, sqrt, square
from .vector_norm import norm
from .indexing import gather, getitem, index_put, index_select, masked_fill, one_hot
from .shape import (cat, clone, expand, flatten, flip, permute, repeat, reshape, squeeze, stack, transpose, unsqueeze,
                    view)
from .sorting import argsort, sort, topk
from .split import chunk, narrow, split, unbind
from .nll import nll_loss
from .bce import binary_cross_entropy, binary_cross_entropy_with_logits
from .divergence import kl_div, smooth_l1_loss
from .activations_more import elu, hardtanh, relu6, silu, softplus
from .embedding import embedding
from .feature_dropout import dropout2d
from .group_norm import group_norm
from .pad import pad
from .special import erf
from .conv import conv1d, conv2d
from .conv_transpose import conv_transpose2d
from .pool import adaptive_avg_pool2d, avg_pool2d, fold, max_pool1d, max_pool2d, unfold
