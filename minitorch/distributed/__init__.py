"""Data-parallel training over MPI (processes, nodes) and NCCL (GPUs), shaped like torch.distributed.

    mpiexec -n 2 python train.py            # each process: init_process_group(), then as below

    import minitorch.distributed as dist
    dist.init_process_group()               # "mpi" on the CPU, "nccl" when the default device is CUDA
    model = dist.DistributedDataParallel(model)
    loader = DataLoader(ds, batch_size=64, sampler=dist.DistributedSampler(ds, shuffle=True))

Importing this package needs nothing beyond NumPy; mpi4py (and CuPy for nccl) are imported when a group
is created, with an error naming what to install.
"""
from __future__ import annotations

from .collectives import all_gather, all_reduce, barrier, broadcast, broadcast_object
from .ddp import DistributedDataParallel
from .group import (ReduceOp, destroy_process_group, get_backend, get_local_rank, get_rank, get_world_size,
                    init_process_group, is_initialized)
from .sampler import DistributedSampler
from .sync_batchnorm import SyncBatchNorm

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "get_rank", "get_world_size",
           "get_local_rank", "get_backend", "ReduceOp", "all_reduce", "broadcast", "all_gather", "broadcast_object",
           "barrier", "DistributedDataParallel", "DistributedSampler", "SyncBatchNorm"]
