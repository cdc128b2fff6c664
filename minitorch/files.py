"""Atomic, durable file writes shared by checkpoints, downloads and run reports.

A temp file beside the target, fsynced, checked, renamed over it (os.replace is atomic within one
file system), then the folder fsynced so the rename survives a power loss. The temp file's name
carries the writer's pid, so a later write can remove temps whose writer died (kill -9) and leave
alone those still being written.
"""
from __future__ import annotations

import errno
import os
import re
import uuid
from pathlib import Path
from typing import IO, Callable

_TEMP_ID = re.compile(r"(?:(\d+)-[0-9a-f]{8}|[0-9a-f]{12})")  # "<pid>-<random>", or an older "<random>"


def atomic_write(path: Path, write: Callable[[IO[bytes]], None],
                 check: Callable[[Path], None] | None = None) -> None:
    """Call write(f) on a temp file beside `path`, check(temp path) if given, then rename it over `path`:
    a reader, or a crash, never sees half a file. The temp file is removed on any error."""
    path = Path(path)
    remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:  # "x": never clobber; plain open (not mkstemp) honours the umask
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # never created, or cannot be removed now: the next write removes it
        raise


def sync_folder(path: Path) -> None:
    """fsync the folder holding `path`, so that a rename into it survives a power loss."""
    try:
        fd = os.open(Path(path).parent, os.O_RDONLY)
    except OSError:
        return  # a platform whose folders cannot be opened (Windows, where NTFS journals the rename)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):  # file systems without folder fsync
            raise
    finally:
        os.close(fd)


def remove_stale_temps(path: Path) -> None:
    """Delete `.<name>.*.tmp` files beside `path` left by writers that died (kill -9, power loss)."""
    path = Path(path)
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return  # the write itself reports a missing or unreadable folder
    for name in names:
        match = _TEMP_ID.fullmatch(name[len(prefix):-4]) if name.startswith(prefix) and name.endswith(".tmp") else None
        if match is None or (match.group(1) is not None and _alive(int(match.group(1)))):
            continue  # not one of ours, or its writer may still be writing it
        try:
            os.unlink(path.parent / name)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":  # (on Windows, os.kill(pid, 0) would kill the process)
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # EPERM: alive, owned by another user
        return True
    return True
