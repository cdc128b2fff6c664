"""Builders for hostile files: gzip and zip bombs made in milliseconds, .npy headers, raw zip archives.

A deflate stream of N MiB of zeros is one compressed MiB repeated (each segment ends in a full
flush, so it stands alone), and its CRC-32 is computed with the "append zeros" map instead of
over the bytes: a valid 1 GiB bomb costs ~20 ms to build instead of seconds.
"""
from __future__ import annotations

import ast
import struct
import zlib

import numpy as np

MiB = 1 << 20


def _append_zeros(n: int):
    """The CRC-32 update for n zero bytes, as a function of the running CRC (it is affine)."""
    zeros = bytes(n)
    base = zlib.crc32(zeros, 0)
    cols = [zlib.crc32(zeros, 1 << i) ^ base for i in range(32)]

    def apply(crc: int) -> int:
        out = base
        for i in range(32):
            if crc >> i & 1:
                out ^= cols[i]
        return out

    return apply


def deflate_zeros(prefix: bytes, mib: int) -> tuple[bytes, int, int]:
    """(raw deflate stream, CRC-32, size) of `prefix` followed by zeros, `mib` MiB in all."""
    assert len(prefix) < MiB
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = first.compress(prefix + bytes(MiB - len(prefix))) + first.flush(zlib.Z_FULL_FLUSH)
    again = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = again.compress(bytes(MiB)) + again.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    crc, step = zlib.crc32(prefix + bytes(MiB - len(prefix))), _append_zeros(MiB)
    for _ in range(mib - 1):
        crc = step(crc)
    return head + segment * (mib - 1) + end, crc, mib * MiB


def gzip_zeros(prefix: bytes, mib: int) -> bytes:
    """A valid .gz of `prefix` followed by zeros, `mib` MiB in all (about 1 KB per MiB)."""
    body, crc, size = deflate_zeros(prefix, mib)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + struct.pack("<II", crc, size & 0xFFFFFFFF)


def npy_header(dtype: str, shape: tuple, fortran: bool = False) -> bytes:
    """A version 1.0 .npy header (magic, length, padded dict) as numpy writes it."""
    text = repr({"descr": dtype, "fortran_order": fortran, "shape": tuple(shape)})
    ast.literal_eval(text)
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def zip_archive(members: list[tuple[str, bytes, int, int, int, int]]) -> bytes:
    """A zip file of (name, data as stored, method 0|8, crc, compressed size, size) members, written raw
    so that its directory can say whatever a test needs."""
    out, central = bytearray(), bytearray()
    for name, data, method, crc, csize, size in members:
        raw = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, csize, size, len(raw), 0)
        out += raw + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, csize, size,
                               len(raw), 0, 0, 0, 0, 0, offset)
        central += raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + end)


def stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int, int]:
    """A zip member stored as is."""
    return name, data, 0, zlib.crc32(data), len(data), len(data)


def deflated_zeros(name: str, prefix: bytes, mib: int) -> tuple[str, bytes, int, int, int, int]:
    """A deflated zip member: `prefix` then zeros, `mib` MiB in all."""
    body, crc, size = deflate_zeros(prefix, mib)
    return name, body, 8, crc, len(body), size


def npy(array: np.ndarray) -> bytes:
    """The .npy bytes of an array."""
    import io
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()
