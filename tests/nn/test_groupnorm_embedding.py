"""group_norm / GroupNorm, embedding / Embedding, pad and dropout2d / Dropout2d, compared with PyTorch."""
import warnings

import numpy as np
import pytest

import minitorch as mt
import minitorch.nn as nn
import minitorch.nn.functional as F
from minitorch.autograd import gradcheck
from helpers import make

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of these tests (pip install -e '.[torch]')")
TF = torch.nn.functional


def _both(host, device, requires_grad=True):
    return mt.tensor(host, device=device, requires_grad=requires_grad), torch.tensor(host, requires_grad=requires_grad)


def _close(a, b, dtype="float64"):
    tol = 1e-10 if str(dtype).endswith("64") else 3e-5
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol)


# -- group_norm ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", range(4))
def test_group_norm_matches_torch(device, seed, dtype):
    rng = np.random.default_rng(seed)
    groups = int(rng.integers(1, 4))
    c = groups * int(rng.integers(1, 3))
    shape = (int(rng.integers(1, 4)), c) + tuple(int(n) for n in rng.integers(1, 4, size=seed % 3))
    if np.prod(shape) // groups == 1:
        shape = (2,) + shape[1:]
    host = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    affine = seed % 2 == 0
    x, tx = _both(host, device)
    w, tw = _both(rng.uniform(0.5, 1.5, c).astype(dtype), device) if affine else (None, None)
    b, tb = _both(rng.standard_normal(c).astype(dtype), device) if affine else (None, None)
    eps = [1e-5, 1e-3][seed % 2]
    y, ty = F.group_norm(x, groups, w, b, eps), TF.group_norm(tx, groups, tw, tb, eps)
    assert y.dtype == x.dtype and y.shape == tuple(ty.shape)
    _close(y, ty, dtype)
    g = rng.standard_normal(shape).astype(dtype)
    y.backward(mt.tensor(g, device=device))
    ty.backward(torch.from_numpy(g))
    for ours, theirs in [(x, tx), (w, tw), (b, tb)]:
        if ours is not None:
            _close(ours.grad, theirs.grad, dtype)


@pytest.mark.parametrize("shape, groups", [((2, 4, 3), 2), ((3, 6), 3), ((2, 2, 2, 2), 1)])
def test_group_norm_gradcheck(device, shape, groups):
    c = shape[1]
    x, w, b = make(device, shape, seed=1), make(device, (c,), 0.5, 1.5, seed=2), make(device, (c,), seed=3)
    assert gradcheck(lambda x, w, b: F.group_norm(x, groups, w, b), [x, w, b])
    assert gradcheck(lambda x: F.group_norm(x, groups), [make(device, shape, seed=4)])


@pytest.mark.parametrize("call", [
    lambda m, x: m.group_norm(x(2, 5, 3), 2), lambda m, x: m.group_norm(x(5), 1),
    lambda m, x: m.group_norm(x(2, 4).long(), 2), lambda m, x: m.group_norm(x(2, 4), 2, x(3)),
    lambda m, x: m.group_norm(x(1, 4), 4), lambda m, x: m.group_norm(x(2, 4), 2, None, x(4, 1))])
def test_group_norm_errors_as_torch(call):
    mt_x = lambda *s: mt.randn(*s)  # noqa: E731
    torch_x = lambda *s: torch.randn(*s)  # noqa: E731
    with pytest.raises(Exception) as theirs:
        call(TF, torch_x)
    with pytest.raises(theirs.type):
        call(F, mt_x)


def test_group_norm_module_matches_torch():
    for args in [(2, 4), (3, 6, 1e-3, False)]:
        m, tm = nn.GroupNorm(*args), torch.nn.GroupNorm(*args)
        assert repr(m) == repr(tm) and list(m.state_dict()) == list(tm.state_dict())
        host = np.random.default_rng(0).standard_normal((2, args[1], 5)).astype(np.float32)
        _close(m(mt.tensor(host)), tm(torch.from_numpy(host)), "float32")
    with pytest.raises(ValueError):
        torch.nn.GroupNorm(2, 5)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(2, 5)
    empty = np.zeros((0, 4, 3), dtype=np.float32)
    assert nn.GroupNorm(2, 4)(mt.tensor(empty)).shape == tuple(torch.nn.GroupNorm(2, 4)(torch.from_numpy(empty)).shape)


# -- embedding ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
@pytest.mark.parametrize("index_dtype", ["int64", "int32"])
def test_embedding_matches_torch(device, padding_idx, index_dtype):
    rng = np.random.default_rng(7)
    weight = rng.standard_normal((6, 3))
    idx = rng.integers(0, 6, size=(3, 4)).astype(index_dtype)
    idx[0, :3] = [3, 3, 5]  # repeated rows accumulate their gradients; the padding row gets none
    w, tw = _both(weight, device)
    y, ty = F.embedding(mt.tensor(idx, device=device), w, padding_idx), TF.embedding(torch.from_numpy(idx), tw,
                                                                                      padding_idx)
    assert y.shape == tuple(ty.shape) and y.dtype == w.dtype
    _close(y, ty)
    g = rng.standard_normal(y.shape)
    y.backward(mt.tensor(g, device=device))
    ty.backward(torch.from_numpy(g))
    _close(w.grad, tw.grad)


def test_embedding_gradcheck(device):
    idx = mt.tensor([[0, 2, 2], [4, 0, 1]], device=device)
    assert gradcheck(lambda w: F.embedding(idx, w), [make(device, (5, 3))])
    assert gradcheck(lambda w: F.embedding(mt.tensor(3, device=device), w), [make(device, (5, 2))])


@pytest.mark.parametrize("bad, value", [([0, 5], 5), ([-1, 2], -1), ([[1, 2], [7, 0]], 7)])
def test_embedding_index_errors_name_index_and_size(bad, value):
    with pytest.raises(IndexError):
        TF.embedding(torch.tensor(bad), torch.randn(5, 3))
    with pytest.raises(IndexError, match=rf"index {value} .*num_embeddings=5"):
        F.embedding(mt.tensor(bad), mt.randn(5, 3))


@pytest.mark.parametrize("call", [
    lambda m, t: m.embedding(t.tensor([0.0]), t.randn(5, 3)), lambda m, t: m.embedding(t.tensor([1]), t.randn(5)),
    lambda m, t: m.embedding(t.tensor([0], dtype=t.uint8), t.randn(5, 3)),
    lambda m, t: m.embedding(t.tensor([1]), t.randn(5, 3), padding_idx=5)])
def test_embedding_argument_errors_as_torch(call):
    with pytest.raises(Exception) as theirs:
        call(TF, torch)
    with pytest.raises(theirs.type):
        call(F, mt)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
@pytest.mark.parametrize("by_freq", [False, True])
def test_embedding_max_norm_and_scale_grad_by_freq_match_torch(device, norm_type, by_freq):
    rng = np.random.default_rng(11)
    host = rng.standard_normal((6, 4)) * 2
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    w, tw = _both(host, device)
    kw = dict(max_norm=1.5, norm_type=norm_type, scale_grad_by_freq=by_freq, padding_idx=1)
    y = F.embedding(mt.tensor(idx, device=device), w, **kw)
    ty = TF.embedding(torch.from_numpy(idx), tw, **kw)
    _close(y, ty)
    _close(w, tw)  # looked-up rows renormalised in place; the others untouched
    g = rng.standard_normal(y.shape)
    y.backward(mt.tensor(g, device=device))
    ty.backward(torch.from_numpy(g))
    _close(w.grad, tw.grad)


def test_embedding_sparse_is_refused_clearly():
    with pytest.raises(NotImplementedError, match="sparse"):
        F.embedding(mt.tensor([1]), mt.randn(5, 3), sparse=True)


def test_embedding_module_as_torch():
    m, tm = nn.Embedding(10, 4, padding_idx=-2), torch.nn.Embedding(10, 4, padding_idx=-2)
    assert m.padding_idx == tm.padding_idx == 8 and repr(m) == repr(tm)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["weight"]
    assert np.all(m.weight.detach().numpy()[8] == 0) and m.weight.requires_grad
    big = nn.Embedding(10000, 8).weight.detach().numpy()  # the default init is N(0, 1)
    assert abs(big.mean()) < 0.02 and abs(big.std() - 1) < 0.02
    with pytest.raises(AssertionError):
        torch.nn.Embedding(5, 3, padding_idx=5)
    with pytest.raises(AssertionError, match="padding_idx"):
        nn.Embedding(5, 3, padding_idx=5)


def test_embedding_from_pretrained_as_torch():
    host = np.arange(12, dtype=np.float32).reshape(4, 3)
    for freeze in (True, False):
        m = nn.Embedding.from_pretrained(mt.tensor(host), freeze=freeze, padding_idx=1)
        tm = torch.nn.Embedding.from_pretrained(torch.from_numpy(host.copy()), freeze=freeze, padding_idx=1)
        assert m.weight.requires_grad == tm.weight.requires_grad == (not freeze)
        idx = np.array([[1, 3], [0, 1]])
        _close(m(mt.tensor(idx)), tm(torch.from_numpy(idx)), "float32")  # the padding row is kept as given
    with pytest.raises(AssertionError):
        torch.nn.Embedding.from_pretrained(torch.ones(3))
    with pytest.raises(AssertionError, match="2-dimensional"):
        nn.Embedding.from_pretrained(mt.ones(3))


# -- pad ----------------------------------------------------------------------------------------------------------
PADS = [
    ("constant", (1, 2), (2, 3, 4)), ("constant", (0, 1, 2, 0), (2, 3)), ("constant", (-1, 2, 1, -2), (2, 3, 4)),
    ("constant", (1, 1, 0, 0, 2, 1), (2, 3, 4)), ("constant", (-2, 0), (5,)), ("constant", (-3, 1), (2, 3)),
    ("reflect", (2, 1), (2, 3, 4)), ("reflect", (1, 2, 2, 0), (1, 2, 3, 4)), ("reflect", (-1, 2), (2, 2, 4)),
    ("replicate", (3, 1), (2, 3)), ("replicate", (1, 0, 2, 3), (2, 2, 3)), ("replicate", (1, 1, 1, 1, 2, 0), (1, 2, 2, 2, 2)),
    ("replicate", (-1, 2), (2, 2, 3)), ("circular", (2, 1), (2, 3, 4)), ("circular", (1, 3, 0, 2), (1, 2, 3, 4)),
    ("circular", (-1, 2), (2, 2, 3)), ("circular", (4, 4), (1, 1, 4)),
]


@pytest.mark.parametrize("mode, pads, shape", PADS)
def test_pad_matches_torch(device, mode, pads, shape):
    rng = np.random.default_rng(len(pads) + sum(shape))
    host = rng.standard_normal(shape)
    x, tx = _both(host, device)
    y, ty = F.pad(x, pads, mode=mode), TF.pad(tx, pads, mode=mode)
    assert y.shape == tuple(ty.shape)
    _close(y, ty)
    g = rng.standard_normal(y.shape)
    y.backward(mt.tensor(g, device=device))
    ty.backward(torch.from_numpy(g))
    _close(x.grad, tx.grad)


@pytest.mark.parametrize("mode, pads, shape", [p for p in PADS if p[0] != "constant"][:4] + PADS[2:3])
def test_pad_gradcheck(device, mode, pads, shape):
    assert gradcheck(lambda a: F.pad(a, pads, mode=mode), [make(device, shape)])


@pytest.mark.parametrize("dtype, value", [("float32", 2.5), ("int64", 2.7), ("int32", -3), ("bool", 2), ("float64", None)])
def test_pad_constant_value_and_dtype_as_torch(dtype, value):
    host = np.arange(6).reshape(2, 3).astype(dtype)
    out = F.pad(mt.tensor(host), (1, 2, 1, 0), value=value)
    expected = TF.pad(torch.from_numpy(host.copy()), (1, 2, 1, 0), value=value)
    assert str(out.dtype) == str(expected.dtype).split(".")[1].replace("bool", "bool")
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


@pytest.mark.parametrize("mode, pads, shape", [
    ("constant", (1,), (2, 3)), ("constant", (1, 1, 1, 1, 1, 1), (2, 3)), ("constant", (-2, -2), (2, 3)),
    ("reflect", (3, 3), (1, 2, 3)), ("circular", (4, 0), (1, 2, 3)), ("reflect", (1, 1), (3,)),
    ("replicate", (1, 1, 1, 1, 1, 1), (1, 2, 3)), ("bogus", (1, 1), (1, 2, 3)), ("constant", (1.0, 1), (2, 3))])
def test_pad_errors_as_torch(mode, pads, shape):
    with pytest.raises(Exception) as theirs:
        TF.pad(torch.zeros(shape), pads, mode=mode)
    with pytest.raises(theirs.type):
        F.pad(mt.zeros(shape), pads, mode=mode)
    with pytest.raises(RuntimeError):
        TF.pad(torch.zeros(1, 2, 3), (1, 1), mode="reflect", value=1.0)
    with pytest.raises(RuntimeError, match="value"):
        F.pad(mt.zeros(1, 2, 3), (1, 1), mode="reflect", value=1.0)


# -- dropout2d ----------------------------------------------------------------------------------------------------
def test_dropout2d_zeroes_whole_channels(device):
    x = mt.ones(8, 16, 3, 5, dtype=mt.float64, device=device, requires_grad=True)
    y = F.dropout2d(x, p=0.4)
    per_channel = y.detach().numpy().reshape(8, 16, -1)
    assert np.all(per_channel == per_channel[:, :, :1])  # one multiplier per (sample, channel)
    assert set(np.unique(per_channel)) <= {0.0, 1 / 0.6}
    assert 0.35 < np.mean(per_channel[:, :, 0] == 0) < 0.45 + 0.15
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())


def test_dropout2d_gradcheck(device):
    def fn(a):
        mt.manual_seed(3)  # the same mask for every evaluation
        return F.dropout2d(a, p=0.4)
    assert gradcheck(fn, [make(device, (2, 3, 2, 2))])


def test_dropout2d_three_d_input_is_read_as_torch_reads_it():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = F.dropout2d(mt.ones(20, 30, 4), p=0.5).numpy()
        ty = TF.dropout2d(torch.ones(20, 30, 4), p=0.5).numpy()
    for out in (y, ty):  # (N, C, L): one multiplier per (dim 0, dim 1) pair
        assert np.all(out == out[:, :, :1]) and not np.all(out == out[:, :1, :1])
    with pytest.warns(UserWarning, match="3D input"):
        F.dropout2d(mt.ones(2, 3, 4))


def test_dropout2d_modes_and_errors_as_torch():
    x = mt.randn(2, 3, 2, 2)
    assert F.dropout2d(x, 0.5, training=False) is x and F.dropout2d(x, 0.0) is x
    assert np.all(F.dropout2d(x, 1.0).numpy() == 0)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError):
            TF.dropout2d(torch.ones(2, 2, 2), p)
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout2d(x, p)
    with pytest.raises(RuntimeError), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns about a 1-D input before it refuses it
        TF.dropout2d(torch.ones(3), 0.5)
    with pytest.raises(RuntimeError):
        F.dropout2d(mt.ones(3), 0.5)
    m, tm = nn.Dropout2d(0.3), torch.nn.Dropout2d(0.3)
    assert repr(m) == repr(tm)
    m.eval()
    assert m(x) is x


def test_exports():
    for name in ["dropout2d", "group_norm", "embedding", "pad"]:
        assert name in F.__all__ and callable(getattr(F, name))
    for name in ["Dropout2d", "GroupNorm", "Embedding"]:
        assert name in nn.__all__ and issubclass(getattr(nn, name), nn.Module)
