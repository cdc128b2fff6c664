"""The NumPy backend's fused CPU kernels (kernels/cpu.py): the reference's bits, and who runs when."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim
from minitorch.capture.flat_tape import FlatTape
from minitorch.kernels import cpu, reference
from minitorch.optim.optimizer import rule
from minitorch.training import training_step

numba = pytest.importorskip("numba", reason="numba not installed (the `performance` extra): the reference runs")

SHAPES = [(37, 5), (1000,), (0,), (3, 4, 5), (1,)]
FLAGS = [dict(weight_decay=0.0, decoupled=False), dict(weight_decay=0.1, decoupled=False),
         dict(weight_decay=0.1, decoupled=True), dict(weight_decay=0.0, decoupled=False, maximize=True),
         dict(weight_decay=0.05, decoupled=False, amsgrad=True), dict(weight_decay=0.05, decoupled=True, amsgrad=True)]


def _state(rng, dtype, special: bool = False):
    """params, exp_avg, exp_avg_sq, max_exp_avg_sq per shape; `special` plants NaN, inf, zeros and subnormals."""
    p = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    m = [0.1 * rng.standard_normal(s).astype(dtype) for s in SHAPES]
    v = [np.abs(rng.standard_normal(s)).astype(dtype) * 1e-3 for s in SHAPES]
    vmax = [a * 2 for a in v]
    if special:
        tiny = np.finfo(dtype).smallest_subnormal
        p[0].flat[:4] = [np.nan, np.inf, 0.0, -0.0]
        v[0].flat[4:8] = [tiny, 0.0, np.nan, np.inf]
        vmax[0].flat[4:8] = [np.nan, tiny, 0.0, 1.0]
    return [p, m, v, vmax]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
@pytest.mark.parametrize("special", [False, True], ids=["finite", "nan-inf-subnormal"])
def test_adam_gives_the_reference_bits(dtype, flags, special, monkeypatch):
    rng = np.random.default_rng(0)
    want = _state(rng, dtype, special)
    got = [[a.copy() for a in role] for role in want]
    for step in (1, 2, 3, 50):
        grads = [(rng.standard_normal(s) * 10.0 ** rng.integers(-30, 3)).astype(dtype) for s in SHAPES]
        if special:
            grads[1][:3] = [np.nan, np.inf, np.finfo(dtype).smallest_subnormal]
        hyper = dict(step=step, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, **flags)
        with np.errstate(all="ignore"):  # NaN and inf are planted on purpose
            reference.adam_step(want[0], grads, *want[1:], **hyper)
        monkeypatch.setattr(reference, "adam_step", None)  # the loop runs: no fallback to the reference
        cpu.adam_step(got[0], grads, *got[1:], **hyper)
        monkeypatch.undo()
        for role_want, role_got in zip(want, got):
            for a, b in zip(role_want, role_got):
                assert a.tobytes() == b.tobytes()


def test_what_the_loop_does_not_take_runs_the_reference(monkeypatch):
    """Strided arrays, float16 and mixed dtypes fall back tensor by tensor, with the same results."""
    calls = []
    real = reference.adam_step
    monkeypatch.setattr(reference, "adam_step", lambda *a, **k: (calls.append(a[0][0].dtype), real(*a, **k))[1])
    rng = np.random.default_rng(1)
    strided = rng.standard_normal((6, 8)).astype(np.float32)[:, ::2]
    half = rng.standard_normal(5).astype(np.float16)
    mixed = rng.standard_normal(5)  # a float64 param with a float32 gradient
    plain = rng.standard_normal(7).astype(np.float32)
    params = [strided, half, mixed, plain]
    grads = [np.ones_like(strided), np.ones_like(half), np.ones(5, np.float32), np.ones_like(plain)]
    expect = [a.copy() for a in params]
    hyper = dict(step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False)
    cpu.adam_step(params, grads, [np.zeros_like(a) for a in params], [np.zeros_like(a) for a in params], **hyper)
    assert calls == [np.float32, np.float16, np.float64]  # the plain float32 one ran in the loop
    calls.clear()
    real(expect, grads, [np.zeros_like(a) for a in expect], [np.zeros_like(a) for a in expect], **hyper)
    for a, b in zip(params, expect):
        assert a.tobytes() == b.tobytes()


def test_the_numpy_backend_runs_the_loop_unless_fused_kernels_are_off(monkeypatch):
    backend = mt.tensor([1.0]).backend
    assert rule(backend, "adam_step") is cpu.adam_step
    assert rule(backend, "sgd_step") is reference.sgd_step  # only Adam has a loop
    assert backend.kernels.batch_norm_backward is reference.batch_norm_backward
    monkeypatch.setenv("MINITORCH_FUSED", "0")
    assert rule(backend, "adam_step") is reference.adam_step


def test_without_numba_the_reference_runs(monkeypatch):
    monkeypatch.setattr(cpu, "_adam_loop", lambda: None)
    assert rule(mt.tensor([1.0]).backend, "adam_step") is reference.adam_step


@pytest.mark.parametrize("flat", [False, True])
def test_an_optimizer_step_is_the_same_with_and_without_the_loop(monkeypatch, flat):
    def train(loop: bool):
        if not loop:  # (MINITORCH_FUSED=0 would also switch BatchNorm's fused forward off)
            monkeypatch.setattr(cpu, "_adam_loop", lambda: None)
        mt.manual_seed(0)
        net = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
        opt = optim.AdamW(net.parameters(), lr=0.05, amsgrad=True, flat=flat)
        x, y = mt.randn(8, 6), mt.randn(8, 2)
        for _ in range(4):
            opt.zero_grad()
            nn.functional.mse_loss(net(x), y).backward()
            opt.step()
        return [p.detach().numpy().tobytes() for p in net.parameters()]

    assert train(True) == train(False)


def test_a_compiled_step_still_replays_flat_with_the_loop():
    """The tracer records the references in place of the CPU kernels (same bits), so nothing falls back."""
    model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
    step = mt.compile(training_step(model, optim.Adam(model.parameters(), flat=True), nn.functional.cross_entropy))
    x, y = mt.randn(8, 6), mt.tensor(np.arange(8) % 2)
    for _ in range(3):
        step(x, y)
    (tape,) = step.tapes.values()
    assert isinstance(tape.fast, FlatTape), tape.fast
