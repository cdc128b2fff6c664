"""nll_loss, weighted cross_entropy, binary_cross_entropy(_with_logits), smooth_l1_loss, kl_div, one_hot and their
modules: float64 gradcheck on every backend, and values, dtypes, gradients and errors against PyTorch."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import minitorch as mt
from minitorch import backends, nn
from minitorch.autograd import gradcheck
from minitorch.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RNG = np.random.default_rng


def mk(a, device, grad=False):
    return mt.tensor(a, device=device, requires_grad=grad)


def tk(a, grad=False):
    t = torch.tensor(a)
    return t.requires_grad_() if grad else t


def _name(dtype) -> str:
    return str(dtype).split(".")[-1]


def compare(ours, theirs, inputs, device, rtol=1e-6, atol=1e-9):
    """Run both on the same arrays (inputs: (array, requires_grad) pairs); compare value, dtype and gradients."""
    m = [mk(a, device, g) for a, g in inputs]
    t = [tk(a, g) for a, g in inputs]
    out_m, out_t = ours(*m), theirs(*t)
    assert _name(out_m.dtype) == _name(out_t.dtype)
    assert out_m.shape == tuple(out_t.shape)
    np.testing.assert_allclose(out_m.detach().numpy(), out_t.detach().numpy(), rtol=rtol, atol=atol)
    if not any(g for _, g in inputs):
        return
    r = RNG(7).standard_normal(out_m.shape)
    (out_m * mk(r.astype(out_m.detach().numpy().dtype), device)).sum().backward()
    (out_t * torch.tensor(r, dtype=out_t.dtype)).sum().backward()
    for (_, g), a, b in zip(inputs, m, t):
        if g:
            assert _name(a.grad.dtype) == _name(b.grad.dtype)
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol * 10, atol=atol * 10)


def same_error(ours, theirs):
    """Both raise, with the same exception class."""
    with pytest.raises(Exception) as theirs_info:
        theirs()
    with pytest.raises(Exception) as ours_info:
        ours()
    assert type(ours_info.value) is type(theirs_info.value), (ours_info.value, theirs_info.value)


def labels(rng, shape, classes, ignore=None):
    t = rng.integers(0, classes, size=shape)
    if ignore is not None and t.size > 1:
        t.reshape(-1)[:: 3] = ignore
    return t


# ---------------------------------------------------------------- nll_loss and weighted cross_entropy

SHAPES = [(5, 4), (3, 4, 2), (2, 3, 2, 2), (4,)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [-100, 1])
def test_nll_loss_matches_torch(device, shape, reduction, weighted, ignore):
    rng = RNG(hash((shape, reduction, weighted, ignore)) % 2**32)
    x = rng.normal(size=shape)
    classes = shape[1] if len(shape) > 1 else shape[0]
    t = labels(rng, (shape[0],) + shape[2:] if len(shape) > 1 else (), classes, ignore)
    w = rng.uniform(0.1, 2.0, size=classes)
    for dt, rtol in [(np.float64, 1e-9), (np.float32, 1e-5)]:
        def ours(a, b, c):
            return F.nll_loss(a, b, weight=c if weighted else None, ignore_index=ignore, reduction=reduction)

        def theirs(a, b, c):
            return TF.nll_loss(a, b, weight=c if weighted else None, ignore_index=ignore, reduction=reduction)
        compare(ours, theirs, [(x.astype(dt), True), (t, False), (w.astype(dt), False)], device, rtol, 1e-6)


def test_nll_loss_uint8_targets_and_empty_and_all_ignored(device):
    x = RNG(0).normal(size=(3, 4))
    compare(F.nll_loss, TF.nll_loss, [(x, True), (np.array([0, 3, 1], dtype=np.uint8), False)], device)
    empty, none = np.zeros((0, 4)), np.zeros((0,), dtype=np.int64)
    for red in ["mean", "sum", "none"]:
        compare(lambda a, b: F.nll_loss(a, b, reduction=red), lambda a, b: TF.nll_loss(a, b, reduction=red),
                [(empty, False), (none, False)], device)
    ignored = np.full(3, -100)
    got = F.nll_loss(mk(x, device, True), mk(ignored, device))
    assert np.isnan(got.item())  # 0 / 0, as PyTorch: no rows to average
    w = mk(np.ones(4), device)
    assert np.isnan(F.nll_loss(mk(x, device), mk(ignored, device), weight=w).item())
    x_m = mk(x, device, True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy divide warning for the ordinary all-ignored batch
        F.nll_loss(x_m, mk(ignored, device)).backward()
    np.testing.assert_array_equal(x_m.grad.numpy(), np.zeros((3, 4)))  # PyTorch's gradient there is 0


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_weighted_cross_entropy_matches_torch(device, shape, reduction, smoothing):
    rng = RNG(hash((shape, reduction, smoothing)) % 2**32)
    x = rng.normal(size=shape) * 2
    classes = shape[1] if len(shape) > 1 else shape[0]
    t = labels(rng, (shape[0],) + shape[2:] if len(shape) > 1 else (), classes, -100 if len(shape) > 1 else None)
    w = rng.uniform(0.1, 2.0, size=classes)
    for dt, rtol in [(np.float64, 1e-9), (np.float32, 1e-5)]:
        compare(lambda a, b, c: F.cross_entropy(a, b, reduction=reduction, label_smoothing=smoothing, weight=c),
                lambda a, b, c: TF.cross_entropy(a, b, reduction=reduction, label_smoothing=smoothing, weight=c),
                [(x.astype(dt), True), (t, False), (w.astype(dt), False)], device, rtol, 1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2), (5,)], ids=str)
def test_weighted_cross_entropy_probability_targets(device, reduction, smoothing, shape):
    rng = RNG(3)
    x, q = rng.normal(size=shape), rng.dirichlet(np.ones(shape[1] if len(shape) > 1 else shape[0]),
                                                size=(shape[0],) + shape[2:] if len(shape) > 1 else ())
    q = np.moveaxis(q, -1, 1) if len(shape) > 1 else q
    w = rng.uniform(0.1, 2.0, size=q.shape[1] if len(shape) > 1 else q.shape[0])
    # Here the weight is an ordinary factor: PyTorch differentiates it too.
    compare(lambda a, b, c: F.cross_entropy(a, b, reduction=reduction, label_smoothing=smoothing, weight=c),
            lambda a, b, c: TF.cross_entropy(a, b, reduction=reduction, label_smoothing=smoothing, weight=c),
            [(x, True), (q, True), (w, True)], device)


@pytest.mark.parametrize("fused", ["1", "0"])
def test_unweighted_cross_entropy_unchanged_and_unit_weight_agrees(device, fused, monkeypatch):
    monkeypatch.setenv("MINITORCH_FUSED", fused)
    rng = RNG(1)
    x, t = rng.normal(size=(6, 5)), rng.integers(0, 5, size=6)
    t[2] = -100
    for eps in (0.0, 0.1):
        plain = F.cross_entropy(mk(x, device), mk(t, device), label_smoothing=eps).item()
        ones = F.cross_entropy(mk(x, device), mk(t, device), label_smoothing=eps, weight=mk(np.ones(5), device)).item()
        expected = TF.cross_entropy(tk(x), tk(t), label_smoothing=eps).item()
        assert plain == pytest.approx(expected, rel=1e-12) and ones == pytest.approx(expected, rel=1e-12)


def test_gradcheck_nll_and_weighted_cross_entropy(device):
    rng = RNG(2)
    x = mk(rng.normal(size=(3, 4, 2)), device, True)
    t = mk(np.array([[0, 3], [-100, 1], [2, 2]]), device)
    w = mk(rng.uniform(0.5, 2, size=4), device)
    for red in ("mean", "sum", "none"):
        assert gradcheck(lambda a: F.nll_loss(a, t, weight=w, reduction=red), [x])
        assert gradcheck(lambda a: F.cross_entropy(a, t, weight=w, label_smoothing=0.3, reduction=red), [x])
    q = mk(rng.dirichlet(np.ones(4), size=3), device, True)
    wg = mk(rng.uniform(0.5, 2, size=4), device, True)
    x2 = mk(rng.normal(size=(3, 4)), device, True)
    assert gradcheck(lambda a, b, c: F.cross_entropy(a, b, weight=c, label_smoothing=0.1), [x2, q, wg])


@pytest.mark.parametrize("seed", range(12))
def test_random_class_losses_match_torch(seed):
    """Random rank, class count, reduction, dtype, weights and ignore_index (in or out of the label range)."""
    rng = RNG(100 + seed)
    ndim, classes = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    shape = (classes,) if ndim == 1 else (int(rng.integers(1, 4)), classes) + tuple(rng.integers(1, 3, size=ndim - 2))
    reduction = ["mean", "sum", "none"][seed % 3]
    dt = [np.float32, np.float64][seed % 2]
    ignore = int(rng.choice([-100, -1, 0, classes - 1]))
    t = labels(rng, (shape[0],) + shape[2:] if ndim > 1 else (), classes, ignore)
    x, w = rng.normal(size=shape).astype(dt), rng.uniform(0.1, 3, size=classes).astype(dt)
    weight = [None, w][int(rng.integers(0, 2))]
    eps = float(rng.choice([0.0, 0.3]))
    kw = dict(ignore_index=ignore, reduction=reduction)
    rtol = 1e-5 if dt is np.float32 else 1e-9
    for device in ("cpu", "strict") if backends.is_available("array_api_strict") else ("cpu",):
        compare(lambda a, b: F.nll_loss(a, b, weight=None if weight is None else mk(weight, device), **kw),
                lambda a, b: TF.nll_loss(a, b, weight=None if weight is None else tk(weight), **kw),
                [(x, True), (t, False)], device, rtol, 1e-6)
        compare(lambda a, b: F.cross_entropy(a, b, weight=None if weight is None else mk(weight, device),
                                             label_smoothing=eps, **kw),
                lambda a, b: TF.cross_entropy(a, b, weight=None if weight is None else tk(weight),
                                              label_smoothing=eps, **kw),
                [(x, True), (t, False)], device, rtol, 1e-6)


# ---------------------------------------------------------------- binary cross-entropy


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("wshape", [None, (4,), (3, 1), (3, 4)], ids=str)
def test_binary_cross_entropy_matches_torch(device, reduction, wshape):
    rng = RNG(4)
    p, y = rng.uniform(0.02, 0.98, size=(3, 4)), rng.uniform(0, 1, size=(3, 4))
    p[0, :2], y[0, :2] = [0.0, 1.0], [1.0, 0.0]  # log clamped at -100, gradient at 1 / 1e-12
    w = rng.uniform(0.5, 2, size=wshape) if wshape else None
    for dt, rtol in [(np.float64, 1e-9), (np.float32, 1e-5)]:
        ws = None if w is None else w.astype(dt)
        compare(lambda a, b: F.binary_cross_entropy(a, b, weight=None if ws is None else mk(ws, device),
                                                    reduction=reduction),
                lambda a, b: TF.binary_cross_entropy(a, b, weight=None if ws is None else tk(ws), reduction=reduction),
                [(p.astype(dt), True), (y.astype(dt), True)], device, rtol, 1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("pos", [None, (4,), (3, 4), ()], ids=str)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_with_logits_matches_torch(device, reduction, pos, weighted):
    rng = RNG(5)
    x, y = rng.normal(size=(3, 4)) * 4, rng.uniform(0, 1, size=(3, 4))
    x[0] = [1e4, -1e4, 80.0, -80.0]  # no overflow, as PyTorch's formula
    pw = rng.uniform(0.5, 3, size=pos) if pos is not None else None
    w = rng.uniform(0.5, 2, size=(4,)) if weighted else None
    for dt, rtol in [(np.float64, 1e-9), (np.float32, 1e-5)]:
        def ours(a, b):
            return F.binary_cross_entropy_with_logits(a, b, weight=None if w is None else mk(w.astype(dt), device),
                                                      reduction=reduction,
                                                      pos_weight=None if pw is None else mk(pw.astype(dt), device))

        def theirs(a, b):
            return TF.binary_cross_entropy_with_logits(a, b, weight=None if w is None else tk(w.astype(dt)),
                                                       reduction=reduction,
                                                       pos_weight=None if pw is None else tk(pw.astype(dt)))
        compare(ours, theirs, [(x.astype(dt), True), (y.astype(dt), True)], device, rtol, 1e-5)
        assert np.all(np.isfinite(ours(mk(x.astype(dt), device), mk(y.astype(dt), device)).numpy()))


def test_bce_with_logits_mixed_dtypes_follow_torch(device):
    rng = RNG(6)
    x, y = rng.normal(size=(2, 3)), rng.uniform(size=(2, 3))
    for xd, yd in [(np.float64, np.float32), (np.float32, np.float64)]:
        # PyTorch writes the loss into a buffer of the target's dtype.
        compare(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
                [(x.astype(xd), True), (y.astype(yd), False)], device, 1e-5, 1e-6)


def test_gradcheck_binary_cross_entropies(device):
    rng = RNG(7)
    p, y = mk(rng.uniform(0.1, 0.9, size=(3, 2)), device, True), mk(rng.uniform(size=(3, 2)), device, True)
    w = mk(rng.uniform(0.5, 2, size=2), device)
    for red in ("mean", "sum", "none"):
        assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=red), [p, y])
    x = mk(rng.normal(size=(3, 2)) * 3, device, True)
    pw = mk(rng.uniform(0.5, 3, size=2), device)
    for red in ("mean", "none"):
        assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, w, red, pos_weight=pw), [x, y])
        assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=red), [x, y])


# ---------------------------------------------------------------- smooth_l1_loss and kl_div


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_smooth_l1_loss_matches_torch(device, beta, reduction):
    rng = RNG(8)
    a, b = rng.normal(size=(4, 3)) * 2, rng.normal(size=(4, 3))
    a[0] = b[0] + np.array([beta, -beta, 0.0])  # at the kink and at d = 0
    for dt, rtol in [(np.float64, 1e-9), (np.float32, 1e-5)]:
        compare(lambda u, v: F.smooth_l1_loss(u, v, reduction=reduction, beta=beta),
                lambda u, v: TF.smooth_l1_loss(u, v, reduction=reduction, beta=beta),
                [(a.astype(dt), True), (b.astype(dt), True)], device, rtol, 1e-6)
    compare(lambda u, v: F.smooth_l1_loss(u, v, beta=beta), lambda u, v: TF.smooth_l1_loss(u, v, beta=beta),
            [(a.astype(np.float32), True), (b, True)], device, 1e-5, 1e-6)  # float32 with float64: float64


@pytest.mark.parametrize("reduction", ["sum", "batchmean", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (2, 4)), ((), ())], ids=str)
def test_kl_div_matches_torch(device, reduction, log_target, shapes):
    rng = RNG(9)
    lp = np.log(rng.dirichlet(np.ones(4), size=3)).reshape(-1)[: int(np.prod(shapes[0]))].reshape(shapes[0])
    q = rng.uniform(0.05, 1, size=shapes[1])
    q = np.log(q) if log_target else q
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        compare(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
                lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target),
                [(lp, True), (q, True)], device)


def test_kl_div_mean_warns_and_zero_targets(device):
    lp, q = mk(np.log([0.2, 0.3, 0.5]), device), mk(np.array([0.0, 0.5, 0.5]), device)
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(lp, q)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(lp, q, reduction="batchmean")
        compare(lambda a, b: F.kl_div(a, b, reduction="sum"), lambda a, b: TF.kl_div(a, b, reduction="sum"),
                [(np.log([0.2, 0.3, 0.5]), True), (np.array([0.0, 0.5, 0.5]), False)], device)
    got = F.kl_div(lp, mk(np.array([0.0, -1.0, 1.0]), device), reduction="none").numpy()
    expected = TF.kl_div(tk(np.log([0.2, 0.3, 0.5])), tk(np.array([0.0, -1.0, 1.0])), reduction="none").numpy()
    np.testing.assert_allclose(got, expected)  # 0 at t = 0, nan below 0


def test_gradcheck_smooth_l1_and_kl_div(device):
    rng = RNG(10)
    a, b = mk(rng.normal(size=(3, 4)), device, True), mk(rng.normal(size=(3, 4)), device, True)
    for beta in (0.5, 2.0):
        for red in ("mean", "none"):
            assert gradcheck(lambda u, v: F.smooth_l1_loss(u, v, reduction=red, beta=beta), [a, b])
    lp = mk(np.log(rng.dirichlet(np.ones(4), size=3)), device, True)
    q = mk(rng.uniform(0.1, 1, size=(3, 4)), device, True)
    for log_target in (False, True):
        assert gradcheck(lambda u, v: F.kl_div(u, v, reduction="batchmean", log_target=log_target), [lp, q])
        assert gradcheck(lambda u, v: F.kl_div(u, v, reduction="none", log_target=log_target), [lp, q])


# ---------------------------------------------------------------- errors


def _err_cases():
    x, t = np.random.default_rng(0).normal(size=(3, 4)), np.array([0, 1, 2])
    p, y = np.full((3, 4), 0.5), np.full((3, 4), 0.5)
    n = {"nll": (F.nll_loss, TF.nll_loss), "ce": (F.cross_entropy, TF.cross_entropy),
         "bce": (F.binary_cross_entropy, TF.binary_cross_entropy),
         "bcel": (F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits),
         "sl1": (F.smooth_l1_loss, TF.smooth_l1_loss), "kl": (F.kl_div, TF.kl_div), "oh": (F.one_hot, TF.one_hot)}
    cases = {
        "nll-int32-target": ("nll", [x, t.astype(np.int32)], {}),
        "nll-int16-target": ("nll", [x, t.astype(np.int16)], {}),
        "nll-float-target": ("nll", [x, t.astype(np.float32)], {}),
        "nll-label-too-big": ("nll", [x, np.array([0, 1, 4])], {}),
        "nll-label-negative": ("nll", [x, np.array([0, -1, 2])], {}),
        "nll-batch-mismatch": ("nll", [x, t[:2]], {}),
        "nll-2d-target": ("nll", [x, t[:, None]], {}),
        "nll-spatial-mismatch": ("nll", [x.reshape(3, 4, 1), np.zeros((3, 2), dtype=np.int64)], {}),
        "nll-0d-input": ("nll", [x[0, 0], np.array(0)], {}),
        "nll-1d-long-target": ("nll", [x[0], np.array([1, 2])], {}),
        "nll-int-input": ("nll", [x.astype(np.int64), t], {}),
        "nll-bad-reduction": ("nll", [x, t], {"reduction": "bad"}),
        "nll-weight-shape": ("nll", [x, t], {"weight": np.ones(3)}),
        "nll-weight-2d": ("nll", [x, t], {"weight": np.ones((1, 4))}),
        "nll-weight-dtype": ("nll", [x, t], {"weight": np.ones(4, dtype=np.float32)}),
        "ce-weight-shape": ("ce", [x, t], {"weight": np.ones(5)}),
        "ce-weight-dtype": ("ce", [x, t], {"weight": np.ones(4, dtype=np.float32)}),
        "ce-prob-weight-shape": ("ce", [x, np.full((3, 4), 0.25)], {"weight": np.ones(3)}),
        "ce-prob-ignore-index": ("ce", [x, np.full((3, 4), 0.25)], {"ignore_index": 1}),
        "bce-input-above-1": ("bce", [p * 3, y], {}),
        "bce-input-negative": ("bce", [p - 1, y], {}),
        "bce-input-nan": ("bce", [p * np.nan, y], {}),
        "bce-target-above-1": ("bce", [p, y * 3], {}),
        "bce-shape": ("bce", [p, y[0]], {}),
        "bce-dtype": ("bce", [p, y.astype(np.float32)], {}),
        "bce-weight-larger": ("bce", [p, y], {"weight": np.ones((2, 3, 4))}),
        "bce-weight-no-broadcast": ("bce", [p, y], {"weight": np.ones(3)}),
        "bce-bad-reduction": ("bce", [p, y], {"reduction": "batchmean"}),
        "bcel-shape": ("bcel", [x, y[0]], {}),
        "bcel-pos-weight-shape": ("bcel", [x, y], {"pos_weight": np.ones(3)}),
        "bcel-pos-weight-larger": ("bcel", [x, y], {"pos_weight": np.ones((3, 4, 1))}),
        "bcel-weight-larger": ("bcel", [x, y], {"weight": np.ones((2, 3, 4))}),
        "bcel-int-target": ("bcel", [x, (y > 0.4).astype(np.int64)], {}),
        "bcel-int-input": ("bcel", [x.astype(np.int64), y], {}),
        "sl1-negative-beta": ("sl1", [x, x], {"beta": -1.0}),
        "sl1-nan-beta": ("sl1", [x, x], {"beta": float("nan")}),
        "sl1-int": ("sl1", [x.astype(np.int64), x.astype(np.int64)], {}),
        "sl1-bad-reduction": ("sl1", [x, x], {"reduction": "batchmean"}),
        "kl-int-target": ("kl", [x, t[None].repeat(4, 0).T.copy()], {}),
        "kl-int-input": ("kl", [x.astype(np.int64), x], {}),
        "kl-bad-reduction": ("kl", [x, x], {"reduction": "avg"}),
        "kl-no-broadcast": ("kl", [x, x[:, :3]], {}),
        "oh-int32": ("oh", [t.astype(np.int32)], {}),
        "oh-negative": ("oh", [np.array([0, -1])], {}),
        "oh-too-small": ("oh", [t], {"num_classes": 2}),
        "oh-zero-classes": ("oh", [t], {"num_classes": 0}),
        "oh-empty-infer": ("oh", [np.zeros(0, dtype=np.int64)], {}),
        "oh-empty-zero": ("oh", [np.zeros(0, dtype=np.int64)], {"num_classes": 0}),
        "oh-float-classes": ("oh", [t], {"num_classes": 3.0}),
        "oh-bool-classes": ("oh", [t], {"num_classes": True}),
    }
    return {k: (n[f], args, kw) for k, (f, args, kw) in cases.items()}


ERRORS = _err_cases()


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_match_torch(case):
    (ours, theirs), args, kwargs = ERRORS[case]

    def conv(a, wrap):
        return wrap(np.asarray(a)) if isinstance(a, (np.ndarray, np.generic)) else a
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        same_error(lambda: ours(*[conv(a, mt.tensor) for a in args],
                                **{k: conv(v, mt.tensor) for k, v in kwargs.items()}),
                   lambda: theirs(*[conv(a, torch.tensor) for a in args],
                                  **{k: conv(v, torch.tensor) for k, v in kwargs.items()}))


def test_error_messages_name_the_values():
    with pytest.raises(IndexError, match="Target 7 is out of bounds for 4 classes"):
        F.nll_loss(mt.randn(2, 4), mt.tensor([0, 7]))
    with pytest.raises(RuntimeError, match=r"all 4 classes .* shape: \[3\]"):
        F.nll_loss(mt.randn(2, 4), mt.tensor([0, 1]), weight=mt.ones(3))
    with pytest.raises(TypeError, match="weight="):
        F.cross_entropy(mt.randn(2, 4), mt.tensor([0, 1]), mt.ones(4))  # torch's positional weight
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(mt.tensor([1.5]), mt.tensor([1.0]))


@pytest.mark.parametrize("call", ["nll", "ce", "bce", "bcel-weight", "bcel-pos"])
def test_weight_requiring_grad_raises_like_torch(call):
    x, t, p = np.random.default_rng(0).normal(size=(3, 4)), np.array([0, 1, 2]), np.full((3, 4), 0.5)

    def run(lib, f, wrap):
        w = wrap(np.ones(4), requires_grad=True)
        fns = {"nll": lambda: f.nll_loss(wrap(x), wrap(t), weight=w),
               "ce": lambda: f.cross_entropy(wrap(x), wrap(t), weight=w),
               "bce": lambda: f.binary_cross_entropy(wrap(p), wrap(p), weight=w),
               "bcel-weight": lambda: f.binary_cross_entropy_with_logits(wrap(x), wrap(p), weight=w),
               "bcel-pos": lambda: f.binary_cross_entropy_with_logits(wrap(x), wrap(p), pos_weight=w)}
        return fns[call]
    same_error(run("mt", F, mt.tensor), run("torch", TF, torch.tensor))
    with mt.no_grad():  # under no_grad the weight is a constant: fine in both
        run("mt", F, mt.tensor)()


# ---------------------------------------------------------------- one_hot and modules


def test_one_hot_matches_torch(device):
    for t, n in [([0, 2], -1), ([0, 2], 5), ([[1], [2]], 3), (3, 4), ([], 3), (np.zeros((2, 0)), 4)]:
        a = np.asarray(t, dtype=np.int64)
        ours, theirs = F.one_hot(mk(a, device), n), TF.one_hot(torch.tensor(a), n)
        assert _name(ours.dtype) == "int64" and ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert F.one_hot(mk(np.array([1]), device), np.int64(3)).shape == (1, 3)


def test_loss_modules_match_functional_and_hold_buffers(device):
    rng = RNG(11)
    x, t, w = rng.normal(size=(4, 3)), rng.integers(0, 3, size=4), rng.uniform(0.5, 2, size=3)
    p, y, pw = rng.uniform(0.1, 0.9, size=(4, 3)), rng.uniform(size=(4, 3)), rng.uniform(1, 3, size=3)
    cases = [
        (nn.CrossEntropyLoss(weight=mt.tensor(w), label_smoothing=0.1, reduction="sum"),
         torch.nn.CrossEntropyLoss(weight=tk(w), label_smoothing=0.1, reduction="sum"), x, t),
        (nn.NLLLoss(mt.tensor(w), ignore_index=1), torch.nn.NLLLoss(tk(w), ignore_index=1), x, t),
        (nn.BCELoss(weight=mt.tensor(w)), torch.nn.BCELoss(weight=tk(w)), p, y),
        (nn.BCEWithLogitsLoss(weight=mt.tensor(w), pos_weight=mt.tensor(pw)),
         torch.nn.BCEWithLogitsLoss(weight=tk(w), pos_weight=tk(pw)), x, y),
        (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5), x, y),
        (nn.KLDivLoss(reduction="batchmean", log_target=True), torch.nn.KLDivLoss(reduction="batchmean",
                                                                                  log_target=True), x, y),
    ]
    for ours, theirs, a, b in cases:
        assert sorted(n for n, _ in ours.named_buffers()) == sorted(n for n, _ in theirs.named_buffers())
        assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
        ours.to(device)
        assert all(buf.device == mk(a, device).device for buf in ours.buffers())
        np.testing.assert_allclose(ours(mk(a, device), mk(b, device)).item(), theirs(tk(a), tk(b)).item(), rtol=1e-10)
    assert nn.NLLLoss().weight is None and list(nn.CrossEntropyLoss().named_buffers()) == []
    with pytest.raises(ValueError):
        nn.NLLLoss(reduction="batchmean")
    with pytest.warns(UserWarning, match="batchmean"):
        nn.KLDivLoss()(mk(x, device), mk(y, device))
