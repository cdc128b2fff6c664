"""torchvision-style transforms for the data a Dataset returns: Compose, ToTensor, Normalize, random crops,
flips, rotations and affine warps, Lambda.

Geometric transforms take NumPy images as a PIL image would be, (H, W) or (H, W, C), or Tensors
(..., H, W) as torchvision's tensor transforms do, and give back the same kind (geometry.py does
the work, sampling as torchvision does; nearest by default, bilinear on request). Random ones draw
from `generator` when given (a NumPy Generator or a minitorch.Generator), else from the host
generator that `minitorch.manual_seed` seeds, which each DataLoader worker re-seeds with its own
seed: the same seed gives the same augmented batches.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable, Sequence

import numpy as np

from .geometry import InterpolationMode, affine, crop, hflip, interpolation_mode, pad, planes, rotate, vflip

__all__ = ["Compose", "ToTensor", "Normalize", "Lambda", "RandomCrop", "RandomHorizontalFlip", "RandomVerticalFlip",
           "RandomRotation", "RandomAffine", "InterpolationMode"]


def _draws(generator: Any) -> Any:
    """Something with NumPy's random() / uniform() / integers(): the given generator's, or the host one."""
    if generator is None:
        from ..backends import host_rng

        return host_rng()  # looked up per call: manual_seed (and each worker) replaces it
    return generator if isinstance(generator, np.random.Generator) else _TorchStyleDraws(generator)


class _TorchStyleDraws:
    """NumPy's draw methods on a minitorch.Generator."""

    def __init__(self, generator: Any) -> None:
        self.generator = generator

    def random(self) -> float:
        from ..ops.random import rand

        return float(rand(1, generator=self.generator, dtype=np.float64).item())

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def integers(self, low: int, high: int) -> int:
        from ..ops.random import randint

        return int(randint(low, high, (1,), generator=self.generator).item())


class Compose:
    """Apply transforms one after the other."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + "".join(f"\n    {t}" for t in self.transforms) + "\n)"


class ToTensor:
    """A NumPy image (H, W) or (H, W, C) -> a Tensor (C, H, W); uint8 becomes float32 in [0, 1], as torchvision's."""

    def __call__(self, pic: Any) -> Any:
        from ..dtypes import get_default_dtype
        from ..tensor import Tensor

        if not isinstance(pic, np.ndarray):
            raise TypeError(f"ToTensor: pic should be a NumPy image of shape (H, W) or (H, W, C), got "
                            f"{type(pic).__name__}")
        if pic.ndim not in (2, 3):
            raise ValueError(f"ToTensor: pic should be 2/3 dimensional. Got {pic.ndim} dimensions (shape {pic.shape})")
        chw = np.ascontiguousarray((pic[:, :, None] if pic.ndim == 2 else pic).transpose(2, 0, 1))
        if chw.dtype == np.uint8:  # only bytes are rescaled, as in torchvision; other dtypes pass through
            dtype = np.dtype(get_default_dtype())
            chw = chw.astype(dtype) / dtype.type(255)
        return Tensor(chw, device="cpu")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Normalize:
    """(x - mean[c]) / std[c] for each channel c of a float Tensor (..., C, H, W)."""

    def __init__(self, mean: Any, std: Any, inplace: bool = False) -> None:
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, tensor: Any) -> Any:
        from ..tensor import Tensor

        if not isinstance(tensor, Tensor):
            raise TypeError(f"Normalize: img should be a Tensor image (..., C, H, W) (apply ToTensor() first), got "
                            f"{type(tensor).__name__}")
        if not np.issubdtype(tensor.dtype, np.floating):
            raise TypeError(f"Normalize: input tensor should be a float tensor. Got {tensor.dtype}.")
        if len(tensor.shape) < 3:
            raise ValueError(f"Normalize: expected a tensor image of size (..., C, H, W). Got tensor.size() = "
                             f"{tuple(tensor.shape)}")
        x = tensor.detach().numpy()
        mean, std = (np.asarray(v, dtype=x.dtype) for v in (self.mean, self.std))
        if (std == 0).any():
            raise ValueError(f"Normalize: std evaluated to zero after conversion to {x.dtype}, leading to division "
                             f"by zero (std={self.std})")
        mean, std = (v.reshape(-1, 1, 1) if v.ndim == 1 else v for v in (mean, std))
        try:
            out = (x - mean) / std
        except ValueError:
            raise RuntimeError(f"Normalize: mean of shape {np.shape(self.mean)} / std of shape {np.shape(self.std)} "
                               f"do not match the {x.shape[-3]} channels of the image (shape {x.shape})") from None
        if out.shape != x.shape:
            raise RuntimeError(f"Normalize: mean / std of shapes {mean.shape} / {std.shape} would change the image's "
                               f"shape {x.shape} to {out.shape}")
        if not self.inplace:
            return Tensor(out, device=tensor.device)
        from ..autograd import no_grad

        with no_grad():
            return tensor.copy_(Tensor(out, device=tensor.device))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


class Lambda:
    """A user function as a transform."""

    def __init__(self, lambd: Callable) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({getattr(self.lambd, '__qualname__', repr(self.lambd))})"


def _size2(size: Any) -> tuple[int, int]:
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) in (1, 2):
        return (int(size[0]), int(size[0])) if len(size) == 1 else (int(size[0]), int(size[1]))
    raise ValueError(f"Please provide only two dimensions (h, w) for size, got {size!r}")


class RandomCrop:
    """A random size[0] x size[1] window, after optional padding (and padding up to the size if pad_if_needed)."""

    def __init__(self, size: Any, padding: Any = None, pad_if_needed: bool = False, fill: Any = 0,
                 padding_mode: str = "constant", *, generator: Any = None) -> None:
        self.size = _size2(size)
        self.padding, self.pad_if_needed, self.fill, self.padding_mode = padding, pad_if_needed, fill, padding_mode
        self.generator = generator

    def get_params(self, img: Any) -> tuple[int, int, int, int]:
        """(top, left, height, width) of a random window of self.size inside img."""
        h, w = planes(img)[0].shape[-2:]
        th, tw = self.size
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than input image size {(h, w)}")
        if (h, w) == (th, tw):
            return 0, 0, h, w
        rng = _draws(self.generator)
        return int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1)), th, tw

    def __call__(self, img: Any) -> Any:
        if self.padding is not None:
            img = pad(img, self.padding, self.fill, self.padding_mode)
        h, w = planes(img)[0].shape[-2:]
        if self.pad_if_needed and w < self.size[1]:  # as torchvision: both sides by the shortfall
            img = pad(img, [self.size[1] - w, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and h < self.size[0]:
            img = pad(img, [0, self.size[0] - h], self.fill, self.padding_mode)
        return crop(img, *self.get_params(img))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror left-right with probability p."""

    flip = staticmethod(hflip)

    def __init__(self, p: float = 0.5, *, generator: Any = None) -> None:
        self.p, self.generator = p, generator

    def __call__(self, img: Any) -> Any:
        return self.flip(img) if _draws(self.generator).random() < self.p else img

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror top-bottom with probability p."""

    flip = staticmethod(vflip)


def _angles(x: Any, name: str, sizes: tuple[int, ...] = (2,)) -> list[float]:
    """torchvision's range argument: a number d means (-d, d), else a sequence of len in `sizes`."""
    if isinstance(x, numbers.Number):
        if x < 0:
            raise ValueError(f"If {name} is a single number, it must be positive.")
        return [-float(x), float(x)]
    if not isinstance(x, Sequence) or len(x) not in sizes:
        msg = " or ".join(str(s) for s in sizes)
        raise (TypeError if not isinstance(x, Sequence) else ValueError)(
            f"{name} should be a sequence of length {msg}, got {x!r}")
    return [float(d) for d in x]


class RandomRotation:
    """Rotate by an angle drawn uniformly from degrees (counter-clockwise), as torchvision's RandomRotation."""

    def __init__(self, degrees: Any, interpolation: Any = InterpolationMode.NEAREST, expand: bool = False,
                 center: Any = None, fill: Any = 0, *, generator: Any = None) -> None:
        if expand:
            raise NotImplementedError("RandomRotation: expand=True is not supported (the output keeps the input size)")
        self.degrees = _angles(degrees, "degrees")
        self.interpolation, self.expand = interpolation_mode(interpolation), expand
        if center is not None and (not isinstance(center, Sequence) or len(center) != 2):
            raise ValueError(f"center should be a sequence of length 2, got {center!r}")
        self.center, self.fill, self.generator = center, fill, generator

    def get_params(self) -> float:
        """A random angle in degrees."""
        return float(_draws(self.generator).uniform(*self.degrees))

    def __call__(self, img: Any) -> Any:
        return rotate(img, self.get_params(), self.interpolation, self.center, self.fill)

    def __repr__(self) -> str:
        center = "" if self.center is None else f", center={self.center}"
        return (f"{type(self).__name__}(degrees={self.degrees}, interpolation={self.interpolation.value}, "
                f"expand={self.expand}{center}, fill={self.fill})")


class RandomAffine:
    """A random rotation (clockwise, degrees), translation (fractions of the size), scale and shear."""

    def __init__(self, degrees: Any, translate: Any = None, scale: Any = None, shear: Any = None,
                 interpolation: Any = InterpolationMode.NEAREST, fill: Any = 0, center: Any = None, *,
                 generator: Any = None) -> None:
        self.degrees = _angles(degrees, "degrees")
        if translate is not None:
            _angles(translate, "translate")
            if not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError(f"translation values should be between 0 and 1, got {translate}")
        if scale is not None:
            _angles(scale, "scale")
            if not all(s > 0 for s in scale):
                raise ValueError(f"scale values should be positive, got {scale}")
        self.translate, self.scale = translate, scale
        self.shear = None if shear is None else _angles(shear, "shear", (2, 4))
        self.interpolation, self.fill, self.center = interpolation_mode(interpolation), fill, center
        self.generator = generator

    def get_params(self, width: int, height: int) -> tuple[float, tuple[int, int], float, tuple[float, float]]:
        """(angle, (tx, ty) in pixels, scale, (shear_x, shear_y)), drawn in torchvision's order."""
        rng = _draws(self.generator)
        angle = float(rng.uniform(*self.degrees))
        tx = ty = 0
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * width, self.translate[1] * height
            tx, ty = int(round(rng.uniform(-max_dx, max_dx))), int(round(rng.uniform(-max_dy, max_dy)))
        scale = 1.0 if self.scale is None else float(rng.uniform(*self.scale))
        shear = [0.0, 0.0]
        if self.shear is not None:
            shear[0] = float(rng.uniform(self.shear[0], self.shear[1]))
            if len(self.shear) == 4:
                shear[1] = float(rng.uniform(self.shear[2], self.shear[3]))
        return angle, (tx, ty), scale, (shear[0], shear[1])

    def __call__(self, img: Any) -> Any:
        h, w = planes(img)[0].shape[-2:]
        angle, translate, scale, shear = self.get_params(w, h)
        return affine(img, angle, translate, scale, shear, self.interpolation, self.fill, self.center)

    def __repr__(self) -> str:
        parts = [f"degrees={self.degrees}"]
        for name in ("translate", "scale", "shear", "center"):
            if getattr(self, name) is not None:
                parts.append(f"{name}={getattr(self, name)}")
        parts += [f"interpolation={self.interpolation.value}", f"fill={self.fill}"]
        return f"{type(self).__name__}({', '.join(parts)})"
