"""erf in the array API standard: W. J. Cody's rational Chebyshev approximations (Math. Comp. 1969, CALERF).

The default of `Backend.erf` where the array library has none (array_api_strict); about 1 ulp in float64.
"""
from __future__ import annotations

from typing import Any

# |x| <= 0.46875: erf x = x P(x^2) / Q(x^2)
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
      1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
# 0.46875 < |x| <= 4: erfc x = e^{-x^2} P(x) / Q(x)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
      8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
      2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
      3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)
# |x| > 4: erfc x = e^{-x^2} / x (1/sqrt(pi) + P(1/x^2) / (x^2 Q(1/x^2)))
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
      6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
      2.33520497626869185e-3)
_INV_SQRT_PI = 5.6418958354775628695e-1
_THRESH = 0.46875
_ONE_FOR_GOOD = 6.0  # erfc(6) = 2e-17 < half an ulp of 1: erf is exactly +-1 beyond (and inf stays finite inside)


def erf(x: Any) -> Any:
    """The error function of a floating array, computed in float64 and returned in x's dtype."""
    xp = x.__array_namespace__()
    dtype = x.dtype
    # float32/16 inputs are evaluated in float64 and rounded once: correctly rounded, like torch.erf.
    z = xp.astype(x, xp.float64) if dtype != xp.float64 else x
    y = xp.minimum(xp.abs(z), xp.asarray(_ONE_FOR_GOOD, dtype=xp.float64))

    ysq = y * y
    num, den = _A[4] * ysq, ysq
    for a, b in zip(_A[:3], _B[:3]):
        num, den = (num + a) * ysq, (den + b) * ysq
    small = (num + _A[3]) / (den + _B[3])  # times x below (erf is odd; keeps erf(-0.0) = -0.0)

    num, den = _C[8] * y, y
    for c, d in zip(_C[:7], _D[:7]):
        num, den = (num + c) * y, (den + d) * y
    ratio = (num + _C[7]) / (den + _D[7])
    if bool(xp.any(y > 4.0)):  # rare in activations: skip the tail's work when no element needs it
        yt = xp.where(y > 4.0, y, xp.full_like(y, 5.0))  # keeps 1/y^2 finite where this branch is unused
        r = 1.0 / (yt * yt)
        num, den = _P[5] * r, r
        for p, q in zip(_P[:4], _Q[:4]):
            num, den = (num + p) * r, (den + q) * r
        ratio = xp.where(y > 4.0, (_INV_SQRT_PI - r * (num + _P[4]) / (den + _Q[4])) / yt, ratio)
    # erf = 1 - erfc needs erfc to absolute accuracy only, so e^{-y^2} needs none of Cody's splitting of y^2.
    erfc = xp.exp(-ysq) * ratio
    big = (0.5 - erfc) + 0.5
    out = xp.where(y <= _THRESH, z * small, xp.where(z < 0, -big, big))
    out = xp.where(xp.isnan(z), z, out)
    return xp.astype(out, dtype) if dtype != xp.float64 else out
