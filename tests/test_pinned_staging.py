"""The CuPy backend's pinned staging buffers, driven by a fake CuPy so the logic runs on any machine."""
import types

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


def fake_cupy(log):
    stream = types.SimpleNamespace(record=lambda: FakeEvent(log))
    cuda = types.SimpleNamespace(alloc_pinned_memory=lambda n: (log.append(f"alloc {n}"), bytearray(n))[1],
                                 get_current_stream=lambda: stream)
    return types.SimpleNamespace(cuda=cuda, empty=lambda shape, dtype: np.empty(shape, dtype).view(FakeDeviceArray))


def test_uploads_copy_values_and_reuse_buffers_only_after_their_copy_completed():
    log = []
    staging = PinnedStaging(fake_cupy(log))
    batches = [np.full((4, 3), i, dtype=np.float32) for i in range(PINNED_SLOTS + 2)]
    outs = [staging.upload(b) for b in batches]
    for b, out in zip(batches, outs):
        np.testing.assert_array_equal(np.asarray(out), b)
    assert log.count("alloc 48") == PINNED_SLOTS      # at most PINNED_SLOTS buffers per size
    assert log.count("wait") == 2                     # reused only after waiting for the copy


def test_a_completed_copy_frees_its_buffer_without_waiting():
    log = []
    staging = PinnedStaging(fake_cupy(log))
    staging.upload(np.zeros(8, np.float32))
    staging.slots[32][0][1].done = True               # the copy finished on the device
    staging.upload(np.ones(8, np.float32))
    assert log == ["alloc 32"]
