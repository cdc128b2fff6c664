"""The array-API references against plain float64 NumPy formulas and hand-derived PyTorch semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minitorch.kernels import reference as ref

NAMESPACES = ["numpy", "array_api_strict"]


@pytest.fixture(params=NAMESPACES)
def xp(request):
    if request.param == "numpy":
        return np
    return pytest.importorskip("array_api_strict", reason="array_api_strict not installed")


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return request.param


def tol(dtype: str) -> dict:
    return dict(rtol=2e-5, atol=2e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)


def put(xp, a: np.ndarray, dtype: str | None = None):
    """NumPy array -> array of namespace xp (float arrays cast to `dtype`)."""
    if dtype is not None:
        a = a.astype(dtype)
    return xp.asarray(a)


def host(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


# ---- softmax + cross-entropy: naive float64 oracle ----------------------------------------------
def naive_xent(x: np.ndarray, t: np.ndarray, ignore: int, eps: float) -> np.ndarray:
    """-sum_j q_ij log_softmax(x)_ij per row (PyTorch's smoothed target q), 0 on ignored rows."""
    n, c = x.shape
    out = np.zeros(n)
    for i in range(n):
        if t[i] == ignore:
            continue
        logp = x[i] - x[i].max() - np.log(np.exp(x[i] - x[i].max()).sum())
        q = np.full(c, eps / c)
        q[t[i]] += 1.0 - eps
        out[i] = -(q * logp).sum()
    return out


def naive_xent_reduced(x, t, ignore, eps, reduction):
    rows = naive_xent(x, t, ignore, eps)
    if reduction == "none":
        return rows
    if reduction == "sum":
        return rows.sum()
    kept = (t != ignore).sum()
    return rows.sum() / kept if kept else math.nan


XENT_CASES = [(1, 1), (5, 10), (7, 33), (3, 1000)]


@pytest.mark.parametrize("n,c", XENT_CASES)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_xent_forward_matches_naive(xp, dtype, n, c, reduction, eps):
    rng = np.random.default_rng(n * c)
    x = rng.normal(size=(n, c)) * 3
    t = rng.integers(0, c, size=n)
    if n > 2:
        t[1] = -100
    loss, lse = ref.softmax_cross_entropy_forward(put(xp, x, dtype), put(xp, t), -100, eps, reduction)
    assert loss.dtype == lse.dtype == put(xp, x, dtype).dtype
    np.testing.assert_allclose(host(loss), naive_xent_reduced(x, t, -100, eps, reduction), **tol(dtype))
    kept = t != -100
    true_lse = np.log(np.exp(x).sum(axis=1))
    np.testing.assert_allclose(host(lse)[kept], true_lse[kept], **tol(dtype))


def test_xent_hand_values(xp):
    """log_softmax([1,2,3]) = [1,2,3] - 3.4076059644; smoothing spreads eps/C over every class."""
    x = put(xp, np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), "float64")
    t = put(xp, np.array([0, 2]))
    lse0 = 3.4076059644443806
    loss, _ = ref.softmax_cross_entropy_forward(x, t, -100, 0.0, "none")
    np.testing.assert_allclose(host(loss), [lse0 - 1.0, math.log(3)], rtol=1e-12)
    loss, _ = ref.softmax_cross_entropy_forward(x, t, -100, 0.3, "none")
    smoothed = 0.7 * (lse0 - 1.0) + 0.1 * ((lse0 - 1) + (lse0 - 2) + (lse0 - 3))
    np.testing.assert_allclose(host(loss), [smoothed, math.log(3)], rtol=1e-12)
    # 'mean' divides by kept rows only (ignore_index = 2 drops the second row).
    loss, _ = ref.softmax_cross_entropy_forward(x, t, 2, 0.0, "mean")
    np.testing.assert_allclose(host(loss), lse0 - 1.0, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_xent_ignored_rows_of_minus_inf(xp, dtype, reduction):
    x = np.array([[-np.inf] * 4, [1.0, 2.0, 3.0, 4.0], [-np.inf] * 4])
    t = np.array([-100, 3, -100])
    with np.errstate(all="raise"):
        loss, lse = ref.softmax_cross_entropy_forward(put(xp, x, dtype), put(xp, t), -100, 0.1, reduction)
        grad = put(xp, np.ones(3) if reduction == "none" else np.array(1.0), dtype)
        dx = ref.softmax_cross_entropy_backward(grad, put(xp, x, dtype), put(xp, t), lse, -100, 0.1, reduction)
    assert np.isfinite(host(lse)).all() and np.isfinite(host(loss)).all()
    np.testing.assert_allclose(host(loss), naive_xent_reduced(x, t, -100, 0.1, reduction),
                               **tol(dtype))
    assert (host(dx)[[0, 2]] == 0).all() and np.isfinite(host(dx)).all()


def test_xent_mean_of_all_ignored_is_nan(xp):
    x = put(xp, np.zeros((2, 3)), "float32")
    t = put(xp, np.array([-1, -1]))
    loss, _ = ref.softmax_cross_entropy_forward(x, t, -1, 0.0, "mean")
    assert math.isnan(float(host(loss)))
    dx = ref.softmax_cross_entropy_backward(put(xp, np.array(1.0), "float32"), x, t, _, -1, 0.0, "mean")
    assert (host(dx) == 0).all()


def test_xent_large_logits(xp, dtype):
    rng = np.random.default_rng(0)
    x = rng.choice([-1e4, 1e4], size=(6, 50)) + rng.normal(size=(6, 50))
    t = rng.integers(0, 50, size=6)
    loss, _ = ref.softmax_cross_entropy_forward(put(xp, x, dtype), put(xp, t), -100, 0.2, "none")
    np.testing.assert_allclose(host(loss), naive_xent(x, t, -100, 0.2), rtol=1e-6, atol=2e-3)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_xent_backward_is_the_gradient(xp, reduction, eps):
    """Central differences of the naive float64 loss, weighted by a random upstream grad."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 7))
    t = np.array([0, 6, -100, 3, 3])
    g = rng.normal(size=5) if reduction == "none" else np.array(1.7)
    _, lse = ref.softmax_cross_entropy_forward(put(xp, x, "float64"), put(xp, t), -100, eps, reduction)
    dx = host(ref.softmax_cross_entropy_backward(put(xp, g, "float64"), put(xp, x, "float64"), put(xp, t), lse,
                                                 -100, eps, reduction))
    h, num = 1e-6, np.zeros_like(x)
    for i in range(5):
        for j in range(7):
            xp_, xm = x.copy(), x.copy()
            xp_[i, j] += h
            xm[i, j] -= h
            diff = naive_xent_reduced(xp_, t, -100, eps, reduction) - naive_xent_reduced(xm, t, -100, eps, reduction)
            num[i, j] = (g * diff).sum() / (2 * h)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


# ---- BatchNorm ---------------------------------------------------------------------------------
def naive_bn(x, w, b, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes)
    var = ((x - mean.reshape(shape)) ** 2).mean(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) + b.reshape(shape)
    return y, mean, var


@pytest.mark.parametrize("shape", [(2, 3), (37, 5), (4, 3, 5, 7), (3, 2, 11)])
@pytest.mark.parametrize("affine", [True, False])
def test_bn_train_and_running_stats(xp, dtype, shape, affine):
    rng = np.random.default_rng(len(shape))
    c = shape[1]
    x = rng.normal(size=shape) * 2 + 5
    w, b = (rng.normal(size=c), rng.normal(size=c)) if affine else (np.ones(c), np.zeros(c))
    rm0, rv0 = rng.normal(size=c), rng.uniform(0.5, 2, size=c)
    rm, rv = put(xp, rm0, dtype), put(xp, rv0, dtype)
    y, mean, invstd = ref.batch_norm_forward_train(
        put(xp, x, dtype), put(xp, w, dtype) if affine else None, put(xp, b, dtype) if affine else None,
        rm, rv, 0.1, 1e-5)
    y_true, mean_true, var_true = naive_bn(x, w, b, 1e-5)
    n = x.size // c
    np.testing.assert_allclose(host(y), y_true, **tol(dtype))
    np.testing.assert_allclose(host(mean), mean_true, **tol(dtype))
    np.testing.assert_allclose(host(invstd), 1 / np.sqrt(var_true + 1e-5), **tol(dtype))
    np.testing.assert_allclose(host(rm), 0.9 * rm0 + 0.1 * mean_true, **tol(dtype))
    np.testing.assert_allclose(host(rv), 0.9 * rv0 + 0.1 * var_true * n / (n - 1), **tol(dtype))  # unbiased


def test_bn_train_without_running_stats(xp):
    x = np.arange(12.0).reshape(4, 3)
    y, mean, _ = ref.batch_norm_forward_train(put(xp, x, "float64"), None, None, None, None, 0.1, 0.0)
    np.testing.assert_allclose(host(mean), [4.5, 5.5, 6.5])
    np.testing.assert_allclose(host(y)[:, 0], (np.arange(4) * 3 - 4.5) / np.sqrt(11.25))


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2, 3)])
def test_bn_eval(xp, dtype, shape):
    rng = np.random.default_rng(2)
    c = shape[1]
    x, w, b = rng.normal(size=shape), rng.normal(size=c), rng.normal(size=c)
    rm, rv = rng.normal(size=c), rng.uniform(0.5, 2, size=c)
    v = (1, -1) + (1,) * (len(shape) - 2)
    y = ref.batch_norm_forward_eval(put(xp, x, dtype), put(xp, w, dtype), put(xp, b, dtype), put(xp, rm, dtype),
                                    put(xp, rv, dtype), 1e-3)
    expect = (x - rm.reshape(v)) / np.sqrt(rv.reshape(v) + 1e-3) * w.reshape(v) + b.reshape(v)
    np.testing.assert_allclose(host(y), expect, **tol(dtype))
    y = ref.batch_norm_forward_eval(put(xp, x, dtype), None, None, put(xp, rm, dtype), put(xp, rv, dtype), 1e-3)
    np.testing.assert_allclose(host(y), (x - rm.reshape(v)) / np.sqrt(rv.reshape(v) + 1e-3), **tol(dtype))


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_bn_backward_is_the_gradient(xp, shape, affine):
    rng = np.random.default_rng(3)
    c = shape[1]
    x, dy = rng.normal(size=shape), rng.normal(size=shape)
    w, b = (rng.normal(size=c), rng.normal(size=c)) if affine else (np.ones(c), np.zeros(c))
    _, mean, invstd = ref.batch_norm_forward_train(put(xp, x, "float64"), None, None, None, None, 0.1, 1e-5)
    dx, dw, db = ref.batch_norm_backward(put(xp, dy, "float64"), put(xp, x, "float64"),
                                         put(xp, w, "float64") if affine else None, mean, invstd)

    def objective(x_, w_, b_):
        return (naive_bn(x_, w_, b_, 1e-5)[0] * dy).sum()

    def numeric(f, a):
        out, h = np.zeros_like(a), 1e-6
        for idx in np.ndindex(a.shape):
            ap, am = a.copy(), a.copy()
            ap[idx] += h
            am[idx] -= h
            out[idx] = (f(ap) - f(am)) / (2 * h)
        return out

    np.testing.assert_allclose(host(dx), numeric(lambda a: objective(a, w, b), x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(host(dw), numeric(lambda a: objective(x, a, b), w), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(host(db), numeric(lambda a: objective(x, w, a), b), rtol=1e-5, atol=1e-7)


# ---- optimizers: PyTorch's algorithms written out element by element ------------------------------
def torch_adam(p, g, m, v, step, lr, b1, b2, eps, wd, decoupled):
    """torch.optim.Adam / AdamW (single-tensor path) on float64 scalars."""
    if wd and decoupled:
        p = p * (1 - lr * wd)
    elif wd:
        g = g + wd * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    denom = np.sqrt(v) / math.sqrt(1 - b2**step) + eps
    return p - lr / (1 - b1**step) * m / denom, m, v


SIZES = [1, 33, 7, 130]


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_adam_three_steps(xp, dtype, decoupled, wd):
    rng = np.random.default_rng(4)
    ps = [rng.normal(size=s) for s in SIZES]
    ms, vs = [np.zeros(s) for s in SIZES], [np.zeros(s) for s in SIZES]
    P, M, V = ([put(xp, a, dtype) for a in arrs] for arrs in (ps, ms, vs))
    for step in (1, 2, 3):
        gs = [rng.normal(size=s) for s in SIZES]
        G = [put(xp, g, dtype) for g in gs]
        ref.adam_step(P, G, M, V, step=step, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=wd,
                      decoupled=decoupled)
        for k in range(len(SIZES)):
            ps[k], ms[k], vs[k] = torch_adam(ps[k], gs[k], ms[k], vs[k], step, 1e-2, 0.9, 0.999, 1e-8, wd, decoupled)
            np.testing.assert_allclose(host(G[k]), gs[k].astype(dtype))  # grads are left untouched
    for k in range(len(SIZES)):
        np.testing.assert_allclose(host(P[k]), ps[k], **tol(dtype))
        np.testing.assert_allclose(host(M[k]), ms[k], **tol(dtype))
        np.testing.assert_allclose(host(V[k]), vs[k], **tol(dtype))


def test_adam_first_step_moves_by_lr(xp):
    """Bias correction makes step 1 move every weight by ~lr * sign(g), whatever |g| is."""
    p = put(xp, np.zeros(4), "float64")
    g = np.array([1e-3, -2.0, 50.0, -1e-5])
    ref.adam_step([p], [put(xp, g, "float64")], [put(xp, np.zeros(4), "float64")],
                  [put(xp, np.zeros(4), "float64")], step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-12,
                  weight_decay=0.0, decoupled=False)
    np.testing.assert_allclose(host(p), -0.1 * np.sign(g), rtol=1e-6)


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_sgd_three_steps(xp, dtype, momentum, nesterov, wd):
    rng = np.random.default_rng(5)
    ps = [rng.normal(size=s) for s in SIZES]
    bufs = [np.zeros(s) for s in SIZES]
    P = [put(xp, a, dtype) for a in ps]
    B = [put(xp, a, dtype) for a in bufs] if momentum else None
    for _ in range(3):
        gs = [rng.normal(size=s) for s in SIZES]
        ref.sgd_step(P, [put(xp, g, dtype) for g in gs], B, lr=0.1, momentum=momentum, weight_decay=wd,
                     nesterov=nesterov)
        for k in range(len(SIZES)):
            d = gs[k] + wd * ps[k]
            if momentum:
                bufs[k] = momentum * bufs[k] + d
                d = d + momentum * bufs[k] if nesterov else bufs[k]
            ps[k] = ps[k] - 0.1 * d
    for k in range(len(SIZES)):
        np.testing.assert_allclose(host(P[k]), ps[k], **tol(dtype))


def test_sgd_nesterov_by_hand(xp):
    """p=1, g=1 twice, lr=0.1, momentum 0.5: buf 1 then 1.5; nesterov steps 1.5 then 1.75."""
    p, buf = put(xp, np.array([1.0]), "float64"), put(xp, np.array([0.0]), "float64")
    for _ in range(2):
        ref.sgd_step([p], [put(xp, np.array([1.0]), "float64")], [buf], lr=0.1, momentum=0.5, weight_decay=0.0,
                     nesterov=True)
    np.testing.assert_allclose(host(p), [1.0 - 0.15 - 0.175])
    np.testing.assert_allclose(host(buf), [1.5])
