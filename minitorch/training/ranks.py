"""One rank of a distributed training job (train.py --distributed): who prints, and how the ranks stay in step.

Rank 0 alone prints and writes the run folder. An error a person can cause before training starts (a flag,
the checkpoint, the data) is settled together: every rank exits with its status and rank 0 reports it once.
Once training runs, an error on one rank ends the job at once (MPI Abort) naming the rank: the other ranks
would otherwise wait for it forever in their next collective. Ctrl-C and SIGTERM reach every rank (mpiexec
forwards them); the ranks agree on a stop after each step, so all stop after the same one.
"""
from __future__ import annotations

import contextlib
import sys
import traceback
from typing import Any, Iterator

import numpy as np

from .cli import RUN_ERRORS, RunError, UsageError, debug_requested, describe
from .stop import Interrupted

REPORTED = (UsageError, Interrupted, KeyboardInterrupt) + RUN_ERRORS  # what run_cli reports in a line or two


def exit_code(exc: BaseException) -> int:
    """The status run_cli gives `exc`: 2 usage, 128 + N a signal, 1 anything else it reports."""
    if isinstance(exc, UsageError):
        return 2
    if isinstance(exc, Interrupted):
        return exc.exit_code
    return 130 if isinstance(exc, KeyboardInterrupt) else 1


class Ranks:
    """This process's `rank` among `size` (a world of one outside a job), over the process group's MPI `comm`."""

    def __init__(self, rank: int = 0, size: int = 1, comm: Any = None) -> None:
        self.rank, self.size, self.comm = rank, size, comm

    @classmethod
    def start(cls) -> "Ranks":
        """Join the job the MPI launcher started (init_process_group): RunError when mpi4py (or, for CUDA
        tensors, NCCL) is missing."""
        import minitorch.distributed as dist
        from minitorch.distributed.group import group
        try:
            dist.init_process_group()
        except (ImportError, RuntimeError) as exc:
            raise RunError(f"--distributed: {exc}") from None
        g = group()
        return cls(g.rank, g.world_size, g.comm)

    @property
    def leader(self) -> bool:
        """Whether this is rank 0: the rank that prints and writes."""
        return self.rank == 0

    def share(self, value: Any) -> Any:
        """Rank 0's `value`, on every rank."""
        return value if self.comm is None else self.comm.bcast(value, root=0)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """`values` (float64) summed over the ranks."""
        if self.comm is None:
            return values
        out = np.empty_like(values)
        self.comm.Allreduce(values, out)
        return out

    def stop(self, stop: Any) -> "AgreedStop":
        """`stop` (a GracefulStop) as the training loop must poll it in a job: agreed by every rank."""
        return AgreedStop(stop, self.comm)

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """A block of local work (no collectives) that every rank runs; then, if it failed on any rank with
        an error run_cli reports, rank 0 raises it (naming the ranks when they differ) and the others exit
        with its status, silently."""
        error = None
        try:
            yield
        except REPORTED as exc:
            error = exc
        if self.comm is None:
            if error is not None:
                raise error
            return
        every = self.comm.allgather(None if error is None else (exit_code(error), _message(error)))
        failed = [(r, o) for r, o in enumerate(every) if o is not None]
        if not failed:
            return
        code = failed[0][1][0]
        if not self.leader:
            raise SystemExit(code)
        if error is None or any(message != _message(error) for _, (_, message) in failed):
            text = "; ".join(f"rank {r}: {message}" for r, (_, message) in failed)
            error = UsageError(text) if code == 2 else Interrupted(code - 128) if code > 128 else RunError(text)
        error.settled = True  # aborting() lets it through: every rank is leaving with it
        raise error

    @contextlib.contextmanager
    def aborting(self, prog: str) -> Iterator[None]:
        """In a job of several ranks, an error run_cli would report, unless together() settled it on every
        rank, ends the whole job (MPI Abort with its status) after printing it with this rank; other
        exceptions reach the process group's exception hook, which does the same with a traceback."""
        try:
            yield
        except REPORTED as exc:
            if self.comm is None or self.size == 1 or getattr(exc, "settled", False):
                raise
            if debug_requested():
                traceback.print_exc()
            sys.stdout.flush()
            what = f"stopped at once by {exc}" if isinstance(exc, Interrupted) else _message(exc)
            print(f"{prog}: rank {self.rank} of {self.size}: {what}; ending the job", file=sys.stderr)
            sys.stderr.flush()
            self.comm.Abort(exit_code(exc))

    def reseed(self, seed: int, step: int) -> None:
        """Give each rank its own random streams for a run resumed at global `step` (dropout, --augment)."""
        from .. import backends
        backends.manual_seed(int(np.random.SeedSequence([seed, step, self.rank]).generate_state(1)[0]))

    def close(self) -> None:
        """Wait for every rank (rank 0 may still be testing and writing), then leave the process group."""
        if self.comm is not None:
            import minitorch.distributed as dist
            self.comm.Barrier()
            dist.destroy_process_group()
            self.comm = None


def _message(exc: BaseException) -> str:
    return f"interrupted by {exc}" if isinstance(exc, (Interrupted, KeyboardInterrupt)) else describe(exc)


class AgreedStop:
    """A GracefulStop whose `requested` is the same on every rank: each poll (after every step, before every
    epoch: the same points on all ranks) is one allreduce of the signal number, a few microseconds."""

    def __init__(self, stop: Any, comm: Any) -> None:
        self.stop, self.comm = stop, comm
        self.signum: int | None = None
        self._mine, self._all = np.zeros(1, np.int64), np.zeros(1, np.int64)

    @property
    def requested(self) -> bool:
        self._mine[0] = self.stop.signum or 0
        if self.comm is None:
            self._all[0] = self._mine[0]
        else:
            from mpi4py import MPI
            self.comm.Allreduce(self._mine, self._all, op=MPI.MAX)
        self.signum = int(self._all[0]) or None
        return self.signum is not None

    def graceful(self) -> Any:
        return self.stop.graceful()
