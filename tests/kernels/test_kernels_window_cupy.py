"""window.cu (im2col, col2im, max-pool) on a real GPU through CuPy, against NumPy loops and the references."""

from __future__ import annotations

import pytest

from minitorch.kernels import cuda_window
from minitorch.selftest_window import check_col2im, check_im2col, check_max_pool2d

pytestmark = pytest.mark.gpu

cp = pytest.importorskip("cupy", reason="CuPy not installed")


@pytest.fixture(scope="module")
def k():
    try:
        cp.zeros(1).sum()  # a first launch: fails here without a driver or device
    except Exception as exc:
        pytest.skip(f"no usable CUDA device: {type(exc).__name__}: {exc}")
    from minitorch.kernels import cuda_kernels

    return cuda_kernels()


def assert_all_ok(results):
    bad = [r for r in results if not r.ok]
    assert not bad, "; ".join(f"{r.name}: max err {r.max_err:.3g}" for r in bad)


CONV_CASES = [
    ((2, 3, 9, 8), (3, 2), (2, 1), (1, 1), (2, 1)),
    ((2, 2, 7, 11), (2, 4), (3, 2), (2, 0), (1, 3)),
    ((1, 3, 5, 7), (3, 3), (2, 2), (3, 3), (1, 1)),
    ((8, 16, 32, 33), (3, 3), (1, 1), (1, 1), (1, 1)),
    ((64, 64, 64, 80), (2, 2), (2, 2), (0, 0), (1, 1)),  # 21M inputs: more than one grid (65535 x 256)
]


@pytest.mark.parametrize("shape,ks,st,pd,dl", CONV_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_im2col(k, shape, ks, st, pd, dl, dtype):
    assert_all_ok(check_im2col(k, cp, shape, ks, st, pd, dl, dtype=dtype))


@pytest.mark.parametrize("shape,ks,st,pd,dl", CONV_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_col2im(k, shape, ks, st, pd, dl, dtype):
    assert_all_ok(check_col2im(k, cp, shape, ks, st, pd, dl, dtype=dtype))


POOL_CASES = [
    ((2, 3, 10, 9), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 2, 11, 7), (3, 2), (2, 3), (1, 1), (2, 3), True),
    ((2, 2, 5, 6), (2, 3), (1, 2), (1, 1), (1, 1), False),
    ((32, 64, 56, 56), (3, 3), (2, 2), (1, 1), (1, 1), False),
]


@pytest.mark.parametrize("shape,ks,st,pd,dl,ceil", POOL_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool2d(k, shape, ks, st, pd, dl, ceil, dtype):
    assert_all_ok(check_max_pool2d(k, cp, shape, ks, st, pd, dl, ceil, dtype=dtype))


@pytest.mark.parametrize("ties,nans", [(True, 0), (False, 40)], ids=["ties", "nans"])
def test_max_pool2d_ties_and_nans(k, ties, nans):
    assert_all_ok(check_max_pool2d(k, cp, (4, 3, 17, 15), (3, 3), (1, 2), (1, 1), (1, 1), True, ties=ties, nans=nans))


def test_grid_stride_loops(k, monkeypatch):
    """A grid of 4 blocks: every thread walks many elements (the reference's backward is too big for 17M)."""
    monkeypatch.setattr(cuda_window, "MAX_GRID", 4)
    assert_all_ok(check_im2col(k, cp, (2, 3, 40, 41), (3, 2), (2, 1), (1, 1), (1, 2)))
    assert_all_ok(check_col2im(k, cp, (2, 3, 40, 41), (3, 2), (2, 1), (1, 1), (1, 2)))
    assert_all_ok(check_max_pool2d(k, cp, (2, 3, 40, 41), (3, 2), (1, 2), (1, 1), (1, 2), True))


def test_max_pool2d_backward_gather_is_deterministic(k):
    x = cp.random.standard_normal((32, 64, 56, 56), dtype=cp.float32)
    geo = dict(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    y, idx = k.max_pool2d_forward(x, *geo.values(), False)
    g = cp.random.standard_normal(y.shape, dtype=cp.float32)
    runs = [k.max_pool2d_backward(g, idx, x.shape, **geo).get() for _ in range(3)]
    assert runs[0].tobytes() == runs[1].tobytes() == runs[2].tobytes()
