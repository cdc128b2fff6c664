"""erf written against xp (NumPy has none): a power series near 0 and a continued fraction in the tails."""
from __future__ import annotations

import math
from typing import Any

_SERIES_TERMS = 60     # enough for |x| < 3 to reach float64 round-off (terms are all positive)
_FRACTION_DEPTH = 60   # enough for |x| >= 3


def erf(x: Any) -> Any:
    """The error function, accurate to a few ulps in float64 (and float32)."""
    xp = x.__array_namespace__()
    ax = xp.abs(x)
    small = ax < 3
    # erf x = 2/sqrt(pi) e^{-x^2} sum_n (2x^2)^n x / (2n+1)!!   (converges for all x, fast for small x)
    xs = xp.where(small, ax, xp.zeros_like(ax))
    term = xs
    total = xs
    two_x2 = 2 * xs * xs
    for n in range(1, _SERIES_TERMS):
        term = term * two_x2 / (2 * n + 1)
        total = total + term
    series = (2 / math.sqrt(math.pi)) * xp.exp(-xs * xs) * total
    # erfc x = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))   (for large x)
    xl = xp.where(small, xp.full_like(ax, 3.0), ax)
    frac = xl
    for k in range(_FRACTION_DEPTH, 0, -1):
        frac = xl + (k / 2) / frac
    tail = 1 - xp.exp(-xl * xl) / (math.sqrt(math.pi) * frac)
    return xp.sign(x) * xp.where(small, series, tail)
