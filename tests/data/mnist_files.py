"""Tiny MNIST-format folders for the data tests, and where the real MNIST is (a helper module, not a test file)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from minitorch.data import DatasetNotFoundError
from minitorch.data.download import locate
from minitorch.data.idx import write_idx
from minitorch.data.sources import MNIST_SPEC, search_dirs

NAMES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def make_mnist(folder: Path, n_train: int = 6, n_test: int = 4, gz: bool = False, seed: int = 0) -> Path:
    """Write the four MNIST files with n_train / n_test random samples into `folder`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for train, n in ((True, n_train), (False, n_test)):
        images, labels = NAMES[train]
        write_idx(folder / (images + suffix), rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / (labels + suffix), rng.integers(0, 10, n, dtype=np.uint8))
    return folder


def _find_real_mnist() -> tuple[dict[bool, Path], str]:
    """{train: folder} of the real MNIST found where the library looks without a root ($MINITORCH_DATA,
    then the cache README's first command fills), and, when a split is missing, a skip reason naming
    those places. Called at import, before the tests' isolation replaces HOME and MINITORCH_DATA."""
    folders: dict[bool, Path] = {}
    try:
        for train in (True, False):
            folders[train] = locate(MNIST_SPEC, train, download=False)[0].parent
        return folders, ""
    except DatasetNotFoundError:
        env = os.environ.get("MINITORCH_DATA")
        places = ", ".join(str(d) for d in search_dirs(MNIST_SPEC))
        return {}, (f"real MNIST not found (MINITORCH_DATA is {'set' if env else 'unset'}); looked in {places}. "
                    "README's first command (python train.py) downloads it into ~/.cache/minitorch/datasets")


REAL_MNIST, REAL_MNIST_MISSING = _find_real_mnist()
