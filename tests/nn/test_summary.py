"""nn.summary: rows, counts checked by hand and against PyTorch, memory totals, and a model left untouched."""
from __future__ import annotations

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn
from minitorch.training.loop import workshop_mlp
from minitorch.training.models import mnist_cnn

MLP_PARAMS = (784 * 256 + 256) + 2 * 256 + (256 * 10 + 10)  # Linear, BatchNorm1d (weight, bias), Linear
CNN_PARAMS = (1 * 16 * 25) + 2 * 16 + (16 * 32 * 25) + 2 * 32 + (1568 * 128) + 2 * 128 + (128 * 10 + 10)


def torch_count(build) -> int:
    torch = pytest.importorskip("torch")
    return sum(p.numel() for p in build(torch.nn).parameters())


def test_workshop_mlp_rows_and_totals():
    s = nn.summary(workshop_mlp(), input_size=(64, 784))
    assert [(r["name"], r["class"], r["depth"], r["output_shape"]) for r in s.rows] == [
        ("", "Sequential", 0, (64, 10)), ("0", "Linear", 1, (64, 256)), ("1", "BatchNorm1d", 1, (64, 256)),
        ("2", "ReLU", 1, (64, 256)), ("3", "Dropout", 1, (64, 256)), ("4", "Linear", 1, (64, 10))]
    assert [r["params"] for r in s.rows] == [0, 200960, 512, 0, 0, 2570]
    assert s.total_params == s.trainable_params == MLP_PARAMS == 204042 and s.frozen_params == 0
    assert s.total_params == torch_count(lambda tnn: tnn.Sequential(
        tnn.Linear(784, 256), tnn.BatchNorm1d(256), tnn.ReLU(), tnn.Dropout(0.2), tnn.Linear(256, 10)))
    assert s.param_bytes == 4 * MLP_PARAMS
    assert s.activation_bytes == 4 * (4 * 64 * 256 + 64 * 10)  # leaf outputs only: the container's is its last's
    assert s.input_bytes == 4 * 64 * 784
    text = str(s)
    assert "Total params: 204,042" in text and "200,960" in text and "0 (Linear)" in text and "[64, 256]" in text


def test_cnn_counts_match_hand_count_and_torch():
    s = nn.summary(mnist_cnn(), input_size=(2, 1, 28, 28))
    assert s.total_params == CNN_PARAMS == 215546

    def build(tnn):
        def block(c_in, c_out):
            return [tnn.Conv2d(c_in, c_out, 5, padding=2, bias=False), tnn.BatchNorm2d(c_out), tnn.ReLU(),
                    tnn.MaxPool2d(2)]
        return tnn.Sequential(*block(1, 16), *block(16, 32), tnn.Flatten(), tnn.Dropout(0.25),
                              tnn.Linear(32 * 7 * 7, 128, bias=False), tnn.BatchNorm1d(128), tnn.ReLU(), tnn.Dropout(0.25), tnn.Linear(128, 10))

    assert s.total_params == torch_count(build)
    shapes = {r["name"]: r["output_shape"] for r in s.rows}
    assert shapes["3"] == (2, 16, 14, 14) and shapes["7"] == (2, 32, 7, 7) and shapes["8"] == (2, 1568)
    assert sum(r["params"] for r in s.rows) == s.total_params


def test_model_state_rng_and_hooks_are_left_as_they_were():
    model = workshop_mlp()
    model.train()
    model[3].eval()  # a mixed state, restored module by module
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    mt.manual_seed(3)
    expected = mt.randn(4).numpy()
    mt.manual_seed(3)
    nn.summary(model, input_size=(8, 784), mode="train")  # training mode: BatchNorm would update its stats
    assert np.array_equal(mt.randn(4).numpy(), expected)
    assert [m.training for m in model.modules()] == [True, True, True, True, False, True]
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_an_error_removes_the_hooks_restores_state_and_explains():
    model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Linear(4, 2))
    stats = model[1].running_mean.numpy().copy()
    with pytest.raises(RuntimeError, match="does not match") as info:
        nn.summary(model, input_size=(3, 6), mode="train")
    assert "got 5 features; Linear expects 4 (in_features)" in "\n".join(info.value.__notes__)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    assert model.training and np.array_equal(model[1].running_mean.numpy(), stats)


def test_depth_collapses_and_frozen_params():
    model = nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), nn.Linear(4, 2))
    model[0][0].requires_grad_(False)
    model[1].bias.requires_grad_(False)
    full = nn.summary(model, mt.randn(2, 3))
    assert [r["name"] for r in full.rows] == ["", "0", "0.0", "0.1", "1"]
    short = nn.summary(model, mt.randn(2, 3), depth=1)
    assert [(r["name"], r["params"], r["trainable"]) for r in short.rows] == [
        ("", 0, "--"), ("0", 16, "False"), ("1", 10, "Partial")]
    assert short.frozen_params == 16 + 2 and short.trainable_params == 8
    assert sum(r["params"] for r in short.rows) == short.total_params == 26


def test_several_inputs_and_a_reused_module():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, a, b):
            return self.lin(a) + self.lin(b)

    s = nn.summary(Shared(), (mt.randn(2, 3), mt.randn(2, 3)))
    assert [(r["name"], r["reused"]) for r in s.rows] == [("", False), ("lin", False), ("lin", True)]
    assert s.rows[0]["input_shapes"] == [(2, 3), (2, 3)] and "(reused)" in str(s)
    s2 = nn.summary(Shared(), input_size=[(2, 3), (2, 3)])
    assert s2.input_bytes == 2 * 2 * 3 * 4


def test_random_input_follows_the_model_device_and_dtype(device):
    model = nn.Sequential(nn.Linear(3, 2, device=device, dtype="float64"), nn.BatchNorm1d(2, device=device,
                                                                                          dtype="float64"))
    s = nn.summary(model, input_size=(5, 3), mode="train")
    assert s.rows[-1]["output_shape"] == (5, 2) and s.activation_bytes == 2 * 5 * 2 * 8
    assert model[1].num_batches_tracked.item() == 0 and model[1].running_mean.numpy().tolist() == [0.0, 0.0]


def test_argument_errors():
    with pytest.raises(ValueError, match="exactly one"):
        nn.summary(nn.ReLU())
    with pytest.raises(ValueError, match="mode"):
        nn.summary(nn.ReLU(), input_size=(2,), mode="test")
