"""A fake CuPy over NumPy with several devices, for tests of "cuda:N" placement on machines without a GPU.

As in CuPy, there is a current device (per thread; `cuda.Device(n)` is a context manager that changes it),
every array lives on the device that was current when it was made, work runs on the current device, and an
input on another device is an error (CuPy raises it, or silently computes on the wrong device through peer
access). Here such an input is recorded in `fake.wrong` rather than raised, so a test sees every one. Kernels
loaded through `fake.load_module` record each launch in `fake.launches` and compute nothing.
"""
from __future__ import annotations

import threading
import types
from typing import Any, NamedTuple

import numpy as np


class Launch(NamedTuple):
    kernel: str
    threads: int     # threads per block
    device: int      # the current device at the launch
    arg_devices: tuple[int, ...]


class DeviceArray(np.ndarray):
    """A NumPy array that knows its device; NumPy work on it runs "on the current device"."""

    device_id: int = 0
    fake: "FakeCupy"

    def __array_finalize__(self, obj: Any) -> None:
        self.device_id = getattr(obj, "device_id", 0)
        self.fake = getattr(obj, "fake", None)  # type: ignore[assignment]

    @property
    def device(self) -> Any:
        return self.fake.cuda.Device(self.device_id)

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"data": (self.ctypes.data, False), "shape": self.shape, "typestr": self.dtype.str, "version": 3}

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        fake = self.fake
        fake.check(f"ufunc {ufunc.__name__}", *inputs, *kwargs.get("out", ()))
        plain = [x.view(np.ndarray) if isinstance(x, DeviceArray) else x for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(x.view(np.ndarray) if isinstance(x, DeviceArray) else x for x in kwargs["out"])
        result = getattr(ufunc, method)(*plain, **kwargs)
        return fake.here(result)

    def set(self, host: np.ndarray, stream: Any = None) -> None:
        self.fake.check("set", self)
        self.view(np.ndarray)[...] = host

    def get(self) -> np.ndarray:
        return self.view(np.ndarray).copy()


class _Event:
    done = True

    def synchronize(self) -> None:
        pass


class FakeCupy:
    """The namespace: `fake.xp` is what CudaKernels and CupyBackend take for `cupy`."""

    def __init__(self, devices: int = 2) -> None:
        self.devices = devices
        self.local = threading.local()
        self.wrong: list[str] = []          # work whose inputs were not on the current device
        self.launches: list[Launch] = []
        self.pinned_allocs: list[int] = []
        fake = self

        class Device:
            def __init__(self, device: int = 0) -> None:
                if not 0 <= device < fake.devices:
                    raise ValueError(f"no device {device}")
                self.id = device

            def __enter__(self) -> "Device":
                fake.stack.append(fake.current)
                fake.local.current = self.id
                return self

            def __exit__(self, *exc: Any) -> None:
                fake.local.current = fake.stack.pop()

            def synchronize(self) -> None:
                pass

        stream = types.SimpleNamespace(record=lambda: _Event())
        runtime = types.SimpleNamespace(getDevice=lambda: fake.current,
                                        setDevice=lambda device: setattr(fake.local, "current", device))
        self.cuda = types.SimpleNamespace(Device=Device, get_current_stream=lambda: stream,
                                          alloc_pinned_memory=self._alloc_pinned, runtime=runtime)
        self.random = types.SimpleNamespace(default_rng=self._rng)
        self.__version__ = "fake"

    @property
    def current(self) -> int:
        return getattr(self.local, "current", 0)

    @property
    def stack(self) -> list[int]:
        if not hasattr(self.local, "stack"):
            self.local.stack = []
        return self.local.stack

    # -- placement --------------------------------------------------------------------------------
    def check(self, what: str, *arrays: Any) -> None:
        """Record `what` if an input lives on another device than the current one."""
        for a in arrays:
            if isinstance(a, DeviceArray) and a.device_id != self.current:
                self.wrong.append(f"{what}: input on device {a.device_id}, current device {self.current}")

    def here(self, result: Any) -> Any:
        """Results of work: arrays on the current device."""
        if isinstance(result, tuple):
            return tuple(self.here(r) for r in result)
        if not isinstance(result, np.ndarray):
            return result
        out = result.view(DeviceArray)
        out.device_id, out.fake = self.current, self
        return out

    def on(self, device: int, array: np.ndarray) -> DeviceArray:
        """A copy of a host array on `device` (test setup)."""
        with self.cuda.Device(device):
            return self.here(np.array(array, copy=True))

    # -- the namespace the launchers and the backend use --------------------------------------------------
    def empty(self, shape: Any, dtype: Any = np.float32) -> DeviceArray:
        return self.here(np.empty(shape, dtype))

    def zeros(self, shape: Any, dtype: Any = np.float32) -> DeviceArray:
        return self.here(np.zeros(shape, dtype))

    def empty_like(self, a: Any) -> DeviceArray:
        self.check("empty_like", a)
        return self.here(np.empty(a.shape, a.dtype))

    def asarray(self, a: Any, dtype: Any = None) -> DeviceArray:
        self.check("asarray", a)
        if isinstance(a, DeviceArray) and (dtype is None or a.dtype == dtype):
            return a
        return self.here(np.array(a, dtype=dtype))

    def ascontiguousarray(self, a: Any, dtype: Any = None) -> DeviceArray:
        self.check("ascontiguousarray", a)
        if isinstance(a, DeviceArray) and a.flags.c_contiguous and (dtype is None or a.dtype == dtype):
            return a
        return self.here(np.ascontiguousarray(a, dtype=dtype))

    def reshape(self, a: Any, shape: Any) -> Any:
        return np.reshape(a, shape)  # a view: stays where `a` is

    def __getattr__(self, name: str) -> Any:
        """Any other NumPy function: runs on the current device (inputs checked, results placed there)."""
        target = getattr(np, name)
        if not callable(target) or isinstance(target, type):
            return target  # dtypes and constants

        def run(*args: Any, **kwargs: Any) -> Any:
            self.check(name, *args, *kwargs.values())
            plain = [a.view(np.ndarray) if isinstance(a, DeviceArray) else a for a in args]
            return self.here(target(*plain, **kwargs))

        return run

    def asnumpy(self, a: Any) -> np.ndarray:
        return np.array(a.view(np.ndarray) if isinstance(a, DeviceArray) else a)

    def _alloc_pinned(self, nbytes: int) -> bytearray:
        self.pinned_allocs.append(nbytes)
        return bytearray(nbytes)

    def _rng(self, seed: Any = None) -> Any:
        """A generator whose state lives on the device current at its creation, as CuPy's."""
        home, host = self.current, np.random.default_rng(seed)

        def draw(what: str, shape: Any, dtype: Any) -> DeviceArray:
            if self.current != home:
                self.wrong.append(f"{what}: generator on device {home}, current device {self.current}")
            return self.here(getattr(host, what)(shape).astype(dtype))

        return types.SimpleNamespace(random=lambda shape, dtype=np.float64: draw("random", shape, dtype),
                                     standard_normal=lambda shape, dtype=np.float64: draw("standard_normal",
                                                                                         shape, dtype))

    # -- kernels ----------------------------------------------------------------------------------------
    def load_module(self, source: str) -> Any:
        """A RawModule stand-in whose kernels record their launches."""
        fake = self

        def get_function(name: str) -> Any:
            def launch(grid: Any, block: Any, args: tuple, **kwargs: Any) -> None:
                arrays = [a for a in args if isinstance(a, DeviceArray)]
                fake.check(f"kernel {name}", *arrays)
                fake.launches.append(Launch(name, int(np.prod(block)), fake.current,
                                            tuple(a.device_id for a in arrays)))
            return launch

        return types.SimpleNamespace(get_function=get_function)
