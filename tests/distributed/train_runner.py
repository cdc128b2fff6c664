"""Run train.py (as __main__) with injected faults, for test_train_distributed.py.

    TRAIN_FAULT_RANK=1 TRAIN_RAISE=OSError@3 mpiexec -n 2 python train_runner.py OUT --distributed ...

OUT becomes train.py's --out (so mpi_launch.launch can start it). TRAIN_FAULTS sends signals at chosen
calls, as in tests/train_fault_runner.py; TRAIN_RAISE="NAME@N" raises the builtin exception NAME just
before the Nth optimizer step. TRAIN_FAULT_RANK=R applies both on rank R of the job alone (default: on
every process).
"""
from __future__ import annotations

import builtins
import contextlib
import os
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from train_fault_runner import ROOT, Faults  # noqa: E402


def this_rank() -> int:
    if "--distributed" not in sys.argv:
        return 0
    from mpi4py import MPI
    return MPI.COMM_WORLD.Get_rank()


@contextlib.contextmanager
def raising(spec: str):
    """Optimizer steps that raise exception NAME at the Nth call (spec "NAME@N"; "" for none)."""
    if not spec:
        yield
        return
    from minitorch import optim
    name, count = spec.split("@")
    error, calls, real = getattr(builtins, name), [0], optim.Adam.step

    def step(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == int(count):
            raise error(f"injected failure at optimizer step {count}")
        return real(self, *args, **kwargs)
    optim.Adam.step = step
    try:
        yield
    finally:
        optim.Adam.step = real


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    sys.argv = [str(ROOT / "train.py"), "--out", out, *args]
    target = os.environ.get("TRAIN_FAULT_RANK")
    mine = target is None or int(target) == this_rank()
    faults = Faults(os.environ.get("TRAIN_FAULTS", "") if mine else "")
    with faults.installed(), raising(os.environ.get("TRAIN_RAISE", "") if mine else ""):
        runpy.run_path(str(ROOT / "train.py"), run_name="__main__")


if __name__ == "__main__":
    main()
