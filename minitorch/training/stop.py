"""Graceful stops: SIGINT (Ctrl-C) and SIGTERM (schedulers, docker stop) end a run at a step boundary."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any, Iterator

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class Interrupted(KeyboardInterrupt):
    """A signal ended the program at once: a second one, or one before training began."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        self.note = ""  # what the program adds on the way out, e.g. the command that resumes
        super().__init__(signal_name(signum))

    def __str__(self) -> str:
        return signal_name(self.signum) + self.note


class GracefulStop:
    """While active, SIGINT and SIGTERM are caught: inside `graceful()` the first one only sets
    `requested` (the training loop finishes its step, saves and stops); outside it, or when a stop
    was already requested, a signal raises Interrupted at once (mt.save then removes its temp file,
    and the checkpoint already on disk stays as it was).

        with GracefulStop() as stop:
            load_data()                        # Ctrl-C here: Interrupted at once
            with stop.graceful():
                fit(..., stop=stop)            # Ctrl-C here: TrainingStopped after the current step
    """

    def __init__(self, announce: bool = True) -> None:
        self.announce = announce  # say on stderr that a stop was asked for (in a job: rank 0 alone)
        self.signum: int | None = None
        self._graceful = False
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Whether a signal asked the run to stop."""
        return self.signum is not None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None or not self._graceful:
            self.signum = signum
            raise Interrupted(signum)
        self.signum = signum
        again = "Ctrl-C" if signum == signal.SIGINT else signal_name(signum)
        if self.announce:
            _say(f"\n{signal_name(signum)}: finishing this step, then saving a checkpoint "
                 f"({again} again to quit at once)\n")

    @contextlib.contextmanager
    def graceful(self) -> Iterator["GracefulStop"]:
        """Within this block a first signal asks for a stop instead of interrupting."""
        self._graceful = True
        try:
            yield self
        finally:
            self._graceful = False

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():  # Python handles signals only there
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def _say(text: str) -> None:
    # os.write, not print: a handler that prints while the program is printing (tqdm) can fail with
    # "reentrant call"; a raw write cannot.
    try:
        os.write(sys.stderr.fileno(), text.encode())
    except (OSError, ValueError, AttributeError):
        pass
