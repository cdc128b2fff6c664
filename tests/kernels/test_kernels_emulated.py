"""Every fused .cu kernel run on the CPU by the emulator, against its array-API reference."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from minitorch.selftest import check_adam, check_bn, check_sgd, check_xent

if shutil.which("g++") is None:
    pytest.skip("g++ not on PATH: the emulator compiles kernels with it", allow_module_level=True)
try:
    from minitorch.kernels.emulator import EmulatedModule  # noqa: F401
except ImportError as exc:
    pytest.skip(f"CUDA emulator unavailable: {exc}", allow_module_level=True)


@pytest.fixture(scope="module")
def k():
    from minitorch.kernels import emulated_kernels

    return emulated_kernels()


def assert_all_ok(results):
    bad = [r for r in results if not r.ok]
    assert not bad, "; ".join(f"{r.name}: max err {r.max_err:.3g}" for r in bad)


# ---- softmax + cross-entropy -------------------------------------------------------------------
# C <= 1024 takes the warp-per-row kernel, larger C the block-per-row one; N small when C is large.
XENT_SHAPES = [(1, 1), (37, 10), (5, 1000), (2, 1025), (1, 5000), (3, 5000)]


@pytest.mark.parametrize("n,c", XENT_SHAPES, ids=[f"{n}x{c}" for n, c in XENT_SHAPES])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_xent(k, n, c, reduction):
    assert_all_ok(check_xent(k, np, n, c, reduction, ignored=[1] if n > 1 else [], seed=n + c))


@pytest.mark.parametrize("n,c", [(37, 10), (3, 5000)], ids=["warp", "block"])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_xent_label_smoothing(k, n, c, reduction):
    assert_all_ok(check_xent(k, np, n, c, reduction, 0.1, ignored=[0]))


@pytest.mark.parametrize("n,c", [(9, 33), (3, 2000)], ids=["warp", "block"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_xent_ignored_rows_of_minus_inf(k, n, c, reduction):
    """Ignored rows full of -inf give loss 0, gradient 0 and no NaN anywhere (with smoothing on)."""
    results = check_xent(k, np, n, c, reduction, 0.2, ignored=[0, 2], neg_inf_rows=[0, 2])
    assert_all_ok(results)


@pytest.mark.parametrize("n,c", [(6, 50), (2, 3000)], ids=["warp", "block"])
def test_xent_large_logits(k, n, c):
    assert_all_ok(check_xent(k, np, n, c, "none", 0.1, scale=1e4))


def test_xent_ignore_index_inside_the_class_range(k):
    assert_all_ok(check_xent(k, np, 20, 7, "mean", 0.1, ignore_index=3, ignored=[2, 5]))


def test_xent_mean_with_every_row_ignored_is_nan(k):
    """PyTorch semantics: 0/0 = NaN for the loss, a zero gradient."""
    x = np.zeros((3, 4), np.float32)
    t = np.full(3, -100)
    loss, lse = k.softmax_cross_entropy_forward(x, t, -100, 0.0, "mean")
    assert loss.shape == () and np.isnan(loss)
    dx = k.softmax_cross_entropy_backward(np.float32(1.0).reshape(()), x, t, lse, -100, 0.0, "mean")
    assert (dx == 0).all()


def test_xent_is_deterministic(k):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(70, 300)).astype(np.float32)
    t = rng.integers(0, 300, size=70)
    runs = [k.softmax_cross_entropy_forward(x, t, -100, 0.0, "sum")[0] for _ in range(2)]
    assert runs[0].tobytes() == runs[1].tobytes()


# ---- BatchNorm ---------------------------------------------------------------------------------
# (N, C) uses the channels-across-a-warp kernel (blockDim.y 8 below N=256, 32 from there);
# (N, C, *spatial) the block-per-channel one. None of the N*HW counts are multiples of 32.
# (1030, 3) and (2, 3, 64, 65) are big enough to split the batch over grid.y (partials + finish kernel).
BN_SHAPES = [(2, 3), (37, 5), (300, 40), (1030, 3), (1, 4, 3, 3), (3, 2, 11), (4, 3, 5, 7), (2, 5, 1, 1),
             (2, 3, 64, 65)]


@pytest.mark.parametrize("shape", BN_SHAPES, ids=["x".join(map(str, s)) for s in BN_SHAPES])
def test_batchnorm(k, shape):
    assert_all_ok(check_bn(k, np, shape, seed=len(shape)))


@pytest.mark.parametrize("shape", [(37, 5), (4, 3, 5, 7)], ids=["nc", "nchw"])
def test_batchnorm_without_affine_or_running_stats(k, shape):
    assert_all_ok(check_bn(k, np, shape, affine=False, running=False))


def test_batchnorm_updates_running_stats_in_place(k):
    x = np.random.default_rng(1).normal(size=(16, 3)).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    k.batch_norm_forward_train(x, None, None, rm, rv, 0.5, 1e-5)
    np.testing.assert_allclose(rm, 0.5 * x.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, 0.5 + 0.5 * x.var(axis=0, ddof=1), rtol=1e-5)


# ---- optimizers --------------------------------------------------------------------------------
SIZES = [1, 33, 7, 0, 4100]  # an empty tensor, and one spanning two 4096-element chunks


@pytest.mark.parametrize("decoupled", [False, True], ids=["adam", "adamw"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adam(k, decoupled, weight_decay):
    assert_all_ok(check_adam(k, np, SIZES, decoupled=decoupled, weight_decay=weight_decay, steps=3))


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_sgd(k, momentum, nesterov, weight_decay):
    assert_all_ok(check_sgd(k, np, SIZES, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, steps=3))
