"""A stand-in for cupy.cuda.nccl whose collectives go over MPI on host memory: the same calls (raw pointers,
element counts, NCCL's datatype and op numbers, a stream argument), so the nccl backend's rank logic runs
in tests on machines without GPUs."""
from __future__ import annotations

import ctypes
import secrets
import numpy as np

from .mpi import mpi

# NCCL's enum values (nccl.h), as cupy.cuda.nccl exports them.
NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64 = 0, 1, 2, 3, 4, 5
NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 6, 7, 8
NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = 0, 1, 2, 3

_NUMPY = {NCCL_INT8: np.int8, NCCL_UINT8: np.uint8, NCCL_INT32: np.int32, NCCL_UINT32: np.uint32,
          NCCL_INT64: np.int64, NCCL_UINT64: np.uint64, NCCL_FLOAT16: np.float16, NCCL_FLOAT32: np.float32,
          NCCL_FLOAT64: np.float64}


def get_unique_id() -> tuple[int, ...]:
    """128 random bytes, as NCCL's ncclUniqueId (cupy returns it as a tuple of ints)."""
    return tuple(secrets.token_bytes(128))


def _view(ptr: int, count: int, datatype: int) -> np.ndarray:
    """The `count` elements at address `ptr`, as a writable NumPy array (no copy)."""
    dtype = np.dtype(_NUMPY[datatype])
    return np.frombuffer((ctypes.c_char * (count * dtype.itemsize)).from_address(ptr), dtype=dtype)


class NcclCommunicator:
    """cupy.cuda.nccl.NcclCommunicator's collectives, over MPI.COMM_WORLD; checks what NCCL would need."""

    def __init__(self, ndev: int, commId: tuple[int, ...], rank: int) -> None:
        MPI = mpi()
        self._MPI, self._comm = MPI, MPI.COMM_WORLD.Dup()
        if (ndev, rank) != (self._comm.Get_size(), self._comm.Get_rank()):
            raise RuntimeError(f"NcclCommunicator({ndev}, id, {rank}) in a world of {self._comm.Get_size()} "
                               f"where this process is rank {self._comm.Get_rank()}")
        ids = self._comm.allgather(tuple(commId))
        if any(i != ids[0] for i in ids):  # real NCCL would hang: every rank must hold rank 0's id
            raise RuntimeError("NcclCommunicator: the ranks were given different unique ids")
        self._ops = {NCCL_SUM: MPI.SUM, NCCL_PROD: MPI.PROD, NCCL_MAX: MPI.MAX, NCCL_MIN: MPI.MIN}

    def rank_id(self) -> int:
        return self._comm.Get_rank()

    def size(self) -> int:
        return self._comm.Get_size()

    def allReduce(self, sendbuf: int, recvbuf: int, count: int, datatype: int, op: int, stream: int) -> None:
        recv = _view(recvbuf, count, datatype)
        send = self._MPI.IN_PLACE if sendbuf == recvbuf else _view(sendbuf, count, datatype)
        self._comm.Allreduce(send, recv, op=self._ops[op])

    def bcast(self, buff: int, count: int, datatype: int, root: int, stream: int) -> None:
        self._comm.Bcast(_view(buff, count, datatype), root=root)

    def allGather(self, sendbuf: int, recvbuf: int, count: int, datatype: int, stream: int) -> None:
        self._comm.Allgather(_view(sendbuf, count, datatype), _view(recvbuf, count * self.size(), datatype))

    def destroy(self) -> None:
        self._comm.Free()
