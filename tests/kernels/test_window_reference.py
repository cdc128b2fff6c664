"""The array-API window references (im2col, col2im, max pooling) against torch's unfold / fold / max_pool2d,
and the NumPy fast paths against the references."""
import random

import numpy as np
import pytest

from minitorch.kernels import reference, window_numpy
from minitorch.kernels.window import _pool_geometry

try:  # PyTorch is the oracle of the first tests; the fast-path-vs-reference tests run without it
    import torch
    F = torch.nn.functional
except ImportError:
    torch = F = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (pip install torch)")


@pytest.fixture(params=["numpy", "strict"])
def xp(request):
    if request.param == "numpy":
        return np
    return pytest.importorskip("array_api_strict")


def _configs(count, seed, pool=False):
    """Random (shape, kernel, stride, padding, dilation): every window holds at least one input element."""
    rnd = random.Random(seed)
    for _ in range(count):
        k = (rnd.randint(1, 3), rnd.randint(1, 3))
        d = (rnd.randint(1, 2), rnd.randint(1, 2))
        s = (rnd.randint(1, 3), rnd.randint(1, 3))
        p = (rnd.randint(0, k[0] // 2), rnd.randint(0, k[1] // 2)) if pool else (rnd.randint(0, 2), rnd.randint(0, 2))
        shape = (rnd.randint(1, 2), rnd.randint(1, 3), rnd.randint(d[0] * (k[0] - 1) + 1, 8),
                 rnd.randint(d[1] * (k[1] - 1) + 1, 8))
        yield shape, k, s, p, d, rnd.random() < 0.5


def _data(shape, seed, ties):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.round(x) if ties else x  # rounding makes ties, which must go to the first max


@needs_torch
def test_im2col_matches_unfold(xp):
    for i, (shape, k, s, p, d, _) in enumerate(_configs(60, 1)):
        x = _data(shape, i, False)
        got = reference.im2col(xp.asarray(x), k, s, p, d)
        want = F.unfold(torch.from_numpy(x), k, d, p, s).numpy()
        np.testing.assert_array_equal(np.asarray(got), want, err_msg=str((shape, k, s, p, d)))


@needs_torch
def test_col2im_matches_fold(xp):
    for i, (shape, k, s, p, d, _) in enumerate(_configs(60, 2)):
        n, c, h, w = shape
        blocks = F.unfold(torch.zeros(shape, dtype=torch.float64), k, d, p, s).shape
        cols = np.random.default_rng(i).standard_normal(blocks)
        got = reference.col2im(xp.asarray(cols), (h, w), k, s, p, d)
        want = F.fold(torch.from_numpy(cols), (h, w), k, d, p, s).numpy()
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12, err_msg=str((shape, k, s, p, d)))


def test_col2im_rejects_columns_that_do_not_fit(xp):
    with pytest.raises(RuntimeError, match=r"col2im: columns of shape \(1, 4, 8\)"):
        reference.col2im(xp.zeros((1, 4, 8)), (4, 4), (2, 2), (1, 1), (0, 0), (1, 1))


@needs_torch
def test_max_pool_matches_torch_with_indices_and_gradient(xp):
    for i, (shape, k, s, p, d, ceil) in enumerate(_configs(80, 3, pool=True)):
        x = _data(shape, i, ties=i % 2 == 0)
        tx = torch.tensor(x, requires_grad=True)
        out, idx = F.max_pool2d(tx, k, s, p, d, ceil, return_indices=True)
        got, got_idx = reference.max_pool2d_forward(xp.asarray(x), k, s, p, d, ceil)
        what = str((shape, k, s, p, d, ceil))
        np.testing.assert_array_equal(np.asarray(got), out.detach().numpy(), err_msg=what)
        np.testing.assert_array_equal(np.asarray(got_idx), idx.numpy(), err_msg=what)
        assert np.asarray(got_idx).dtype == np.int64
        g = np.random.default_rng(i).standard_normal(out.shape)
        out.backward(torch.from_numpy(g))
        dx = reference.max_pool2d_backward(xp.asarray(g), got_idx, shape)
        np.testing.assert_allclose(np.asarray(dx), tx.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=what)
        # With the geometry the summing passes are counted up front (no read of the indices): same sums.
        bounded = reference.max_pool2d_backward(xp.asarray(g), got_idx, shape, kernel_size=k, stride=s, padding=p,
                                                dilation=d, ceil_mode=ceil)
        np.testing.assert_array_equal(np.asarray(bounded), np.asarray(dx), err_msg=what)


def test_max_pool_backward_sums_every_window_that_shares_an_input(xp):
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0  # the max of all nine 3x3 windows (stride 1, padding 1) around it
    out, idx = reference.max_pool2d_forward(xp.asarray(x), (3, 3), (1, 1), (1, 1), (1, 1), False)
    g = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    dx = reference.max_pool2d_backward(xp.asarray(g), idx, x.shape, kernel_size=(3, 3), stride=(1, 1),
                                       dilation=(1, 1))
    assert float(np.asarray(dx)[0, 0, 2, 2]) == g[0, 0, 1:4, 1:4].sum()


@needs_torch
def test_max_pool_of_integers_pads_with_the_smallest_integer(xp):
    x = np.array([[[[-5, -7], [-9, -6]]]], dtype=np.int64)
    out, idx = reference.max_pool2d_forward(xp.asarray(x), (2, 2), (1, 1), (1, 1), (1, 1), False)
    want, want_idx = F.max_pool2d(torch.from_numpy(x), 2, 1, 1, return_indices=True)
    np.testing.assert_array_equal(np.asarray(out), want.numpy())
    np.testing.assert_array_equal(np.asarray(idx), want_idx.numpy())


def test_numpy_fast_conv_pieces_match_the_references():
    """Channels-last columns are the reference's columns with the (c, ki, kj) axes reordered to (ki, kj, c)."""
    for i, (shape, k, s, p, d, _) in enumerate(_configs(40, 4)):
        x = _data(shape, i, False)
        ref = reference.im2col(x, k, s, p, d)  # (N, C*kh*kw, L)
        n, c = shape[:2]
        fast = window_numpy.conv_columns(x, k, s, p, d)  # (N*L, kh*kw*C)
        fast = fast.reshape(n, -1, k[0] * k[1], c).transpose(0, 3, 2, 1).reshape(ref.shape)
        np.testing.assert_array_equal(fast, ref)


def test_numpy_fast_max_pool_matches_the_reference():
    for i, (shape, k, s, p, d, ceil) in enumerate(_configs(60, 5, pool=True)):
        x = _data(shape, i, ties=True)
        if i % 2:  # the same values in channels-last memory: the scan follows the memory order
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        geometry = _pool_geometry(shape, k, s, p, d, ceil)
        out, tap = window_numpy.max_pool2d_forward(x, k, s, p, d, geometry)
        ref_out, ref_idx = reference.max_pool2d_forward(x, k, s, p, d, ceil)
        np.testing.assert_array_equal(out, ref_out)
        np.testing.assert_array_equal(window_numpy.max_pool2d_indices(tap, shape, k, s, p, d), ref_idx)
        g = np.random.default_rng(i).standard_normal(out.shape)
        dx = window_numpy.max_pool2d_backward(g, tap, shape, k, s, p, d, geometry)
        np.testing.assert_allclose(dx, reference.max_pool2d_backward(g, ref_idx, shape), rtol=1e-12, atol=1e-12)
        assert out.flags.c_contiguous and dx.flags.c_contiguous  # what users see is NCHW, as PyTorch's


def test_buffer_pool_never_hands_out_a_buffer_that_is_still_held():
    a = window_numpy.POOL.empty((512, 1024), np.float32)
    view = a[1:]
    b = window_numpy.POOL.empty((512, 1024), np.float32)
    assert b is not a and view.base is a
    del view, a
    c = window_numpy.POOL.empty((512, 1024), np.float32)
    d = window_numpy.POOL.empty((512, 1024), np.float32)
    assert c is not d and c is not b and d is not b
