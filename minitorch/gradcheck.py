"""Finite-difference gradient checking in float64 (minitorch.autograd.gradcheck)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


class GradcheckError(AssertionError):
    """Analytical and numerical gradients disagree."""


def _as_outputs(out: Any) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def gradcheck(fn: Callable, inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> bool:
    """Compare backward against central differences of <fn(*inputs), r> for a random projection r.

    Inputs that require grad must be float64. Returns True, or raises GradcheckError naming the
    input, the worst element and both values.
    """
    from .autograd import no_grad
    from .tensor import Tensor
    rng = np.random.default_rng(seed)
    inputs = list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    for i in checked:
        if str(inputs[i].dtype) not in ("float64", "array_api_strict.float64"):
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 for finite differences")

    outputs = _as_outputs(fn(*inputs))
    projections = [rng.standard_normal(o.shape) for o in outputs]

    def projected(values: list) -> float:
        with no_grad():
            outs = _as_outputs(fn(*values))
        return float(sum(np.sum(o.backend.to_host(o.array).astype(np.float64) * r) for o, r in zip(outs, projections)))

    # Analytical: one backward of the projection through every output.
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    total = None
    for o, r in zip(outputs, projections):
        if not o.requires_grad:
            continue
        term = (o * Tensor._make(o.backend.from_host(r.astype(np.float64)), o.backend, False, None)).sum()
        total = term if total is None else total + term
    if total is None:
        raise GradcheckError("gradcheck: no output requires grad")
    total.backward()

    for i in checked:
        t = inputs[i]
        host = t.backend.to_host(t.array).astype(np.float64)
        numeric = np.zeros_like(host)
        flat = host.reshape(-1)
        for k in range(flat.size):
            orig = flat[k]
            values = []
            for delta in (eps, -eps):
                flat[k] = orig + delta
                values.append(projected(inputs[:i] + [Tensor._make(t.backend.from_host(host.copy()),
                                                                    t.backend, False, None)] + inputs[i + 1:]))
            flat[k] = orig
            numeric.reshape(-1)[k] = (values[0] - values[1]) / (2 * eps)
        analytic = np.zeros_like(host) if t.grad is None else t.grad.numpy().astype(np.float64)
        if analytic.shape != host.shape:
            raise GradcheckError(f"gradcheck: grad of input {i} has shape {analytic.shape}, input {host.shape}")
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if np.any(err > 0):
            k = np.unravel_index(int(np.argmax(err)), err.shape)
            raise GradcheckError(f"gradcheck: input {i} {tuple(host.shape)} at index {tuple(int(j) for j in k)}: "
                                 f"analytical {analytic[k]:.8g} vs numerical {numeric[k]:.8g} "
                                 f"(atol={atol}, rtol={rtol})")
    return True
