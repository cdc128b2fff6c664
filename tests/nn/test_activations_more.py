"""elu, silu, softplus, hardtanh, relu6 (functional and modules), Softmax(dim=None): compared with PyTorch."""
import warnings

import numpy as np
import pytest

import minitorch as mt
import minitorch.nn as nn
import minitorch.nn.functional as F
from minitorch.autograd import gradcheck
from helpers import away_from_zero, make

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of these tests (pip install -e '.[torch]')")
TF = torch.nn.functional

# name -> (minitorch call, torch call) on a tensor x, with keyword arguments drawn per case
CASES = {
    "elu": (lambda x, **k: F.elu(x, **k), lambda x, **k: TF.elu(x, **k), [{}, {"alpha": 0.3}, {"alpha": 2.5}]),
    "silu": (F.silu, TF.silu, [{}]),
    "softplus": (F.softplus, TF.softplus, [{}, {"beta": 2.0}, {"beta": 0.5, "threshold": 3.0}, {"beta": -1.5}]),
    "hardtanh": (F.hardtanh, TF.hardtanh, [{}, {"min_val": -0.5, "max_val": 2.0}, {"min_val": 0.0, "max_val": 0.0}]),
    "relu6": (F.relu6, TF.relu6, [{}]),
}
# Values on and around every kink: 0 (elu, relu6), +-1 (hardtanh), 6 (relu6), the softplus threshold.
KINKS = [-6.0, -1.0, -0.5, 0.0, -0.0, 0.5, 1.0, 2.0, 6.0, 10.0, 20.0, 40.0, -40.0, -1e-10, 1e-10, -3e-5, 2e-6]


def _pairs():
    return [(name, i) for name, (_, _, kws) in CASES.items() for i in range(len(kws))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, case", _pairs())
def test_values_and_grads_match_torch(device, name, case, dtype):
    fn, tfn, kws = CASES[name]
    kw = kws[case]
    rng = np.random.default_rng(hash((name, case)) % 2**32)
    shape = tuple(rng.integers(1, 5, size=rng.integers(1, 4)))
    host = np.concatenate([rng.uniform(-8, 8, size=shape).reshape(-1) * 3, KINKS]).astype(dtype)
    host = host.reshape(-1, 1) if rng.integers(2) else host
    m = mt.tensor(host, device=device, requires_grad=True)
    t = torch.tensor(host, requires_grad=True)
    y, ty = fn(m, **kw), tfn(t, **kw)
    assert y.shape == tuple(ty.shape) and y.dtype == m.dtype
    g = rng.standard_normal(host.shape).astype(dtype)
    y.backward(mt.tensor(g, device=device))
    ty.backward(torch.from_numpy(g))
    tol = 1e-12 if dtype == "float64" else 2e-6
    # Relative only for values (tiny inputs must keep their digits: elu uses expm1, as PyTorch).
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=1e-300)
    np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)  # kinks included


@pytest.mark.parametrize("name, case", _pairs())
def test_gradcheck(device, name, case):
    fn, _, kws = CASES[name]
    x = away_from_zero(device, (3, 4)) * 3.0  # +-[0.6, 3]: off the kinks at 0, +-1, 6 for finite differences
    x = x.detach().requires_grad_()
    assert gradcheck(lambda a: fn(a, **kws[case]), [x])


def test_elu_gradient_at_zero_is_alpha():
    x = mt.tensor([0.0, -0.0], dtype=mt.float64, requires_grad=True)
    F.elu(x, alpha=0.25).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.25, 0.25])


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_integer_and_bool_inputs_as_torch(name, dtype):
    fn, tfn, _ = CASES[name]
    host = np.array([-3, 0, 2, 7, 9]).astype(dtype)
    try:
        expected = tfn(torch.from_numpy(host.copy()))
    except Exception as exc:  # noqa: BLE001  (which exception PyTorch raises is what we compare)
        with pytest.raises(type(exc)):
            fn(mt.tensor(host))
        return
    out = fn(mt.tensor(host))
    assert str(out.dtype) == str(expected.dtype).split(".")[1] or (dtype == "bool" and out.dtype == mt.bool)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_bad_arguments_raise_as_torch():
    x = mt.randn(3)
    with pytest.raises(ValueError, match="min_val"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError):
        TF.hardtanh(torch.randn(3), 1.0, -1.0)
    for a, b in [(1.0, -1.0), (0.5, 0.5)]:
        with pytest.raises(AssertionError):
            torch.nn.Hardtanh(a, b)
        with pytest.raises(AssertionError):
            nn.Hardtanh(a, b)


@pytest.mark.parametrize("module, tmodule", [
    (nn.ELU(), torch.nn.ELU()), (nn.ELU(alpha=0.5), torch.nn.ELU(alpha=0.5)), (nn.SiLU(), torch.nn.SiLU()),
    (nn.Softplus(beta=2.0, threshold=5.0), torch.nn.Softplus(beta=2.0, threshold=5.0)),
    (nn.Hardtanh(-2.0, 3.0), torch.nn.Hardtanh(-2.0, 3.0)), (nn.ReLU6(), torch.nn.ReLU6())])
def test_modules_match_torch(module, tmodule):
    host = np.linspace(-8, 8, 33).astype(np.float32)
    np.testing.assert_allclose(module(mt.tensor(host)).numpy(), tmodule(torch.from_numpy(host)).numpy(), rtol=2e-6,
                               atol=1e-7)
    assert repr(module) == repr(tmodule)
    assert list(module.state_dict()) == list(tmodule.state_dict()) == []


@pytest.mark.parametrize("name, make_inplace", [
    ("elu", lambda x: F.elu(x, 0.5, inplace=True)), ("silu", lambda x: F.silu(x, inplace=True)),
    ("hardtanh", lambda x: F.hardtanh(x, -0.5, 0.5, inplace=True)), ("relu6", lambda x: F.relu6(x, inplace=True)),
    ("ELU", lambda x: nn.ELU(inplace=True)(x)), ("ReLU6", lambda x: nn.ReLU6(inplace=True)(x))])
def test_inplace_writes_the_input_and_keeps_the_gradient(name, make_inplace):
    host = np.array([-2.0, -0.3, 0.0, 0.4, 7.0])
    w = mt.tensor(host, requires_grad=True)
    x = w * 1.0
    out = make_inplace(x)
    assert out is x
    out.sum().backward()
    tw = torch.tensor(host, requires_grad=True)
    tx = tw * 1.0
    tout = {"elu": lambda t: TF.elu(t, 0.5, inplace=True), "silu": lambda t: TF.silu(t, inplace=True),
            "hardtanh": lambda t: TF.hardtanh(t, -0.5, 0.5, inplace=True), "relu6": lambda t: TF.relu6(t, inplace=True),
            "ELU": lambda t: torch.nn.ELU(inplace=True)(t), "ReLU6": lambda t: torch.nn.ReLU6(inplace=True)(t)}[name](tx)
    tout.sum().backward()
    np.testing.assert_allclose(x.detach().numpy(), tx.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


def test_softplus_large_inputs_stay_finite():
    x = mt.tensor([1000.0, -1000.0, 88.0], requires_grad=True)
    with np.errstate(over="raise"):
        y = F.softplus(x)
        y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), TF.softplus(torch.tensor([1000.0, -1000.0, 88.0])).numpy())


@pytest.mark.parametrize("shape", [(), (5,), (2, 5), (2, 3, 4), (2, 3, 2, 2)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_without_dim_chooses_as_torch(shape, log):
    host = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    mod, tmod = (nn.LogSoftmax(), torch.nn.LogSoftmax()) if log else (nn.Softmax(), torch.nn.Softmax())
    assert mod.dim is None and repr(mod) == repr(tmod)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = tmod(torch.from_numpy(host)).numpy()
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        out = mod(mt.tensor(host))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        functional = (F.log_softmax if log else F.softmax)(mt.tensor(host))
    np.testing.assert_allclose(functional.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_exports():
    for name in ["elu", "silu", "softplus", "hardtanh", "relu6"]:
        assert name in F.__all__ and callable(getattr(F, name))
    for name in ["ELU", "SiLU", "Softplus", "Hardtanh", "ReLU6"]:
        assert name in nn.__all__ and issubclass(getattr(nn, name), nn.Module)


def test_float64_parameters_and_strict_backend_agree(device):
    x = make(device, (2, 3), -4, 4)
    ref = make("cpu", (2, 3), -4, 4)
    for fn in (F.elu, F.silu, F.softplus, F.hardtanh, F.relu6):
        np.testing.assert_allclose(fn(x).detach().numpy(), fn(ref).detach().numpy(), rtol=1e-15)
