"""ConcatDataset, Subset and random_split against torch.utils.data; MNIST / FashionMNIST with transforms."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch.utils.data as tud
from mnist_files import make_mnist

import minitorch as mt
from minitorch.data import (MNIST, ConcatDataset, DataLoader, Dataset, FashionMNIST, Subset, TensorDataset,
                            random_split)
from minitorch.data import transforms as T

# Captured before tests/data/conftest.py isolates every test from the machine's data folders.
_ENV = {k: os.environ.get(k) for k in ("MINITORCH_DATA", "HOME")}


class Items(Dataset):
    """Item i is (tag, i)."""

    def __init__(self, tag: str, n: int) -> None:
        self.tag, self.n = tag, n

    def __getitem__(self, i: int) -> tuple:
        if not -self.n <= i < self.n:
            raise IndexError(f"{self.tag}: {i}")
        return self.tag, i % self.n

    def __len__(self) -> int:
        return self.n


# -- ConcatDataset -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes", [[3], [2, 0, 4], [1, 1, 1, 5], [0, 3]])
def test_concat_matches_torch(sizes):
    parts = [Items(f"d{k}", n) for k, n in enumerate(sizes)]
    ours, theirs = ConcatDataset(parts), tud.ConcatDataset(parts)
    assert ours.cumulative_sizes == theirs.cumulative_sizes and len(ours) == len(theirs)
    n = len(theirs)
    for i in range(-n, n):
        assert ours[i] == theirs[i]
    for bad in (n, n + 3, -n - 1):
        with pytest.raises((IndexError, ValueError)):
            theirs[bad]  # torch: IndexError past the end, ValueError below -len
        with pytest.raises(IndexError, match=f"index {bad} is out of range for a dataset of length {n}"):
            ours[bad]
    assert list(ours) == [theirs[i] for i in range(n)]  # iteration stops at the IndexError


def test_concat_errors_plus_and_loader():
    with pytest.raises(ValueError, match="should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError):
        tud.ConcatDataset([])
    a, b = TensorDataset(np.arange(3.0), np.arange(3)), TensorDataset(np.arange(10.0, 12.0), np.arange(3, 5))
    both = a + b
    assert isinstance(both, ConcatDataset) and len(both) == 5 and both[-1][1] == 4
    batches = list(DataLoader(both, batch_size=2))
    assert [x.tolist() for x, _ in batches] == [[0.0, 1.0], [2.0, 10.0], [11.0]]
    assert [y.tolist() for _, y in batches] == [[0, 1], [2, 3], [4]]


# -- Subset and random_split ---------------------------------------------------------------------------------------
def test_subset_matches_torch():
    base = Items("x", 10)
    ours, theirs = Subset(base, [7, 2, 2, 9]), tud.Subset(base, [7, 2, 2, 9])
    assert len(ours) == len(theirs) and [ours[i] for i in range(-4, 4)] == [theirs[i] for i in range(-4, 4)]
    nested = Subset(ours, [3, 0])
    assert [nested[0], nested[1]] == [("x", 9), ("x", 7)]


@pytest.mark.parametrize("n, lengths", [(10, [0.7, 0.3]), (7, [0.1] * 10), (11, [0.34, 0.33, 0.33]), (5, [1.0]),
                                        (3, [0.5, 0.5, 0.0]), (10, [3, 7]), (0, [0, 0]), (9, [0.2, 0.2, 0.6])])
def test_random_split_sizes_and_index_sets_match_torch(n, lengths):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about empty splits
        theirs = tud.random_split(range(n), lengths)
    ours = random_split(range(n), lengths, generator=np.random.default_rng(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    flat = [i for s in ours for i in s.indices]
    assert sorted(flat) == list(range(n))  # disjoint, and together the whole dataset
    assert all(s.dataset == range(n) for s in ours)


@pytest.mark.parametrize("lengths", [[5, 6], [0.5, 0.6], [0.3, 0.3], [-1, 11], [1.2, -0.2]])
def test_random_split_refuses_what_torch_refuses(lengths):
    refused_by_torch = True
    try:
        tud.random_split(range(10), lengths)
        refused_by_torch = False
    except ValueError:
        pass
    with pytest.raises(ValueError):
        random_split(range(10), lengths)
    # deliberate: negative lengths give overlapping subsets in torch; minitorch refuses them
    assert refused_by_torch or any(v < 0 for v in lengths)


def test_random_split_is_seeded():
    split = lambda: [s.indices for s in random_split(range(20), [0.5, 0.25, 0.25])]  # noqa: E731
    mt.manual_seed(3)
    first = split()
    mt.manual_seed(3)
    assert split() == first
    assert split() != first  # the host generator moved on
    gen = lambda: mt.Generator().manual_seed(5)  # noqa: E731
    assert ([s.indices for s in random_split(range(20), [10, 10], generator=gen())] ==
            [s.indices for s in random_split(range(20), [10, 10], generator=gen())])


# -- MNIST with transforms -----------------------------------------------------------------------------------------
def test_mnist_to_tensor_items_like_torchvision(tmp_path: Path) -> None:
    make_mnist(tmp_path / "mnist", n_train=6)
    plain = MNIST(root=tmp_path)
    ds = MNIST(root=tmp_path, transform=T.ToTensor(), target_transform=lambda y: y + 100)
    for i in range(len(ds)):
        image, label = ds[i]
        assert isinstance(image, mt.Tensor) and tuple(image.shape) == (1, 28, 28) and image.dtype == mt.float32
        np.testing.assert_array_equal(image.numpy()[0], plain.images[i].astype(np.float32) / np.float32(255))
        assert label == int(plain.labels[i]) + 100
    # without transforms: as before, the standardised float32 image and an int label
    image, label = plain[0]
    assert isinstance(image, np.ndarray) and image.dtype == np.float32 and image.shape == (28, 28)
    assert isinstance(label, int)
    np.testing.assert_array_equal(image, plain.arrays()[0][0])
    np.testing.assert_array_equal(ds.arrays()[0], plain.arrays()[0])  # arrays() ignores transforms
    assert "transform=ToTensor()" in repr(ds) and "transform" not in repr(plain)


def test_a_transform_in_place_cannot_corrupt_the_dataset(tmp_path: Path) -> None:
    make_mnist(tmp_path / "mnist", n_train=3)

    def zero(image):
        image[...] = 0
        return image

    ds = MNIST(root=tmp_path, transform=zero)
    before = ds.images.copy()
    assert not ds[1][0].any()
    np.testing.assert_array_equal(ds.images, before)


@pytest.mark.parametrize("cls, folder", [(MNIST, "mnist"), (FashionMNIST, "fashion-mnist")])
def test_transformed_mnist_through_the_loader_is_collated(tmp_path: Path, cls, folder) -> None:
    make_mnist(tmp_path / folder, n_train=10)
    ds = cls(root=tmp_path, transform=T.Compose([T.ToTensor(), T.Normalize((cls.mean,), (cls.std,))]))
    loader = DataLoader(ds, batch_size=4)
    x, y = next(iter(loader))
    assert tuple(x.shape) == (4, 1, 28, 28) and x.dtype == mt.float32 and y.dtype == mt.int64
    assert loader._cache is None  # not the device-resident fast path: __getitem__ ran per item
    plain_loader = DataLoader(cls(root=tmp_path), batch_size=4)
    px, py = next(iter(plain_loader))
    np.testing.assert_allclose(x.numpy()[:, 0], px.numpy(), rtol=1e-5, atol=1e-5)  # same standardisation
    assert y.tolist() == py.tolist() and plain_loader._cache is not None
    only_target = DataLoader(cls(root=tmp_path, target_transform=lambda t: t * 2), batch_size=4)
    _, ty = next(iter(only_target))
    assert ty.tolist() == [2 * v for v in py.tolist()] and only_target._cache is None


def test_real_mnist_with_to_tensor(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _ENV.items():
        if value is not None:
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("MINITORCH_OFFLINE", "1")  # a real-data test must never download
    from helpers import real_mnist_root

    root = real_mnist_root()
    ds = MNIST(root=root, train=False, transform=T.ToTensor())
    image, label = ds[0]
    assert tuple(image.shape) == (1, 28, 28) and image.dtype == mt.float32 and label == 7  # MNIST's first test digit
    assert 0.0 <= float(image.min().item()) and float(image.max().item()) == 1.0
    assert len(ds) == 10000
