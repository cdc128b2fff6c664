"""One training step (forward, loss, zero_grad, backward, Adam) of the benchmark MLPs, per framework and batch size.

Two kinds of rows. `test_train_step`: each framework calibrated and timed on its own (kind "train"), as the
report's main table shows them. `test_train_peers`: every peer of the workshop MLP built in one process and
timed in interleaved rounds (kind "train-peers"), so that their ratios share one machine load: minitorch
eager, eager with flat buffers, and `minitorch.compile`d; the hand-written NumPy step; PyTorch with its
default Adam and with Adam(fused=True); JAX with the whole step under one jax.jit. `report_section(rows)`
renders those ratios; `python benchmarks/bench_train.py [batch ...]` prints them without pytest.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim
from harness import BUDGET_S, SETTLE_S, backend_label, measure, minitorch_devices, minitorch_sync, no_sync
from harness import torch_devices, torch_sync
from networks import (BATCH_SIZES, LR, WIDTHS, jax_available, jax_mlp_step, minitorch_mlp, random_batch, step_flops,
                      torch_mlp)
from numpy_reference import NumpyMLP

PEER_BATCHES = (64, 256, 1024)
ROUND_S = 0.02  # each peer's share of one interleaved round


def _cases() -> list:
    """Every (width, batch) with all frameworks adjacent, so each ratio comes from back-to-back measurements."""
    frameworks = [("minitorch", d, v) for d in minitorch_devices() for v in ("fused", "composed")]
    frameworks += [("numpy", "cpu", "hand-written")] + [("torch", d, "eager") for d in torch_devices()]
    return [pytest.param(w, b, *f, id=f"{w}-{b}-{'-'.join(f)}")
            for w in WIDTHS for b in BATCH_SIZES for f in frameworks]


def _minitorch_step(sizes, x, y, dev, flat: bool = False, compiled: bool = False):
    model = minitorch_mlp(sizes, dev)
    opt = optim.Adam(model.parameters(), lr=LR, flat=flat)
    loss_fn = nn.CrossEntropyLoss()
    tx, ty = mt.tensor(x, device=dev), mt.tensor(y, device=dev)

    def train_step(inputs, labels):
        loss = loss_fn(model(inputs), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    run = mt.compile(train_step) if compiled else train_step
    return (lambda: run(tx, ty)), minitorch_sync(dev)


def _torch_step(sizes, x, y, dev, fused: bool = False):
    torch = pytest.importorskip("torch")
    model = torch_mlp(sizes, dev)
    # fused=None: torch's default implementation for the device (foreach on CUDA, a for-loop on the CPU)
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=fused or None)
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


# -- every peer in one process, interleaved ---------------------------------------------------------------
PEERS = {  # name -> (column heading, builder(sizes, x, y) -> (step, sync))
    "eager": ("minitorch eager", lambda s, x, y: _minitorch_step(s, x, y, "cpu")),
    "eager-flat": ("eager, flat=True", lambda s, x, y: _minitorch_step(s, x, y, "cpu", flat=True)),
    "captured": ("compiled, flat=True", lambda s, x, y: _minitorch_step(s, x, y, "cpu", flat=True, compiled=True)),
    "numpy": ("NumPy by hand", lambda s, x, y: ((lambda ref: (lambda: ref.step(x, y)))(NumpyMLP(s)), no_sync)),
    "torch": ("PyTorch", lambda s, x, y: _torch_step(s, x, y, "cpu")),
    "torch-fused": ("PyTorch fused Adam", lambda s, x, y: _torch_step(s, x, y, "cpu", fused=True)),
    "jax": ("JAX jit", lambda s, x, y: jax_mlp_step(s, x, y)),
}
SHORT = {"captured": "compiled", "eager-flat": "eager flat", "numpy": "NumPy", "torch": "PyTorch",
         "torch-fused": "fused Adam", "jax": "JAX"}


def available_peers() -> list[str]:
    """The peers this machine can run (PyTorch and JAX are optional)."""
    names = [n for n in PEERS if not n.startswith("torch") or torch_devices()]
    return [n for n in names if n != "jax" or jax_available()]


def interleaved(steps: dict[str, tuple[Callable, Callable]], budget_s: float = BUDGET_S) -> dict[str, list[float]]:
    """Seconds per step of each peer, one sample per round; in a round every peer runs back to back, so a
    burst of load on the shared machine slows every peer of that round alike."""
    per_call, calls = {}, {}
    for name, (step, sync) in steps.items():  # warm up (compile, record, allocate) and size each peer's turn
        start, once = time.perf_counter(), float("inf")
        while time.perf_counter() - start < SETTLE_S / 2 or once == float("inf"):
            t0 = time.perf_counter()
            step()
            sync()
            once = min(once, time.perf_counter() - t0)
        per_call[name], calls[name] = once, max(1, round(ROUND_S / once))
    rounds = int(min(100, max(5, budget_s / sum(per_call[n] * calls[n] for n in steps))))
    samples: dict[str, list[float]] = {n: [] for n in steps}
    for _ in range(rounds):
        for name, (step, sync) in steps.items():
            t0 = time.perf_counter()
            for _ in range(calls[name]):
                step()
            sync()
            samples[name].append((time.perf_counter() - t0) / calls[name])
    return samples


def measure_peers(batch: int, width: str = "workshop", budget_s: float = BUDGET_S) -> dict[str, Any]:
    """{peer: {"min": s, "median": s}} for one batch size, measured interleaved in this process."""
    sizes = WIDTHS[width]
    x, y = random_batch(batch, sizes[0], sizes[-1])
    mt.manual_seed(0)
    steps = {name: PEERS[name][1](sizes, x, y) for name in available_peers()}
    samples = interleaved(steps, budget_s)
    return {name: {"min": min(s), "median": float(np.median(s)), "rounds": len(s)} for name, s in samples.items()}


@pytest.mark.parametrize("batch", PEER_BATCHES)
def test_train_peers(benchmark, batch):
    result: dict = {}
    benchmark.pedantic(lambda: result.update(measure_peers(batch, budget_s=3 * BUDGET_S)), rounds=1, iterations=1)
    benchmark.extra_info.update(kind="train-peers", op="train_step", width="workshop", batch_size=batch,
                                shape=f"workshop B={batch}", variant="interleaved", framework="all", backend="all",
                                device="cpu", peers=result)


def report_section(rows: list[dict]) -> str:
    """Markdown for benchmarks/report.py: the interleaved peers, samples/s and the step's speed against each."""
    rows = sorted({r["batch_size"]: r for r in rows if r.get("kind") == "train-peers"}.values(),
                  key=lambda r: r["batch_size"])  # one row per batch size (the last measured)
    if not rows:
        return ""
    names = [n for n in PEERS if any(n in r["peers"] for r in rows)]
    ours = [n for n in ("captured", "eager-flat", "eager") if n in names]
    others = [n for n in names if n not in ("captured", "eager-flat", "eager")]
    head = ["batch"] + [PEERS[n][0] for n in names] + [f"{SHORT[a]} ÷ {SHORT[b]}" for a in ours[:2] for b in others]
    body = []
    for r in rows:
        p, b = r["peers"], r["batch_size"]
        line = [b] + [f"{b / p[n]['min']:,.0f}" if n in p else "" for n in names]
        line += [f"{p[n]['min'] / p[o]['min']:.2f}×" if o in p and n in p else ""
                 for o in ours[:2] for n in others]
        body.append(line)
    lines = ["| " + " | ".join(map(str, head)) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(map(str, line)) + " |" for line in body]
    when = {r["measured"][:16] for r in rows if r.get("measured")}  # set when merged in from another run
    note = f"; measured {', '.join(sorted(when))}, apart from the rest of this report" if when else ""
    return ("### Training step against each peer (workshop MLP, Adam, float32; samples/s from the fastest of "
            "interleaved rounds in one process; a ratio is the peer's step time over minitorch's: > 1, minitorch "
            f"is faster{note})\n\n" + "\n".join(lines))


if __name__ == "__main__":
    batches = [int(b) for b in sys.argv[1:]] or list(PEER_BATCHES)
    rows = [dict(kind="train-peers", batch_size=b, peers=measure_peers(b, budget_s=3 * BUDGET_S)) for b in batches]
    print(report_section(rows))
