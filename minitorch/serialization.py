"""save / load: nested state dicts as one .npz of host arrays plus a JSON manifest; never pickle.

The manifest (stored in the archive as UTF-8 bytes under "__manifest__") mirrors the object's
structure; every tensor or NumPy array in it is a reference "a<N>" to an array in the archive, with
its dtype and shape recorded so a load can check them. Dict keys keep their types (an optimizer's
per-parameter state is keyed by int), and tuples stay tuples.
"""
from __future__ import annotations

import json
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .tensor import Tensor

MANIFEST = "__manifest__"
FORMAT = "minitorch.checkpoint"
VERSION = 1
_SCALARS = (bool, int, float, str, type(None))


def _encode(obj: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    """The manifest node for obj; arrays found on the way are added to `arrays`."""
    if isinstance(obj, Tensor) or isinstance(obj, (np.ndarray, np.generic)):
        host = np.asarray(obj.backend.to_host(obj.array) if isinstance(obj, Tensor) else obj)  # not ascontiguousarray: it makes 0-d 1-d
        if host.dtype == object:
            raise TypeError(f"save: {where} is an object array; only numeric arrays can be saved (no pickle)")
        key = f"a{len(arrays)}"
        arrays[key] = host
        node = {"kind": "tensor" if isinstance(obj, Tensor) else "ndarray", "key": key,
                "dtype": host.dtype.str, "shape": list(host.shape)}
        if isinstance(obj, Tensor):
            node["requires_grad"] = bool(obj.requires_grad)
            node["parameter"] = type(obj).__name__ == "Parameter"
        elif isinstance(obj, np.generic):
            node["kind"] = "npscalar"
        return node
    if isinstance(obj, _SCALARS):
        return {"kind": "value", "value": obj}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, _SCALARS):
                raise TypeError(f"save: {where} has a key of type {type(k).__name__}; keys must be str, int, "
                                "float, bool or None")
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"kind": "dict", "items": items}
    if isinstance(obj, (list, tuple)):
        return {"kind": type(obj).__name__,
                "items": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(f"save: cannot save {where} of type {type(obj).__name__}; a checkpoint holds tensors, arrays, "
                    "numbers, strings, None and dicts/lists/tuples of them (use module.state_dict())")


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write obj (e.g. {"model": model.state_dict(), "epoch": 3}) to `path` atomically."""
    arrays: dict[str, np.ndarray] = {}
    manifest = {"format": FORMAT, "version": VERSION, "root": _encode(obj, arrays, "obj")}
    arrays[MANIFEST] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    # Write beside the target and rename: a crash mid-write leaves the old checkpoint untouched,
    # and os.replace is atomic within one filesystem.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as f:  # "x": never clobber; plain open (not mkstemp) honours the umask
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class _Decoder:
    def __init__(self, archive: Any, device: Any) -> None:
        self.archive, self.device = archive, device

    def __call__(self, node: dict[str, Any]) -> Any:
        kind = node["kind"]
        if kind == "value":
            return node["value"]
        if kind == "dict":
            return {k: self(v) for k, v in node["items"]}
        if kind in ("list", "tuple"):
            items = [self(v) for v in node["items"]]
            return items if kind == "list" else tuple(items)
        if kind not in ("tensor", "ndarray", "npscalar"):
            raise ValueError(f"unknown manifest node kind {kind!r}")
        host = self.archive[node["key"]]
        if host.dtype.str != node["dtype"] or list(host.shape) != node["shape"]:
            raise ValueError(f"array {node['key']} is {host.dtype.str} {list(host.shape)}, the manifest says "
                             f"{node['dtype']} {node['shape']}")
        if kind == "ndarray":
            return host
        if kind == "npscalar":
            return host[()]
        t = Tensor(host, device=self.device)  # an ndarray keeps its dtype exactly (no float64 -> float32)
        if node.get("parameter"):
            from .nn import Parameter
            return Parameter(t, requires_grad=node.get("requires_grad", True))
        return t.requires_grad_(True) if node.get("requires_grad") else t


def load(path: str | os.PathLike, device: Any = None) -> Any:
    """Read a checkpoint written by save(); tensors go to `device` (default: the default device)."""
    name = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"it holds a single .npy array of shape {archive.shape}, not an .npz archive")
        with archive:
            return _read(archive, device)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, TypeError) as exc:
        hint = " (pickled objects are refused)" if "pickle" in str(exc).lower() else ""
        raise ValueError(f"cannot load {name!r}: corrupt, truncated or not a minitorch checkpoint{hint}: "
                         f"{exc}") from exc


def _read(archive: Any, device: Any) -> Any:
    if MANIFEST not in archive.files:
        # A plain np.savez archive: its arrays, by name, as tensors.
        return {key: Tensor(archive[key], device=device) for key in archive.files}
    manifest = json.loads(bytes(archive[MANIFEST]).decode("utf-8"))
    if manifest.get("format") != FORMAT:
        raise ValueError(f"manifest format is {manifest.get('format')!r}, not {FORMAT!r}")
    if manifest.get("version", 0) > VERSION:
        raise ValueError(f"checkpoint version {manifest['version']} is newer than this minitorch "
                         f"(reads up to {VERSION})")
    return _Decoder(archive, device)(manifest["root"])
