"""save() under faults: a full disk at every kind of write, I/O errors, interrupts, kill -9.

Each fault must leave the old checkpoint loadable and bit-exact, no temp file behind, and raise a
CheckpointWriteError (an OSError with the failure's errno) naming the file. Temp files left by a
writer that died are removed by the next save; the file and its folder are fsynced.
"""
from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import minitorch as mt
from minitorch import files
from minitorch.errors import CheckpointError, CheckpointWriteError

OLD = {"epoch": 1, "w": mt.tensor(np.arange(5000, dtype=np.float32)), "s": "old"}
NEW = {"epoch": 2, "w": mt.tensor(np.arange(5000, dtype=np.float32) * 2), "s": "new", "x": [mt.ones(3)] * 3}


def _is_old(path: Path) -> bool:
    back = mt.load(path)
    return back["epoch"] == 1 and back["s"] == "old" and back["w"].numpy().tobytes() == OLD["w"].numpy().tobytes()


def _leftovers(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


class FaultyFile:
    """A file whose write() fails with `error` at call number `at_call`, or once `budget` bytes are
    written (writing what fits first), and keeps failing after: the disk stays full. flush/close can
    fail too."""

    def __init__(self, f: Any, at_call: int | None = None, budget: int | None = None, error: int = errno.ENOSPC,
                 on: str = "write") -> None:
        self.f, self.at_call, self.budget, self.error, self.on = f, at_call, budget, error, on
        self.calls = self.written = 0
        self.failed = False

    def _fail(self) -> None:
        self.failed = True
        if self.error == -1:
            raise KeyboardInterrupt
        raise OSError(self.error, os.strerror(self.error))

    def write(self, data: Any) -> int:
        self.calls += 1
        data = bytes(data)
        if self.on == "write":
            if self.failed or self.calls == self.at_call:
                self._fail()
            if self.budget is not None and self.written + len(data) > self.budget:
                self.f.write(data[:self.budget - self.written])
                self.written = self.budget
                self._fail()
        self.written += len(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()
        if self.on == "flush":
            self._fail()

    def close(self) -> None:
        self.f.close()
        if self.on == "close":
            self._fail()

    def __enter__(self) -> "FaultyFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.f, name)


def _count_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(write calls, bytes) of one save of NEW, measured through the same wrapper."""
    seen: list[FaultyFile] = []

    def opener(path: Any, mode: str) -> FaultyFile:
        seen.append(FaultyFile(open(path, mode)))
        return seen[-1]

    monkeypatch.setattr(files, "open", opener, raising=False)
    mt.save(NEW, tmp_path / "count.npz")
    monkeypatch.undo()
    os.unlink(tmp_path / "count.npz")
    return seen[0].calls, seen[0].written


def _probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: Callable[[pytest.MonkeyPatch], None],
           expect: type[BaseException] = CheckpointWriteError, err: int | None = errno.ENOSPC) -> bool:
    """Save OLD, save NEW under `fault`: True when the error is right and OLD is intact, nothing left over."""
    path = tmp_path / "ckpt.npz"
    mt.save(OLD, path)
    with monkeypatch.context() as m:
        fault(m)
        try:
            mt.save(NEW, path)
            raised: BaseException | None = None
        except BaseException as exc:  # noqa: BLE001 (KeyboardInterrupt is one of the probes)
            raised = exc
    ok = isinstance(raised, expect) and (err is None or getattr(raised, "errno", None) == err)
    if isinstance(raised, CheckpointError):
        ok = ok and "ckpt.npz" in str(raised)
    return ok and _is_old(path) and _leftovers(tmp_path) == [] and os.listdir(tmp_path) == ["ckpt.npz"]


def _faulty_open(**kw: Any) -> Callable[[pytest.MonkeyPatch], None]:
    return lambda m: m.setattr(files, "open", lambda p, mode: FaultyFile(open(p, mode), **kw), raising=False)


def test_full_disk_at_every_write_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally) -> None:
    calls, _ = _count_writes(tmp_path, monkeypatch)
    assert calls > 10  # zip headers, array data, the directory: many kinds of write
    for k in range(1, calls + 1):
        survived = _probe(tmp_path, monkeypatch, _faulty_open(at_call=k))
        tally.case("full disk (ENOSPC) at write call k, every k", survived)
        assert survived, k


def test_disk_fills_at_a_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally) -> None:
    _, size = _count_writes(tmp_path, monkeypatch)
    rng = random.Random(7)
    for budget in [0, 1, 29, 30, 100, size // 2, size - 22, size - 1] + rng.sample(range(size), 40):
        survived = _probe(tmp_path, monkeypatch, _faulty_open(budget=budget))
        tally.case("full disk (ENOSPC) after N bytes, short write", survived)
        assert survived, budget


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO, errno.EDQUOT])
def test_failing_flush_close_fsync_replace_create(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally,
                                                 error: int) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(error, os.strerror(error))

    faults = {
        "create": lambda m: m.setattr(files, "open", fail, raising=False),
        "flush": _faulty_open(on="flush", error=error),
        "close": _faulty_open(on="close", error=error),
        "fsync": lambda m: m.setattr(os, "fsync", fail),
        "replace": lambda m: m.setattr(os, "replace", fail),
    }
    for name, fault in faults.items():
        survived = _probe(tmp_path, monkeypatch, fault, err=error)
        tally.case("ENOSPC / EIO / EDQUOT at create, flush, close, fsync, rename", survived)
        assert survived, name


def test_interrupt_at_every_write_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally) -> None:
    calls, _ = _count_writes(tmp_path, monkeypatch)
    for k in range(1, calls + 1):
        survived = _probe(tmp_path, monkeypatch, _faulty_open(at_call=k, error=-1), expect=KeyboardInterrupt,
                          err=None)
        tally.case("KeyboardInterrupt at write call k", survived)
        assert survived, k


def test_folder_fsync_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally) -> None:
    """After the rename only the folder's fsync is left: an error there is reported (the new file is in
    place, complete, but a power loss could undo the rename), not swallowed."""
    path = tmp_path / "ckpt.npz"
    mt.save(OLD, path)
    real = os.fsync

    def fsync(fd: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(CheckpointWriteError, match="ckpt.npz.*may not survive a power loss") as err:
        mt.save(NEW, path)
    monkeypatch.undo()
    assert err.value.errno == errno.EIO and mt.load(path)["s"] == "new" and _leftovers(tmp_path) == []
    tally.case("EIO at the folder's fsync (reported)", True)


def test_file_and_folder_are_fsynced_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        events.append("fsync folder" if os.path.isdir(target) else f"fsync {Path(target).name}")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append(f"replace {Path(src).name} -> {Path(dst).name}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    mt.save(OLD, tmp_path / "ckpt.npz")
    assert len(events) == 3
    tmp = events[0].removeprefix("fsync ")
    assert tmp.startswith(".ckpt.npz.") and tmp.endswith(".tmp")
    assert events[1:] == [f"replace {tmp} -> ckpt.npz", "fsync folder"]


def test_stale_temp_files_are_removed_at_the_next_save(tmp_path: Path, tally) -> None:
    dead = 2 ** 22 + 12345  # above Linux's largest pid: no such process
    stale = [f".ckpt.npz.{dead}-0123abcd.tmp", ".ckpt.npz.0123456789ab.tmp"]  # (the second: older minitorch)
    alive = f".ckpt.npz.{os.getppid()}-89abcdef.tmp"  # a live process may be writing it
    others = [".other.npz.1-0123abcd.tmp", "ckpt.npz.bak", ".ckpt.npz.notes.tmp", ".ckpt.npz.7-xyz.tmp"]
    for name in stale + [alive] + others:
        (tmp_path / name).write_bytes(b"half a checkpoint")
    mt.save(OLD, tmp_path / "ckpt.npz")
    assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.npz", alive] + others)
    tally.case("stale temp files removed at the next save", True)


KILLER = textwrap.dedent("""
    import sys
    import numpy as np
    import minitorch as mt
    path, i = sys.argv[1], 0
    print("ready", flush=True)
    while True:
        i += 1
        mt.save({"i": i, "w": mt.tensor(np.full(1 << 20, i, np.float32))}, path)
""")


def test_kill_9_while_saving(tmp_path: Path, tally) -> None:
    """Processes saving in a loop are killed at a random moment, or the moment a temp file appears: the
    checkpoint is always a complete one, and the next save removes the temp file the dead process left."""
    rng, orphans, folders = random.Random(3), 0, [tmp_path / f"run{i}" for i in range(4)]
    procs = []
    for folder in folders:  # started together: their imports overlap
        folder.mkdir()
        mt.save(OLD, folder / "ckpt.npz")
        procs.append(subprocess.Popen([sys.executable, "-c", KILLER, str(folder / "ckpt.npz")],
                                      stdout=subprocess.PIPE, text=True))
    for trial, (folder, proc) in enumerate(zip(folders, procs)):
        assert proc.stdout.readline().strip() == "ready"
        waiting = trial % 2  # odd trials kill the moment a temp file appears, even ones at a random moment
        deadline = time.monotonic() + (5.0 if waiting else rng.random() * 0.3)
        while time.monotonic() < deadline and not (waiting and _leftovers(folder)):
            time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        path = folder / "ckpt.npz"
        back = mt.load(path)  # the previous checkpoint, or one the child completed
        survived = _is_old(path) if "i" not in back else bool((back["w"].numpy() == back["i"]).all())
        orphans += len(_leftovers(folder))
        mt.save(OLD, path)  # the next save (a resumed run) cleans up
        survived = survived and _leftovers(folder) == []
        tally.case("kill -9 while saving in a loop (then save again)", survived)
        assert survived, trial
    assert orphans >= 1  # at least one kill landed mid-write (the trials that wait for a temp file)
