"""The IDX reader: round trips, and corrupt files rejected with the file named."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from minitorch.data.idx import DataFileError, read_idx, write_idx

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5)])
def test_round_trip(tmp_path: Path, dtype: str, suffix: str, shape: tuple) -> None:
    array = (np.arange(np.prod(shape)) - 3).reshape(shape).astype(dtype)
    path = tmp_path / f"x-idx{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    back[0] = 1  # the result is an ordinary writable array


def test_big_endian_on_disk(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", np.array([1, 258], np.int16))
    assert (tmp_path / "x").read_bytes() == bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0, 1, 1, 2])


def test_gzip_detected_by_content(tmp_path: Path) -> None:
    write_idx(tmp_path / "x.gz", np.arange(5, dtype=np.uint8))
    (tmp_path / "x.gz").rename(tmp_path / "renamed")
    np.testing.assert_array_equal(read_idx(tmp_path / "renamed"), np.arange(5))


def test_empty_dimension(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", np.zeros((0, 28, 28), np.uint8))
    assert read_idx(tmp_path / "x").shape == (0, 28, 28)


def _header(code: int, dims: list[int]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, ">u4").tobytes()


CORRUPT = {
    "bad magic": (b"\x12\x34\x08\x01" + bytes(8), "bad magic number 0x12340801"),
    "unknown type code": (_header(0x0A, [2]) + bytes(2), "bad magic number"),
    "too short": (b"\0\0", "too short"),
    "zero dims": (bytes([0, 0, 8, 0]), "0 dimensions"),
    "truncated header": (bytes([0, 0, 8, 3]) + np.asarray([2, 28], ">u4").tobytes(), "truncated header"),
    "truncated payload": (_header(0x08, [3, 28, 28]) + bytes(2 * 28 * 28), "truncated"),
    "wrong dims": (_header(0x08, [2, 27, 28]) + bytes(2 * 28 * 28), "(2, 27, 28)"),
    "trailing bytes": (_header(0x0C, [2]) + bytes(12), "trailing bytes"),
    "cannot be a png": (b"\x89PNG\r\n\x1a\n" + bytes(20), "Not an IDX file"),
    "no bytes, too many elements": (_header(0x08, [0, 2**32 - 1, 2**32 - 1]), "cannot be allocated"),
    "huge dims": (_header(0x08, [2**32 - 1, 2**32 - 1]) + bytes(10), "needs 18446744065119617025"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
@pytest.mark.parametrize("gz", [False, True])
def test_corrupt_files_name_the_file(tmp_path: Path, case: str, gz: bool) -> None:
    content, message = CORRUPT[case]
    path = tmp_path / ("broken-file.gz" if gz else "broken-file")
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DataFileError, match="broken-file") as err:
        read_idx(path)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(_header(0x08, [1000]) + bytes(range(256)) * 4)
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match=r"cut\.gz.*corrupt or truncated gzip"):
        read_idx(path)


def test_max_bytes_is_checked_before_reading(tmp_path: Path) -> None:
    write_idx(tmp_path / "x.gz", np.zeros((3, 28, 28), np.uint8))
    assert read_idx(tmp_path / "x.gz", max_bytes=16 + 3 * 784).shape == (3, 28, 28)
    with pytest.raises(DataFileError, match=r"x\.gz: the header's shape \(3, 28, 28\) of uint8 needs 2352 bytes, "
                                            r"more than the 2367"):
        read_idx(tmp_path / "x.gz", max_bytes=16 + 3 * 784 - 1)


def test_gzip_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    """A header declaring far more than a plausible gzip ratio allows is refused before inflating."""
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(_header(0x08, [2**31]) + bytes(1 << 20)))  # 1 KB claiming 2 GiB
    with pytest.raises(DataFileError, match=r"bomb\.gz: .*needs 2147483648 bytes from \d+ gzipped bytes.*gzip bomb"):
        read_idx(path)


def test_write_rejects_unsupported_dtypes(tmp_path: Path) -> None:
    for bad in (np.zeros(3, np.complex64), np.zeros(3, np.uint16), np.array(5, np.uint8)):
        with pytest.raises(ValueError, match="write_idx"):
            write_idx(tmp_path / "x", bad)
