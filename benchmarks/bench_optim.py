"""Optimizer step on the workshop MLP's parameters: fused (Numba's loop on NumPy, one launch on CUDA) vs
per-parameter, PyTorch's for-loop, foreach and fused steps as peers."""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import optim
from harness import backend_label, measure, minitorch_devices, minitorch_sync, torch_devices, torch_sync
from networks import LR, WIDTHS, minitorch_mlp, torch_mlp

OPTIMIZERS = {"adam": dict(cls="Adam", kwargs=dict(lr=LR)),
              "sgd_momentum": dict(cls="SGD", kwargs=dict(lr=0.01, momentum=0.9))}


def _cases() -> list:
    cases = []
    for dev in minitorch_devices():
        cases += [("minitorch", dev, v) for v in ("fused", "per-parameter")]
    for dev in torch_devices():
        cases += [("torch", dev, v) for v in ("for-loop", "foreach", "fused")]  # unfused, multi-tensor, fused
    return [pytest.param(*c, id="-".join(c)) for c in cases]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("framework,dev,variant", _cases())
def test_optimizer_step(benchmark, monkeypatch, framework, dev, variant, name):
    spec = OPTIMIZERS[name]
    sizes = WIDTHS["workshop"]
    rng = np.random.default_rng(0)
    if framework == "minitorch":
        monkeypatch.setenv("MINITORCH_FUSED", "0" if variant == "per-parameter" else "1")
        params = list(minitorch_mlp(sizes, dev).parameters())
        for p in params:
            p.grad = mt.tensor(rng.standard_normal(p.shape, dtype=np.float32), device=dev)
        opt = getattr(optim, spec["cls"])(params, **spec["kwargs"])
        sync = minitorch_sync(dev)
    else:
        torch = pytest.importorskip("torch")
        params = list(torch_mlp(sizes, dev).parameters())
        for p in params:
            p.grad = torch.from_numpy(rng.standard_normal(tuple(p.shape), dtype=np.float32)).to(dev)
        fast = dict(fused=True) if variant == "fused" else dict(foreach=variant == "foreach")
        opt = getattr(torch.optim, spec["cls"])(params, **fast, **spec["kwargs"])
        sync = torch_sync(dev)
    count = sum(int(np.prod(p.shape)) for p in params)
    measure(benchmark, opt.step, sync, kind="op", op=f"{name}_step", framework=framework,
            backend=backend_label(framework, dev), device=dev, variant=variant,
            shape=f"workshop MLP, {count:,} values")
