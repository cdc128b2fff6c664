"""Command-line scripts' errors: one or two lines a person can act on, not a traceback.

Exit status: 0 done; 1 the run failed (no GPU, no data, a corrupt file, a full disk, the loss
diverged); 2 a usage error (a bad flag, an unknown backend, flags that contradict the run being
resumed); 128 + N stopped by signal N (130 Ctrl-C, 143 SIGTERM). `--debug` or MINITORCH_DEBUG=1
prints the traceback too.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import CheckpointError, DataFileError
from .loop import Diverged
from .stop import Interrupted

__all__ = ["UsageError", "RunError", "run_cli", "select_device", "debug_requested"]


class UsageError(Exception):
    """The command line or environment asks for something that does not exist (exit status 2)."""


class RunError(Exception):
    """The run cannot go on for a reason the message explains (exit status 1)."""


# What a person can cause and fix: reported in a line or two. Anything else is a bug: traceback.
RUN_ERRORS = (RunError, CheckpointError, DataFileError, Diverged, OSError, MemoryError)


def debug_requested(argv: Sequence[str] | None = None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return "--debug" in argv or os.environ.get("MINITORCH_DEBUG", "").strip() not in ("", "0")


def run_cli(main: Callable[..., int | None], argv: Sequence[str] | None = None, *, check_backend: bool = True,
            prog: str | None = None) -> int:
    """Run `main(argv)` (or `main()` when argv is None) and turn the errors a user can cause into an exit status.

    `--debug` is taken out of the arguments (so any script accepts it). With `check_backend`, the
    device (a `--device D` among the arguments, else MINITORCH_BACKEND's) is checked and made the
    default first, before any data is read.
    """
    debug = debug_requested(argv)
    if argv is None:
        sys.argv[1:] = [a for a in sys.argv[1:] if a != "--debug"]
        call: Callable[[], Any] = main
    else:
        rest = [a for a in argv if a != "--debug"]
        call = lambda: main(rest)  # noqa: E731
    prog = prog or Path(sys.argv[0]).name
    try:
        if check_backend:
            select_device(_device_flag(sys.argv[1:] if argv is None else argv))
        return int(call() or 0)
    except Interrupted as exc:
        return _report(prog, f"stopped at once by {exc}", exc.exit_code, debug)
    except KeyboardInterrupt:
        return _report(prog, "interrupted", 130, debug)
    except UsageError as exc:
        return _report(prog, f"error: {exc}", 2, debug)
    except RUN_ERRORS as exc:
        return _report(prog, describe(exc), 1, debug)


def describe(exc: BaseException) -> str:
    """An exception as a person reads it: the project's own messages as they are, the OS's with the file."""
    if type(exc) in (OSError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) \
            and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    if type(exc).__module__.startswith("minitorch"):  # RunError, CheckpointError, DataFileError, Diverged...
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _device_flag(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--device" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--device="):
            return arg.split("=", 1)[1]
    return None


def _report(prog: str, message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    sys.stdout.flush()
    print(f"{prog}: {message}", file=sys.stderr)
    if not debug and code == 1 and "\n" not in message:
        print(f"{prog}: (run with --debug or MINITORCH_DEBUG=1 for the traceback)", file=sys.stderr)
    return code


def select_device(device: str | None) -> str:
    """Make `device` (else MINITORCH_BACKEND's) the default device, checking now that it can run:
    UsageError for a name that is no device or backend, RunError for one this machine lacks."""
    from .. import backends
    try:
        if device is None:
            name = os.environ.get("MINITORCH_BACKEND", "numpy").strip().lower() or "numpy"
            if name not in backends.BACKEND_DEVICES:
                raise UsageError(f"MINITORCH_BACKEND={name!r} is not a backend; valid values: "
                                 + ", ".join(backends.BACKEND_DEVICES))
            return backends.default_device()
        try:
            backends.canonical_device(device)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        backends.set_default_device(device)
        return backends.default_device()
    except RuntimeError as exc:  # cupy without a GPU, array_api_strict not installed
        where = f"device {device!r}" if device else f"MINITORCH_BACKEND={os.environ.get('MINITORCH_BACKEND')}"
        raise RunError(f"{where} cannot be used here: {exc}") from None
