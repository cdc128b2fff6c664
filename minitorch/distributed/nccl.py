"""NCCL through CuPy's bindings: one GPU per local rank, the communicator's unique id broadcast over MPI.

Tests without GPUs swap in `nccl_standin` (same calls, collectives over MPI on host memory) with
`use_mpi_stand_in()`, so the rank logic here is exercised on any machine.
"""
from __future__ import annotations

from typing import Any

from .. import backends

_stand_in = False


def use_mpi_stand_in(enabled: bool = True) -> None:
    """Make the nccl backend use an MPI stand-in for cupy.cuda.nccl (CPU tensors, no GPU): for tests."""
    global _stand_in
    _stand_in = enabled


def nccl_module() -> Any:
    """cupy.cuda.nccl, or the stand-in; an error that says what to install when NCCL is missing."""
    if _stand_in:
        from . import nccl_standin
        return nccl_standin
    ok, reason = backends.cupy_backend.availability()
    if not ok:
        raise RuntimeError(f"the nccl backend needs CUDA through CuPy: {reason}")
    try:
        from cupy.cuda import nccl
    except ImportError as exc:
        raise RuntimeError("the nccl backend needs NCCL for CuPy: pip install nvidia-nccl-cu12 (or -cu13, as "
                           f"your CuPy); or use init_process_group('mpi') ({exc})") from exc
    return nccl


_DTYPES = {"int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32", "uint32": "NCCL_UINT32",
           "int64": "NCCL_INT64", "uint64": "NCCL_UINT64", "float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32",
           "float64": "NCCL_FLOAT64"}
_OPS = {"sum": "NCCL_SUM", "avg": "NCCL_SUM", "product": "NCCL_PROD", "max": "NCCL_MAX", "min": "NCCL_MIN"}


class NcclEngine:
    """Moves tensor data with NCCL on the GPU of this local rank (the stand-in: host memory over MPI)."""

    name = "nccl"

    def __init__(self, comm: Any, local_rank: int) -> None:
        self.nccl = nccl_module()
        rank, world = comm.Get_rank(), comm.Get_size()
        if not _stand_in:
            # The GPU first: NCCL binds the communicator to the device that is current when it is created.
            import cupy
            gpu = local_rank % cupy.cuda.runtime.getDeviceCount()
            cupy.cuda.Device(gpu).use()
            backends.set_default_device(f"cuda:{gpu}")
        uid = self.nccl.get_unique_id() if rank == 0 else None
        uid = comm.bcast(uid, root=0)
        self.comm = self.nccl.NcclCommunicator(world, uid, rank)
        self.world = world
        self.device = "cpu" if _stand_in else backends.default_device()

    def unsupported(self, t: Any) -> str | None:
        """Why NCCL cannot move this tensor here (None when it can): checked on every rank before a collective."""
        if str(t.dtype) not in _DTYPES:
            return f"the nccl backend cannot move {t.dtype} tensors (NCCL has no such type)"
        if t.device != self.device:
            return f"the nccl backend moves tensors on this rank's device {self.device}; this one is on {t.device}"
        return None

    def synchronize(self) -> None:
        """Wait for this GPU's queued work (collectives included)."""
        if not _stand_in:
            import cupy
            cupy.cuda.get_current_stream().synchronize()

    def _stream(self) -> int:
        if _stand_in:
            return 0
        import cupy
        return cupy.cuda.get_current_stream().ptr

    def _args(self, array: Any) -> tuple[Any, int]:
        """(contiguous array, its NCCL datatype): NCCL reads device memory by raw pointer."""
        xp = array.__array_namespace__()
        array = xp.ascontiguousarray(array) if hasattr(xp, "ascontiguousarray") else array
        return array, getattr(self.nccl, _DTYPES[str(array.dtype)])

    def _ptr(self, array: Any) -> int:
        return array.ctypes.data if _stand_in else array.data.ptr

    def all_reduce(self, array: Any, backend: Any, op: str) -> Any:
        a, dtype = self._args(array)
        self.comm.allReduce(self._ptr(a), self._ptr(a), a.size, dtype, getattr(self.nccl, _OPS[op]),
                            self._stream())
        return a

    def broadcast(self, array: Any, backend: Any, src: int) -> Any:
        a, dtype = self._args(array)
        self.comm.bcast(self._ptr(a), a.size, dtype, src, self._stream())
        return a

    def all_gather(self, array: Any, backend: Any) -> Any:
        a, dtype = self._args(array)
        out = a.__array_namespace__().empty((self.world,) + tuple(a.shape), dtype=a.dtype)
        self.comm.allGather(self._ptr(a), self._ptr(out), a.size, dtype, self._stream())
        return out

    def close(self) -> None:
        self.comm.destroy()
