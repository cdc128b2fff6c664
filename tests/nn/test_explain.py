"""A shape error inside model(x) carries the walk: the calls so far, the failing layer, the size that fits."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn


class Net(nn.Module):
    """PyTorch's MNIST example network with in_features for 28x28 inputs, fed 32x32 ones (12544 != 9216)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.BatchNorm2d(64))
        self.fc = nn.Linear(9216, 10)

    def forward(self, x):
        return self.fc(mt.flatten(self.features(x), 1))


def notes(exc) -> str:
    return "\n".join(getattr(exc, "__notes__", []))


def test_cnn_with_wrong_in_features():
    net = Net()
    twin, x = copy.deepcopy(net), mt.randn(2, 1, 32, 32)
    twin.features(x)  # what the failing call itself does to the running statistics, and no more
    with pytest.raises(RuntimeError) as info:
        net(x)
    exc = info.value
    assert type(exc) is RuntimeError and str(exc).startswith("linear: input of shape (2, 12544)")  # message intact
    walk = notes(exc)
    assert "got 12544 = 64x14x14 features; Linear expects 9216 (in_features): in_features=12544 would fit" in walk
    assert "features.5 (BatchNorm2d)" in walk and "flattened" in walk
    lines = walk.splitlines()
    assert any("features.0 (Conv2d)" in ln and "[2, 32, 30, 30]" in ln for ln in lines)
    assert any("features (Sequential)" in ln and "[2, 64, 14, 14]" in ln for ln in lines)
    assert any("fc (Linear)" in ln and "failed here; input [2, 12544]" in ln for ln in lines)
    for ours, once in zip(net.buffers(), twin.buffers()):  # the re-run left no trace
        np.testing.assert_array_equal(ours.numpy(), once.numpy())
    assert net.training


def test_sequential_mlp():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(6, 2))
    with pytest.raises(RuntimeError, match="does not match") as info:
        model(mt.randn(3, 4, requires_grad=True))
    assert "got 5 features; Linear expects 6 (in_features): in_features=5 would fit (the output [3, 5] of " \
           "1 (ReLU))" in notes(info.value)


def test_conv_channel_mismatch():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    with pytest.raises(RuntimeError) as info:
        model(mt.randn(2, 1, 8, 8))
    assert "got 1 channels; Conv2d expects 3 (in_channels): in_channels=1 would fit" in notes(info.value)


def test_rng_is_untouched_by_the_rerun():
    model = nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 5), nn.Linear(6, 2))
    x = mt.randn(3, 4)
    mt.manual_seed(1)
    model[0](x)  # what one dropout draw takes from the generator
    expected = mt.randn(3).numpy()
    mt.manual_seed(1)
    with pytest.raises(RuntimeError):
        model(x)
    assert np.array_equal(mt.randn(3).numpy(), expected)


class Counting(nn.Module):
    """Fails with `exc` on the calls listed in `fail_on` (1-based), counting its calls."""

    def __init__(self, exc, fail_on=(1, 2)):
        super().__init__()
        self.exc, self.fail_on, self.calls = exc, fail_on, 0

    def forward(self, x):
        self.calls += 1
        if self.calls in self.fail_on:
            raise self.exc
        return x


def test_a_rerun_that_fails_differently_or_not_at_all_leaves_the_error_alone():
    for module in (Counting(RuntimeError("first"), fail_on=(1,)),  # the re-run succeeds
                   Counting(ValueError("x"), fail_on=(1,))):
        model = nn.Sequential(nn.Identity(), module)
        with pytest.raises(type(module.exc)) as info:
            model(mt.ones(2))
        assert info.value is module.exc and notes(info.value) == "" and module.calls == 2


def test_other_errors_are_not_rerun():
    module = Counting(KeyError("k"))
    with pytest.raises(KeyError):
        nn.Sequential(module)(mt.ones(2))
    assert module.calls == 1


def test_an_error_caught_inside_the_model_is_not_explained():
    class Fallback(nn.Module):
        def __init__(self):
            super().__init__()
            self.bad, self.good = nn.Linear(3, 2), nn.Linear(4, 2)

        def forward(self, x):
            try:
                return self.bad(x)
            except RuntimeError as exc:
                assert notes(exc) == ""  # an inner call leaves the error alone
                return self.good(x)

    assert Fallback()(mt.ones(1, 4)).shape == (1, 2)


def test_a_model_with_hooks_is_not_rerun():
    model = nn.Sequential(nn.Linear(4, 5), nn.Linear(6, 2))
    calls = []
    model[0].register_forward_hook(lambda m, a, o: calls.append(1))
    with pytest.raises(RuntimeError) as info:
        model(mt.ones(1, 4))
    assert calls == [1] and notes(info.value) == ""


def test_a_long_walk_is_cut_but_keeps_the_failing_path(monkeypatch):
    from minitorch.nn import explain
    monkeypatch.setattr(explain, "MAX_ROWS", 3)
    inner = nn.Sequential(*[nn.ReLU() for _ in range(5)], nn.Linear(3, 2))
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), inner))
    with pytest.raises(RuntimeError) as info:
        model(mt.randn(2, 4))
    lines = notes(info.value).splitlines()
    assert [ln.split()[0] for ln in lines[1:-1]] == ["Sequential", "...", "1", "...", "1.1", "...", "1.1.3",
                                                     "1.1.4", "1.1.5"]  # the last 3 calls and their callers
    assert lines[-1].startswith("got 4 features; Linear expects 3 (in_features)")
