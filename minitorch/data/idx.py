"""IDX files, the format of MNIST: a bounded, validating reader and a writer (for tests).

Reading never holds more than the header promises: the header is read first, the declared size
is checked (against `max_bytes`, the file's size on disk, or for gzip a plausible compression
ratio) before anything is allocated, and the payload is then streamed in chunks into one array of
exactly that size. A gzip bomb is stopped one byte past what its header declares.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFileError

__all__ = ["DataFileError", "read_idx", "read_idx_bytes", "parse_idx", "write_idx"]

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
MAX_INFLATION = 100  # a gzipped file may hold at most this many times its size (MNIST's hold ~5x)...
INFLATION_ALLOWANCE = 16 << 20  # ...plus this much (small test files of zeros compress 1000:1)
_CHUNK = 1 << 18  # bytes read at a time: small next to the array being filled
_REFETCH = "delete the file and fetch it again"


def read_idx(path: str | os.PathLike, max_bytes: int | None = None) -> np.ndarray:
    """Read a plain or gzipped IDX file (at most `max_bytes` decompressed); DataFileError names the file."""
    return read_idx_checked(path, max_bytes)[0]


def read_idx_bytes(path: str | os.PathLike, max_bytes: int | None = None) -> bytes:
    """The file's IDX bytes (decompressed when gzipped), read with the same bounds as read_idx."""
    array, header = read_idx_checked(path, max_bytes)
    return header + np.ascontiguousarray(array, array.dtype.newbyteorder(">")).tobytes()


def read_idx_checked(path: str | os.PathLike, max_bytes: int | None = None,
                     md5: Any = None) -> tuple[np.ndarray, bytes]:
    """(native-endian array, header bytes) of an IDX file; `md5`, if given, is fed its decompressed bytes."""
    with open(path, "rb") as f:  # a missing file stays a FileNotFoundError
        size = os.fstat(f.fileno()).st_size
        gz = f.read(2) == _GZIP_MAGIC
        f.seek(0)
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") if gz else contextlib.nullcontext(f) as stream:
                return _stream(stream, path, size, gz, max_bytes, md5)
        except DataFileError:
            raise
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
            what = "corrupt or truncated gzip data" if gz else "read failed"
            raise DataFileError(f"{path}: {what} ({e}); {_REFETCH}") from None


def _stream(f: Any, path: Any, size: int, gz: bool, max_bytes: int | None, md5: Any) -> tuple[np.ndarray, bytes]:
    head = f.read(4)
    if len(head) < 4:
        raise DataFileError(f"{path}: {len(head)} bytes is too short for an IDX header (4 bytes)")
    dtype, ndim = _check_magic(head, path)
    header = head + f.read(4 * ndim)
    if len(header) < 4 + 4 * ndim:
        raise DataFileError(f"{path}: truncated header: {ndim} dimensions need {4 + 4 * ndim} bytes, "
                            f"file has {len(header)}")
    shape = tuple(int(d) for d in np.frombuffer(header, ">u4", ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    needs = f"the header's shape {shape} of {dtype.name} needs {expected}"
    if max_bytes is not None and len(header) + expected > max_bytes:
        raise DataFileError(f"{path}: {needs} bytes, more than the {max_bytes} this file may hold; "
                            f"not the expected file: {_REFETCH}")
    if not gz and size - len(header) != expected:  # the size on disk settles it before any allocation
        found = size - len(header)
        why = "truncated" if found < expected else "trailing bytes"
        raise DataFileError(f"{path}: payload is {found} bytes but {needs} ({why}); {_REFETCH}")
    if gz and expected > INFLATION_ALLOWANCE + MAX_INFLATION * size:
        raise DataFileError(f"{path}: {needs} bytes from {size} gzipped bytes, more than {MAX_INFLATION}x: "
                            f"refused as a gzip bomb; {_REFETCH}")
    if md5 is not None:
        md5.update(header)
    try:
        out = np.empty(shape, dtype)
    except (ValueError, MemoryError):  # e.g. (0, 2**32 - 1, 2**32 - 1): no bytes, but too many elements
        raise DataFileError(f"{path}: the header's shape {shape} cannot be allocated; {_REFETCH}") from None
    view, done = memoryview(out.reshape(-1).view(np.uint8)), 0
    while done < expected:
        chunk = f.read(min(_CHUNK, expected - done))
        if not chunk:
            raise DataFileError(f"{path}: payload is {done} bytes but {needs} (truncated); {_REFETCH}")
        view[done:done + len(chunk)] = chunk
        done += len(chunk)
        if md5 is not None:
            md5.update(chunk)
    if f.read(1):  # at the end of a gzip stream this read also checks its CRC and length
        extra = 1 + _skip(f, INFLATION_ALLOWANCE)
        found = f"{expected + extra}" if extra <= INFLATION_ALLOWANCE else f"more than {expected + extra - 1}"
        raise DataFileError(f"{path}: payload is {found} bytes but {needs} (trailing bytes); {_REFETCH}")
    if not dtype.isnative:
        out = out.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return out, header


def _skip(f: Any, limit: int) -> int:
    """Read and discard up to limit + 1 bytes (to count trailing bytes without keeping them)."""
    n = 0
    while n <= limit:
        chunk = f.read(min(_CHUNK, limit + 1 - n))
        if not chunk:
            break
        n += len(chunk)
    return n


def _check_magic(head: bytes, path: Any) -> tuple[np.dtype, int]:
    code, ndim = head[2], head[3]
    if head[:2] != b"\0\0" or code not in _DTYPES:
        magic = int.from_bytes(head, "big")
        raise DataFileError(
            f"{path}: bad magic number 0x{magic:08X}; an IDX file starts with 0x0000, "
            f"a type code ({_TYPE_NAMES}) and the number of dimensions. "
            f"Not an IDX file, or corrupt: {_REFETCH}"
        )
    if ndim == 0:
        raise DataFileError(f"{path}: IDX header declares 0 dimensions")
    return _DTYPES[code], ndim


def parse_idx(raw: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode IDX bytes already in memory into a native-endian array, checking magic, dims and size."""
    return _stream(io.BytesIO(raw), path, len(raw), False, None, None)[0]


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
    with opener(Path(path), "wb") as f:
        f.write(header + payload)
