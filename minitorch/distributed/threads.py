"""BLAS threads per rank: as many as the cores a rank does not share with the other ranks on its node.

NumPy's BLAS starts one thread per core of the machine in every process. Two ranks on two cores would then
run four busy threads, and a launcher that pins each rank to one core (Intel MPI does) would put two threads
on one core: the matrix products of the step then run several times slower than in one process.
"""
from __future__ import annotations

import os
from typing import Any

_USER_SET = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def share_blas_threads(local: Any) -> int | None:
    """Limit this rank's BLAS threads to its share of its cores (a collective over the node's ranks `local`);
    the count set, or None when the user chose one (OMP_NUM_THREADS, ...) or threadpoolctl is missing."""
    try:
        mine = set(os.sched_getaffinity(0))
    except AttributeError:  # no affinity API (macOS): every rank may use every core
        mine = set(range(os.cpu_count() or 1))
    every = [set(cores) for cores in local.allgather(sorted(mine))]
    sharing = max(sum(core in cores for cores in every) for core in mine)
    threads = max(1, len(mine) // sharing)
    if any(name in os.environ for name in _USER_SET):
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    threadpool_limits(threads, user_api="blas")
    return threads
