"""minitorch.data.transforms against torch (ToTensor / Normalize arithmetic, warps through torch's grid_sample
with torchvision's sampling convention) and against hand-computable geometry (rot90, integer shifts, flips)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import minitorch as mt
from minitorch.data import transforms as T
from minitorch.data.geometry import affine, hflip, pad, rotate, vflip


def _image(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, shape).astype(dtype) if dtype == np.uint8 else rng.uniform(-1, 1, shape).astype(dtype)


# -- ToTensor, Normalize, Lambda, Compose ------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (4, 6, 3)])
def test_to_tensor_matches_torchvision_arithmetic(shape):
    img = _image(shape)
    out = T.ToTensor()(img)
    hwc = torch.from_numpy(img if img.ndim == 3 else img[:, :, None])
    expected = hwc.permute(2, 0, 1).contiguous().to(torch.float32).div(255)  # torchvision's to_tensor on ndarray
    assert isinstance(out, mt.Tensor) and out.device == "cpu" and out.dtype == mt.float32
    assert tuple(out.shape) == tuple(expected.shape)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    assert 0.0 <= out.numpy().min() and out.numpy().max() <= 1.0


def test_to_tensor_keeps_other_dtypes_and_refuses_bad_input():
    img = _image((3, 4, 2), np.float64)
    out = T.ToTensor()(img)
    assert out.dtype == mt.float64 and tuple(out.shape) == (2, 3, 4)
    np.testing.assert_array_equal(out.numpy(), img.transpose(2, 0, 1))  # not rescaled, as torchvision
    with pytest.raises(ValueError, match="2/3 dimensional. Got 4"):
        T.ToTensor()(np.zeros((1, 2, 3, 4), np.uint8))
    with pytest.raises(TypeError, match="NumPy image"):
        T.ToTensor()(mt.zeros(3, 4))


@pytest.mark.parametrize("dtype, mt_dtype", [(np.float32, mt.float32), (np.float64, mt.float64)])
@pytest.mark.parametrize("mean, std", [((0.5, 0.2, -0.1), (0.2, 0.5, 2.0)), ([0.1307], [0.3081]), (0.5, 0.25)])
def test_normalize_matches_torch(dtype, mt_dtype, mean, std):
    channels = 3 if isinstance(mean, tuple) else 1
    x = _image((2, channels, 4, 5), dtype, seed=3)
    tdtype = torch.from_numpy(x).dtype
    m, s = torch.as_tensor(mean, dtype=tdtype), torch.as_tensor(std, dtype=tdtype)
    if m.ndim == 1:
        m, s = m.view(-1, 1, 1), s.view(-1, 1, 1)
    expected = torch.from_numpy(x).sub(m).div(s)  # torchvision's F.normalize
    out = T.Normalize(mean, std)(mt.tensor(x))
    assert out.dtype == mt_dtype
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_normalize_inplace_and_errors():
    t = mt.tensor(np.ones((1, 2, 2), np.float32))
    same = T.Normalize([0.5], [0.5], inplace=True)(t)
    assert same is t and t.numpy().tolist() == [[[1.0, 1.0], [1.0, 1.0]]]
    fresh = mt.tensor(np.ones((1, 2, 2), np.float32))
    other = T.Normalize([0.5], [0.5])(fresh)
    assert other is not fresh and fresh.numpy().max() == 1.0
    cases = [(mt.tensor(np.ones((1, 2, 2), np.uint8)), TypeError, "float tensor"),
             (mt.ones(2, 2), ValueError, "size \\(..., C, H, W\\)"),
             (np.ones((1, 2, 2), np.float32), TypeError, "Tensor image"),
             (mt.ones(3, 2, 2), RuntimeError, "channels")]
    for x, error, message in cases:
        with pytest.raises(error, match=message):
            T.Normalize([0.5, 0.5], [0.2, 0.2])(x)
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize([0.5], [0.0])(mt.ones(1, 2, 2))
    # torch raises for the same mismatched channel count
    with pytest.raises(RuntimeError):
        torch.ones(3, 2, 2).sub_(torch.tensor([0.5, 0.5]).view(-1, 1, 1))


def test_compose_lambda_and_reprs():
    tf = T.Compose([T.Lambda(lambda a: a + 1), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    out = tf(np.zeros((2, 2), np.uint8))
    np.testing.assert_allclose(out.numpy(), (1 / 255 - 0.5) / 0.5 * np.ones((1, 2, 2)), rtol=1e-6)
    text = repr(tf)
    assert text.startswith("Compose(\n    Lambda(") and "\n    ToTensor()\n" in text and text.endswith(")\n)")
    assert "Normalize(mean=(0.5,), std=(0.5,))" in text
    assert repr(T.RandomCrop(24, padding=4)) == "RandomCrop(size=(24, 24), padding=4)"
    assert repr(T.RandomHorizontalFlip(0.3)) == "RandomHorizontalFlip(p=0.3)"
    assert repr(T.RandomRotation(10)) == ("RandomRotation(degrees=[-10.0, 10.0], interpolation=nearest, "
                                          "expand=False, fill=0)")
    assert "translate=(0.1, 0.2)" in repr(T.RandomAffine(5, translate=(0.1, 0.2)))
    with pytest.raises(TypeError, match="should be callable"):
        T.Lambda(3)


def test_importable_as_minitorch_transforms():
    from minitorch import transforms

    assert transforms is T and mt.data.transforms is T and transforms.ToTensor is T.ToTensor


# -- geometry by hand --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(5, 5), (6, 6)])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_rotating_by_multiples_of_90_is_rot90(size, mode):
    img = _image(size)
    for k in (1, 2, 3, -1):
        out = rotate(img, 90 * k, mode)  # counter-clockwise, as torchvision and np.rot90
        np.testing.assert_array_equal(out, np.rot90(img, k))
    hwc = _image(size + (3,), seed=1)
    np.testing.assert_array_equal(rotate(hwc, 90, mode), np.rot90(hwc, 1, axes=(0, 1)))
    chw = mt.tensor(hwc.transpose(2, 0, 1).copy())  # a Tensor (C, H, W) is rotated in its last two axes
    out = rotate(chw, 90, mode)
    assert isinstance(out, mt.Tensor) and out.dtype == mt.uint8
    np.testing.assert_array_equal(out.numpy(), np.rot90(hwc, 1, axes=(0, 1)).transpose(2, 0, 1))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("tx, ty", [(2, 1), (-3, 0), (0, -2), (1, 1)])
def test_integer_translation_is_a_shift_with_fill(mode, tx, ty):
    img = _image((5, 7), np.float64, seed=2)
    expected = np.full_like(img, 9.0)
    h, w = img.shape
    expected[max(ty, 0):h + min(ty, 0), max(tx, 0):w + min(tx, 0)] = img[max(-ty, 0):h - max(ty, 0),
                                                                         max(-tx, 0):w - max(tx, 0)]
    np.testing.assert_allclose(affine(img, 0.0, (tx, ty), 1.0, 0.0, mode, fill=9.0), expected, atol=1e-12)


def test_flips_and_padding_modes():
    img = _image((3, 4))
    np.testing.assert_array_equal(hflip(img), img[:, ::-1])
    np.testing.assert_array_equal(vflip(img), img[::-1])
    row = np.array([[1, 2, 3]], np.uint8)
    assert pad(row, [2, 0], padding_mode="reflect").tolist() == [[3, 2, 1, 2, 3, 2, 1]]
    assert pad(row, [2, 0], padding_mode="symmetric").tolist() == [[2, 1, 1, 2, 3, 3, 2]]
    assert pad(row, [1, 0], padding_mode="edge").tolist() == [[1, 1, 2, 3, 3]]
    assert pad(row, (1, 1, 0, 0), fill=7).tolist() == [[7, 7, 7, 7], [7, 1, 2, 3]]  # (left, top, right, bottom)
    rgb = pad(np.zeros((1, 1, 3), np.uint8), 1, fill=(1, 2, 3))
    assert rgb.shape == (3, 3, 3) and rgb[0, 0].tolist() == [1, 2, 3] and rgb[1, 1].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="Padding must be an int or a 1, 2, or 4 element tuple"):
        pad(row, (1, 2, 3))
    with pytest.raises(ValueError, match="Padding mode"):
        pad(row, 1, padding_mode="wrap")


# -- warps against torch's grid_sample -----------------------------------------------------------------------------
def _forward_matrix(center, angle, translate, scale, shear):
    """torchvision's forward affine map M = T C R(angle) S(scale) SHy SHx C^-1 (its docstring's definition)."""
    a, sx, sy = (math.radians(v) for v in (angle, *shear))
    mat = lambda rows: np.array(rows + [[0, 0, 1]], dtype=np.float64)  # noqa: E731
    rotation = mat([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0]])
    shear_x, shear_y = mat([[1, -math.tan(sx), 0], [0, 1, 0]]), mat([[1, 0, 0], [-math.tan(sy), 1, 0]])
    move = lambda x, y: mat([[1, 0, x], [0, 1, y]])  # noqa: E731
    return (move(*translate) @ move(*center) @ rotation @ mat([[scale, 0, 0], [0, scale, 0]]) @ shear_y @ shear_x
            @ move(-center[0], -center[1]))


def _torch_warp(img_chw, inverse, mode, fill):
    """torchvision's _apply_grid_transform: grid_sample (align_corners=False, zero padding) on the image plus a
    ones channel, then fill blended in by that mask; `inverse` maps centred output to input pixel coordinates."""
    c, h, w = img_chw.shape
    theta = inverse[:2].copy()
    theta[0] *= np.array([1 / (w / 2), 1 / (w / 2), 1 / (w / 2)]) * np.array([w / 2, h / 2, 1])
    theta[1] *= np.array([1 / (h / 2), 1 / (h / 2), 1 / (h / 2)]) * np.array([w / 2, h / 2, 1])
    grid = torch.nn.functional.affine_grid(torch.from_numpy(theta)[None], [1, c, h, w], align_corners=False)
    x = torch.cat([torch.from_numpy(img_chw)[None], torch.ones(1, 1, h, w, dtype=torch.float64)], 1)
    out = torch.nn.functional.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)[0]
    img, mask = out[:-1], out[-1:].expand(c, h, w)
    if mode == "nearest":
        return torch.where(mask < 0.5, torch.full_like(img, fill), img).numpy()
    return (img * mask + (1 - mask) * fill).numpy()


# Generic angles: at exact half-pixel ties (30 degrees: sin = 0.5) nearest depends on the last bit of rounding.
CASES = [(31.7, (0, 0), 1.0, (0.0, 0.0)), (-17.5, (2, -1), 1.0, (0.0, 0.0)), (10.0, (1, 2), 0.8, (0.0, 0.0)),
         (43.0, (0, 0), 1.3, (12.0, 0.0)), (-5.0, (-2, 3), 1.1, (7.0, -9.0)), (123.0, (0, 1), 0.9, (0.0, 20.0))]


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("angle, translate, scale, shear", CASES)
@pytest.mark.parametrize("size", [(9, 9), (8, 11)])
def test_affine_matches_torch_grid_sample(mode, angle, translate, scale, shear, size):
    img = _image((2,) + size, np.float64, seed=5)
    h, w = size
    forward = _forward_matrix((0.0, 0.0), angle, translate, scale, shear)  # centred coordinates, centre at 0
    expected = _torch_warp(img, np.linalg.inv(forward), mode, fill=0.25)
    out = affine(mt.tensor(img), angle, translate, scale, shear, mode, fill=0.25).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-9)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("angle", [20.0, -33.0, 71.0])
def test_rotate_is_counter_clockwise_affine(mode, angle):
    img = _image((1, 10, 7), np.float64, seed=6)
    expected = _torch_warp(img, np.linalg.inv(_forward_matrix((0, 0), -angle, (0, 0), 1.0, (0, 0))), mode, 0.0)
    np.testing.assert_allclose(rotate(mt.tensor(img), angle, mode).numpy(), expected, atol=1e-9)
    # a pixel right of the centre moves up (counter-clockwise on screen) for a small positive angle
    dot = np.zeros((11, 11))
    dot[5, 9] = 1.0
    ys, xs = np.nonzero(rotate(dot, 30.0))
    assert ys[0] < 5 and xs[0] > 5


def test_uint8_bilinear_rounds_like_torchvision():
    img = _image((7, 7))
    out = rotate(img, 37.0, "bilinear")
    ref = rotate(img.astype(np.float64), 37.0, "bilinear")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.rint(ref).astype(np.uint8))


# -- random transforms ---------------------------------------------------------------------------------------------
def test_random_crop_is_a_window_of_the_padded_image():
    img = _image((6, 8))
    padded = np.pad(img, 2)
    mt.manual_seed(0)
    seen = set()
    for _ in range(30):
        out = T.RandomCrop((6, 8), padding=2)(img)
        hits = [(i, j) for i in range(5) for j in range(5) if np.array_equal(padded[i:i + 6, j:j + 8], out)]
        assert hits
        seen.add(hits[0])
    assert len(seen) > 5  # the window moves
    assert np.array_equal(T.RandomCrop((6, 8))(img), img)  # the whole image: nothing to draw
    out = T.RandomCrop(10, pad_if_needed=True, fill=255)(img)
    assert out.shape == (10, 10) and (out == 255).sum() >= 100 - 48
    with pytest.raises(ValueError, match="larger than input image size"):
        T.RandomCrop(7)(img)
    tensor = T.RandomCrop(4, padding=1)(mt.tensor(_image((3, 6, 8))))
    assert isinstance(tensor, mt.Tensor) and tuple(tensor.shape) == (3, 4, 4)


def test_flip_probability_and_seeding():
    img = _image((3, 4))
    assert all(np.array_equal(T.RandomHorizontalFlip(1.0)(img), img[:, ::-1]) for _ in range(5))
    assert all(np.array_equal(T.RandomVerticalFlip(0.0)(img), img) for _ in range(5))
    mt.manual_seed(1)
    flips = [not np.array_equal(T.RandomHorizontalFlip()(img), img) for _ in range(400)]
    assert 160 < sum(flips) < 240
    mt.manual_seed(1)
    assert flips[:50] == [not np.array_equal(T.RandomHorizontalFlip()(img), img) for _ in range(50)]


def test_random_rotation_and_affine_parameters():
    mt.manual_seed(2)
    angles = [T.RandomRotation((10, 30)).get_params() for _ in range(200)]
    assert 10 <= min(angles) and max(angles) <= 30 and max(angles) - min(angles) > 15
    ra = T.RandomAffine(5, translate=(0.1, 0.25), scale=(0.9, 1.1), shear=(-3, 3, 1, 2))
    for _ in range(200):
        angle, (tx, ty), scale, (shx, shy) = ra.get_params(20, 8)
        assert -5 <= angle <= 5 and 0.9 <= scale <= 1.1 and -3 <= shx <= 3 and 1 <= shy <= 2
        assert isinstance(tx, int) and abs(tx) <= 2 and abs(ty) <= 2
    for bad, error in [(dict(degrees=-1), ValueError), (dict(degrees=(1, 2, 3)), ValueError),
                       (dict(degrees=None), TypeError)]:
        with pytest.raises(error):
            T.RandomRotation(**bad)
    for kwargs, message in [(dict(translate=(0.1, 2)), "between 0 and 1"), (dict(scale=(0, 1)), "positive"),
                            (dict(shear=(1, 2, 3)), "shear should be a sequence of length 2 or 4")]:
        with pytest.raises(ValueError, match=message):
            T.RandomAffine(0, **kwargs)
    with pytest.raises(ValueError, match="interpolation"):
        T.RandomRotation(5, interpolation="bicubic")


@pytest.mark.parametrize("make", [lambda: np.random.default_rng(9), lambda: mt.Generator().manual_seed(9)],
                         ids=["numpy", "minitorch"])
def test_same_seed_same_augmentation(make):
    img = _image((12, 12, 3))
    pipeline = lambda gen: T.Compose([T.RandomCrop(10, padding=2, generator=gen),  # noqa: E731
                                      T.RandomHorizontalFlip(generator=gen),
                                      T.RandomAffine(20, (0.1, 0.1), (0.8, 1.2), 10, "bilinear", generator=gen),
                                      T.ToTensor()])
    outs = [[pipeline(gen)(img).numpy() for _ in range(4)] for gen in (make(), make())]
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(outs[0][0], outs[0][1])
    default = T.Compose([T.RandomRotation(30), T.RandomHorizontalFlip()])
    mt.manual_seed(4)
    first = [default(img) for _ in range(3)]
    mt.manual_seed(4)
    assert all(np.array_equal(a, default(img)) for a in first)


def test_tensor_transforms_keep_the_device(device):
    img = _image((3, 6, 6), np.float32, seed=7)
    x = mt.tensor(img, device=device)
    for tf, expected in [(lambda t: rotate(t, 90), np.rot90(img, 1, axes=(1, 2))), (hflip, img[..., ::-1]),
                         (T.Normalize((0.0, 1.0, 2.0), (1.0, 2.0, 4.0)),
                          (img - np.array([0, 1, 2], np.float32)[:, None, None])
                          / np.array([1, 2, 4], np.float32)[:, None, None])]:
        out = tf(x)
        assert out.device == device and out.dtype == mt.float32
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)
