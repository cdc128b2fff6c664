"""Tensor's math methods and operators: each a one-line call into an op."""
from __future__ import annotations

from .. import ops
from ..tensor import Tensor


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _setitem(self, key, value):
    """In-place assignment into the data (not recorded by autograd, as for a buffer update)."""
    if self.requires_grad and self.is_leaf:
        raise RuntimeError("a leaf tensor that requires grad cannot be modified in place; "
                           "use `with minitorch.no_grad(): t.data[...] = ...` for a parameter update")
    self.data[ops.shape._convert_key(self, key)] = value.data if isinstance(value, Tensor) else value


_METHODS = {
    "__add__": ops.add, "__radd__": _reflected(ops.add), "__sub__": ops.sub, "__rsub__": _reflected(ops.sub),
    "__mul__": ops.mul, "__rmul__": _reflected(ops.mul), "__truediv__": ops.div,
    "__rtruediv__": _reflected(ops.div), "__pow__": ops.pow, "__rpow__": _reflected(ops.pow),
    "__matmul__": ops.matmul, "__rmatmul__": _reflected(ops.matmul), "__neg__": ops.neg,
    "__abs__": ops.abs, "__lt__": ops.lt, "__le__": ops.le, "__gt__": ops.gt, "__ge__": ops.ge,
    "__eq__": ops.eq, "__ne__": ops.ne, "__getitem__": ops.getitem, "__setitem__": _setitem,
    "add": ops.add, "sub": ops.sub, "mul": ops.mul, "div": ops.div, "pow": ops.pow, "matmul": ops.matmul,
    "neg": ops.neg, "exp": ops.exp, "log": ops.log, "sqrt": ops.sqrt, "abs": ops.abs, "clamp": ops.clamp,
    "maximum": ops.maximum, "minimum": ops.minimum,
    "sum": ops.sum, "mean": ops.mean, "var": ops.var, "std": ops.std, "max": ops.max, "min": ops.min,
    "amax": ops.amax, "argmax": ops.argmax, "argmin": ops.argmin,
    "reshape": ops.reshape, "view": ops.view, "flatten": ops.flatten, "transpose": ops.transpose,
    "permute": ops.permute, "unsqueeze": ops.unsqueeze, "squeeze": ops.squeeze,
    "relu": ops.relu, "sigmoid": ops.sigmoid, "tanh": ops.tanh, "softmax": ops.softmax,
    "log_softmax": ops.log_softmax,
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.__hash__ = object.__hash__  # __eq__ is elementwise; identity keeps tensors usable as dict keys
