"""A few training steps of the MNIST network with every fused op run by the emulated CUDA kernels
match the NumPy path (the xp references)."""

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim
from minitorch.backends.numpy_backend import NumpyBackend
from minitorch.kernels import emulated_kernels, emulator
from minitorch.training import workshop_mlp

pytestmark = pytest.mark.skipif(not emulator.available(), reason="the CUDA emulator needs g++")


def batches(n_batches: int, size: int = 64):
    """Real MNIST batches where the library finds them, else random images of the same shape."""
    try:
        x, y = mt.data.MNIST(train=True, download=False).arrays(flatten=True)
    except mt.data.DatasetNotFoundError:
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((n_batches * size, 784)).astype(np.float32), rng.integers(0, 10, n_batches * size)
    return [(x[i * size:(i + 1) * size], y[i * size:(i + 1) * size]) for i in range(n_batches)]


def train(make_optimizer, data):
    mt.manual_seed(0)
    model = workshop_mlp()
    opt = make_optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    losses = []
    for x, y in data:
        loss = loss_fn(model(mt.tensor(x)), mt.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with mt.no_grad():
        logits = model(mt.tensor(data[0][0])).detach().numpy()
    return losses, {k: v.detach().numpy() for k, v in model.state_dict().items()}, logits


# Adam divides by sqrt(v): a gradient that is pure rounding noise (the bias of a Linear feeding
# BatchNorm has a true gradient of exactly 0) becomes a +-lr step whose sign depends on summation
# order. A larger eps keeps Adam's step proportional to the gradient, so fp32 ordering differences
# stay fp32-sized and the comparison means something.
@pytest.mark.parametrize("make_optimizer", [
    lambda p: optim.Adam(p, lr=1e-3, eps=1e-3, weight_decay=1e-4),
    lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
], ids=["adam", "sgd-nesterov"])
def test_emulated_kernels_train_like_the_numpy_path(monkeypatch, make_optimizer):
    monkeypatch.setenv("MINITORCH_FUSED", "1")
    data = batches(3)
    reference = train(make_optimizer, data)
    monkeypatch.setattr(NumpyBackend, "kernels", property(lambda self: emulated_kernels()))
    emulated = train(make_optimizer, data)

    np.testing.assert_allclose(emulated[0], reference[0], rtol=1e-5)
    for name, value in reference[1].items():
        np.testing.assert_allclose(emulated[1][name], value, rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(emulated[2], reference[2], rtol=1e-4, atol=1e-4)
