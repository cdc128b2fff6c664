"""MPI through mpi4py: imported on first use (so minitorch runs without it), and collectives on host arrays."""
from __future__ import annotations

from typing import Any

import numpy as np

INSTALL_HINT = ('minitorch.distributed needs mpi4py and an MPI library: pip install "minitorch[mpi]" '
                "(mpi4py and an MPI from pip, with its mpiexec); on a cluster, pip install mpi4py built "
                "against the site's MPI instead")


def mpi() -> Any:
    """The mpi4py.MPI module (importing it initialises MPI), or an ImportError saying what to install."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})") from exc
    return MPI


def mpi_op(MPI: Any, op: str) -> Any:
    """The MPI reduction for a ReduceOp value ("avg" is a sum, divided afterwards)."""
    return {"sum": MPI.SUM, "avg": MPI.SUM, "product": MPI.PROD, "max": MPI.MAX, "min": MPI.MIN}[op]


def _host(array: Any, backend: Any) -> np.ndarray:
    """A C-contiguous NumPy array with the data: `array` itself when it already is one (no copy)."""
    if isinstance(array, np.ndarray) and array.flags.c_contiguous:
        return array
    return np.ascontiguousarray(backend.to_host(array))


def _back(host: np.ndarray, backend: Any) -> Any:
    """`host` as an array of `backend` (itself on the CPU)."""
    return host if backend.name == "numpy" else backend.from_host(host)


class MpiEngine:
    """Moves tensor data with MPI: in place on NumPy arrays, staged through the host for other devices."""

    name = "mpi"

    def __init__(self, comm: Any) -> None:
        self.comm, self.MPI = comm, mpi()

    def unsupported(self, t: Any) -> str | None:
        """MPI moves any NumPy dtype from any device (through the host)."""
        return None

    def synchronize(self) -> None:
        """Nothing queued: MPI calls return when done."""

    def all_reduce(self, array: Any, backend: Any, op: str) -> Any:
        host = _host(array, backend)
        self.comm.Allreduce(self.MPI.IN_PLACE, host, op=mpi_op(self.MPI, op))
        return _back(host, backend)

    def broadcast(self, array: Any, backend: Any, src: int) -> Any:
        host = _host(array, backend)
        self.comm.Bcast(host, root=src)
        return _back(host, backend)

    def all_gather(self, array: Any, backend: Any) -> Any:
        """Every rank's array stacked along a new first axis, in rank order."""
        host = _host(array, backend)
        out = np.empty((self.comm.Get_size(),) + host.shape, host.dtype)
        self.comm.Allgather(host, out)
        return _back(out, backend)

    def close(self) -> None:
        """Nothing to free: the engine borrows the group's communicator."""
