""".npz archives read with bounded memory: every size is checked before any data is read.

A zip directory and each .npy header declare sizes; a hostile file can make them lie or make them
huge. Here they are checked against each other and against the file first: stored members must
fit in the file, deflated ones may expand at most MAX_INFLATION times (a zip bomb is refused
before it inflates), a .npy header is at most MAX_NPY_HEADER bytes and its shape must match the
member's size exactly. Only then is one array allocated, and filled in chunks. Object arrays
(pickle) are never read. Every failure is a CheckpointError naming the file.
"""
from __future__ import annotations

import io
import math
import zipfile
from typing import Any

import numpy as np

from .errors import CheckpointError

__all__ = ["NpzArchive", "npy_header", "MAX_INFLATION", "INFLATION_ALLOWANCE", "MAX_NPY_HEADER"]

MAX_INFLATION = 100  # deflated members may hold at most this many times their compressed size...
INFLATION_ALLOWANCE = 16 << 20  # ...plus this much in all (a small all-zero array deflates 1000:1)
MAX_NPY_HEADER = 10000  # numpy's own limit for a .npy header
ARRAY_KINDS = "biufcUSMm"  # numbers, bool, text, dates; never objects or structured records
_CHUNK = 1 << 18  # bytes read at a time: small next to the array being filled


def _error(name: str, what: str) -> CheckpointError:
    return CheckpointError(f"cannot load {name!r}: {what}")


def npy_header(f: Any, name: str, member: str) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, fortran_order, header length) of the .npy stream `f`; the header is read bounded."""
    head = f.read(8)
    if len(head) < 8 or head[:6] != b"\x93NUMPY":
        raise _error(name, f"{member}: not a .npy array (no \\x93NUMPY magic)")
    size_len = {1: 2, 2: 4}.get(head[6])
    if size_len is None:
        raise _error(name, f"{member}: .npy format version {head[6]}.{head[7]} is not supported")
    length = f.read(size_len)
    header_len = int.from_bytes(length, "little")
    if len(length) < size_len or header_len > MAX_NPY_HEADER:
        raise _error(name, f"{member}: .npy header length {header_len} is truncated or over {MAX_NPY_HEADER}")
    header = f.read(header_len)
    if len(header) < header_len:
        raise _error(name, f"{member}: truncated .npy header")
    buf = io.BytesIO(head + length + header)  # numpy parses it: one parser, and a safe one (literal_eval)
    try:
        version = np.lib.format.read_magic(buf)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(buf, max_header_size=MAX_NPY_HEADER)
    except Exception as exc:  # ValueError, SyntaxError, TypeError... from a damaged header
        raise _error(name, f"{member}: corrupt .npy header ({exc})") from None
    if dtype.hasobject:
        raise _error(name, f"{member} holds Python objects (dtype object); reading them needs pickle, "
                           "which minitorch refuses")
    if dtype.kind not in ARRAY_KINDS or dtype.itemsize == 0:
        raise _error(name, f"{member}: dtype {dtype} is not supported (numbers, bool, text and dates only)")
    if len(shape) > 32 or any(d < 0 for d in shape):
        raise _error(name, f"{member}: invalid shape {shape}")
    return dtype, tuple(int(d) for d in shape), bool(fortran), 8 + size_len + header_len


class NpzArchive:
    """An open .npz (a zip of .npy files): its directory checked up front, arrays read on request."""

    def __init__(self, archive: zipfile.ZipFile, name: str, size: int) -> None:
        """`size`: the file's size in bytes; no member may claim to reach past it."""
        self.archive, self.name = archive, name
        self.members: dict[str, zipfile.ZipInfo] = {}  # array name (no .npy) -> its directory entry
        # zipfile does not compare the entries it parsed with the count the end record declares: a
        # damaged length field can hide entries (the manifest, say) without any error.
        end = zipfile._EndRecData(archive.fp)  # zipfile's own reader of that record
        declared = end[zipfile._ECD_ENTRIES_TOTAL] if end else None
        if declared != len(archive.infolist()):
            raise self.fail(f"its zip directory lists {len(archive.infolist())} members, its end record "
                            f"{declared}: corrupt")
        inflated = deflated = 0
        for info in archive.infolist():
            key, what = info.filename.removesuffix(".npy"), f"member {info.filename!r}"
            if key == info.filename or key in self.members:
                raise self.fail(f"{what} is {'a duplicate' if key in self.members else 'not an .npy array'}")
            if info.flag_bits & 0x1:
                raise self.fail(f"{what} is encrypted")
            if info.compress_type == zipfile.ZIP_DEFLATED:
                inflated, deflated = inflated + info.file_size, deflated + info.compress_size
            elif info.compress_type != zipfile.ZIP_STORED:
                raise self.fail(f"{what} uses compression method {info.compress_type} (only stored and deflated)")
            elif info.compress_size != info.file_size:
                raise self.fail(f"{what} is stored uncompressed but its sizes differ "
                                f"({info.compress_size} and {info.file_size} bytes)")
            if info.header_offset + info.compress_size > size:
                raise self.fail(f"{what} extends past the end of the file ({size} bytes): truncated")
            self.members[key] = info
        if inflated > INFLATION_ALLOWANCE + MAX_INFLATION * deflated:
            raise self.fail(f"its compressed members would inflate from {deflated:,} to {inflated:,} bytes, more "
                            f"than {MAX_INFLATION}x: refused as a zip bomb (if you trust it, read it with numpy.load)")
        for info in self.members.values():  # every header against its member's size, before any data
            with archive.open(info) as f:
                self._checked_header(f, info)

    def fail(self, what: str) -> CheckpointError:
        """The error for this file."""
        return _error(self.name, what)

    def size(self, key: str) -> int:
        """The member's declared size (header and data), as the directory says."""
        return self.members[key].file_size

    def array(self, key: str) -> np.ndarray:
        """The member's array, read in chunks into memory allocated once, for the checked size."""
        info = self.members[key]
        with self.archive.open(info) as f:
            dtype, shape, fortran, nbytes = self._checked_header(f, info)
            try:
                out = np.empty(shape[::-1] if fortran else shape, dtype)
            except (ValueError, MemoryError):  # (0, 2**62, 2**62): no bytes, but too many elements
                raise self.fail(f"{info.filename}: shape {shape} of {dtype} cannot be allocated") from None
            view, done = memoryview(out.reshape(-1).view(np.uint8)), 0
            while done < nbytes:
                chunk = f.read(min(_CHUNK, nbytes - done))
                if not chunk:
                    raise self.fail(f"{info.filename} ends after {done:,} of {nbytes:,} bytes: truncated")
                view[done:done + len(chunk)] = chunk
                done += len(chunk)
            if f.read(1):  # (also where zipfile checks the CRC)
                raise self.fail(f"{info.filename} has bytes after its data")
        return out.T if fortran else out

    def _checked_header(self, f: Any, info: zipfile.ZipInfo) -> tuple[np.dtype, tuple[int, ...], bool, int]:
        """(dtype, shape, fortran order, data bytes) from the member's .npy header, which must match its size."""
        dtype, shape, fortran, header = npy_header(f, self.name, info.filename)
        nbytes = math.prod(shape) * dtype.itemsize
        if header + nbytes != info.file_size:
            raise self.fail(f"{info.filename} declares shape {shape} of {dtype} ({nbytes:,} bytes) but holds "
                            f"{max(info.file_size - header, 0):,} bytes of data")
        return dtype, shape, fortran, nbytes
