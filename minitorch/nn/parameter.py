"""Parameter: a Tensor that a Module registers as learnable."""
from __future__ import annotations

from typing import Any

from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default and is registered when assigned to a Module."""

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = []
        if isinstance(data, Tensor):
            # Share the array, as torch.nn.Parameter(t) does: no copy, same device and dtype.
            self.array, self.backend = data.array, data.backend
            self.grad, self.grad_fn, self.requires_grad = None, None, False
            self._vc, self._base, self._base_fn = data._vc, None, None  # one storage, one version counter
            self.requires_grad_(requires_grad)
        else:
            super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

