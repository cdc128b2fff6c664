"""The CUDA backend: CuPy, imported lazily so a missing CuPy never breaks the CPU."""
from __future__ import annotations

import ctypes
import functools
import sys
import threading
import weakref
from typing import Any, Callable

import numpy as np

from ..device import device as Device
from .base import Backend

INSTALL_HINT = ('install the CUDA extra matching your driver: pip install -e ".[cuda12]" '
                '(CUDA 12) or pip install -e ".[cuda13]" (CUDA 13)')


def _driver_missing() -> str | None:
    """The driver library's name when it does not load (no NVIDIA driver: CUDA cannot run), else None."""
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(name)
    except OSError:
        return name
    return None


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
        missing = _driver_missing() if sys.platform.startswith("linux") or sys.platform == "win32" else None
        if missing:  # CuPy's own message ("driver version is insufficient") hides that there is none
            return False, (f"CuPy {cupy.__version__} is installed but this machine has no NVIDIA driver "
                           f"({missing} does not load), so no CUDA device")
        return False, f"CuPy found no usable CUDA driver/device ({exc})"
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
PINNED_SLOTS = 2             # staged copies of one size in flight: one being filled while the previous copies


class PinnedStaging:
    """Page-locked host memory for host-to-device copies: full DMA speed, and asynchronous.

    Each upload stages its array in page-locked memory from CuPy's pinned pool and holds that memory only
    until the event recorded behind its copy has completed: then it is released to the pool, which hands
    it to the next upload of that size (and `cupy.get_default_pinned_memory_pool().free_all_blocks()` back
    to the driver). With PINNED_SLOTS copies of one size in flight, the next waits for the oldest, so the
    page-locked memory held stays bounded when the host runs ahead of the copies. Arrays made by `pin()`
    (DataLoader's pin_memory) are page-locked already: they are copied from directly, and kept alive until
    their copy has completed, so the pool cannot hand their memory out while it is being read.
    """

    def __init__(self, cupy: Any) -> None:
        self.cp = cupy
        self.pinned: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # id -> array from pin()
        self.in_flight: list[tuple[Any, np.ndarray]] = []  # (event, page-locked source) of copies not yet done

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

    def release(self) -> int:
        """Let go of the sources whose copies have completed; returns how many copies are still in flight."""
        self.in_flight = [(event, src) for event, src in self.in_flight if not event.done]
        return len(self.in_flight)

    def upload(self, array: np.ndarray) -> Any:
        """A device copy of `array`, queued on the current stream from page-locked memory."""
        self.release()
        if not self.is_pinned(array):
            same = [e for e in self.in_flight if e[1].nbytes == array.nbytes and not self.is_pinned(e[1])]
            if len(same) >= PINNED_SLOTS:  # the host is ahead of the copies: wait for the oldest, release it
                same[0][0].synchronize()
                self.in_flight.remove(same[0])
            memory = self.cp.cuda.alloc_pinned_memory(max(array.nbytes, 1))
            staged = np.frombuffer(memory, dtype=array.dtype, count=array.size).reshape(array.shape)
            staged[...] = array
            array = staged
        out, event = self._copy(array)
        self.in_flight.append((event, array))
        return out

    def _copy(self, pinned: np.ndarray) -> tuple[Any, Any]:
        """An asynchronous copy of a page-locked array to the device, and the event that marks its end."""
        out = self.cp.empty(pinned.shape, dtype=pinned.dtype)
        stream = self.cp.cuda.get_current_stream()
        out.set(pinned, stream=stream)
        return out, stream.record()


class DeviceGuard:
    """`with guard:` makes one CUDA device current and then restores the one before, touching the device
    only when another is current. CuPy's `with Device(i)` costs a new object per use and a cudaSetDevice
    on every exit; here the common case (already current) is one cudaGetDevice on entry and none on exit.

    `runtime` is anything with getDevice() and setDevice(i): cupy.cuda.runtime, or a test's fake. Nested
    and per-thread use are safe: each thread keeps its own stack of devices to switch back to.
    """

    def __init__(self, runtime: Any, index: int) -> None:
        self.runtime = runtime
        self.index = index
        self._local = threading.local()

    def elsewhere(self) -> bool:
        """Whether another device is current: callers re-run themselves under the guard only then."""
        return self.runtime.getDevice() != self.index

    def __enter__(self) -> "DeviceGuard":
        current = self.runtime.getDevice()
        stack = self._local.__dict__.setdefault("stack", [])
        if current == self.index:
            stack.append(None)  # nothing to switch back to
        else:
            stack.append(current)
            self.runtime.setDevice(self.index)
        return self

    def __exit__(self, *exc: Any) -> None:
        previous = self._local.stack.pop()
        if previous is not None:
            self.runtime.setDevice(previous)


def _on_own_device(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a Backend method with its device current: CuPy allocates and launches on the current device."""

    @functools.wraps(method)
    def run(self: Backend, *args: Any, **kwargs: Any) -> Any:
        with self.guard:
            return method(self, *args, **kwargs)

    return run


class CupyBackend(Backend):
    """CuPy on one CUDA device ("cuda" or "cuda:N"); its allocations and launches run on that device."""

    name = "cupy"
    deferred_checks = True  # a read is a sync: label checks leave a flag for raise_pending_errors()

    def __init__(self, index: int = 0) -> None:
        ok, reason = availability()
        if not ok:
            raise RuntimeError(f"the cupy backend cannot start: {reason}")
        import cupy
        self._cupy = cupy
        self.device_index = index  # not `index`: that is Backend.index(array, key)
        self.device = Device("cuda" if index == 0 else f"cuda:{index}")
        self._staging = PinnedStaging(cupy)
        self.guard = DeviceGuard(cupy.cuda.runtime, index)
        with self.guard:
            super().__init__()

    def device_guard(self) -> Any:
        """A context manager making this backend's device the current one (`self.guard`)."""
        return self.guard

    @property
    def xp(self) -> Any:
        return self._cupy

    @property
    def kernels(self) -> Any:
        # Whether to use them (MINITORCH_FUSED) is the ops' decision; cuda_kernels() is cached, and each of
        # its launchers runs on the device holding its arrays (kernels/cuda_device.py).
        from ..kernels import cuda_kernels
        return cuda_kernels()

    @_on_own_device
    def from_host(self, array: np.ndarray) -> Any:
        array = np.asarray(array)
        if array.flags.c_contiguous and (array.nbytes >= PINNED_MIN_BYTES or self._staging.is_pinned(array)):
            return self._staging.upload(array)
        return self._cupy.asarray(array)

    def pin(self, array: np.ndarray) -> np.ndarray:
        return self._staging.pin(np.asarray(array))

    def to_host(self, array: Any) -> np.ndarray:
        return self._cupy.asnumpy(array)  # copies from the array's own device, whichever is current

    def synchronize(self) -> None:
        self._cupy.cuda.Device(self.device_index).synchronize()
        self._staging.release()  # every copy has completed: its page-locked memory goes back to the pool

    @_on_own_device
    def make_rng(self, seed: int | None) -> Any:
        return self._cupy.random.default_rng(seed)  # its state lives on the current device

    def rng_state(self) -> Any:
        # CuPy's device generators expose no portable state; a resumed GPU run re-seeds instead.
        return None

    def set_rng_state(self, state: Any) -> None:
        if state is not None:
            raise ValueError("the cupy backend cannot restore a generator state")

    @_on_own_device
    def rand(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.rng.random(shape, dtype=dtype)

    @_on_own_device
    def randn(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.rng.standard_normal(shape, dtype=dtype)

    @_on_own_device
    def index_add(self, target: Any, key: Any, values: Any) -> None:
        import cupyx
        cupyx.scatter_add(target, key, values)

    @_on_own_device
    def erf(self, array: Any) -> Any:
        import cupyx.scipy.special
        return cupyx.scipy.special.erf(array)

    @_on_own_device
    def stable_argsort(self, array: Any, axis: int) -> Any:
        # CuPy's sort is always stable (a radix sort) and takes no `stable` keyword.
        return self._cupy.argsort(array, axis=axis)

    @staticmethod
    def is_available() -> bool:
        """True when CuPy imports and a probe kernel compiles and runs."""
        return availability()[0]


# Inherited Backend methods that allocate or launch through xp, run on this backend's device too.
DEVICE_METHODS = ("dropout_mask", "index", "index_put", "argsort", "defer_check", "raise_pending_errors")
for _name in DEVICE_METHODS:
    setattr(CupyBackend, _name, _on_own_device(getattr(Backend, _name)))
