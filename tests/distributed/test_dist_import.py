"""minitorch.distributed without MPI: importing needs nothing; using it says what to install."""
from __future__ import annotations

import subprocess
import sys

import pytest

import minitorch as mt
import minitorch.distributed as dist


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_importing_minitorch_imports_neither_mpi4py_nor_cupy():
    proc = run("import sys, minitorch, minitorch.distributed, minitorch.nn\n"
               "print(sorted(m for m in ('mpi4py', 'cupy') if m in sys.modules))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_without_mpi4py_init_says_what_to_install():
    proc = run("import sys; sys.modules['mpi4py'] = None\n"  # as if it were not installed
               "import minitorch.distributed as dist\n"
               "try:\n    dist.init_process_group()\n"
               "except ImportError as exc:\n    print(exc)\n")
    assert proc.returncode == 0, proc.stderr
    assert 'pip install "minitorch[mpi]"' in proc.stdout


def test_single_process_world_without_a_launcher():
    pytest.importorskip("mpi4py")
    proc = run("import minitorch as mt, minitorch.distributed as dist\n"
               "dist.init_process_group()\n"
               "t = mt.tensor([1.0, 3.0]); dist.all_reduce(t, 'mean')\n"
               "m = dist.DistributedDataParallel(mt.nn.Linear(2, 1)); m(mt.ones(4, 2)).sum().backward()\n"
               "print(dist.get_world_size(), dist.get_rank(), dist.get_local_rank(), t.tolist(),\n"
               "      m.module.weight.grad.tolist())\n"
               "dist.destroy_process_group()\n"
               "try:\n    dist.init_process_group('nccl')\n"
               "except RuntimeError as exc:\n    print('nccl:', exc)\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "1 0 0 [1.0, 3.0] [[4.0, 4.0]]"
    if not mt.cuda.is_available():
        assert lines[1].startswith("nccl: the nccl backend needs CUDA through CuPy")


def test_using_it_before_init_raises():
    assert not dist.is_initialized()
    for call in (dist.get_rank, lambda: dist.all_reduce(mt.ones(2)), lambda: dist.DistributedDataParallel(
            mt.nn.Linear(2, 2))):
        with pytest.raises(RuntimeError, match="init_process_group"):
            call()


def test_unknown_backend_and_op():
    with pytest.raises(ValueError, match="'auto', 'mpi' or 'nccl'"):
        dist.init_process_group("gloo")
    with pytest.raises(ValueError, match="unknown reduce op"):
        dist.group.reduce_op("median")
    assert dist.group.reduce_op("mean") == dist.group.reduce_op(dist.ReduceOp.AVG) == "avg"
