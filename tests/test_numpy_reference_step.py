"""The hand-written NumPy step in benchmarks/ computes what minitorch computes, so its timing is a fair floor."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from networks import minitorch_mlp, random_batch  # noqa: E402
from numpy_reference import NumpyMLP  # noqa: E402


def _twins(sizes, batch):
    """A minitorch MLP and a NumpyMLP with the same weights and the same dropout random stream."""
    model = minitorch_mlp(sizes)
    ref = NumpyMLP(sizes)
    ref.params = [p.detach().numpy().copy() for p in model.parameters()]
    ref.exp_avg = [np.zeros_like(p) for p in ref.params]
    ref.exp_avg_sq = [np.zeros_like(p) for p in ref.params]
    # Dropout masks come from the backend generator; the reference draws from a copy of its state. Re-seed
    # first: an odd number of float32 draws during init leaves half a 64-bit word buffered, which the
    # reference's float32 draws would use and minitorch's raw 32-bit dropout draws skip.
    mt.get_backend("cpu").seed(1)
    ref.rng.bit_generator.state = mt.get_backend("cpu").rng_state()
    x, y = random_batch(batch, sizes[0], sizes[-1], seed=1)
    return model, ref, x, y


@pytest.mark.parametrize("sizes", [(784, 256, 10), (20, 16, 12, 5)], ids=["workshop", "two-hidden"])
def test_numpy_reference_matches_minitorch_step(sizes):
    model, ref, x, y = _twins(sizes, batch=32)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss = nn.CrossEntropyLoss()(model(mt.tensor(x)), mt.tensor(y))
    opt.zero_grad()
    loss.backward()
    ref_loss = ref.forward_backward(x, y)
    assert ref_loss == pytest.approx(loss.item(), rel=1e-5)
    for i, (p, g) in enumerate(zip(model.parameters(), ref.grads)):
        assert p.shape == g.shape, f"parameter {i}"
        np.testing.assert_allclose(g, p.grad.detach().numpy(), rtol=1e-4, atol=1e-6, err_msg=f"gradient of parameter {i}")
    # The bias before BatchNorm has a gradient of pure rounding noise that Adam normalises to +-lr, so the
    # update is compared on identical gradients.
    ref.grads = [p.grad.detach().numpy().copy() for p in model.parameters()]
    opt.step()
    ref.adam_step()
    for i, (p, q) in enumerate(zip(model.parameters(), ref.params)):
        np.testing.assert_allclose(q, p.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=f"parameter {i} after Adam")
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    for bn, (rm, rv) in zip(bns, ref.running, strict=True):
        np.testing.assert_allclose(rm, bn.running_mean.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rv, bn.running_var.detach().numpy(), rtol=1e-5, atol=1e-6)
