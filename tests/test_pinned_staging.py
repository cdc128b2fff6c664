"""The CuPy backend's pinned staging buffers, driven by a fake CuPy so the logic runs on any machine: each upload
is staged in page-locked memory that is held until its copy has completed and released after, and no more
than PINNED_SLOTS copies of one size are in flight."""
import gc
import types
import weakref

import numpy as np

from minitorch.backends.cupy_backend import PINNED_SLOTS, PinnedStaging


class FakeEvent:
    def __init__(self, log):
        self.done, self.log = False, log

    def synchronize(self):
        self.log.append("wait")
        self.done = True


class FakeDeviceArray(np.ndarray):
    def set(self, host, stream=None):
        self[...] = host  # a real copy would still be in flight here


class PinnedMemory(bytearray):
    """Stands in for CuPy's PinnedMemoryPointer: weak-referenceable, to see when it is let go (back to the pool)."""


def fake_cupy(log, memories):
    def alloc(n):
        log.append(f"alloc {n}")
        memory = PinnedMemory(n)
        memories.append(weakref.ref(memory))
        return memory

    events = []

    def record():
        events.append(FakeEvent(log))
        return events[-1]

    stream = types.SimpleNamespace(record=record)
    cuda = types.SimpleNamespace(alloc_pinned_memory=alloc, get_current_stream=lambda: stream)
    fake = types.SimpleNamespace(cuda=cuda, empty=lambda shape, dtype: np.empty(shape, dtype).view(FakeDeviceArray))
    return fake, events


def _held(memories):
    gc.collect()
    return sum(m() is not None for m in memories)


def test_uploads_copy_values_and_wait_only_when_a_size_has_too_many_copies_in_flight():
    log, memories = [], []
    fake, events = fake_cupy(log, memories)
    staging = PinnedStaging(fake)
    batches = [np.full((4, 3), i, dtype=np.float32) for i in range(PINNED_SLOTS + 2)]
    outs = [staging.upload(b) for b in batches]
    for b, out in zip(batches, outs):
        np.testing.assert_array_equal(np.asarray(out), b)
    assert log.count("wait") == 2                     # the 3rd and 4th waited for the oldest copy in flight
    assert len(staging.in_flight) == PINNED_SLOTS
    assert _held(memories) == PINNED_SLOTS            # the waited-for buffers were released


def test_a_buffer_is_released_once_its_copy_completed():
    log, memories = [], []
    fake, events = fake_cupy(log, memories)
    staging = PinnedStaging(fake)
    staging.upload(np.zeros(8, np.float32))
    assert _held(memories) == 1                       # held while the copy may still read it
    events[0].done = True                             # the copy finished on the device
    staging.upload(np.ones(16, np.float32))           # another size: no wait
    assert "wait" not in log
    assert _held(memories) == 1 and memories[0]() is None  # the first buffer went back to the pool
    events[1].done = True
    assert staging.release() == 0 and _held(memories) == 0


def test_sizes_do_not_accumulate_buffers():
    log, memories = [], []
    fake, events = fake_cupy(log, memories)
    staging = PinnedStaging(fake)
    for n in range(1, 40):                            # a new size every time, e.g. variable-length batches
        staging.upload(np.zeros(n, np.float32))
        events[-1].done = True
    staging.release()
    assert _held(memories) == 0 and "wait" not in log
