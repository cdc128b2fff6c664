"""EmulatedModule / EmulatedFunction: the CPU stand-ins for cupy.RawModule / cupy.RawKernel."""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import numpy as np

from .build import EmulatorError, build, compiler

_C_NAMES = {"b1": "bool", "i1": "signed char", "u1": "unsigned char", "i2": "short", "u2": "unsigned short",
            "i4": "int", "u4": "unsigned int", "i8": "long long", "u8": "unsigned long long",
            "f4": "float", "f8": "double"}
_NP_NAMES = {"b1": "np.bool_", "i1": "np.int8", "u1": "np.uint8", "i2": "np.int16", "u2": "np.uint16",
             "i4": "np.int32", "u4": "np.uint32", "i8": "np.int64", "u8": "np.uint64",
             "f4": "np.float32", "f8": "np.float64"}
_ERR_LEN = 4096
_libraries: dict[Path, ctypes.CDLL] = {}
_lock = threading.Lock()


def available() -> bool:
    """True when g++ is present, so kernels can be built and run on the CPU."""
    return compiler() is not None


def _c_name(code: str) -> str:
    if code.startswith("P"):
        return (_c_name(code[1:]) if len(code) > 1 else "void") + "*"
    return _C_NAMES.get(code, f"a {code[1:]}-byte struct")


def _fits(dtype: np.dtype, code: str) -> bool:
    """Whether values of dtype have the C type's size and kind (signedness is not checked)."""
    kind, size = code[0], int(code[1:])
    if kind == "S":
        return dtype.itemsize == size
    if dtype.itemsize != size:
        return False
    if kind == "f":
        return dtype.kind == "f"
    return dtype.kind in ("iub" if size == 1 else "iu")


def _dims(value, what: str) -> tuple[int, int, int]:
    dims = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not 1 <= len(dims) <= 3 or not all(isinstance(d, (int, np.integer)) for d in dims):
        raise TypeError(f"{what} must be an int or a tuple of 1 to 3 ints, got {value!r}")
    if any(not 0 <= int(d) < 2**32 for d in dims):
        raise ValueError(f"{what} {value!r} has a negative or oversized dimension")
    return tuple(int(d) for d in dims) + (1,) * (3 - len(dims))  # type: ignore[return-value]


class EmulatedFunction:
    """One kernel; call as kernel(grid, block, args, shared_mem=0), like cupy.RawKernel."""

    def __init__(self, lib: ctypes.CDLL, name: str) -> None:
        self.name = name
        self.max_dynamic_shared_size_bytes = 48 * 1024  # CUDA's default; raise it as with CuPy
        sig = getattr(lib, f"cuda_emu_signature_{name}")
        sig.restype = ctypes.c_char_p
        text = sig().decode()
        self.param_codes: tuple[str, ...] = tuple(text.split(",")) if text else ()
        self._launch = getattr(lib, f"cuda_emu_launch_{name}")
        self._launch.restype = ctypes.c_int
        self._launch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                                 ctypes.c_char_p, ctypes.c_size_t]

    @property
    def signature(self) -> str:
        """The kernel's parameter types as C (const dropped), e.g. "(float*, int)"."""
        return "(" + ", ".join(_c_name(c) for c in self.param_codes) + ")"

    def _pack(self, i: int, code: str, arg) -> ctypes._SimpleCData | ctypes.Array:
        where = f"kernel '{self.name}' argument {i} ({_c_name(code)})"
        if isinstance(arg, (bool, int, float, complex)) and not isinstance(arg, np.generic):
            hint = _NP_NAMES.get(code, "np.<dtype>") if not code.startswith("P") else "a NumPy array"
            raise TypeError(f"{where}: got a Python {type(arg).__name__}; pass {hint}(...) "
                            "so the C type is explicit, as cupy.RawKernel requires")
        if code.startswith("P"):
            if not isinstance(arg, np.ndarray):
                raise TypeError(f"{where}: expected a NumPy array (device pointer), got {type(arg).__name__}")
            if not arg.flags.c_contiguous:
                raise TypeError(f"{where}: the array must be C-contiguous (use np.ascontiguousarray)")
            if len(code) > 1 and code[1] != "S" and not _fits(arg.dtype, code[1:]):
                raise TypeError(f"{where}: got a {arg.dtype} array")
            return ctypes.c_void_p(arg.ctypes.data)
        if not isinstance(arg, np.generic):
            raise TypeError(f"{where}: expected a NumPy scalar such as {_NP_NAMES.get(code, 'np.int32')}(...), "
                            f"got {type(arg).__name__}")
        if not _fits(arg.dtype, code):
            raise TypeError(f"{where}: got {type(arg).__name__}; pass {_NP_NAMES.get(code, 'a matching scalar')}")
        return ctypes.create_string_buffer(arg.tobytes(), arg.dtype.itemsize)

    def __call__(self, grid, block, args, *, shared_mem: int = 0) -> None:
        """Launches the kernel and waits for it; device errors raise EmulatorError."""
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"kernel '{self.name}': args must be a tuple, got {type(args).__name__}")
        if len(args) != len(self.param_codes):
            raise TypeError(f"kernel '{self.name}' takes {len(self.param_codes)} arguments "
                            f"{self.signature}, got {len(args)}")
        g, b = _dims(grid, "grid"), _dims(block, "block")
        if not 0 <= int(shared_mem) <= self.max_dynamic_shared_size_bytes:
            raise EmulatorError(f"kernel '{self.name}': shared_mem={shared_mem} exceeds "
                                f"max_dynamic_shared_size_bytes={self.max_dynamic_shared_size_bytes}")
        values = [self._pack(i, c, a) for i, (c, a) in enumerate(zip(self.param_codes, args))]
        argv = (ctypes.c_void_p * max(1, len(values)))(*[ctypes.addressof(v) for v in values])
        err = ctypes.create_string_buffer(_ERR_LEN)
        rc = self._launch((ctypes.c_uint * 3)(*g), (ctypes.c_uint * 3)(*b), int(shared_mem), argv, err, _ERR_LEN)
        if rc:
            raise EmulatorError(err.value.decode(errors="replace"))

    def __repr__(self) -> str:
        return f"<EmulatedFunction {self.name}{self.signature}>"


class EmulatedModule:
    """A .cu source compiled with g++ whose kernels run on the CPU; mirrors cupy.RawModule."""

    def __init__(self, path_or_source: str | os.PathLike | None = None, options=(), *,
                 code: str | None = None, path: str | os.PathLike | None = None,
                 sanitize: bool | None = None) -> None:
        if path_or_source is not None:
            text = os.fspath(path_or_source)
            is_path = isinstance(path_or_source, os.PathLike) or (
                "\n" not in text and (text.endswith((".cu", ".cuh")) or os.path.isfile(text)))
            path, code = (text, None) if is_path else (None, text)
        if (code is None) == (path is None):
            raise TypeError("EmulatedModule needs exactly one of a source string (code=) or a file (path=)")
        if sanitize is None:
            sanitize = os.environ.get("MINITORCH_EMU_ASAN", "") not in ("", "0")
        search: tuple[Path, ...] = ()
        if path is not None:
            file = Path(path).resolve()
            code, origin, search = file.read_text(), str(file), (file.parent,)
        else:
            origin = "<source>"
        self.sanitize = bool(sanitize)
        self.library_path, self.kernel_names, self.from_cache = build(
            code, origin, tuple(options), self.sanitize, search)
        self._lib = _load(self.library_path, self.sanitize)
        self._functions: dict[str, EmulatedFunction] = {}

    def get_function(self, name: str) -> EmulatedFunction:
        """The kernel called name (an `extern "C" __global__` function of the source)."""
        if name not in self._functions:
            if name not in self.kernel_names:
                raise EmulatorError(f"no kernel '{name}' in module; it has {', '.join(self.kernel_names)}")
            self._functions[name] = EmulatedFunction(self._lib, name)
        return self._functions[name]


def _load(lib_path: Path, sanitize: bool) -> ctypes.CDLL:
    with _lock:
        if lib_path not in _libraries:
            try:
                _libraries[lib_path] = ctypes.CDLL(str(lib_path))
            except OSError as e:
                hint = (" An AddressSanitizer build needs the ASan runtime loaded first: run Python with "
                        "LD_PRELOAD=$(g++ -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0."
                        if sanitize else "")
                raise EmulatorError(f"cannot load {lib_path}: {e}.{hint}") from e
        return _libraries[lib_path]
