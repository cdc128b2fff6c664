"""A CUDA training step never waits for the GPU: counted on a fake device (tests/fake_device.py).

The workshop MLP and the CNN train as train.py trains them (model, cross_entropy, backward, Adam) with
no read back to the host and no 0-d upload per step once the coach's first-call checks are done; a bad
label is still reported, naming the value and the class count, when the device's error flag is read.
"""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import coach, nn, optim
from minitorch.kernels import emulator, reference
from minitorch.training import models, workshop_mlp
from minitorch.training.loop import train_epoch

import fake_device
from fake_device import syncs, uploads

DEVICE = "cuda:7"  # the fake device's name, only while a test has it installed
COACH_SYNCS = 5  # the coach's host checks of cross_entropy's first 3 calls: 3 reads on the first, 1 on each next
needs_gxx = pytest.mark.skipif(not emulator.available(), reason="the CUDA emulator needs g++")


@pytest.fixture
def coach_on(monkeypatch):
    monkeypatch.delenv("MINITORCH_COACH", raising=False)
    coach.reset()
    yield
    coach.reset()


def fake(monkeypatch, kernels: str):
    """The fake device with the CUDA launchers (emulated .cu) or the xp references; "unfused" runs
    MINITORCH_FUSED=0 (the composed ops) on the references."""
    monkeypatch.setenv("MINITORCH_FUSED", "0" if kernels == "unfused" else "1")
    return fake_device.installed(monkeypatch, launchers=kernels == "launchers")


def batch(rng, shape, classes=10, labels=None):
    x = mt.tensor(rng.standard_normal(shape).astype(np.float32), device=DEVICE)
    y = rng.integers(0, classes, shape[0]) if labels is None else np.asarray(labels)
    return x, mt.tensor(y, device=DEVICE)


def train_steps(model, opt, batches, loss_fn=None):
    """train.py's step (forward, cross_entropy, zero_grad, backward, Adam), once per batch."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    for x, y in batches:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss


def coach_lines(counter):
    return [w for w in counter.where if "coach.py" in w]


@pytest.mark.parametrize("kernels", [pytest.param("launchers", marks=needs_gxx), "references", "unfused"])
def test_workshop_mlp_step_reads_nothing_back(monkeypatch, coach_on, kernels):
    rng = np.random.default_rng(0)
    with fake(monkeypatch, kernels):
        model = workshop_mlp().to(DEVICE)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        train_steps(model, opt, [batch(rng, (32, 784)) for _ in range(3)])
        assert len(syncs) == len(coach_lines(syncs)) == COACH_SYNCS, syncs.where  # the coach only
        syncs.clear()
        uploads.clear()
        loss = train_steps(model, opt, [batch(rng, (32, 784), labels=[-100] * 4 + [3] * 28) for _ in range(4)])
        assert syncs.where == [] and uploads.where == []
        assert np.isfinite(loss.item())  # the test's own read, after the steps


@pytest.mark.parametrize("kernels", [pytest.param("launchers", marks=needs_gxx), "references", "unfused"])
def test_cnn_step_reads_nothing_back(monkeypatch, kernels):
    monkeypatch.setenv("MINITORCH_COACH", "0")
    coach.reset()
    rng = np.random.default_rng(0)
    with fake(monkeypatch, kernels):
        model = models.mnist_cnn().to(DEVICE)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        train_steps(model, opt, [batch(rng, (8, 1, 28, 28))])
        syncs.clear()
        uploads.clear()
        train_steps(model, opt, [batch(rng, (8, 1, 28, 28)) for _ in range(2)])
        assert syncs.where == [] and uploads.where == []
    coach.reset()


@pytest.mark.parametrize("kernels", [pytest.param("launchers", marks=needs_gxx), "references", "unfused"])
def test_a_bad_label_is_raised_when_the_flag_is_read(monkeypatch, kernels):
    monkeypatch.setenv("MINITORCH_COACH", "0")
    coach.reset()
    rng = np.random.default_rng(1)
    with fake(monkeypatch, kernels) as backend:
        model = nn.Linear(20, 10).to(DEVICE)
        opt = optim.Adam(model.parameters())
        good = [batch(rng, (6, 20)) for _ in range(2)]
        first_bad = batch(rng, (6, 20), labels=[1, 2, -100, 12, -3, 0])
        later_bad = batch(rng, (6, 20), labels=[1, 2, 10, 3, 4, 5])
        syncs.clear()
        loss = train_steps(model, opt, good + [first_bad, later_bad] + good)
        assert syncs.where == []  # the step went on: the label is checked on the device
        with pytest.raises(IndexError, match=r"cross_entropy: target 12 is out of bounds for 10 classes "
                                             r"\(valid labels are 0..9, or ignore_index=-100\)"):
            loss.item()  # any read of the device reports the failed check first, as PyTorch's device asserts
        assert len(syncs) == 1  # one read for every pending check
        backend.raise_pending_errors()  # read once: nothing is pending now
        again = mt.nn.functional.cross_entropy(model(first_bad[0]), first_bad[1])
        with pytest.raises(IndexError, match="target 12"):
            backend.raise_pending_errors()  # a new bad batch: a new flag
        assert np.isfinite(loss.item())
    coach.reset()


def test_nll_loss_defers_its_label_check_too(monkeypatch):
    with fake(monkeypatch, "references") as backend:
        logp = mt.tensor(np.log(np.full((3, 4), 0.25, np.float32)), device=DEVICE, requires_grad=True)
        syncs.clear()
        loss = mt.nn.functional.nll_loss(logp, mt.tensor([0, 7, 1], device=DEVICE))
        loss.backward()
        assert syncs.where == []
        with pytest.raises(IndexError, match="nll_loss: Target 7 is out of bounds for 4 classes"):
            backend.raise_pending_errors()


@pytest.mark.parametrize("kernels", [pytest.param("launchers", marks=needs_gxx), "references", "unfused"])
@pytest.mark.parametrize("labels", [[0, -100, 3, 2, -100], [-100] * 5, [0, 1, 3, 2, 1]], ids=["some", "all", "none"])
def test_ignored_rows_are_counted_on_the_device(monkeypatch, kernels, labels):
    """Without the host's "no row is ignored" decision the loss and gradient are the CPU's."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    results = []
    for device in ("cpu", DEVICE):
        with fake(monkeypatch, kernels):
            logits = mt.tensor(x, device=device, requires_grad=True)
            loss = mt.nn.functional.cross_entropy(logits, mt.tensor(labels, device=device), label_smoothing=0.1)
            loss.backward()
            results.append((loss.item(), logits.grad.numpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5, atol=1e-7)


def test_python_scalars_reach_the_device_as_scalars(monkeypatch):
    with fake(monkeypatch, "references"):
        for dtype in (mt.float16, mt.float32, mt.float64):
            x = mt.ones(3, dtype=dtype, device=DEVICE)
            uploads.clear()
            outs = [x * 0.5, x + 3, x / 2.0, x - 1e-3, x ** 2, mt.where(x > 0.5, x, 0.0)]
            assert [o.dtype for o in outs] == [dtype] * len(outs)
            assert uploads.where == []


def test_first_bad_label_reference(device):
    xp = mt.get_backend(device).xp
    flag = reference.first_bad_label(xp.asarray([[1, -100], [12, -3]]), 10, -100)
    assert int(flag) == 12 and flag.shape == ()
    assert int(reference.first_bad_label(xp.asarray([1, 9, -100]), 10, -100)) == -100
    assert int(reference.first_bad_label(xp.asarray([1, 9, 10], dtype=xp.uint8), 10, 9)) == 10


@pytest.mark.parametrize("check_finite", [True, False])
def test_the_training_loop_names_a_bad_label_at_its_next_read(monkeypatch, check_finite):
    """The loop reads the device every 50 steps: the finite-loss check (at step 49), else the progress
    refresh (step 50). The bad label's NaN loss is then reported as the label, not as a divergence."""
    class Bar:
        refreshes = 0

        def update(self, n):
            pass

        def set_postfix(self, **values):
            Bar.refreshes += 1

    monkeypatch.setenv("MINITORCH_COACH", "0")
    coach.reset()
    rng = np.random.default_rng(3)
    with fake(monkeypatch, "references"):
        model = nn.Linear(20, 10).to(DEVICE)
        data = [batch(rng, (4, 20)) for _ in range(60)]
        data[7] = batch(rng, (4, 20), labels=[0, 1, 11, 2])
        with pytest.raises(IndexError, match="target 11 is out of bounds for 10 classes"):
            train_epoch(model, data, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), progress=Bar(),
                        check_finite=check_finite)
        assert Bar.refreshes == 1  # step 0's
    coach.reset()
