"""IDX files, the format of MNIST: a validating reader and a writer (for tests)."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["DataFileError", "read_idx", "read_idx_bytes", "parse_idx", "write_idx"]


class DataFileError(ValueError):
    """A data file exists but is corrupt, truncated, or not the file expected."""


# Type code (third magic byte) -> big-endian dtype, as the IDX format defines them.
_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {(dt.kind, dt.itemsize): code for code, dt in _DTYPES.items()}
_TYPE_NAMES = ", ".join(f"0x{c:02X} {dt.name}" for c, dt in _DTYPES.items())
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """The file's IDX bytes, decompressed when it is gzipped (detected by content)."""
    raw = Path(path).read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        # A download cut short looks exactly like this; say so, and what to do.
        raise DataFileError(
            f"{path}: corrupt or truncated gzip data ({e}); delete the file and fetch it again"
        ) from None


def parse_idx(raw: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into a native-endian array, checking magic, dims and payload size."""
    if len(raw) < 4:
        raise DataFileError(f"{path}: {len(raw)} bytes is too short for an IDX header (4 bytes)")
    code, ndim = raw[2], raw[3]
    if raw[:2] != b"\0\0" or code not in _DTYPES:
        magic = int.from_bytes(raw[:4], "big")
        raise DataFileError(
            f"{path}: bad magic number 0x{magic:08X}; an IDX file starts with 0x0000, "
            f"a type code ({_TYPE_NAMES}) and the number of dimensions. "
            "Not an IDX file, or corrupt: delete it and fetch it again"
        )
    if ndim == 0:
        raise DataFileError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(
            f"{path}: truncated header: {ndim} dimensions need {header} bytes, file has {len(raw)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    dtype = _DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        why = "truncated" if found < expected else "trailing bytes"
        raise DataFileError(
            f"{path}: payload is {found} bytes but the header's shape {shape} of {dtype.name} "
            f"needs {expected} ({why}); delete the file and fetch it again"
        )
    data = np.frombuffer(raw, dtype, math.prod(shape), offset=header).reshape(shape)
    # astype copies: the result is native-endian and writable (frombuffer over bytes is read-only).
    return data.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a plain or gzipped IDX file; raise DataFileError naming the file if it is invalid."""
    return parse_idx(read_idx_bytes(path), path)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write `array` as an IDX file, gzipped when `path` ends in .gz."""
    array = np.asarray(array)
    code = _CODES.get((array.dtype.kind, array.dtype.itemsize))
    if code is None or array.ndim == 0 or array.ndim > 255:
        raise ValueError(
            f"write_idx: cannot store dtype {array.dtype} with {array.ndim} dims "
            f"(IDX supports 1-255 dims of: {_TYPE_NAMES})"
        )
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = np.ascontiguousarray(array, _DTYPES[code]).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + payload)
