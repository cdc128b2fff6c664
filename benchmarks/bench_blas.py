"""BLAS rate: one large float32 GEMM per array library, the GFLOP/s the report turns into each step's GEMM floor."""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from harness import measure, minitorch_devices, minitorch_sync, torch_devices, torch_sync

N = 1024  # 1024^3: large enough that the GEMM runs at the BLAS's sustained rate
FLOPS = 2.0 * N**3


@pytest.mark.parametrize("dev", minitorch_devices())
def test_gemm_xp(benchmark, dev):
    """The raw array library under a minitorch backend (NumPy's or CuPy's BLAS), no framework in between."""
    backend = mt.get_backend(dev)
    rng = np.random.default_rng(0)
    a, b = (backend.from_host(rng.standard_normal((N, N), dtype=np.float32)) for _ in range(2))
    measure(benchmark, lambda: a @ b, minitorch_sync(dev), flops=FLOPS, kind="blas", op="gemm",
            framework=backend.name, backend=backend.name, device=dev, shape=f"{N}x{N}x{N}")


@pytest.mark.parametrize("dev", torch_devices() or [pytest.param("cpu", marks=pytest.mark.skip("no torch"))])
def test_gemm_torch(benchmark, dev):
    torch = pytest.importorskip("torch")
    a, b = torch.randn(N, N, device=dev), torch.randn(N, N, device=dev)
    measure(benchmark, lambda: a @ b, torch_sync(dev), flops=FLOPS, kind="blas", op="gemm", framework="torch",
            backend=f"torch-{dev}", device=dev, shape=f"{N}x{N}x{N}")
