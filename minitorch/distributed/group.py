"""The process group: the world from the MPI launcher, this process's rank, and the engine that moves tensors."""
from __future__ import annotations

import enum
import os
from typing import Any

from .. import backends
from .mpi import MpiEngine, mpi
from .threads import share_blas_threads


class ReduceOp(enum.Enum):
    """How all_reduce combines the ranks' tensors (AVG is the mean, as torch.distributed.ReduceOp.AVG)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


_OP_NAMES = {"sum": "sum", "avg": "avg", "mean": "avg", "product": "product", "prod": "product", "max": "max",
             "min": "min"}


def reduce_op(op: Any) -> str:
    """The name of a ReduceOp given as a member or a string ("sum", "mean", "avg", "max", "min", "product")."""
    if isinstance(op, ReduceOp):
        return op.value
    name = _OP_NAMES.get(str(op).lower())
    if name is None:
        raise ValueError(f"unknown reduce op {op!r}; expected one of {', '.join(m.name for m in ReduceOp)} "
                         "(or 'sum', 'mean', 'max', 'min', 'product')")
    return name


class Group:
    """The world of one job: `comm` (mpi4py, for start-up, objects and checks) and `engine` (tensor data)."""

    def __init__(self, comm: Any, engine: Any, local_rank: int, local_size: int, check: bool) -> None:
        self.comm, self.engine = comm, engine
        self.rank, self.world_size = comm.Get_rank(), comm.Get_size()
        self.local_rank, self.local_size, self.check = local_rank, local_size, check
        self.backend = engine.name
        self.blas_threads: int | None = None  # what init_process_group limited NumPy's BLAS to, if anything


_group: Group | None = None


def group() -> Group:
    """The current group, or an error saying to call init_process_group()."""
    if _group is None:
        raise RuntimeError("minitorch.distributed: the default process group is not initialized; call "
                           "minitorch.distributed.init_process_group() first (under mpiexec -n N)")
    return _group


def init_process_group(backend: str = "auto", check_collectives: bool | None = None) -> None:
    """Join the job started by the MPI launcher (mpiexec -n N ...): "mpi" moves host arrays, "nccl" moves
    CUDA arrays between GPUs (one per local rank); "auto" picks nccl when the default device is CUDA.

    check_collectives (default: on, unless MINITORCH_DISTRIBUTED_CHECK=0) compares every collective's op,
    shape and dtype across ranks first, so a mismatch is an error on every rank instead of a hang.
    Each rank's BLAS gets the cores it does not share with the node's other ranks (see threads.py), unless
    OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS is set.
    """
    global _group
    if _group is not None:
        raise RuntimeError("minitorch.distributed: init_process_group() was already called; call "
                           "destroy_process_group() first to start another")
    if backend not in ("auto", "mpi", "nccl"):
        raise ValueError(f"init_process_group: unknown backend {backend!r}; expected 'auto', 'mpi' or 'nccl'")
    if check_collectives is None:
        check_collectives = os.environ.get("MINITORCH_DISTRIBUTED_CHECK", "1").strip() not in ("0", "false", "no")
    MPI = mpi()
    comm = MPI.COMM_WORLD.Dup()  # our own context: user code on COMM_WORLD can never match our messages
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)  # the ranks on this node, whatever launched them
    local_rank, local_size = local.Get_rank(), local.Get_size()
    blas_threads = share_blas_threads(local)
    local.Free()
    if backend == "auto":
        backend = "nccl" if backends.default_device().startswith("cuda") else "mpi"
    try:
        if backend == "nccl":
            from .nccl import NcclEngine
            engine: Any = NcclEngine(comm, local_rank)
        else:
            engine = MpiEngine(comm)
    except BaseException:
        comm.Free()
        raise
    _group = Group(comm, engine, local_rank, local_size, bool(check_collectives))
    _group.blas_threads = blas_threads
    from .fault import install_abort_on_exception
    install_abort_on_exception(comm, _group.rank, _group.world_size)


def destroy_process_group() -> None:
    """Leave the group: free the communicators and restore the exception hook (MPI itself stays up)."""
    global _group
    if _group is None:
        return
    g, _group = _group, None
    from .fault import uninstall_abort_on_exception
    uninstall_abort_on_exception()
    g.engine.close()
    g.comm.Free()


def is_initialized() -> bool:
    """Whether init_process_group() has been called (and destroy_process_group() not since)."""
    return _group is not None


def get_rank() -> int:
    """This process's rank in the job, 0 .. world_size - 1."""
    return group().rank


def get_world_size() -> int:
    """How many processes the job has."""
    return group().world_size


def get_local_rank() -> int:
    """This process's rank among the processes on its node (it picks the GPU on the nccl backend)."""
    return group().local_rank


def get_backend() -> str:
    """"mpi" or "nccl": how this group moves tensor data."""
    return group().backend
