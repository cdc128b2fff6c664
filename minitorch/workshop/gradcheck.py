"""Gradient checking: a layer's backward against finite differences of its forward, in float64."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..backends import get_backend
from .base import unwrap


def gradient_check(layer: Any, x: Any, eps: float = 1e-5, tol: float = 1e-5, seed: int = 0) -> bool:
    """Check `layer.backward`'s dL/dx against central differences; prints and tests the relative error."""
    x = _float64_copy(x)
    forward, g = _probe(layer, x, seed)
    analytic = _host(layer.backward(g))
    numeric = _numeric_gradient(lambda: float(np.sum(_host(forward(x)) * g)), x, eps)
    return _report(relative_error(analytic, numeric), tol)


def gradient_check_weights(layer: Any, x: Any, eps: float = 1e-5, tol: float = 1e-5, seed: int = 0) -> bool:
    """Check the parameter gradients a layer keeps after backward (dW, db, ...) against central differences."""
    if not getattr(layer, "params", ()):   # an activation, or a duck-typed layer without declared parameters
        print(f"{layer!r} has no parameters to check")
        return True
    x = _float64_copy(x)
    forward, g = _probe(layer, x, seed)   # the first float64 forward also makes the parameters float64
    layer.backward(g)
    errors = []
    for param, grad in zip(layer.parameters(), layer.gradients()):
        analytic = _host(grad).copy()
        # Perturb the layer's own array in place, so its forward sees each nudge.
        numeric = _numeric_gradient(lambda: float(np.sum(_host(forward(x)) * g)), param, eps)
        errors.append(relative_error(analytic, numeric))
    return _report(max(errors), tol)


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a - n|| / (||a|| + ||n||): scale-free, and not blown up by single entries that are ~0."""
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if denominator == 0 else float(np.linalg.norm(analytic - numeric) / denominator)


def _probe(layer: Any, x: np.ndarray, seed: int) -> tuple[Callable[[np.ndarray], Any], np.ndarray]:
    """(a forward that draws the same random numbers every call, a random upstream gradient for its output)."""
    backend = get_backend("cpu")

    def forward(x: np.ndarray) -> Any:
        # Dropout must keep one mask for the function to be differentiable: reseed before each call,
        # on a private generator so the caller's random stream is left as it was.
        saved = backend.rng
        backend.rng = backend.make_rng(seed)
        try:
            return layer.forward(x)
        finally:
            backend.rng = saved

    y = _host(forward(x))
    # Projecting on a random direction g checks every output's gradient at once: L = sum(y * g).
    g = np.random.default_rng(seed + 1).standard_normal(y.shape)
    return forward, g


def _numeric_gradient(f: Callable[[], float], a: np.ndarray, eps: float) -> np.ndarray:
    """dL/da by central differences, (f(a + eps) - f(a - eps)) / 2 eps, one entry at a time."""
    grad = np.zeros(a.shape, dtype=np.float64)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        plus = f()
        a[i] = old - eps
        minus = f()
        a[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def _float64_copy(x: Any) -> np.ndarray:
    array, backend, _ = unwrap(x)
    return np.array(backend.to_host(array), dtype=np.float64)  # a copy: the check perturbs it


def _host(a: Any) -> np.ndarray:
    array, backend, _ = unwrap(a)
    return np.asarray(backend.to_host(array), dtype=np.float64)


def _report(error: float, tol: float) -> bool:
    print(f"Max Relative Error: {error:.2e}")
    return error < tol
