"""ignore_index=None ("no row is ignored", proven by the caller) gives what the masked path gives."""
import numpy as np
import pytest

import minitorch as mt
from minitorch.kernels import emulator, reference


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_reference_without_ignored_rows_matches_masked_path(device, reduction, smoothing):
    xp = mt.get_backend(device).xp
    rng = np.random.default_rng(0)
    logits = xp.asarray(rng.standard_normal((9, 7)))
    target = xp.asarray(rng.integers(0, 7, 9))
    grad = xp.asarray(rng.standard_normal(9) if reduction == "none" else 1.5)
    fast = reference.softmax_cross_entropy_forward(logits, target, None, smoothing, reduction)
    masked = reference.softmax_cross_entropy_forward(logits, target, -100, smoothing, reduction)
    for a, b in zip(fast, masked):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)
    dx_fast = reference.softmax_cross_entropy_backward(grad, logits, target, fast[1], None, smoothing, reduction)
    dx_masked = reference.softmax_cross_entropy_backward(grad, logits, target, masked[1], -100, smoothing, reduction)
    np.testing.assert_allclose(np.asarray(dx_fast), np.asarray(dx_masked), rtol=1e-12)


@pytest.mark.skipif(not emulator.available(), reason="the CUDA emulator needs g++")
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_emulated_kernels_accept_none(reduction):
    from minitorch.kernels import emulated_kernels
    k = emulated_kernels()
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((37, 10)).astype(np.float32)
    target = rng.integers(0, 10, 37)
    grad = np.float32(1.0) if reduction == "mean" else rng.standard_normal(37).astype(np.float32)
    loss, lse = k.softmax_cross_entropy_forward(logits, target, None, 0.1, reduction)
    ref_loss, ref_lse = reference.softmax_cross_entropy_forward(logits, target, None, 0.1, reduction)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    dx = k.softmax_cross_entropy_backward(np.asarray(grad), logits, target, lse, None, 0.1, reduction)
    ref_dx = reference.softmax_cross_entropy_backward(np.asarray(grad), logits, target, ref_lse, None, 0.1, reduction)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-5, atol=1e-7)


def test_cross_entropy_passes_none_only_when_no_row_can_be_ignored(monkeypatch):
    seen = []
    real = reference.softmax_cross_entropy_forward
    monkeypatch.setattr(reference, "softmax_cross_entropy_forward", lambda *a: seen.append(a[2]) or real(*a))
    logits = mt.zeros(3, 4)
    mt.nn.functional.cross_entropy(logits, mt.tensor([0, 1, 3]))
    mt.nn.functional.cross_entropy(logits, mt.tensor([0, -100, 3]))
    mt.nn.functional.cross_entropy(logits, mt.tensor([0, 2, 3]), ignore_index=2)
    assert seen == [None, -100, 2]
