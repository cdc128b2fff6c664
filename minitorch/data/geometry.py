"""Image geometry for the transforms, in NumPy: pad, crop, flips, and affine warps (rotate, affine).

Images are NumPy arrays shaped like what a PIL image converts to, (H, W) or (H, W, C), or Tensors
shaped (..., H, W) as torchvision's tensor transforms take them; each function returns the kind it
was given. Warps follow torchvision's tensor implementation exactly: the same inverse matrix
(`inverse_affine_matrix`), pixel centres at integer coordinates around the image centre (grid_sample
with align_corners=False), zero padding, then `fill` blended in by a sampled validity mask; nearest
rounds half to even, as grid_sample does; integer images are rounded back to their dtype.
"""
from __future__ import annotations

import enum
import math
import numbers
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["InterpolationMode", "planes", "pad", "crop", "hflip", "vflip", "rotate", "affine",
           "inverse_affine_matrix", "warp"]


class InterpolationMode(str, enum.Enum):
    """The sampling of a warp (torchvision's names; only these two are implemented)."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"


def interpolation_mode(mode: Any) -> InterpolationMode:
    """"nearest" / "bilinear", or any enum whose value is one of them (torchvision's InterpolationMode)."""
    value = getattr(mode, "value", mode)
    try:
        return InterpolationMode(value)
    except ValueError:
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear' (InterpolationMode.NEAREST / BILINEAR), "
                         f"got {mode!r}") from None


def planes(img: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """(the image as a host array shaped (..., H, W), a function turning such an array back into the input's kind)."""
    from ..tensor import Tensor

    if isinstance(img, Tensor):
        if len(img.shape) < 2:
            raise ValueError(f"expected a Tensor image of shape (..., H, W), got shape {tuple(img.shape)}")
        device = img.device
        return img.detach().numpy(), lambda a: Tensor(np.ascontiguousarray(a), device=device)
    if isinstance(img, np.ndarray):
        if img.ndim == 2:
            return img, lambda a: a
        if img.ndim == 3:  # (H, W, C), as from a PIL image: channels first while we work
            return np.moveaxis(img, -1, 0), lambda a: np.ascontiguousarray(np.moveaxis(a, 0, -1))
        raise ValueError(f"expected a NumPy image of shape (H, W) or (H, W, C), got shape {img.shape}")
    raise TypeError(f"expected a NumPy image (H, W) / (H, W, C) or a Tensor (..., H, W), got {type(img).__name__}")


def padding4(padding: Any) -> tuple[int, int, int, int]:
    """torchvision's padding argument as (left, top, right, bottom)."""
    if isinstance(padding, numbers.Number):
        return (int(padding),) * 4
    if not isinstance(padding, Sequence) or len(padding) not in (1, 2, 4):
        size = len(padding) if isinstance(padding, Sequence) else type(padding).__name__
        raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {size} element tuple")
    p = [int(v) for v in padding]
    return (p[0],) * 4 if len(p) == 1 else (p[0], p[1], p[0], p[1]) if len(p) == 2 else tuple(p)  # type: ignore


_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


def _channel_fill(fill: Any, x: np.ndarray) -> Any:
    """A scalar fill, or one value per channel shaped to broadcast over (..., C, H, W)."""
    if isinstance(fill, numbers.Number):
        return float(fill)
    values = np.asarray(fill, dtype=np.float64).reshape(-1)
    channels = x.shape[-3] if x.ndim >= 3 else 1
    if len(values) == 1:
        return float(values[0])
    if len(values) != channels:
        raise ValueError(f"fill has {len(values)} values but the image has {channels} channels (shape {x.shape})")
    return values.reshape(-1, 1, 1)


def pad(img: Any, padding: Any, fill: Any = 0, padding_mode: str = "constant") -> Any:
    """Pad the last two axes by (left, top, right, bottom) (or torchvision's int / 2-tuple shorthand)."""
    if padding_mode not in _PAD_MODES:
        raise ValueError(f"Padding mode should be either constant, edge, reflect or symmetric, got {padding_mode!r}")
    left, top, right, bottom = padding4(padding)
    if min(left, top, right, bottom) < 0:
        raise ValueError(f"pad: padding must be non-negative, got {(left, top, right, bottom)}")
    x, back = planes(img)
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    if padding_mode != "constant":
        return back(np.pad(x, widths, mode=_PAD_MODES[padding_mode]))
    value = _channel_fill(fill, x)
    out = np.pad(x, widths)
    if not isinstance(value, float) or value != 0:
        inner = np.zeros(out.shape[-2:], dtype=bool)
        inner[top:top + x.shape[-2], left:left + x.shape[-1]] = True
        out = np.where(inner, out, np.asarray(value).astype(out.dtype))
    return back(out)


def crop(img: Any, top: int, left: int, height: int, width: int) -> Any:
    """The height x width window whose top-left pixel is (top, left) (inside the image)."""
    x, back = planes(img)
    return back(x[..., top:top + height, left:left + width].copy())


def hflip(img: Any) -> Any:
    """Mirror left-right."""
    x, back = planes(img)
    return back(x[..., ::-1].copy())


def vflip(img: Any) -> Any:
    """Mirror top-bottom."""
    x, back = planes(img)
    return back(x[..., ::-1, :].copy())


def inverse_affine_matrix(center: Sequence[float], angle: float, translate: Sequence[float], scale: float,
                          shear: Sequence[float]) -> list[float]:
    """The 2x3 matrix (row-major) taking output to input coordinates of torchvision's affine (degrees)."""
    # The forward map is M = T(translate) C R(angle) Sc(scale) Sh(shear) C^-1 (C: centre); we need M^-1.
    rot, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    (cx, cy), (tx, ty) = center, translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0]  # inverse of [[a, b], [c, d]], over scale
    m[2] = cx - m[0] * (cx + tx) - m[1] * (cy + ty)
    m[5] = cy - m[3] * (cx + tx) - m[4] * (cy + ty)
    return m


def warp(x: np.ndarray, matrix: Sequence[float], interpolation: Any = "nearest", fill: Any = 0) -> np.ndarray:
    """Sample x (..., H, W) at matrix @ (each output pixel's centred coordinates), torchvision's way."""
    mode = interpolation_mode(interpolation)
    h, w = x.shape[-2:]
    ys, xs = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    a, b, c, d, e, f = matrix
    sx = a * xs + b * ys + c + (w - 1) / 2  # source column / row of each output pixel
    sy = d * xs + e * ys + f + (h - 1) / 2
    src = x.astype(np.float64)
    value = _channel_fill(fill, x)

    def tap(col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
        return src[..., np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)], inside

    if mode is InterpolationMode.NEAREST:
        pixels, inside = tap(np.rint(sx).astype(np.int64), np.rint(sy).astype(np.int64))
        out = np.where(inside, pixels, value)
    else:
        x0, y0 = np.floor(sx), np.floor(sy)
        fx, fy = sx - x0, sy - y0
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        out, mask = np.zeros(src.shape), np.zeros(sx.shape)
        for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                               (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            pixels, inside = tap(x0 + dx, y0 + dy)
            weight = np.where(inside, weight, 0.0)  # zero padding: taps outside the image add nothing
            out += weight * pixels
            mask += weight
        # As torchvision: the zero-padded sample times the in-image fraction, plus fill for the rest.
        out = out * mask + (1 - mask) * value
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        out = np.rint(out)
    return out.astype(x.dtype)


def _center(center: Any, h: int, w: int) -> list[float]:
    # torchvision's convention: a given centre (x, y) in pixels is offset by half the size, not (size - 1) / 2.
    return [0.0, 0.0] if center is None else [float(center[0]) - w * 0.5, float(center[1]) - h * 0.5]


def rotate(img: Any, angle: float, interpolation: Any = "nearest", center: Any = None, fill: Any = 0) -> Any:
    """Rotate counter-clockwise by `angle` degrees about the centre (torchvision.transforms.functional.rotate)."""
    x, back = planes(img)
    h, w = x.shape[-2:]
    # torchvision's rotate negates the angle (its affine turns clockwise): kept, so results agree.
    matrix = inverse_affine_matrix(_center(center, h, w), -float(angle), (0.0, 0.0), 1.0, (0.0, 0.0))
    return back(warp(x, matrix, interpolation, fill))


def affine(img: Any, angle: float, translate: Sequence[float], scale: float, shear: Any,
           interpolation: Any = "nearest", fill: Any = 0, center: Any = None) -> Any:
    """torchvision.transforms.functional.affine: rotate (clockwise, degrees), scale, shear, then translate (pixels)."""
    if not isinstance(translate, Sequence) or len(translate) != 2:
        raise TypeError(f"affine: translate should be a sequence of length 2, got {translate!r}")
    if scale <= 0.0:
        raise ValueError(f"affine: scale should be positive, got {scale}")
    shear = [float(shear), 0.0] if isinstance(shear, numbers.Number) else [float(s) for s in shear]
    if len(shear) == 1:
        shear = [shear[0], 0.0]
    if len(shear) != 2:
        raise ValueError(f"affine: shear should be a number or a sequence of 1 or 2 values, got {shear}")
    x, back = planes(img)
    h, w = x.shape[-2:]
    matrix = inverse_affine_matrix(_center(center, h, w), float(angle), [float(t) for t in translate], float(scale),
                                   shear)
    return back(warp(x, matrix, interpolation, fill))
