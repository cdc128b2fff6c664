"""window.cu (im2col, col2im, max-pool) run on the CPU by the emulator, against PyTorch and the references."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from minitorch.kernels import cuda_window
from minitorch.selftest_window import check_col2im, check_im2col, check_max_pool2d

torch = pytest.importorskip("torch", reason="PyTorch is the oracle for these tests")
F = torch.nn.functional

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


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


# (shape, kernel, stride, padding, dilation): square and not, padding beyond half the kernel (unfold allows it),
# a kernel covering the whole padded input, 1x1, strides larger than the kernel.
CONV_CASES = [
    ((1, 1, 5, 5), (3, 3), (1, 1), (0, 0), (1, 1)),
    ((2, 3, 9, 8), (3, 2), (2, 1), (1, 1), (2, 1)),
    ((2, 2, 7, 11), (2, 4), (3, 2), (2, 0), (1, 3)),
    ((1, 2, 4, 4), (1, 1), (1, 1), (0, 0), (1, 1)),
    ((2, 1, 6, 5), (5, 5), (1, 1), (2, 2), (1, 1)),
    ((1, 3, 5, 7), (3, 3), (2, 2), (3, 3), (1, 1)),
    ((1, 2, 10, 6), (2, 2), (4, 3), (0, 1), (2, 1)),
]
CONV_IDS = [f"{'x'.join(map(str, c[0]))}-k{c[1][0]}{c[1][1]}s{c[2][0]}{c[2][1]}p{c[3][0]}{c[3][1]}d{c[4][0]}{c[4][1]}"
            for c in CONV_CASES]


@pytest.mark.parametrize("shape,ks,st,pd,dl", CONV_CASES, ids=CONV_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_im2col_matches_torch_unfold(k, shape, ks, st, pd, dl, dtype):
    x = np.random.default_rng(len(shape) + ks[0]).normal(size=shape).astype(dtype)
    cols = k.im2col(x, ks, st, pd, dl)
    want = F.unfold(t(x), ks, dilation=dl, padding=pd, stride=st).numpy()
    assert cols.dtype == want.dtype and cols.shape == want.shape
    np.testing.assert_array_equal(cols, want)
    assert_all_ok(check_im2col(k, np, shape, ks, st, pd, dl, dtype=dtype))


@pytest.mark.parametrize("shape,ks,st,pd,dl", CONV_CASES, ids=CONV_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_col2im_matches_torch_fold(k, shape, ks, st, pd, dl, dtype):
    n, c, h, w = shape
    blocks = F.unfold(torch.zeros(shape), ks, dilation=dl, padding=pd, stride=st).shape[-1]
    cols = np.random.default_rng(h * w).normal(size=(n, c * ks[0] * ks[1], blocks)).astype(dtype)
    x = k.col2im(cols, (h, w), ks, st, pd, dl)
    want = F.fold(t(cols), (h, w), ks, dilation=dl, padding=pd, stride=st).numpy()
    assert x.dtype == want.dtype and x.shape == want.shape
    np.testing.assert_allclose(x, want, rtol=1e-6 if dtype == "float32" else 1e-13, atol=1e-6)
    assert_all_ok(check_col2im(k, np, shape, ks, st, pd, dl, dtype=dtype))


# (shape, kernel, stride, padding, dilation, ceil_mode); the ceil_mode cases include ones where the rule
# "the last window starts inside the input or left padding" drops a window.
POOL_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((2, 3, 10, 9), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 2, 11, 7), (3, 2), (2, 3), (1, 1), (2, 3), True),
    ((2, 2, 5, 6), (2, 3), (1, 2), (1, 1), (1, 1), False),
    ((1, 1, 7, 7), (3, 3), (3, 3), (1, 1), (2, 2), True),
    ((1, 2, 9, 9), (4, 4), (3, 3), (2, 2), (1, 1), True),
    ((1, 1, 6, 6), (2, 2), (4, 4), (1, 1), (1, 1), True),
    ((3, 1, 1, 9), (1, 3), (1, 2), (0, 1), (1, 1), False),
]
POOL_IDS = [f"{'x'.join(map(str, c[0]))}-k{c[1][0]}{c[1][1]}s{c[2][0]}{c[2][1]}p{c[3][0]}{c[3][1]}"
            f"d{c[4][0]}{c[4][1]}{'-ceil' if c[5] else ''}" for c in POOL_CASES]


def torch_pool(x, g, ks, st, pd, dl, ceil):
    xt = t(x).requires_grad_()
    y, idx = F.max_pool2d(xt, ks, st, pd, dl, ceil_mode=ceil, return_indices=True)
    y.backward(t(g))
    return y.detach().numpy(), idx.numpy(), xt.grad.numpy()


def assert_pool_matches_torch(k, x, ks, st, pd, dl, ceil, rng):
    y, idx = k.max_pool2d_forward(x, ks, st, pd, dl, ceil)
    g = rng.normal(size=y.shape).astype(x.dtype)
    y_t, idx_t, dx_t = torch_pool(x, g, ks, st, pd, dl, ceil)
    assert y.shape == y_t.shape and y.dtype == y_t.dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, y_t)  # NaN positions must agree too
    np.testing.assert_array_equal(idx, idx_t)
    geo = dict(kernel_size=ks, stride=st, padding=pd, dilation=dl, ceil_mode=ceil)
    for dx in (k.max_pool2d_backward(g, idx, x.shape, **geo), k.max_pool2d_backward(g, idx, x.shape)):
        assert dx.dtype == x.dtype
        np.testing.assert_allclose(dx, dx_t, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape,ks,st,pd,dl,ceil", POOL_CASES, ids=POOL_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool2d_matches_torch(k, shape, ks, st, pd, dl, ceil, dtype):
    rng = np.random.default_rng(sum(shape))
    assert_pool_matches_torch(k, rng.normal(size=shape).astype(dtype), ks, st, pd, dl, ceil, rng)
    assert_all_ok(check_max_pool2d(k, np, shape, ks, st, pd, dl, ceil, dtype=dtype))


@pytest.mark.parametrize("shape,ks,st,pd,dl,ceil", POOL_CASES[1:4], ids=POOL_IDS[1:4])
def test_max_pool2d_ties_keep_the_first_max(k, shape, ks, st, pd, dl, ceil):
    rng = np.random.default_rng(1)
    x = rng.integers(-1, 2, size=shape).astype(np.float32)  # three values: most windows tie
    assert_pool_matches_torch(k, x, ks, st, pd, dl, ceil, rng)
    assert_all_ok(check_max_pool2d(k, np, shape, ks, st, pd, dl, ceil, ties=True))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool2d_nan_propagates_with_torchs_index(k, dtype):
    """Several NaNs per window: the value is NaN and the index the LAST NaN in scan order, as PyTorch."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 2, 7, 8)).astype(dtype)
    x.reshape(-1)[rng.choice(x.size, size=30, replace=False)] = np.nan
    assert_pool_matches_torch(k, x, (3, 3), (1, 2), (1, 1), (1, 1), True, rng)
    assert_all_ok(check_max_pool2d(k, np, (2, 2, 7, 8), (3, 3), (1, 2), (1, 1), (1, 1), True, dtype=dtype, nans=30))


def test_max_pool2d_windows_of_minus_inf_point_inside_the_input(k):
    x = np.full((1, 2, 5, 5), -np.inf, np.float32)
    x[0, 1, 2, 2] = 3.0
    assert_pool_matches_torch(k, x, (3, 3), (2, 2), (1, 1), (1, 1), False, np.random.default_rng(3))


def test_grid_stride_loops_cover_more_than_one_grid(k, monkeypatch):
    """With the grid capped at 2 blocks (512 threads), each thread walks several elements of every kernel."""
    monkeypatch.setattr(cuda_window, "MAX_GRID", 2)
    rng = np.random.default_rng(4)
    shape, ks, st, pd, dl = (2, 3, 20, 21), (3, 2), (2, 1), (1, 1), (1, 2)
    x = rng.normal(size=shape).astype(np.float32)
    np.testing.assert_array_equal(k.im2col(x, ks, st, pd, dl), F.unfold(t(x), ks, dl, pd, st).numpy())
    cols = F.unfold(t(x), ks, dl, pd, st).numpy()
    np.testing.assert_allclose(k.col2im(cols, (20, 21), ks, st, pd, dl),
                               F.fold(t(cols), (20, 21), ks, dl, pd, st).numpy(), rtol=1e-6, atol=1e-6)
    assert_pool_matches_torch(k, x, (3, 2), (1, 2), (1, 1), (1, 2), True, rng)


def test_col2im_is_deterministic(k):
    cols = np.random.default_rng(5).normal(size=(2, 3 * 9, 49)).astype(np.float32)
    runs = [k.col2im(cols, (9, 9), (3, 3), (1, 1), (0, 0), (1, 1)).tobytes() for _ in range(2)]
    assert runs[0] == runs[1]


def test_unsupported_inputs_fall_back_to_the_reference(k):
    """float16, empty and 3-d inputs and bad arguments go to window.py, which gives the result or the error."""
    window = pytest.importorskip("minitorch.kernels.window", reason="window.py not written yet")
    x16 = np.random.default_rng(6).normal(size=(1, 2, 5, 5)).astype(np.float16)
    np.testing.assert_array_equal(k.im2col(x16, (2, 2), (1, 1), (0, 0), (1, 1)),
                                  window.im2col(x16, (2, 2), (1, 1), (0, 0), (1, 1)))
    empty = np.zeros((0, 2, 5, 5), np.float32)
    assert k.max_pool2d_forward(empty, (2, 2), (2, 2), (0, 0), (1, 1), False)[0].shape == (0, 2, 2, 2)
    with pytest.raises(RuntimeError, match="col2im"):  # 10 columns cannot be the 16 blocks of a 5x5 output
        k.col2im(np.zeros((1, 4, 10), np.float32), (5, 5), (2, 2), (1, 1), (0, 0), (1, 1))


def test_scatter_path_sums_overlapping_windows(k):
    """Without geometry the backward scatters; overlapping 3x3/1 windows send several grads to one input."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 6, 7)).astype(np.float32)
    y, idx = k.max_pool2d_forward(x, (3, 3), (1, 1), (1, 1), (1, 1), False)
    g = rng.normal(size=y.shape).astype(np.float32)
    _, _, dx_t = torch_pool(x, g, (3, 3), (1, 1), (1, 1), (1, 1), False)
    assert np.count_nonzero(np.bincount(idx.reshape(6, -1)[0]) > 1)  # some input really is shared
    np.testing.assert_allclose(k.max_pool2d_backward(g, idx, x.shape), dx_t, rtol=1e-5, atol=1e-6)
