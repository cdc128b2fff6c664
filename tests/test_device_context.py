"""cuda:N for N > 0: ops, backward, optimizer steps and creation functions run with their tensors' device current.

CuPy allocates and launches on the *current* device. On the fake device "cuda:7" (tests/fake_device.py), whose
runtime starts with device 0 current, every array records the device current when it was made: a training step
of the workshop MLP must make all of them with device 7 current and leave device 0 current afterwards.
"""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import coach, nn, optim
from minitorch.autograd import run_backward
from minitorch.backends import numpy_backend
from minitorch.backends.cupy_backend import DeviceGuard
from minitorch.training import training_step, workshop_mlp

import fake_device
from fake_device import FakeCudaBackend, runtime

DEVICE = "cuda:7"


@pytest.fixture
def on_fake(monkeypatch):
    monkeypatch.setenv("MINITORCH_COACH", "0")  # its first-call host checks are not the layers tested here
    coach.reset()
    with fake_device.installed(monkeypatch, launchers=False) as backend:
        yield backend
    coach.reset()


def _batch(rng):
    x = mt.tensor(rng.standard_normal((16, 784)).astype(np.float32), device=DEVICE)
    return x, mt.tensor(rng.integers(0, 10, 16), device=DEVICE)


def _off_device(made):
    return [w for w in made.where if not w.startswith("device 7 ")]


def test_training_steps_make_every_array_on_the_tensors_device(on_fake):
    rng = np.random.default_rng(0)
    with runtime.tracing() as made:
        model = workshop_mlp().to(DEVICE)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(3):
            x, y = _batch(rng)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert len(made) > 100, "the fake recorded no arrays: the test would pass vacuously"
    assert _off_device(made) == []
    assert runtime.current == 0  # the caller's device is current again
    assert all(p.grad.array.made_on == 7 for p in model.parameters())
    assert all(t.array.made_on == 7 for s in opt.state.values() for t in s.values() if isinstance(t, mt.Tensor))


def test_each_layer_switches_back_alone(on_fake):
    """Function.apply, backward (seed included), creation functions and Optimizer.step, each entered with
    device 0 current: each makes its arrays on device 7 and restores device 0."""
    w = mt.ones(3, device=DEVICE, requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    y, seed = (w * w).sum(), mt.ones((), device=DEVICE).array
    steps = {
        "creation": lambda: [mt.zeros(2, device=DEVICE), mt.full((2,), 3.0, device=DEVICE),
                             mt.arange(4, device=DEVICE), mt.linspace(0, 1, 5, device=DEVICE),
                             mt.eye(2, device=DEVICE), mt.tensor([1.0, 2.0], device=DEVICE)],
        "apply": lambda: (w * 2.0).sum(),
        "backward": lambda: (w * w).sum().backward(),
        "run_backward": lambda: run_backward(y, seed),  # the engine called directly
        "step": opt.step,
    }
    for name, step in steps.items():
        with runtime.tracing() as made:
            step()
        assert len(made) and _off_device(made) == [], name
        assert runtime.current == 0, name


def test_already_current_device_is_not_switched(on_fake, monkeypatch):
    """Inside the device's own context (as in a loop under `with guard`) nothing calls setDevice."""
    calls = []
    monkeypatch.setattr(runtime, "setDevice", lambda i: calls.append(i) or setattr(runtime, "current", i))
    w = mt.ones(3, device=DEVICE, requires_grad=True)
    assert calls == [7, 0]  # the creation switched there and back
    calls.clear()
    runtime.current = 7
    (w * w).sum().backward()
    mt.zeros(2, device=DEVICE)
    assert calls == [] and runtime.current == 7


def test_guard_nests_and_restores_after_an_error():
    guard = DeviceGuard(fake_device.FakeRuntime(), 3)
    rt = guard.runtime
    with guard:
        assert rt.current == 3
        with guard:
            assert rt.current == 3
        assert rt.current == 3  # the inner one switched nothing, so restores nothing
    assert rt.current == 0
    with pytest.raises(ZeroDivisionError):
        with guard:
            1 / 0
    assert rt.current == 0 and guard._local.stack == []


def test_errors_in_forward_restore_the_device(on_fake):
    a = mt.ones((2, 3), device=DEVICE)
    with pytest.raises(RuntimeError, match="size|shape"):
        a @ mt.ones((2, 3), device=DEVICE)
    assert runtime.current == 0


def test_mixing_devices_names_both(monkeypatch, on_fake):
    other = FakeCudaBackend(launchers=False, index=0)
    monkeypatch.setitem(mt.backends._backends, "cuda", other)
    a = mt.ones(3, device=DEVICE)
    b = mt.ones(3, device="cuda")
    assert b.array.made_on == 0
    with pytest.raises(RuntimeError, match=r"expected all tensors on one device, got cuda:7 and cuda\b"):
        a + b
    with pytest.raises(RuntimeError, match=r"got cuda and cuda:7"):
        b * a
    assert runtime.current == 0


def test_numpy_has_no_guard():
    assert numpy_backend.NumpyBackend.guard is None
    assert mt.ones(2).backend.guard is None


def test_a_compiled_step_replays_on_the_tensors_device(on_fake):
    """minitorch.compile's op-by-op replay runs the recorded forwards and backward outside Function.apply:
    the tape enters the device's guard itself."""
    rng = np.random.default_rng(1)
    model = workshop_mlp().to(DEVICE)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    step = mt.compile(training_step(model, opt, nn.functional.cross_entropy))
    batches = [_batch(rng) for _ in range(4)]
    step(*batches[0])
    step(*batches[1])  # the first replay, checked against an eager run
    with runtime.tracing() as made:
        for x, y in batches[2:]:
            step(x, y)
    tape, = step.tapes.values()
    assert tape.replays >= 3 and tape.guard is not None
    assert len(made) > 20 and _off_device(made) == []
    assert runtime.current == 0


def test_random_samplers_make_their_arrays_on_the_device(on_fake):
    for name, sample in {"rand": lambda: mt.rand(3, device=DEVICE), "randn": lambda: mt.randn(3, device=DEVICE),
                         "randint": lambda: mt.randint(0, 5, (4,), device=DEVICE),
                         "randperm": lambda: mt.randperm(6, device=DEVICE),
                         "multinomial": lambda: mt.multinomial(mt.ones(4, device=DEVICE), 2),
                         "multinomial replacement": lambda: mt.multinomial(mt.ones(2, 4, device=DEVICE), 3, True)}.items():
        with runtime.tracing() as made:
            out = sample()
        assert len(made) and _off_device(made) == [], name
        assert out.array.made_on == 7 and runtime.current == 0, name
