"""The MNIST / Fashion-MNIST dataset objects, on tiny generated files and on the real data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import mnist_files
from mnist_files import NAMES, REAL_MNIST, REAL_MNIST_MISSING, make_mnist

from minitorch.data import MNIST, DataFileError, FashionMNIST
from minitorch.data.idx import read_idx_bytes, write_idx


def test_arrays_and_items_agree(tmp_path: Path) -> None:
    make_mnist(tmp_path / "mnist", n_train=5)
    ds = MNIST(root=tmp_path)
    assert ds.images.dtype == np.uint8 and ds.images.shape == (5, 28, 28)
    assert ds.labels.dtype == np.int64 and ds.labels.shape == (5,)
    x, y = ds.arrays()
    flat, y2 = ds.arrays(flatten=True)
    assert x.dtype == np.float32 and x.shape == (5, 28, 28) and flat.shape == (5, 784)
    np.testing.assert_array_equal(y, y2)
    for i in range(len(ds)):
        image, label = ds[i]
        assert image.dtype == np.float32 and isinstance(label, int) and label == ds.labels[i]
        np.testing.assert_array_equal(image, x[i])  # bit for bit: one shared formula
        np.testing.assert_array_equal(image.ravel(), flat[i])
    expected = (ds.images[0] / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(x[0], expected, rtol=1e-5, atol=1e-5)
    assert len(ds.classes) == 10 and "5 train" not in repr(ds) and "5 samples" in repr(ds)


def test_fashion_folder_and_constants(tmp_path: Path) -> None:
    make_mnist(tmp_path / "fashion-mnist", n_test=3)
    make_mnist(tmp_path / "mnist", n_test=2)
    ds = FashionMNIST(root=tmp_path, train=False)
    assert len(ds) == 3 and ds.classes[9] == "Ankle boot"
    assert (ds.mean, ds.std) == (0.2860, 0.3530)
    assert ds.root == tmp_path / "fashion-mnist"


def _replace(folder: Path, name: str, array: np.ndarray) -> None:
    (folder / name).unlink()
    write_idx(folder / name, array)


def test_label_count_mismatch_names_both_files(tmp_path: Path) -> None:
    folder = make_mnist(tmp_path / "mnist", n_train=4)
    _replace(folder, NAMES[True][1], np.zeros(3, np.uint8))
    with pytest.raises(DataFileError, match=r"train-labels-idx1-ubyte holds 3 labels but .*"
                                            r"train-images-idx3-ubyte holds 4 images"):
        MNIST(root=tmp_path)


@pytest.mark.parametrize("name, array, message", [
    (NAMES[True][0], np.zeros((2, 28, 27), np.uint8), r"images of shape \(N, 28, 28\)"),
    (NAMES[True][0], np.zeros((2, 28, 28), np.float32), "found float32"),
    (NAMES[True][1], np.zeros((2, 1), np.uint8), r"labels of shape \(N,\)"),
    (NAMES[True][1], np.array([3, 10], np.uint8), "label 10 is out of range for 10 classes"),
])
def test_wrong_content_rejected(tmp_path: Path, name: str, array: np.ndarray, message: str) -> None:
    folder = make_mnist(tmp_path / "mnist", n_train=2)
    _replace(folder, name, array)
    with pytest.raises(DataFileError, match=message) as err:
        MNIST(root=tmp_path)
    assert name in str(err.value)


def test_tensor_dataset(tmp_path: Path) -> None:
    make_mnist(tmp_path / "mnist", n_train=3)
    td = MNIST(root=tmp_path).tensor_dataset(device="cpu")
    images, labels = td.tensors
    assert images.shape == (3, 784) and str(images.dtype) == "float32"
    assert labels.shape == (3,) and str(labels.dtype) == "int64" and images.device == "cpu"


# -- the real files, where the library finds them: $MINITORCH_DATA (CI sets it) or the cache ----
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_is_looked_for_where_the_library_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real-data tests find MNIST in the cache that README's first command fills (not only in
    $MINITORCH_DATA), and when they skip, the reason names the places they looked."""
    cache = tmp_path / "home/.cache/minitorch/datasets"
    folders, reason = mnist_files._find_real_mnist()  # under the isolation: nothing anywhere
    assert folders == {} and "MINITORCH_DATA is unset" in reason and f"{cache / 'mnist'}, {cache}" in reason
    make_mnist(cache / "mnist", gz=True)
    assert mnist_files._find_real_mnist() == ({True: cache / "mnist", False: cache / "mnist"}, "")
    make_mnist(tmp_path / "env/mnist")
    monkeypatch.setenv("MINITORCH_DATA", str(tmp_path / "env"))
    assert mnist_files._find_real_mnist()[0][False] == tmp_path / "env/mnist"  # $MINITORCH_DATA first


@pytest.mark.skipif(not REAL_MNIST, reason=REAL_MNIST_MISSING)
@pytest.mark.parametrize("train", [True, False])
def test_real_mnist(monkeypatch: pytest.MonkeyPatch, train: bool) -> None:
    monkeypatch.setenv("MINITORCH_OFFLINE", "1")  # a real-data test must never download
    ds = MNIST(root=REAL_MNIST[train], train=train)
    n, counts = (60000, TRAIN_COUNTS) if train else (10000, TEST_COUNTS)
    assert ds.images.shape == (n, 28, 28) and ds.labels.shape == (n,)
    assert ds.labels.min() == 0 and ds.labels.max() == 9
    assert np.bincount(ds.labels).tolist() == counts
    images = ds.spec.split(train)[0]
    path = next(ds.root.glob(images.name + "*"))
    assert hashlib.md5(read_idx_bytes(path)).hexdigest() == images.raw_md5
    if train:  # the standardisation constants are this split's statistics
        x, _ = ds.arrays()
        assert abs(x.mean()) < 1e-3 and abs(x.std() - 1) < 1e-3
