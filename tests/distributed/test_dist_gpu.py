"""Real NCCL through CuPy: the collectives checks on the GPUs of this machine (one rank per GPU, at most 2)."""
from __future__ import annotations

import pytest
from mpi_launch import check, results, skip_reason

from minitorch import backends

pytestmark = pytest.mark.gpu


def test_nccl_collectives_on_gpus(tmp_path):
    if skip_reason():
        pytest.skip(skip_reason())
    ok, why = backends.cupy_backend.availability()
    if not ok:
        pytest.skip(f"no usable CUDA device for the cupy backend: {why}")
    try:
        from cupy.cuda import nccl  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"CuPy has no NCCL here ({exc})")
    import cupy
    n = min(2, cupy.cuda.runtime.getDeviceCount())  # NCCL refuses two ranks on one GPU
    records = results("ranks_collectives.py", n, tmp_path, "gpu")
    for name in records[0]:
        check(records, name)
    assert len(records[0]) > 20
