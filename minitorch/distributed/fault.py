"""One rank's uncaught exception ends the whole job: the rank and the traceback on stderr, then MPI Abort.

Without this, the other ranks would wait forever in their next collective for a rank that has exited.
"""
from __future__ import annotations

import sys
import traceback
from typing import Any

_previous: Any = None


def install_abort_on_exception(comm: Any, rank: int, world_size: int) -> None:
    """Make an uncaught exception in this process print its rank and traceback, then abort every rank."""
    global _previous
    if _previous is None:
        _previous = sys.excepthook

    def abort(etype: type, value: BaseException, tb: Any) -> None:
        sys.stderr.write(f"minitorch.distributed: rank {rank} of {world_size} failed with an uncaught "
                         f"{etype.__name__}; aborting the job\n"
                         + "".join(f"[rank {rank}] {line}" for line in
                                   "".join(traceback.format_exception(etype, value, tb)).splitlines(True)))
        sys.stderr.flush()
        if world_size > 1:
            comm.Abort(1)  # MPI ends every rank of the job (the launcher exits non-zero)
        _previous(etype, value, tb)

    sys.excepthook = abort


def uninstall_abort_on_exception() -> None:
    """Restore the exception hook that was there before init_process_group()."""
    global _previous
    if _previous is not None:
        sys.excepthook, _previous = _previous, None
