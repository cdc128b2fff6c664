"""Op throughput: matmul, softmax+cross-entropy and BatchNorm (forward+backward), fused vs composed, with peers."""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn
from minitorch.nn import functional as F
from harness import backend_label, measure, minitorch_devices, minitorch_sync, no_sync, torch_devices, torch_sync

MATMUL_SHAPES = [(64, 784, 256), (1024, 784, 256), (512, 512, 512)]  # (M, K, N): the workshop layer, then square
CE_SHAPES = [(1024, 10), (256, 1000)]                                   # (batch, classes)
BN_SHAPES = [(1024, 256), (64, 32, 16, 16)]                             # BatchNorm1d, BatchNorm2d inputs


def _peers(kinds: tuple[str, ...]) -> list:
    """(framework, device, variant) cases, variants of one backend adjacent so their ratio shares one load."""
    cases = []
    for dev in minitorch_devices():
        cases += [("minitorch", dev, v) for v in kinds]
    cases += [("torch", dev, "eager") for dev in torch_devices()]
    return [pytest.param(*c, id="-".join(c)) for c in cases]


def _info(op, framework, dev, variant, shape):
    return dict(kind="op", op=op, framework=framework, backend=backend_label(framework, dev), device=dev,
                variant=variant, shape="x".join(map(str, shape)))


@pytest.mark.parametrize("shape", MATMUL_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("framework,dev,variant",
                         [pytest.param("numpy", "cpu", "raw", id="numpy")] + _peers(("eager",)))
def test_matmul(benchmark, framework, dev, variant, shape):
    m, k, n = shape
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    if framework == "numpy":
        fn, sync = (lambda: a @ b), no_sync
    elif framework == "minitorch":
        ta, tb = mt.tensor(a, device=dev), mt.tensor(b, device=dev)
        fn, sync = (lambda: ta @ tb), minitorch_sync(dev)
    else:
        torch = pytest.importorskip("torch")
        ta, tb = torch.from_numpy(a).to(dev), torch.from_numpy(b).to(dev)
        fn, sync = (lambda: ta @ tb), torch_sync(dev)
    measure(benchmark, fn, sync, flops=2.0 * m * k * n, **_info("matmul", framework, dev, variant, shape))


@pytest.mark.parametrize("shape", CE_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("framework,dev,variant", _peers(("fused", "composed")))
def test_cross_entropy(benchmark, monkeypatch, framework, dev, variant, shape):
    batch, classes = shape
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal(shape, dtype=np.float32), rng.integers(0, classes, batch)
    if framework == "minitorch":
        monkeypatch.setenv("MINITORCH_FUSED", "1" if variant == "fused" else "0")
        x, y = mt.tensor(logits, device=dev, requires_grad=True), mt.tensor(labels, device=dev)
        sync = minitorch_sync(dev)

        def fn():
            x.grad = None  # as after zero_grad: the step never accumulates into an old gradient
            F.cross_entropy(x, y).backward()
    else:
        torch = pytest.importorskip("torch")
        x = torch.from_numpy(logits).to(dev).requires_grad_()
        y = torch.from_numpy(labels).to(dev)
        sync = torch_sync(dev)

        def fn():
            x.grad = None
            torch.nn.functional.cross_entropy(x, y).backward()
    measure(benchmark, fn, sync, batch=batch, **_info("cross_entropy", framework, dev, variant, shape))


@pytest.mark.parametrize("shape", BN_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("framework,dev,variant", _peers(("fused", "composed")))
def test_batch_norm(benchmark, monkeypatch, framework, dev, variant, shape):
    rng = np.random.default_rng(0)
    data, upstream = rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)
    op = "batchnorm1d" if len(shape) == 2 else "batchnorm2d"
    if framework == "minitorch":
        monkeypatch.setenv("MINITORCH_FUSED", "1" if variant == "fused" else "0")
        bn = (nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)(shape[1]).to(dev)
        x = mt.tensor(data, device=dev, requires_grad=True)
        g = mt.tensor(upstream, device=dev)
        sync = minitorch_sync(dev)
    else:
        torch = pytest.importorskip("torch")
        bn = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(shape[1]).to(dev)
        x = torch.from_numpy(data).to(dev).requires_grad_()
        g = torch.from_numpy(upstream).to(dev)
        sync = torch_sync(dev)

    def fn():
        x.grad = None
        bn.zero_grad()
        bn(x).backward(g)
    measure(benchmark, fn, sync, batch=shape[0], **_info(op, framework, dev, variant, shape))
