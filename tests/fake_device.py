"""A fake CUDA device for tests: NumPy arrays behind a wrapper that counts every read back to the host.

On a GPU, reading a value on the host (`float(x)`, `bool(x)`, `x.item()`, `to_host`, a boolean-mask
index, whose size the host must learn) waits for every queued kernel: a sync. `FakeCudaBackend` runs
on NumPy but hands out `FakeArray`s that count those reads in `syncs` (with the line that made each),
and count Python or NumPy scalars copied to the device as 0-d arrays in `uploads`. Its fused kernels
are the CUDA launchers of `kernels/cuda.py` running the .cu files in the emulator when g++ exists
(else the xp references). Nothing registers it: `installed()` puts it under a device name for a test.

As on CuPy, one device is current (`runtime.current`, 0 until the backend's guard, the real DeviceGuard,
switches to the fake's index), and each array remembers the device current when it was made (`made_on`);
under `runtime.tracing()` each array made is also counted in `made` with the line that made it.
"""
from __future__ import annotations

import contextlib
import functools
import operator
import traceback
import weakref
from typing import Any

import numpy as np

from minitorch import backends
from minitorch.backends.base import Backend
from minitorch.backends.cupy_backend import DEVICE_METHODS, DeviceGuard, _on_own_device
from minitorch.device import device as Device
from minitorch.kernels import CudaKernels, KERNEL_DIR, emulator, reference

_SCALARS = (bool, int, float, np.generic)


class Counter:
    """Counts events and keeps the source line that caused each (the innermost frame outside this file)."""

    def __init__(self) -> None:
        self.where: list[str] = []

    def hit(self, what: str) -> None:
        frames = [f for f in traceback.extract_stack()[:-2] if f.filename != __file__]
        f = frames[-1]
        self.where.append(f"{what} at {f.filename.rsplit('/', 2)[-2:]}:{f.lineno}: {f.line}")

    def __len__(self) -> int:
        return len(self.where)

    def clear(self) -> None:
        self.where.clear()


syncs, uploads, made = Counter(), Counter(), Counter()


class FakeRuntime:
    """cupy.cuda.runtime's getDevice/setDevice for the fake: which device is current (0 to start)."""

    def __init__(self) -> None:
        self.current = 0
        self.tracing_arrays = False

    def getDevice(self) -> int:  # noqa: N802  (CuPy's names)
        return self.current

    def setDevice(self, index: int) -> None:  # noqa: N802
        self.current = index

    @contextlib.contextmanager
    def tracing(self) -> Any:
        """Count each array made in `made`, as "device N" (the current one) and the line that made it."""
        made.clear()
        self.tracing_arrays = True
        try:
            yield made
        finally:
            self.tracing_arrays = False


runtime = FakeRuntime()
_wrappers: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # id(ndarray) -> its one FakeArray


def wrap(x: Any) -> Any:
    """Device arrays for NumPy results (a NumPy scalar becomes a 0-d array, as CuPy returns)."""
    if isinstance(x, np.ndarray):
        w = _wrappers.get(id(x))
        if w is None or w._a is not x:  # one wrapper per array, so `is` and `.base` mean what they do
            w = FakeArray(x)
            _wrappers[id(x)] = w
        return w
    if isinstance(x, np.generic):
        return FakeArray(np.asarray(x))
    if isinstance(x, (tuple, list)):
        return type(x)(wrap(v) for v in x)
    return x


def unwrap(x: Any) -> Any:
    """NumPy arrays for a call into NumPy; a host ndarray among device arguments is refused, as CuPy does."""
    if isinstance(x, FakeArray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError("a host numpy.ndarray was passed to a device operation (CuPy refuses it)")
    if isinstance(x, (tuple, list)):
        return type(x)(unwrap(v) for v in x)
    return x


def _call(fn: Any, args: tuple, kwargs: dict) -> Any:
    return wrap(fn(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()}))


class FakeArray:
    """A device array: arithmetic runs (on NumPy), reading a value on the host counts as a sync."""

    __slots__ = ("_a", "made_on", "__weakref__")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, a: np.ndarray) -> None:
        self._a = a
        self.made_on = runtime.current  # CuPy allocates on the current device
        if runtime.tracing_arrays:
            made.hit(f"device {runtime.current}")

    def __array_namespace__(self, api_version: Any = None) -> Any:
        return namespace

    # CuPy arrays take part in NumPy's protocols and stay on the device (np.exp(cupy_array) is a kernel).
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return _call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        return _call(func, args, kwargs)

    # -- reads on the host: each one is a sync ----------------------------------------------------------
    def _read(self, what: str) -> np.ndarray:
        syncs.hit(what)
        return self._a

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self._read("__array__")
        return a.astype(dtype) if dtype is not None else a

    def __bool__(self) -> bool: return bool(self._read("__bool__"))
    def __float__(self) -> float: return float(self._read("__float__"))
    def __int__(self) -> int: return int(self._read("__int__"))
    def __index__(self) -> int: return operator.index(self._read("__index__"))
    def __complex__(self) -> complex: return complex(self._read("__complex__"))
    def item(self, *args: Any) -> Any: return self._read("item()").item(*args)
    def tolist(self) -> Any: return self._read("tolist()").tolist()
    def get(self, *args: Any, **kwargs: Any) -> np.ndarray: return self._read("get()").copy()
    def __repr__(self) -> str: return f"fake_device({self._read('repr')!r})"
    def __format__(self, spec: str) -> str: return format(self._read("format"), spec)
    def __contains__(self, value: Any) -> bool: return value in self._read("in")

    # -- metadata lives on the host: free ------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    base = property(lambda self: wrap(self._a.base))
    T = property(lambda self: wrap(self._a.T))
    mT = property(lambda self: wrap(self._a.mT))
    device = property(lambda self: "fake")

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        return (wrap(row) for row in self._a)

    # -- indexing: a boolean mask is a sync (the result's size is known only after a count) ----------------
    def _key(self, key: Any) -> Any:
        keys = key if isinstance(key, tuple) else (key,)
        if any(isinstance(k, FakeArray) and k.dtype == np.bool_ for k in keys):
            syncs.hit("boolean-mask index")
        return unwrap(key)

    def __getitem__(self, key: Any) -> Any:
        return wrap(self._a[self._key(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[self._key(key)] = unwrap(value)

    def __getattr__(self, name: str) -> Any:  # astype, reshape, copy, sum, ...: device work
        value = getattr(self._a, name)
        if callable(value):
            return lambda *args, **kwargs: _call(value, args, kwargs)
        return wrap(value)


def _operator(name: str) -> Any:
    def op(self: FakeArray, *other: Any) -> Any:
        out = getattr(self._a, name)(*unwrap(other))
        return self if out is self._a else wrap(out)  # in-place operators return the same array
    op.__name__ = name
    return op


for _name in ("add sub mul truediv floordiv mod pow matmul and or xor lshift rshift divmod".split()):
    for _form in (f"__{_name}__", f"__r{_name}__", f"__i{_name}__"):
        if hasattr(np.ndarray, _form):
            setattr(FakeArray, _form, _operator(_form))
for _form in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__neg__", "__pos__", "__abs__",
              "__invert__"):
    setattr(FakeArray, _form, _operator(_form))


class _Wrapped:
    """A NumPy callable (function, ufunc, submodule) whose results are device arrays."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._target, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        return _attribute(getattr(self._target, name))


def _attribute(value: Any) -> Any:
    if isinstance(value, type) or not callable(value) and not hasattr(value, "__dict__"):
        return value  # dtypes, classes, constants
    return _Wrapped(value)


class FakeNamespace:
    """NumPy's namespace on the fake device: `asarray` of host data is an upload (of a scalar: counted)."""

    ndarray = FakeArray

    def __getattr__(self, name: str) -> Any:
        return _attribute(getattr(np, name))

    def asarray(self, obj: Any, dtype: Any = None, copy: Any = None, **kwargs: Any) -> Any:
        if isinstance(obj, FakeArray):
            return wrap(np.asarray(obj._a, dtype=dtype, copy=copy))
        if isinstance(obj, _SCALARS):
            uploads.hit("0-d upload of a host scalar")
        elif isinstance(obj, (list, tuple)) and any(isinstance(v, FakeArray) for v in obj):
            syncs.hit("asarray of a list of device arrays")
        return wrap(np.array(unwrap_host(obj), dtype=dtype, copy=True))

    array = asarray


def unwrap_host(obj: Any) -> Any:
    """Host data for an upload (device arrays inside a list are read: counted by asarray)."""
    if isinstance(obj, FakeArray):
        return obj._a
    if isinstance(obj, (list, tuple)):
        return type(obj)(unwrap_host(v) for v in obj)
    return obj


namespace = FakeNamespace()


class _EmulatedLauncher:
    """An emulated .cu function called with device arrays: the kernel reads them on the device."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, grid: Any, block: Any, args: tuple, **kwargs: Any) -> None:
        self.fn(grid, block, tuple(a._a if isinstance(a, FakeArray) else a for a in args), **kwargs)


class _EmulatedModule:
    def __init__(self, name: str) -> None:
        self.module = emulator.EmulatedModule(KERNEL_DIR / name)

    def get_function(self, name: str) -> _EmulatedLauncher:
        return _EmulatedLauncher(self.module.get_function(name))


@functools.cache
def _load(name: str) -> _EmulatedModule:
    return _EmulatedModule(name)


class FakeCudaBackend(Backend):
    """The CuPy backend's shape without a GPU: reads on the host are syncs, and checks that would read
    are deferred to `raise_pending_errors()`, as on CUDA."""

    name = "fake-cuda"
    device = Device("cuda:7")
    deferred_checks = True

    def __init__(self, launchers: bool = True, index: int = 7) -> None:
        if index != 7:
            self.device = Device(f"cuda:{index}")
        self.guard = DeviceGuard(runtime, index)
        super().__init__()
        use = launchers and emulator.available()
        self._kernels = CudaKernels(_load, namespace) if use else reference

    @property
    def xp(self) -> Any:
        return namespace

    @property
    def kernels(self) -> Any:
        return self._kernels

    def from_host(self, array: np.ndarray) -> Any:
        return wrap(np.array(array, copy=True))

    def to_host(self, array: Any) -> np.ndarray:
        return np.array(array._read("to_host") if isinstance(array, FakeArray) else array, copy=True)

    # The device's own generator: no host round trip.
    def rand(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return wrap(self.rng.random(shape).astype(dtype))

    def randn(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return wrap(self.rng.standard_normal(shape).astype(dtype))

    def index_add(self, target: Any, key: Any, values: Any) -> None:
        np.add.at(target._a, unwrap(key), unwrap(values))


# As CupyBackend: its own methods that allocate run with its device current.
for _name in ("from_host", "rand", "randn", "index_add", *DEVICE_METHODS):
    setattr(FakeCudaBackend, _name, _on_own_device(getattr(FakeCudaBackend, _name)))


@contextlib.contextmanager
def installed(monkeypatch: Any, launchers: bool = True) -> Any:
    """A FakeCudaBackend under its device name ("cuda:7") for the length of a test; yields it."""
    monkeypatch.setattr(runtime, "current", 0)
    backend = FakeCudaBackend(launchers)
    monkeypatch.setitem(backends._backends, str(backend.device), backend)
    syncs.clear()
    uploads.clear()
    yield backend
