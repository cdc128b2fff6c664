"""The CUDA backend: CuPy, imported lazily so a missing CuPy never breaks the CPU."""
from __future__ import annotations

import functools
import weakref
from typing import Any

import numpy as np

from ..device import device as Device
from .base import Backend

INSTALL_HINT = ('install the CUDA extra matching your driver: pip install -e ".[cuda12]" '
                '(CUDA 12) or pip install -e ".[cuda13]" (CUDA 13)')


@functools.lru_cache(maxsize=None)
def availability() -> tuple[bool, str]:
    """(ok, reason): CuPy imports, sees a device, and can compile and launch a kernel."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA library underneath
        return False, f"import cupy failed ({exc}); {INSTALL_HINT}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"CuPy found no CUDA driver/device ({exc})"
    if count == 0:
        return False, "CuPy found no CUDA device"
    # An importable CuPy with a broken NVRTC only fails at the first compile: try one now.
    try:
        kernel = cupy.RawKernel(r'extern "C" __global__ void probe(float* x) { x[threadIdx.x] += 1.0f; }',
                                "probe")
        x = cupy.zeros(32, dtype=cupy.float32)
        kernel((1,), (32,), (x,))
        if float(x.sum()) != 32.0:
            return False, "a probe CUDA kernel ran but gave a wrong result"
    except Exception as exc:
        return False, f"compiling/launching a probe kernel with NVRTC failed ({exc})"
    return True, "ok"


PINNED_MIN_BYTES = 1 << 20  # smaller copies cost more to stage than they gain
PINNED_SLOTS = 2             # per size: one being filled while the previous one is still copying


class PinnedStaging:
    """Page-locked host buffers for host-to-device copies: full DMA speed, and asynchronous.

    A buffer is reused only after the event recorded behind its last copy has completed, so a
    copy in flight never sees its source overwritten. Arrays made by `pin()` (DataLoader's
    pin_memory) are page-locked already: they are copied from directly, and kept alive until
    their copy has completed, so the pool cannot hand their memory out while it is being read.
    """

    def __init__(self, cupy: Any) -> None:
        self.cp = cupy
        self.slots: dict[int, list[list[Any]]] = {}  # nbytes -> [[pinned memory, event or None], ...]
        self.pinned: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # id -> array from pin()
        self.in_flight: list[tuple[Any, np.ndarray]] = []  # (event, pinned source) of copies not yet done

    def pin(self, array: np.ndarray) -> np.ndarray:
        """A copy of `array` in page-locked memory from CuPy's pinned pool, which upload() copies from directly."""
        memory = self.cp.cuda.alloc_pinned_memory(max(array.nbytes, 1))
        out = np.frombuffer(memory, dtype=array.dtype, count=array.size).reshape(array.shape)
        out[...] = array
        self.pinned[id(out)] = out
        return out

    def is_pinned(self, array: np.ndarray) -> bool:
        """Whether `array` is one that pin() made (and so page-locked)."""
        return self.pinned.get(id(array)) is array

    def _slot(self, nbytes: int) -> list[Any]:
        slots = self.slots.setdefault(nbytes, [])
        for slot in slots:
            if slot[1] is None or slot[1].done:
                return slot
        if len(slots) < PINNED_SLOTS:
            slots.append([self.cp.cuda.alloc_pinned_memory(nbytes), None])
            return slots[-1]
        slot = slots.pop(0)  # all busy: wait for the oldest copy, then it goes to the back
        slot[1].synchronize()
        slots.append(slot)
        return slot

    def upload(self, array: np.ndarray) -> Any:
        """A device copy of `array`, queued on the current stream from pinned memory."""
        self.in_flight = [(event, src) for event, src in self.in_flight if not event.done]
        if self.is_pinned(array):
            out, event = self._copy(array)
            self.in_flight.append((event, array))
            return out
        slot = self._slot(array.nbytes)
        staging = np.frombuffer(slot[0], dtype=array.dtype, count=array.size).reshape(array.shape)
        staging[...] = array
        out, slot[1] = self._copy(staging)
        return out

    def _copy(self, pinned: np.ndarray) -> tuple[Any, Any]:
        """An asynchronous copy of a page-locked array to the device, and the event that marks its end."""
        out = self.cp.empty(pinned.shape, dtype=pinned.dtype)
        stream = self.cp.cuda.get_current_stream()
        out.set(pinned, stream=stream)
        return out, stream.record()


class CupyBackend(Backend):
    """CuPy on one CUDA device ("cuda" or "cuda:N")."""

    name = "cupy"

    def __init__(self, index: int = 0) -> None:
        ok, reason = availability()
        if not ok:
            raise RuntimeError(f"the cupy backend cannot start: {reason}")
        import cupy
        self._cupy = cupy
        self.index = index
        self.device = Device("cuda" if index == 0 else f"cuda:{index}")
        self._staging = PinnedStaging(cupy)
        with cupy.cuda.Device(index):
            super().__init__()

    @property
    def xp(self) -> Any:
        return self._cupy

    @property
    def kernels(self) -> Any:
        # Whether to use them (MINITORCH_FUSED) is the ops' decision; cuda_kernels() is cached.
        from ..kernels import cuda_kernels
        return cuda_kernels()

    def from_host(self, array: np.ndarray) -> Any:
        with self._cupy.cuda.Device(self.index):
            array = np.asarray(array)
            if array.flags.c_contiguous and (array.nbytes >= PINNED_MIN_BYTES or self._staging.is_pinned(array)):
                return self._staging.upload(array)
            return self._cupy.asarray(array)

    def pin(self, array: np.ndarray) -> np.ndarray:
        return self._staging.pin(np.asarray(array))

    def to_host(self, array: Any) -> np.ndarray:
        return self._cupy.asnumpy(array)

    def synchronize(self) -> None:
        self._cupy.cuda.Device(self.index).synchronize()

    def make_rng(self, seed: int | None) -> Any:
        return self._cupy.random.default_rng(seed)

    def rng_state(self) -> Any:
        # CuPy's device generators expose no portable state; a resumed GPU run re-seeds instead.
        return None

    def set_rng_state(self, state: Any) -> None:
        if state is not None:
            raise ValueError("the cupy backend cannot restore a generator state")

    def rand(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.rng.random(shape, dtype=dtype)

    def randn(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.rng.standard_normal(shape, dtype=dtype)

    def index_add(self, target: Any, key: Any, values: Any) -> None:
        import cupyx
        cupyx.scatter_add(target, key, values)

    def erf(self, array: Any) -> Any:
        import cupyx.scipy.special
        return cupyx.scipy.special.erf(array)

    def stable_argsort(self, array: Any, axis: int) -> Any:
        # CuPy's sort is always stable (a radix sort) and takes no `stable` keyword.
        return self._cupy.argsort(array, axis=axis)

    @staticmethod
    def is_available() -> bool:
        """True when CuPy imports and a probe kernel compiles and runs."""
        return availability()[0]
