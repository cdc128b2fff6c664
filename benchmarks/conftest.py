"""Benchmark collection (bench_*.py), the device fixture, seeding, and the machine description in the JSON."""
from __future__ import annotations

import os
import platform

import numpy as np
import pytest

import minitorch as mt
from harness import BUDGET_S, minitorch_devices


def pytest_collect_file(file_path, parent):
    """Collect bench_*.py here only, so the default `pytest` (testpaths = tests) never runs benchmarks."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_sessionstart(session):
    """Put glibc's allocator in the state a long training process reaches, before anything is timed.

    A fresh process returns freed multi-MB temporaries to the OS (mmap threshold 128 KiB, trim threshold
    2x that), so each step page-faults them back in: ~4000 faults and 21 ms instead of 12 ms for the wide
    MLP at batch 64. Freeing one 31 MiB block raises both thresholds (glibc's dynamic rule), as any run
    that ever touched a large array has; without this, results depend on which benchmark ran first.
    """
    block = np.ones(31 * 2**20, np.uint8)
    del block


@pytest.fixture(params=minitorch_devices())
def device(request) -> str:
    """Every real minitorch backend this machine has."""
    return request.param


@pytest.fixture(autouse=True)
def _seeded():
    """Same weights and data in every run, so runs compare."""
    mt.manual_seed(0)
    yield


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _numpy_blas() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # the layout of show_config is not an API; never fail a run on it
        return "unknown"


def pytest_benchmark_update_machine_info(config, machine_info):
    """Describe the machine in the JSON itself, so report.py describes where the run happened."""
    info = {"cpu_model": _cpu_model(), "cores": os.cpu_count(), "numpy": np.__version__,
            "numpy_blas": _numpy_blas(), "minitorch": mt.__version__, "devices": minitorch_devices(),
            "budget_s": BUDGET_S}
    try:
        import torch
        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                    torch_blas="mkl" if torch.backends.mkl.is_available() else "other")
    except ImportError:
        info["torch"] = None
    try:
        import cupy
        info["cupy"] = cupy.__version__
    except Exception:
        info["cupy"] = None
    machine_info["minitorch_bench"] = info
