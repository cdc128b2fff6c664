"""DataLoader's PyTorch keywords: num_workers (real worker processes), pin_memory, samplers, collate_fn,
persistent_workers, timeout; Subset and random_split; minitorch.utils.data."""

from __future__ import annotations

import os
import random
import time

import numpy as np
import pytest

import minitorch as mt
from minitorch.backends.cupy_backend import PinnedStaging
from minitorch.data import DataLoader, Dataset, Subset, TensorDataset, get_worker_info, random_split


class Rows(Dataset):
    """A collated dataset: sample i is (row i of x, i)."""

    def __init__(self, n: int = 20) -> None:
        self.x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)

    def __getitem__(self, i: int) -> tuple:
        return self.x[i], i

    def __len__(self) -> int:
        return len(self.x)


class WhoAmI(Rows):
    """Sample i records which worker built it, and a draw from Python's and minitorch's generators."""

    def __getitem__(self, i: int) -> tuple:
        info = get_worker_info()
        return (i, -1 if info is None else info.id, random.random(), float(mt.rand(1).item()), os.getpid(),
                np.random.random())


class Failing(Rows):
    def __getitem__(self, i: int) -> tuple:
        if i == 5:
            raise KeyError(f"no sample {i}")
        return super().__getitem__(i)


class Dies(Rows):
    def __getitem__(self, i: int) -> tuple:
        os._exit(3)


class Slow(Rows):
    def __getitem__(self, i: int) -> tuple:
        time.sleep(3)
        return super().__getitem__(i)


def _ids(loader) -> list[int]:
    return [int(i) for batch in loader for i in batch[1].tolist()]


def test_torch_keywords_are_accepted_with_their_defaults():
    ds = Rows(10)
    loader = DataLoader(ds, batch_size=4, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                        collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                        multiprocessing_context=None, generator=None, prefetch_factor=None, persistent_workers=False,
                        pin_memory_device="", in_order=True)
    assert _ids(loader) == list(range(10))


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_workers=-1), "num_workers option should be a non-negative integer"),
    (dict(num_workers=1.5), "num_workers option should be a non-negative integer"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified in multiprocessing"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(sampler=[0, 1], shuffle=True), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0, 1]], batch_size=2), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None), "batch_size=None"),
])
def test_values_we_cannot_honour_raise_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(Rows(4), **kwargs)


def test_workers_give_the_same_batches_in_the_same_order():
    def epochs(workers: int) -> list:
        mt.manual_seed(3)
        loader = DataLoader(Rows(23), batch_size=4, shuffle=True, num_workers=workers)
        out = []
        for _ in range(2):
            batches = list(loader)
            out.append([(b[0].numpy().tolist(), b[1].numpy().tolist(), str(b[0].dtype), str(b[1].dtype))
                        for b in batches])
        return out

    assert epochs(2) == epochs(0)


def test_each_batch_goes_to_worker_i_mod_n_and_workers_are_seeded():
    def run() -> list:
        mt.manual_seed(11)
        loader = DataLoader(WhoAmI(12), batch_size=2, num_workers=3, prefetch_factor=1)
        return [tuple(f.tolist() for f in batch) for batch in loader]

    first = run()
    assert [b[1] for b in first] == [[w, w] for w in (0, 1, 2, 0, 1, 2)]  # batch i -> worker i % 3
    assert len({b[4][0] for b in first} - {os.getpid()}) == 3               # three other processes
    again = run()
    for k in (2, 3, 5):  # Python's random, minitorch's generator, NumPy's global generator
        assert [b[k] for b in again] == [b[k] for b in first]  # seeded: the same draws again...
        assert len({b[k][0] for b in first[:3]}) == 3          # ...but a different seed per worker


def test_worker_init_fn_runs_in_each_worker(tmp_path):
    def init(worker_id: int) -> None:
        (tmp_path / f"worker{worker_id}").write_text(str(get_worker_info().num_workers))

    list(DataLoader(Rows(8), batch_size=2, num_workers=2, worker_init_fn=init))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worker0", "worker1"]
    assert (tmp_path / "worker1").read_text() == "2"
    assert get_worker_info() is None  # in the main process


def test_an_exception_in_a_worker_is_raised_with_its_type_and_traceback():
    with pytest.raises(KeyError, match="(?s)DataLoader worker process .*no sample 5"):
        list(DataLoader(Failing(10), batch_size=2, num_workers=2))


def test_timeout():
    with pytest.raises(RuntimeError, match="timed out after 0.5 seconds"):
        next(iter(DataLoader(Slow(4), batch_size=2, num_workers=1, timeout=0.5)))


def test_a_worker_that_dies_is_reported(monkeypatch):
    from minitorch.data import workers
    monkeypatch.setattr(workers, "_POLL_S", 0.2)
    with pytest.raises(RuntimeError, match="DataLoader worker \\(pid \\d+\\) exited unexpectedly with exit code 3"):
        list(DataLoader(Dies(4), batch_size=2, num_workers=2))


def test_persistent_workers_survive_epochs_and_abandoned_iterations():
    loader = DataLoader(WhoAmI(8), batch_size=2, num_workers=2, persistent_workers=True)
    first = list(loader)
    pids = {int(b[4][0]) for b in first}
    it = iter(loader)
    next(it)  # abandon this epoch after one batch: its other batches must not leak into the next
    del it
    again = list(loader)
    assert {int(b[4][0]) for b in again} == pids
    assert [b[0].tolist() for b in again] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    loader._pool.shutdown()


def test_fast_path_ignores_workers_and_stays_in_process():
    x, y = Rows(10).x, np.arange(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, num_workers=4, persistent_workers=True)
    assert _ids(loader) == list(range(10)) and loader._pool is None


def test_collate_fn_and_dict_samples(device):
    class Dicts(Rows):
        def __getitem__(self, i: int) -> dict:
            return {"x": self.x[i], "label": i}

    batch = next(iter(DataLoader(Dicts(6), batch_size=3, device=device)))
    assert set(batch) == {"x", "label"} and batch["x"].shape == (3, 3) and batch["x"].device == device
    assert batch["label"].tolist() == [0, 1, 2] and batch["label"].dtype == mt.int64

    def collate(samples):  # a custom collate_fn: its result is yielded as it is, Tensors moved to `device`
        xs, ys = zip(*samples)
        return {"x": mt.tensor(np.stack(xs)) * 2, "n": len(ys)}

    for workers in (0, 2):
        batch = next(iter(DataLoader(Rows(6), batch_size=3, collate_fn=collate, device=device, num_workers=workers)))
        assert batch["n"] == 3 and batch["x"].device == device
        np.testing.assert_array_equal(batch["x"].numpy(), Rows(6).x[:3] * 2)


def test_sampler_and_batch_sampler():
    assert _ids(DataLoader(Rows(10), batch_size=3, sampler=[9, 0, 8, 1])) == [9, 0, 8, 1]
    loader = DataLoader(Rows(10), batch_sampler=[[3, 4], [0], [9, 8, 7]])
    assert len(loader) == 3 and [b[1].tolist() for b in loader] == [[3, 4], [0], [9, 8, 7]]
    ds = TensorDataset(Rows(10).x, np.arange(10))  # the fast path follows samplers too
    assert [b[1].tolist() for b in DataLoader(ds, batch_sampler=[[3, 4], [0]])] == [[3, 4], [0]]
    assert len(DataLoader(ds, batch_size=3, sampler=range(7), drop_last=True)) == 2


def test_pin_memory_without_cuda_is_a_no_op(device):
    plain = list(DataLoader(Rows(9), batch_size=4, device=device))
    pinned = list(DataLoader(Rows(9), batch_size=4, device=device, pin_memory=True))
    for a, b in zip(plain, pinned):
        assert a[0].tolist() == b[0].tolist() and a[0].device == b[0].device == device


class FakePinner:
    """Stands in for the CUDA backend: records what it pins."""

    def __init__(self) -> None:
        self.pinned: list = []

    def pin(self, array):
        out = np.array(array, copy=True)
        self.pinned.append(out)
        return out


@pytest.mark.parametrize("make", [Rows, lambda n: TensorDataset(Rows(n).x, np.arange(n))], ids=["collated", "fast"])
def test_pin_memory_puts_cpu_batches_in_pinned_memory(monkeypatch, make):
    pinner = FakePinner()
    monkeypatch.setattr(DataLoader, "_pinner", lambda self, backend: pinner)
    batches = list(DataLoader(make(6), batch_size=4, pin_memory=True))
    arrays = [t.array for b in batches for t in b]
    assert len(pinner.pinned) == 4 and all(any(a is p for p in pinner.pinned) for a in arrays)
    assert batches[1][1].tolist() == [4, 5] and batches[0][0].device == "cpu"


def test_pinned_arrays_are_copied_from_directly_and_kept_alive_until_their_copy_is_done():
    events = []

    class Event:
        done = False

    class DeviceArray(np.ndarray):
        def set(self, host, stream=None):
            self[...] = host

    def record():
        events.append(Event())
        return events[-1]

    import types
    stream = types.SimpleNamespace(record=record)
    cuda = types.SimpleNamespace(alloc_pinned_memory=lambda n: bytearray(n), get_current_stream=lambda: stream)
    empty = lambda shape, dtype: np.empty(shape, dtype).view(DeviceArray)  # noqa: E731
    staging = PinnedStaging(types.SimpleNamespace(cuda=cuda, empty=empty))
    pinned = staging.pin(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert staging.is_pinned(pinned) and not staging.is_pinned(np.zeros(3))
    out = staging.upload(pinned)
    np.testing.assert_array_equal(np.asarray(out), pinned)
    assert len(staging.in_flight) == 1               # no staging buffer: copied straight from the pinned array
    assert staging.in_flight[0][1] is pinned         # held until its copy completes...
    events[0].done = True
    staging.upload(staging.pin(np.zeros(1, np.float32)))
    assert all(src is not pinned for _, src in staging.in_flight)  # ...and released after


def test_subset_and_random_split():
    ds = Rows(10)
    sub = Subset(ds, [7, 2])
    assert len(sub) == 2 and sub[0][1] == 7
    mt.manual_seed(0)
    a, b = random_split(ds, [0.7, 0.3])
    mt.manual_seed(0)
    a2, b2 = random_split(ds, [7, 3])
    assert a.indices == a2.indices and len(b) == 3 and sorted(a.indices + b.indices) == list(range(10))
    parts = random_split(range(10), [0.34, 0.33, 0.33], generator=np.random.default_rng(1))
    assert [len(p) for p in parts] == [4, 3, 3]
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(ds, [5, 6])


def test_subset_of_an_array_dataset_takes_the_fast_path():
    x, y = Rows(10).x, np.arange(10)
    fast = Subset(TensorDataset(x, y), [5, 1, 8])
    slow = Subset(Rows(10), [5, 1, 8])
    assert [b[1].tolist() for b in DataLoader(fast, batch_size=2)] == [[5, 1], [8]]
    assert [b[0].tolist() for b in DataLoader(fast, batch_size=2)] == [b[0].tolist() for b in DataLoader(slow, 2)]
    assert DataLoader(fast, batch_size=2)._cache is None  # filled on first iteration...
    loader = DataLoader(fast, batch_size=2)
    list(loader)
    assert loader._cache is not None                       # ...by the fast path


def test_utils_data_is_minitorch_data():
    import minitorch.utils.data as utils_data
    from minitorch.utils.data import DataLoader as UtilsLoader
    from minitorch.utils.data.dataloader import DataLoader as SubmoduleLoader
    from minitorch.utils.data.dataset import Dataset as UtilsDataset

    assert utils_data is mt.data and mt.utils.data is mt.data
    assert UtilsLoader is SubmoduleLoader is DataLoader and UtilsDataset is Dataset


def test_minitorch_generators_drive_random_split_and_shuffling():
    ds = Rows(10)
    split = lambda: random_split(ds, [0.8, 0.2], generator=mt.Generator().manual_seed(42))  # noqa: E731
    assert [s.indices for s in split()] == [s.indices for s in split()]
    order = lambda workers: _ids(DataLoader(ds, batch_size=3, shuffle=True, num_workers=workers,  # noqa: E731
                                            generator=mt.Generator().manual_seed(7)))
    assert order(0) == order(2) and sorted(order(0)) == list(range(10))


def test_array_backed_datasets_build_their_arrays_once_per_loader():
    class Counting(TensorDataset):
        calls = 0

        def arrays(self):
            Counting.calls += 1
            return super().arrays()

    loader = DataLoader(Subset(Counting(Rows(6).x, np.arange(6)), [4, 2, 0]), batch_size=2, shuffle=True)
    for _ in range(3):
        assert sorted(_ids(loader)) == [0, 2, 4]
    assert Counting.calls == 1
