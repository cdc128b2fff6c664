"""Tiny MNIST-format folders for the data tests (a helper module, not a test file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from minitorch.data.idx import write_idx

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
