"""One training step (forward, loss, zero_grad, backward, Adam) of the benchmark MLPs, per framework and batch size."""
from __future__ import annotations

import pytest

import minitorch as mt
from minitorch import nn, optim
from harness import backend_label, measure, minitorch_devices, minitorch_sync, no_sync, torch_devices, torch_sync
from networks import BATCH_SIZES, LR, WIDTHS, minitorch_mlp, random_batch, step_flops, torch_mlp
from numpy_reference import NumpyMLP


def _cases() -> list:
    """Every (width, batch) with all frameworks adjacent, so each ratio comes from back-to-back measurements."""
    frameworks = [("minitorch", d, v) for d in minitorch_devices() for v in ("fused", "composed")]
    frameworks += [("numpy", "cpu", "hand-written")] + [("torch", d, "eager") for d in torch_devices()]
    return [pytest.param(w, b, *f, id=f"{w}-{b}-{'-'.join(f)}")
            for w in WIDTHS for b in BATCH_SIZES for f in frameworks]


def _minitorch_step(sizes, x, y, dev):
    model = minitorch_mlp(sizes, dev)
    opt = optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    tx, ty = mt.tensor(x, device=dev), mt.tensor(y, device=dev)

    def step():
        loss = loss_fn(model(tx), ty)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, minitorch_sync(dev)


def _torch_step(sizes, x, y, dev):
    torch = pytest.importorskip("torch")
    model = torch_mlp(sizes, dev)
    opt = torch.optim.Adam(model.parameters(), lr=LR)  # torch's default implementation for the device
    tx, ty = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)

    def step():
        loss = torch.nn.functional.cross_entropy(model(tx), ty)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, torch_sync(dev)


@pytest.mark.parametrize("width,batch,framework,dev,variant", _cases())
def test_train_step(benchmark, monkeypatch, width, batch, framework, dev, variant):
    sizes = WIDTHS[width]
    x, y = random_batch(batch, sizes[0], sizes[-1])
    if framework == "minitorch":
        monkeypatch.setenv("MINITORCH_FUSED", "1" if variant == "fused" else "0")
        step, sync = _minitorch_step(sizes, x, y, dev)
    elif framework == "torch":
        step, sync = _torch_step(sizes, x, y, dev)
    else:
        ref = NumpyMLP(sizes)
        step, sync = (lambda: ref.step(x, y)), no_sync
    measure(benchmark, step, sync, batch=batch, flops=step_flops(sizes, batch), kind="train", op="train_step",
            framework=framework, backend=backend_label(framework, dev), device=dev, variant=variant,
            width=width, layers=list(sizes), shape=f"{width} B={batch}")
