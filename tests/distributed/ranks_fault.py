"""Rank script: rank 1 raises while rank 0 waits in a collective; the job must end at once, not hang.

usage: mpiexec -n 2 python ranks_fault.py OUT
"""
from __future__ import annotations

import time

import minitorch as mt
import minitorch.distributed as dist


def main() -> None:
    dist.init_process_group()
    if dist.get_rank() == 1:
        time.sleep(0.5)  # let rank 0 enter its collective first
        raise ValueError("deliberate failure on rank 1")
    dist.all_reduce(mt.ones(3))  # never completes: rank 1 is gone
    print("rank 0 passed the collective: the fault was not propagated")


if __name__ == "__main__":
    main()
