"""DataLoader against torch.utils.data.DataLoader's option semantics, and its worker processes under failure:
an exception at one index, a worker killed by a signal, loops left early, Ctrl-C and a killed parent process
(no worker may survive; every wait here is bounded)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import minitorch as mt
from minitorch.data import DataLoader, Dataset, get_worker_info
from minitorch.data import transforms as T

GUARD_S = 30  # DataLoader(timeout=...) on every worker loader here: a bug must fail the test, not hang it


class Ids(Dataset):
    """Item i is (i, the pid of the process that built it)."""

    def __init__(self, n: int = 12) -> None:
        self.n = n

    def __getitem__(self, i: int) -> tuple:
        return i, os.getpid()

    def __len__(self) -> int:
        return self.n


class BrokenAt7(Ids):
    def __getitem__(self, i: int) -> tuple:
        if i == 7:
            raise ValueError(f"sample {i} is unreadable")
        return super().__getitem__(i)


class KilledAt3(Ids):
    def __getitem__(self, i: int) -> tuple:
        if i == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__getitem__(i)


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie (read from /proc: no psutil)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def _all_gone(pids, within: float) -> bool:
    deadline = time.monotonic() + within
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _worker_pids(batches) -> set[int]:
    return {int(p) for _, pids in batches for p in pids.tolist()} - {os.getpid()}


# -- options, compared with torch ----------------------------------------------------------------------------------
OPTIONS = [dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=2, sampler=[5, 1, 3, 3]),
           dict(batch_sampler=[[1, 2], [0], [4, 3, 2]]), dict(batch_size=4, sampler=range(9), drop_last=True),
           dict(batch_size=2, pin_memory=True), dict(batch_size=4, collate_fn=lambda s: [sum(i for i, _ in s)]),
           dict(batch_sampler=[[1]], shuffle=True), dict(batch_sampler=[[1]], drop_last=True),
           dict(batch_sampler=[[1]], sampler=[1]), dict(batch_sampler=[[1]], batch_size=2),
           dict(sampler=[1], shuffle=True), dict(batch_size=0), dict(num_workers=-1), dict(prefetch_factor=2),
           dict(persistent_workers=True), dict(timeout=-1)]


@pytest.mark.parametrize("kwargs", OPTIONS, ids=[",".join(k) for k in map(sorted, OPTIONS)])
def test_options_behave_as_torch(kwargs):
    def run(loader_cls):
        try:
            loader = loader_cls(Ids(10), **kwargs)
        except ValueError:
            return "ValueError"
        batches = [b if isinstance(b[0], int) else b[0].tolist() for b in loader]  # ints: the custom collate's
        return len(loader), [[int(v) for v in b] for b in batches]

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: pin_memory without an accelerator
        expected = run(tud.DataLoader)
    assert run(DataLoader) == expected


def test_worker_batches_match_torch_with_a_custom_collate():
    collate = lambda samples: np.array([i * 10 for i, _ in samples])  # noqa: E731
    ours = [b.tolist() for b in DataLoader(Ids(11), batch_size=3, num_workers=2, collate_fn=collate, timeout=GUARD_S)]
    theirs = [list(b) for b in tud.DataLoader(Ids(11), batch_size=3, num_workers=0, collate_fn=collate)]
    assert ours == theirs


# -- failures in workers -------------------------------------------------------------------------------------------
def test_an_error_at_index_7_names_the_worker_the_index_and_the_traceback():
    loader = DataLoader(BrokenAt7(12), batch_size=2, num_workers=3, timeout=GUARD_S)
    seen = []
    with pytest.raises(ValueError) as info:
        for batch in loader:
            seen.append(batch)
    message = str(info.value)
    assert "Caught ValueError in DataLoader worker process 0 while loading dataset index 7." in message  # batch 3
    assert "Traceback (most recent call last)" in message and 'raise ValueError(f"sample {i} is unreadable")' in message
    assert "in __getitem__" in message and message.rstrip().endswith("ValueError: sample 7 is unreadable")
    assert [b[0].tolist() for b in seen] == [[0, 1], [2, 3], [4, 5]]  # the batches before it came through
    assert _all_gone(_worker_pids(seen), within=5)
    # torch raises the same type from its workers; in-process both raise the original exception untouched
    with pytest.raises(ValueError, match="^sample 7 is unreadable$"):
        list(DataLoader(BrokenAt7(12), batch_size=2))
    with pytest.raises(ValueError, match="^sample 7 is unreadable$"):
        list(tud.DataLoader(BrokenAt7(12), batch_size=2))


def test_an_error_in_collate_names_the_worker_and_no_index():
    def collate(samples):
        raise KeyError("no collation")

    with pytest.raises(KeyError) as info:
        list(DataLoader(Ids(4), batch_size=2, num_workers=1, collate_fn=collate, timeout=GUARD_S))
    message = str(info.value)
    assert "in DataLoader worker process 0.\n" in message and "index" not in message.split("\n")[0]
    assert "\nOriginal Traceback" in message and "'no collation'" in message  # line breaks kept in a KeyError


def test_a_worker_killed_by_a_signal_is_reported_not_waited_for():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) exited unexpectedly: worker 1 was killed "
                                           r"by SIGKILL"):
        list(DataLoader(KilledAt3(8), batch_size=2, num_workers=2, timeout=GUARD_S))
    assert time.monotonic() - start < 10


# -- leaving a loop early ------------------------------------------------------------------------------------------
def test_break_del_and_keyboard_interrupt_stop_the_workers():
    loader = DataLoader(Ids(40), batch_size=2, num_workers=2, timeout=GUARD_S)
    seen = []
    for batch in loader:
        seen.append(batch)
        if len(seen) == 2:
            break
    assert len(_worker_pids(seen)) == 2 and _all_gone(_worker_pids(seen), within=3)

    it = iter(loader)
    seen = [next(it), next(it)]
    del it
    assert _all_gone(_worker_pids(seen), within=3)

    seen = []
    with pytest.raises(KeyboardInterrupt):
        for batch in loader:
            seen.append(batch)
            if len(seen) == 2:
                raise KeyboardInterrupt  # Ctrl-C while the loop body runs
    assert _all_gone(_worker_pids(seen), within=3)


def test_deleting_a_loader_stops_its_persistent_workers():
    loader = DataLoader(Ids(8), batch_size=2, num_workers=2, persistent_workers=True, timeout=GUARD_S)
    pids = _worker_pids(list(loader))
    assert _worker_pids(list(loader)) == pids and all(_alive(p) for p in pids)  # kept across epochs
    del loader
    assert _all_gone(pids, within=3)


SCRIPT = textwrap.dedent("""
    import os, sys, time
    from minitorch.data import DataLoader, Dataset

    class Slow(Dataset):
        def __len__(self):
            return 100000

        def __getitem__(self, i):
            time.sleep(0.02)
            return i, os.getpid()

    pids = set()
    for _, batch_pids in DataLoader(Slow(), batch_size=2, num_workers=2, persistent_workers=sys.argv[1] == "1"):
        if len(pids) < 2:
            pids.update(batch_pids.tolist())
            if len(pids) == 2:
                print("WORKERS", *sorted(pids), flush=True)
""")


@pytest.mark.parametrize("how, persistent", [("ctrl-c", "0"), pytest.param("ctrl-c", "1", marks=pytest.mark.slow),
                                             pytest.param("sigint-parent-only", "0", marks=pytest.mark.slow),
                                             ("sigkill-parent", "0")])
def test_no_worker_outlives_its_parent(tmp_path, how, persistent):
    script = tmp_path / "loop.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), persistent], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, cwd=os.getcwd())
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("WORKERS"), (line, proc.poll())
        workers = [int(p) for p in line.split()[1:]]
        assert all(_alive(p) for p in workers)
        if how == "ctrl-c":  # the terminal sends SIGINT to the whole foreground process group
            os.killpg(proc.pid, signal.SIGINT)
        elif how == "sigint-parent-only":
            os.kill(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=20)
        if how != "sigkill-parent":
            assert proc.returncode != 0 and "KeyboardInterrupt" in stderr
            assert stderr.count("Traceback") == 1, stderr  # the loader's only: workers ignore Ctrl-C
        # a killed parent cannot stop its workers: they notice it is gone and leave by themselves
        assert _all_gone(workers, within=10), [p for p in workers if _alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in locals().get("workers", []):
            if _alive(p):
                os.kill(p, signal.SIGKILL)


# -- seeding -------------------------------------------------------------------------------------------------------
class Augmented(Dataset):
    """A fixed image per index through random transforms, plus the worker's seed."""

    def __init__(self) -> None:
        self.images = np.random.default_rng(0).integers(0, 256, (16, 9, 9), dtype=np.uint8)
        self.transform = T.Compose([T.RandomRotation(40, "bilinear"), T.RandomHorizontalFlip(), T.ToTensor()])

    def __getitem__(self, i: int) -> tuple:
        info = get_worker_info()
        return self.transform(self.images[i]), -1 if info is None else info.seed

    def __len__(self) -> int:
        return len(self.images)


@pytest.mark.parametrize("workers", [0, 2])
def test_same_seed_same_augmented_batches(workers):
    def epoch(seed):
        mt.manual_seed(seed)
        loader = DataLoader(Augmented(), batch_size=4, shuffle=True, num_workers=workers,
                            timeout=GUARD_S if workers else 0)
        return [(x.numpy(), s.tolist()) for x, s in loader]

    first, again, other = epoch(5), epoch(5), epoch(6)
    for (a, seeds_a), (b, seeds_b) in zip(first, again):
        np.testing.assert_array_equal(a, b)
        assert seeds_a == seeds_b
    assert any(not np.array_equal(a, b) for (a, _), (b, _) in zip(first, other))
    if workers:  # worker w has seed base + w; batch i comes from worker i % 2
        seeds = [s[0] for _, s in first]
        assert seeds[1] == seeds[0] + 1 and seeds[2] == seeds[0]


def test_torch_worker_error_has_the_same_type():
    # torch re-raises a worker's exception as its own type, as minitorch does
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process"):
        list(tud.DataLoader(BrokenAt7(12), batch_size=2, num_workers=1, timeout=GUARD_S))
    assert torch.utils.data.get_worker_info() is None and get_worker_info() is None
