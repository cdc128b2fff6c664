"""Helpers for tests (importable from any test module: pytest puts tests/ on sys.path)."""
from __future__ import annotations

import numpy as np

import minitorch as mt


def make(device: str, shape, low: float = -1.0, high: float = 1.0, seed: int = 0, requires_grad: bool = True,
         dtype=np.float64) -> mt.Tensor:
    """A random leaf tensor (float64 by default, for gradchecks) on `device`."""
    rng = np.random.default_rng(seed + 7919 * len(shape) + sum(shape))
    return mt.tensor(rng.uniform(low, high, size=shape).astype(dtype), device=device, requires_grad=requires_grad)


def away_from_zero(device: str, shape, seed: int = 0) -> mt.Tensor:
    """Random values in ±[0.2, 1]: keeps finite differences off the kinks of abs/relu/max."""
    rng = np.random.default_rng(seed + 31 * sum(shape))
    v = rng.uniform(0.2, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return mt.tensor(v, device=device, requires_grad=True)


def real_mnist_root() -> str:
    """The folder holding mnist/ where the library looks without a root ($MINITORCH_DATA, then the cache
    README's first command fills); skips the calling test with a reason naming those places."""
    import pytest

    from minitorch.data import DatasetNotFoundError
    from minitorch.data.download import locate
    from minitorch.data.sources import MNIST_SPEC, search_dirs
    try:
        folders = {locate(MNIST_SPEC, train, download=False)[0].parent for train in (True, False)}
    except DatasetNotFoundError:
        places = ", ".join(str(d) for d in search_dirs(MNIST_SPEC))
        pytest.skip(f"real MNIST not found; looked in {places} (set MINITORCH_DATA, or run README's first "
                    "command once: it downloads MNIST into ~/.cache/minitorch/datasets)")
    if len(folders) != 1:
        pytest.skip(f"the MNIST train and test files lie in different folders: {sorted(map(str, folders))}")
    return str(folders.pop().parent)


def write_fake_mnist(root) -> None:
    """Separable fake digits (class k lights up row 2k + 3) as real IDX files in root/mnist/: 600 train, 200 test."""
    from minitorch.data import write_idx
    rng = np.random.default_rng(0)
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for split, n in (("train", 600), ("t10k", 200)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        images[np.arange(n), labels * 2 + 3, :] = 255
        write_idx(folder / f"{split}-images-idx3-ubyte", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels)
