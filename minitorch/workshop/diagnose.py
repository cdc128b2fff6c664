"""How a hand-written gradient differs from the true one, in the words of the usual mistakes."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

Close = Callable[[np.ndarray, np.ndarray], bool]


@dataclass
class Verdict:
    """One gradient's result: its name, whether it matches, the max absolute error, what looks wrong."""

    name: str
    ok: bool
    max_error: float
    diagnosis: str = ""


def compare(name: str, got: np.ndarray | None, want: np.ndarray, batch: int, x: np.ndarray | None,
            atol: float, rtol: float) -> Verdict:
    """Judge `got` against the true gradient `want`; x is given for dL/dx, to spot a kink at x == 0."""
    def close(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.allclose(a, b, rtol=rtol, atol=atol))

    if got is None:
        missing = "backward returned None (it must return dL_dx, for the layer before it)" if x is not None else \
            f"not set by backward (expected an array of shape {want.shape})"
        return Verdict(name, False, math.nan, missing)
    got = np.asarray(got, dtype=np.float64)
    if got.shape != want.shape:
        return Verdict(name, False, math.nan, _shape_mistake(got, want, batch, close))
    max_error = float(np.max(np.abs(got - want))) if got.size else 0.0
    if close(got, want):
        return Verdict(name, True, max_error)
    return Verdict(name, False, max_error, _value_mistake(got, want, batch, x, close, atol, rtol))


def _shape_mistake(got: np.ndarray, want: np.ndarray, batch: int, close: Close) -> str:
    """Wrong shape: transposed, a missing sum over a broadcast (batch) axis, or just wrong."""
    if got.ndim == 2 and got.shape == want.shape[::-1]:
        scale = _scale(got.T, want, batch, close)
        if scale is not None:
            return (f"transposed: it has shape {got.shape} and equals the true gradient transposed; a gradient has "
                    f"the shape of what it differentiates, {want.shape} (for a Linear W of shape (out, in): "
                    f"dW = dL_dy.T @ x)" + (f"; and it {scale}" if scale else ""))
    axes = _broadcast_axes(got.shape, want.shape)
    if axes:
        summed = np.sum(got, axis=axes).reshape(want.shape)
        scale = _scale(summed, want, batch, close)
        if scale is not None:
            where = f"axis {axes[0]}" if len(axes) == 1 else f"axes {axes}"
            what = " (the batch)" if axes == (0,) else ""
            return (f"missing the sum over {where}{what}: it has shape {got.shape}, the true gradient {want.shape}; "
                    f"a parameter used by every sample gets the sum of their gradients: .sum(axis="
                    f"{axes[0] if len(axes) == 1 else axes}{', keepdims=True' if got.ndim == want.ndim else ''})"
                    + (f"; and the sum {scale}" if scale else ""))
    return f"has shape {got.shape}, but the true gradient has shape {want.shape}"


def _value_mistake(got: np.ndarray, want: np.ndarray, batch: int, x: np.ndarray | None, close: Close,
                   atol: float, rtol: float) -> str:
    """Right shape, wrong numbers: a constant factor (sign, batch size), a transpose, the kink, or where."""
    scale = _scale(got, want, batch, close)
    if scale:
        return scale
    if got.ndim == 2 and got.shape[0] == got.shape[1] and _scale(got.T, want, batch, close) == "":
        return ("transposed: it equals the true gradient transposed "
                "(for a Linear W of shape (out, in): dW = dL_dy.T @ x)")
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
    if x is not None and x.shape == got.shape and np.all(x[bad] == 0):
        return (f"wrong only where x == 0 ({int(bad.sum())} of {got.size} entries): the derivative at the kink; "
                f"PyTorch takes the slope from below there (ReLU's gradient at 0 is 0: mask with x > 0, not x >= 0)")
    i = np.unravel_index(int(np.argmax(np.abs(got - want))), got.shape)
    where = tuple(int(k) for k in i)
    return (f"max error {float(np.abs(got - want)[i]):.3g} at index {where}: got {got[i]:.6g}, expected "
            f"{want[i]:.6g}; {int(bad.sum())} of {got.size} entries differ")


def _scale(got: np.ndarray, want: np.ndarray, batch: int, close: Close) -> str | None:
    """'' if got matches want; the words for got = k * want (wrong sign, off by the batch size); else None."""
    if close(got, want):
        return ""
    norm = float(np.sum(want * want))
    if norm == 0.0:
        return None
    k = float(np.sum(got * want)) / norm
    if not close(got, k * want) or abs(k) < 1e-12:
        return None
    parts = ["has the wrong sign"] if k < 0 else []
    size = abs(k)
    if batch > 1 and math.isclose(size, 1 / batch, rel_tol=1e-6):
        parts.append(f"is N = {batch} times too small, the true gradient divided by the batch size: remove the / N "
                     "(dL_dy already carries the loss's 1/N; a layer's backward must not average again)")
    elif batch > 1 and math.isclose(size, batch, rel_tol=1e-6):
        parts.append(f"is N = {batch} times too large, the true gradient times the batch size (a * N, or a sum "
                     "where the loss averages?)")
    elif not math.isclose(size, 1.0, rel_tol=1e-6):
        parts.append(f"is {size:.4g} times the true gradient" + ("'s size" if k < 0 else ""))
    if parts == ["has the wrong sign"]:
        return "has the wrong sign: it is -1 times the true gradient (check the sign of each term)"
    return " and ".join(parts)


def _broadcast_axes(got: tuple[int, ...], want: tuple[int, ...]) -> tuple[int, ...]:
    """The axes that summing got over would give want's shape (extra leading axes, size-1 axes); () if none."""
    extra = len(got) - len(want)
    if extra < 0 or any(w not in (1, g) for g, w in zip(got[extra:], want)):
        return ()
    return tuple(range(extra)) + tuple(extra + i for i, (g, w) in enumerate(zip(got[extra:], want)) if w == 1 != g)
