"""MNIST and Fashion-MNIST: 28x28 grey images in 10 classes, loaded from IDX files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .dataset import Dataset, TensorDataset
from .download import locate
from .idx import DataFileError, read_idx_checked
from .sources import FASHION_MNIST_SPEC, MNIST_SPEC, DatasetSpec, FileSpec

__all__ = ["MNIST", "FashionMNIST"]


def _load(path: Path, spec: FileSpec, dataset: str) -> np.ndarray:
    # Never more than the standard file's size (a bigger header is refused before anything is
    # read). A full-size file must be the standard one: this catches corruption the IDX header
    # cannot show, and the other dataset's file in the wrong folder; smaller ones are subsets or
    # fixtures. The MD5 is taken while the file streams in, so it costs no second read.
    md5 = hashlib.md5()
    array, header = read_idx_checked(path, spec.raw_size, md5)
    if len(header) + array.nbytes == spec.raw_size and md5.hexdigest() != spec.raw_md5:
        raise DataFileError(
            f"{path}: MD5 of the decompressed content is {md5.hexdigest()}, expected {spec.raw_md5} for "
            f"{dataset} {spec.name}; the file is corrupt or from another dataset. "
            "Delete it and fetch it again"
        )
    return array


class MNIST(Dataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 uint8.

    Without transforms, an item is (standardised float32 image (28, 28), int label), the rows of
    `arrays()`, which DataLoader gathers on the device. With `transform`, as in torchvision, it is
    (transform(raw uint8 image (28, 28)), target_transform(label)): `transform=ToTensor()` gives a
    (1, 28, 28) float32 Tensor in [0, 1]; such a dataset is collated item by item.
    """

    spec: DatasetSpec = MNIST_SPEC
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    # Pixel mean and std of the training images after /255; the test split uses them too.
    mean, std = 0.1307, 0.3081

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        self.train, self.transform, self.target_transform = train, transform, target_transform
        images_path, labels_path = locate(self.spec, train, root, download)
        images_spec, labels_spec = self.spec.split(train)
        self.images: np.ndarray = _load(images_path, images_spec, self.spec.name)
        labels = _load(labels_path, labels_spec, self.spec.name)
        self._check(images_path, labels_path, labels)
        self.labels: np.ndarray = labels.astype(np.int64)
        self.root = images_path.parent

    def _check(self, images_path: Path, labels_path: Path, labels: np.ndarray) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 3 or self.images.shape[1:] != (28, 28):
            raise DataFileError(f"{images_path}: expected uint8 images of shape (N, 28, 28), "
                                f"found {self.images.dtype} of shape {self.images.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise DataFileError(f"{labels_path}: expected uint8 labels of shape (N,), "
                                f"found {labels.dtype} of shape {labels.shape}")
        if len(labels) != len(self.images):
            raise DataFileError(f"{labels_path} holds {len(labels)} labels but {images_path} "
                                f"holds {len(self.images)} images")
        if len(labels) and labels.max() >= len(self.classes):
            raise DataFileError(f"{labels_path}: label {labels.max()} is out of range for "
                                f"{len(self.classes)} classes")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        label = int(self.labels[index])
        if self.target_transform is not None:
            label = self.target_transform(label)
        if self.transform is None:
            return self._standardise(self.images[index]), label
        return self.transform(self.images[index].copy()), label  # a copy: a transform may work in place

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        transforms = "".join(f", {name}={getattr(self, name)!r}" for name in ("transform", "target_transform")
                             if getattr(self, name) is not None)
        return f"{type(self).__name__}({split}, {len(self)} samples, from {self.root}{transforms})"

    def _standardise(self, images: np.ndarray) -> np.ndarray:
        # One float32 multiply-add, shared by __getitem__ and arrays() so they agree bit for bit.
        scale = np.float32(1.0 / (255.0 * self.std))
        shift = np.float32(self.mean / self.std)
        return images.astype(np.float32) * scale - shift

    def arrays(self, flatten: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(standardised float32 images (N, 28, 28), or (N, 784) if flatten; int64 labels (N,))."""
        images = self.images.reshape(len(self), -1) if flatten else self.images
        return self._standardise(images), self.labels

    def tensor_dataset(self, device: Any = None, flatten: bool = True) -> TensorDataset:
        """The whole split as a TensorDataset of Tensors on `device` (flattened for MLPs)."""
        from ..tensor import Tensor  # imported here: minitorch imports minitorch.data while initialising

        images, labels = self.arrays(flatten=flatten)
        return TensorDataset(Tensor(images, device=device), Tensor(labels, device=device))


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: MNIST's format and sizes, 10 kinds of clothing."""

    spec = FASHION_MNIST_SPEC
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    # Computed once from the training images (/255): mean 0.28604, std 0.35302.
    mean, std = 0.2860, 0.3530
