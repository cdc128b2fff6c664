"""save / load: nested state dicts as one .npz of host arrays plus a JSON manifest; never pickle.

The manifest (stored in the archive as UTF-8 bytes under "__manifest__") mirrors the object's
structure; every tensor or NumPy array in it is a reference "a<N>" to an array in the archive, with
its dtype and shape recorded so a load can check them. Dict keys keep their types (an optimizer's
per-parameter state is keyed by int), tuples stay tuples, and an array object that appears twice
is stored once and comes back as one object.

Writing is atomic and durable: a temp file beside the target, fsynced, renamed over it, then the
folder fsynced. Temp files left by writers that died are removed at the next save.

Reading is bounded: the archive is read through npz.NpzArchive, which checks every size before
reading any data (a zip bomb is refused before it inflates); the manifest is at most MAX_MANIFEST
bytes and MAX_DEPTH levels deep; an array referenced many times is read once; only bool, integer
and floating-point arrays become Tensors. Every failure is a CheckpointError that names the file
and what is wrong.
"""
from __future__ import annotations

import errno
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError, CheckpointWriteError
from .files import atomic_write, sync_folder
from .npz import ARRAY_KINDS, NpzArchive, npy_header
from .tensor import Tensor

MANIFEST = "__manifest__"
FORMAT = "minitorch.checkpoint"
VERSION = 1
MAX_MANIFEST = 16 << 20  # bytes of JSON (~100,000 tensors); parsing takes about 7x this in objects
MAX_DEPTH = 64  # nesting of dicts, lists and tuples
_SCALARS = (bool, int, float, str, type(None))
_TENSOR_DTYPES = frozenset(np.dtype(n) for n in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64"))


# -- save ---------------------------------------------------------------------------------------
def _encode(obj: Any, arrays: dict[str, np.ndarray], seen: dict[int, dict], where: str, depth: int) -> Any:
    """The manifest node for obj; arrays found on the way are added to `arrays`."""
    if depth > MAX_DEPTH:
        raise TypeError(f"save: {where} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(obj, (Tensor, np.ndarray, np.generic)):
        if id(obj) in seen:  # the same object twice (a tied weight): stored once, loaded as one object
            return seen[id(obj)]
        # np.asarray, not ascontiguousarray: that makes 0-d arrays 1-d
        host = np.asarray(obj.backend.to_host(obj.array) if isinstance(obj, Tensor) else obj)
        if host.dtype.kind not in ARRAY_KINDS or host.dtype.itemsize == 0:
            what = "an object" if host.dtype.kind == "O" else f"a {host.dtype}"
            raise TypeError(f"save: {where} is {what} array; only numeric, bool, text and date arrays can be "
                            "saved (no pickle)")
        key = f"a{len(arrays)}"
        arrays[key] = host
        node = {"kind": "tensor" if isinstance(obj, Tensor) else "ndarray", "key": key,
                "dtype": host.dtype.str, "shape": list(host.shape)}
        if isinstance(obj, Tensor):
            node["requires_grad"] = bool(obj.requires_grad)
            node["parameter"] = type(obj).__name__ == "Parameter"
        elif isinstance(obj, np.generic):
            node["kind"] = "npscalar"
        if not isinstance(obj, np.generic):  # NumPy scalars are values: no identity to keep
            seen[id(obj)] = node
        return node
    if isinstance(obj, _SCALARS):
        return {"kind": "value", "value": obj}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, _SCALARS):
                raise TypeError(f"save: {where} has a key of type {type(k).__name__}; keys must be str, int, "
                                "float, bool or None")
            items.append([k, _encode(v, arrays, seen, f"{where}[{k!r}]", depth + 1)])
        return {"kind": "dict", "items": items}
    if isinstance(obj, (list, tuple)):
        return {"kind": type(obj).__name__,
                "items": [_encode(v, arrays, seen, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]}
    raise TypeError(f"save: cannot save {where} of type {type(obj).__name__}; a checkpoint holds tensors, arrays, "
                    "numbers, strings, None and dicts/lists/tuples of them (use module.state_dict())")


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write obj (e.g. {"model": model.state_dict(), "epoch": 3}) to `path` atomically and durably."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    manifest = {"format": FORMAT, "version": VERSION, "root": _encode(obj, arrays, {}, "obj", 0)}
    arrays[MANIFEST] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    try:
        atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))
    except OSError as exc:
        raise _write_error(path, exc, "the file that was there is unchanged") from exc
    try:
        sync_folder(path)
    except OSError as exc:
        raise _write_error(path, exc, "the new file is in place but may not survive a power loss") from exc


def _write_error(path: Path, exc: OSError, consequence: str) -> CheckpointWriteError:
    hint = " (does the folder exist?)" if exc.errno == errno.ENOENT else ""
    err = CheckpointWriteError(f"cannot save {os.fspath(path)!r}: {exc.strerror or exc}{hint}; {consequence}")
    err.errno = exc.errno
    return err


def load(path: str | os.PathLike, device: Any = None) -> Any:
    """Read a checkpoint written by save() (or a plain .npz of numeric arrays); tensors go to `device`."""
    from .backends import get_backend

    backend = get_backend(device)  # a bad device is the caller's error, reported before the file is read
    name = os.fspath(path)
    with open(path, "rb") as f:  # a missing file is a FileNotFoundError, as in PyTorch
        try:
            size = os.fstat(f.fileno()).st_size
            if f.read(6) == b"\x93NUMPY":
                raise _single_npy(f, name)
            f.seek(0)
            with zipfile.ZipFile(f) as archive:
                return _Decoder(NpzArchive(archive, name, size), backend).read()
        except CheckpointError:
            raise
        except MemoryError:
            raise CheckpointError(f"cannot load {name!r}: not enough memory for the arrays it holds") from None
        except RecursionError:
            raise CheckpointError(f"cannot load {name!r}: its structure is nested too deeply") from None
        except Exception as exc:  # zipfile, zlib and the OS raise many kinds for a damaged file
            raise CheckpointError(f"cannot load {name!r}: corrupt, truncated or not a minitorch checkpoint: "
                                  f"{type(exc).__name__}: {exc}") from exc


def _single_npy(f: Any, name: str) -> CheckpointError:
    try:
        f.seek(0)
        dtype, shape, _, _ = npy_header(f, name, "it")
        what = f"a single .npy array of shape {shape} and dtype {dtype}"
    except CheckpointError:
        what = "a damaged single .npy array"
    return CheckpointError(f"cannot load {name!r}: it holds {what}, not an .npz archive (numpy.load reads it)")


class _Decoder:
    """Builds the saved object from the manifest; each array is read once, however often it is referenced."""

    def __init__(self, archive: NpzArchive, backend: Any) -> None:
        self.archive, self.backend, self.fail = archive, backend, archive.fail
        self.done: dict[str, tuple[tuple, Any]] = {}  # key -> (how it was referenced, the object)

    def read(self) -> Any:
        members = self.archive.members
        if MANIFEST not in members:  # a plain np.savez archive: its arrays, by name, as tensors
            return {key: self.tensor(self.archive.array(key), key, False, False) for key in members}
        if self.archive.size(MANIFEST) > MAX_MANIFEST:
            raise self.fail(f"its manifest is {self.archive.size(MANIFEST):,} bytes, more than the "
                            f"{MAX_MANIFEST:,} a checkpoint needs")
        raw = self.archive.array(MANIFEST)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise self.fail(f"its manifest is a {raw.dtype} array of shape {raw.shape}, not UTF-8 bytes")
        try:
            manifest = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:  # ValueError: bad JSON, or a number with 5000 digits
            raise self.fail(f"its manifest cannot be parsed as JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
            raise self.fail(f"manifest format is {got!r}, not {FORMAT!r}")
        if "root" not in manifest:
            raise self.fail("its manifest has no root entry")
        version = manifest.get("version", 0)
        if type(version) is not int or version > VERSION:
            raise self.fail(f"checkpoint version {version!r} is newer than this minitorch (reads up to {VERSION})")
        return self.node(manifest["root"], "obj", 0)

    def node(self, node: Any, where: str, depth: int) -> Any:
        kind = node.get("kind") if isinstance(node, dict) else None
        if depth > MAX_DEPTH:
            raise self.fail(f"{where} is nested more than {MAX_DEPTH} levels deep")
        if kind == "value" and isinstance(node.get("value", ()), _SCALARS):
            return node["value"]
        items = node.get("items") if isinstance(node, dict) else None
        if kind == "dict" and isinstance(items, list):
            out = {}
            for pair in items:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], _SCALARS)):
                    raise self.fail(f"manifest entry {where} has a malformed item {str(pair)[:80]}")
                out[pair[0]] = self.node(pair[1], f"{where}[{pair[0]!r}]", depth + 1)
            return out
        if kind in ("list", "tuple") and isinstance(items, list):
            values = [self.node(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(items)]
            return values if kind == "list" else tuple(values)
        if kind in ("tensor", "ndarray", "npscalar"):
            return self.reference(node, kind, where)
        raise self.fail(f"manifest entry {where} is not a valid node: {str(node)[:80]}")

    def reference(self, node: dict, kind: str, where: str) -> Any:
        key, dtype, shape = node.get("key"), node.get("dtype"), node.get("shape")
        grad, param = node.get("requires_grad", False), node.get("parameter", False)
        if not (isinstance(key, str) and isinstance(dtype, str) and isinstance(shape, list)
                and all(type(d) is int for d in shape) and type(grad) is bool and type(param) is bool):
            raise self.fail(f"manifest entry {where} is not a valid array reference: {str(node)[:80]}")
        how = (kind, dtype, shape, grad, param)
        if key in self.done:  # a shared reference: the object already built, never a second copy
            if self.done[key][0] != how:
                raise self.fail(f"array {key} is referenced twice with different dtype, shape or kind")
            return self.done[key][1]
        if key not in self.archive.members or key == MANIFEST:
            raise self.fail(f"manifest entry {where} refers to array {key!r}, which the archive does not hold")
        host = self.archive.array(key)
        if host.dtype.str != dtype or list(host.shape) != shape:
            raise self.fail(f"array {key} is {host.dtype.str} {list(host.shape)}, the manifest says {dtype} {shape}")
        if kind == "npscalar" and host.ndim:
            raise self.fail(f"manifest entry {where}: a NumPy scalar must have shape [], not {shape}")
        obj = host if kind == "ndarray" else host[()] if kind == "npscalar" else self.tensor(host, key, grad, param)
        self.done[key] = (how, obj)
        return obj

    def tensor(self, host: np.ndarray, key: str, requires_grad: bool, parameter: bool) -> Tensor:
        if not host.dtype.isnative:
            host = host.byteswap(inplace=True).view(host.dtype.newbyteorder("="))
        if host.dtype not in _TENSOR_DTYPES:
            raise self.fail(f"array {key} has dtype {host.dtype}; only bool, integer and floating-point arrays "
                            "become tensors")
        if requires_grad and host.dtype.kind != "f":
            raise self.fail(f"array {key} is {host.dtype} but marked requires_grad (only floats can be)")
        if not host.flags.c_contiguous:
            host = np.ascontiguousarray(host)
        # The CPU adopts the freshly read array as it is; other devices copy it over.
        array = host if self.backend.name == "numpy" else self.backend.from_host(host)
        t = Tensor._make(array, self.backend, requires_grad, None)
        if parameter:
            from .nn import Parameter
            return Parameter(t, requires_grad=requires_grad)
        return t
