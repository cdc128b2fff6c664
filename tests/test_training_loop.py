"""minitorch.training as a library: a stopped epoch continues exactly, the divergence check, GracefulStop,
and the report files' atomic, strict writes."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim
from minitorch.data import DataLoader, TensorDataset
from minitorch.training import Diverged, GracefulStop, Interrupted, TrainingStopped, fit, report
from minitorch.training.loop import _FiniteCheck


class StopAfter:
    """A stand-in for GracefulStop: asks for a stop once `steps` optimizer steps were taken."""

    def __init__(self, optimizer, steps: int) -> None:
        self.optimizer, self.steps, self.signum = optimizer, steps, signal.SIGTERM

    @property
    def requested(self) -> bool:
        return self.optimizer.steps >= self.steps


def problem(generator):
    mt.manual_seed(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 20)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    real_step, opt.steps = opt.step, 0

    def counted():
        opt.steps += 1
        return real_step()
    opt.step = counted
    train = DataLoader(TensorDataset(x[:80], y[:80]), batch_size=8, shuffle=True, generator=generator)
    val = DataLoader(TensorDataset(x[80:], y[80:]), batch_size=16)
    return model, opt, train, val


@pytest.mark.parametrize("kind", ["numpy", "minitorch"])
def test_a_stopped_epoch_continues_exactly(kind):
    make = (lambda: np.random.default_rng(7)) if kind == "numpy" else (lambda: mt.Generator().manual_seed(7))
    model, opt, train, val = problem(make())
    straight = fit(model, opt, train, val, 3)
    expected = [p.detach().numpy().copy() for p in model.parameters()]

    model, opt, train, val = problem(make())
    with pytest.raises(TrainingStopped) as stopped:
        fit(model, opt, train, val, 3, stop=StopAfter(opt, 13))  # step 3 of epoch 2
    assert stopped.value.epoch == 1 and stopped.value.position.step == 3
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "device": mt.get_backend().rng_state()}
    # A fresh process's objects, loaded from what a checkpoint holds:
    model2, opt2, train2, val2 = problem(make())
    model2.load_state_dict(state["model"])
    opt2.load_state_dict(state["opt"])
    mt.get_backend().set_rng_state(state["device"])
    rest = fit(model2, opt2, train2, val2, 3, start_epoch=1, position=stopped.value.position)
    for got, want in zip(model2.parameters(), expected):
        np.testing.assert_array_equal(got.detach().numpy(), want)
    assert [r["train_loss"] for r in rest] == [r["train_loss"] for r in straight[1:]]


def test_the_deferred_check_names_the_first_non_finite_step():
    check = _FiniteCheck(mt.get_backend("cpu"), epoch=2)
    check.every = 5  # as on a GPU: read every 5 steps, not every step
    losses = [1.0, 2.0, float("nan"), float("inf"), 3.0]
    for step, value in enumerate(losses[:4]):
        check.add(step, np.asarray(value, dtype=np.float32))  # nothing read yet
    with pytest.raises(Diverged, match=r"the training loss is nan at step 3 of epoch 3"):
        check.add(4, np.asarray(losses[4], dtype=np.float32))


def test_fit_stops_at_a_nan_loss_or_trains_on_when_allowed():
    model, opt, train, val = problem(np.random.default_rng(0))
    opt.param_groups[0]["lr"] = 1e30
    with np.errstate(all="ignore"), pytest.raises(Diverged, match="at step 2 of epoch 1"):
        fit(model, opt, train, val, 1)
    model, opt, train, val = problem(np.random.default_rng(0))
    opt.param_groups[0]["lr"] = 1e30
    with np.errstate(all="ignore"):
        history = fit(model, opt, train, val, 1, check_finite=False)
    assert not np.isfinite(history[0]["train_loss"])


def test_graceful_stop_asks_once_then_interrupts():
    previous = signal.getsignal(signal.SIGINT)
    with GracefulStop() as stop:
        with pytest.raises(Interrupted):  # outside graceful(): at once
            os.kill(os.getpid(), signal.SIGINT)
        stop.signum = None
        with stop.graceful():
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.requested and stop.signum == signal.SIGTERM
            with pytest.raises(Interrupted) as again:  # a second signal: at once
                os.kill(os.getpid(), signal.SIGINT)
    assert again.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is previous


def test_metrics_are_strict_json_and_writes_are_atomic(tmp_path):
    path = tmp_path / "metrics.json"
    report.write_json(path, {"loss": float("nan"), "history": [{"x": float("inf")}, 1.5]})
    assert json.loads(path.read_text()) == {"loss": None, "history": [{"x": None}, 1.5]}

    def fails(f):
        f.write(b"half")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        report.atomic_write(path, fails)
    assert json.loads(path.read_text())["loss"] is None  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temp file left

    # A temp file of a writer killed earlier (pid gone) is removed at the next write.
    (tmp_path / ".metrics.json.999999999-0123abcd.tmp").write_bytes(b"orphan")
    report.write_json(path, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
