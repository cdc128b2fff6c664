"""DataLoader: batching, seeded shuffling, devices, and the fast and collated paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mnist_files import make_mnist

from minitorch import Tensor, manual_seed
from minitorch.data import MNIST, DataLoader, Dataset, TensorDataset


def _data(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)  # row i starts with 3*i: its identity
    return x, np.arange(n, dtype=np.int64)


def _ids(batch: tuple) -> list[int]:
    return batch[1].numpy().tolist()


class Rows(Dataset):
    """A generic dataset (no arrays()): samples built one by one."""

    def __init__(self, n: int) -> None:
        self.x, self.y = _data(n)

    def __getitem__(self, i: int) -> tuple:
        return self.x[i], int(self.y[i])

    def __len__(self) -> int:
        return len(self.y)


@pytest.mark.parametrize("make", [lambda n: TensorDataset(*_data(n)), Rows], ids=["fast", "collated"])
@pytest.mark.parametrize("drop_last, sizes", [(False, [4, 4, 2]), (True, [4, 4])])
def test_batches_and_last_batch(make, drop_last: bool, sizes: list[int]) -> None:
    loader = DataLoader(make(10), batch_size=4, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == len(sizes)
    assert [len(_ids(b)) for b in batches] == sizes
    assert sum((_ids(b) for b in batches), []) == list(range(sum(sizes)))  # in order
    x, y = batches[0]
    assert isinstance(x, Tensor) and isinstance(y, Tensor)
    assert x.shape == (4, 3) and str(x.dtype) == "float32" and str(y.dtype) == "int64"
    np.testing.assert_array_equal(x.numpy()[:, 0], 3 * y.numpy())  # rows stay paired
    assert not x.requires_grad


def test_len_edge_cases() -> None:
    assert len(DataLoader(TensorDataset(*_data(8)), batch_size=4)) == 2
    assert len(DataLoader(TensorDataset(*_data(3)), batch_size=4, drop_last=True)) == 0
    assert list(DataLoader(TensorDataset(*_data(3)), batch_size=4, drop_last=True)) == []
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            DataLoader(TensorDataset(*_data(3)), batch_size=bad)


@pytest.mark.parametrize("make", [lambda n: TensorDataset(*_data(n)), Rows], ids=["fast", "collated"])
def test_shuffle_seeded_fresh_each_epoch_every_index_once(make) -> None:
    def epochs(seed: int) -> list[list[int]]:
        manual_seed(seed)
        loader = DataLoader(make(50), batch_size=8, shuffle=True)
        return [sum((_ids(b) for b in loader), []) for _ in range(3)]

    first = epochs(0)
    assert epochs(0) == first  # reproducible from the seed
    assert epochs(1) != first
    for order in first:
        assert sorted(order) == list(range(50))  # a permutation: every index exactly once
    assert first[0] != first[1] != first[2]  # a fresh order each epoch


def test_explicit_generator_and_resume() -> None:
    loader = DataLoader(TensorDataset(*_data(30)), batch_size=7, shuffle=True,
                        generator=np.random.default_rng(123))
    epoch = lambda: sum((_ids(b) for b in loader), [])  # noqa: E731
    epoch()
    state = loader.generator.bit_generator.state  # what a checkpoint stores after epoch 1
    expected = [epoch(), epoch()]
    loader.generator.bit_generator.state = state  # resume
    assert [epoch(), epoch()] == expected


def test_default_generator_follows_manual_seed() -> None:
    loader = DataLoader(TensorDataset(*_data(5)), shuffle=True)
    manual_seed(3)
    g = loader.generator
    manual_seed(3)
    assert loader.generator is not g  # manual_seed replaced it; the loader sees the new one


def test_fast_and_collated_paths_agree() -> None:
    def order(ds) -> list[int]:
        manual_seed(7)
        return sum((_ids(b) for b in DataLoader(ds, batch_size=3, shuffle=True)), [])

    assert order(TensorDataset(*_data(20))) == order(Rows(20))


@pytest.mark.parametrize("shuffle", [False, True])
def test_device_placement(device: str, shuffle: bool) -> None:
    x, y = _data(9)
    sources = [TensorDataset(x, y), TensorDataset(Tensor(x), Tensor(y)), Rows(9)]
    for ds in sources:
        batches = list(DataLoader(ds, batch_size=4, shuffle=shuffle, device=device))
        for bx, by in batches:
            assert bx.device == by.device == device
            assert str(bx.dtype) == "float32" and str(by.dtype) == "int64"
            np.testing.assert_array_equal(bx.numpy()[:, 0], 3 * by.numpy())
        assert sorted(sum((_ids(b) for b in batches), [])) == list(range(9))


def test_fast_path_converts_once_and_slices_on_device(device: str) -> None:
    loader = DataLoader(TensorDataset(*_data(12)), batch_size=5, shuffle=True, device=device)
    list(loader)
    backend, arrays = loader._cache
    list(loader)
    assert loader._cache[1] is arrays  # the same device arrays serve every epoch
    assert type(arrays[0]).__module__.split(".")[0] == type(backend.xp.asarray(0)).__module__.split(".")[0]


def test_tensor_dataset_length_mismatch() -> None:
    with pytest.raises(ValueError, match=r"same first dimension.*lengths \[4, 3\].*\(4, 2\), \(3,\)"):
        TensorDataset(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="first \\(sample\\) dimension"):
        TensorDataset(np.float32(1.0))


def test_tensor_dataset_items() -> None:
    ds = TensorDataset(*_data(4))
    assert len(ds) == 4 and ds[2][1] == 2
    td = TensorDataset(Tensor(_data(4)[0]))
    assert len(td) == 4 and isinstance(td[1][0], Tensor) and td[1][0].shape == (3,)
    (batch,) = next(iter(DataLoader(td, batch_size=4)))  # one tensor: batches are 1-tuples
    assert batch.shape == (4, 3)


def test_single_value_samples_and_python_scalars() -> None:
    class Scalars(Dataset):
        def __getitem__(self, i: int) -> float:
            return float(i) / 2

        def __len__(self) -> int:
            return 5

    batch = next(iter(DataLoader(Scalars(), batch_size=5)))
    assert isinstance(batch, Tensor) and str(batch.dtype) == "float32"
    np.testing.assert_array_equal(batch.numpy(), np.arange(5) / 2)


def test_mnist_through_the_loader(tmp_path: Path) -> None:
    make_mnist(tmp_path / "mnist", n_train=10)
    ds = MNIST(root=tmp_path)
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 28, 28) and y.shape == (4,)
    np.testing.assert_array_equal(x.numpy()[1], ds[1][0])

    class Augmented(MNIST):  # overrides __getitem__ only: must not take the fast path
        def __getitem__(self, i: int) -> tuple:
            image, label = super().__getitem__(i)
            return image * 0, label

    x, _ = next(iter(DataLoader(Augmented(root=tmp_path), batch_size=4)))
    assert not x.numpy().any()
    flat, _ = next(iter(DataLoader(ds.tensor_dataset(), batch_size=4)))
    assert flat.shape == (4, 784)


def test_batches_are_copies_not_views() -> None:
    x, y = _data(6)
    for shuffle in (False, True):
        bx, _ = next(iter(DataLoader(TensorDataset(x, y), batch_size=6, shuffle=shuffle)))
        bx.array[...] = -1  # an in-place change to a batch...
        assert x.min() == 0  # ...leaves the dataset alone
