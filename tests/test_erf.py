"""erf as a Backend method (Cody's approximation in xp; SciPy on NumPy; CuPy's on CUDA), minitorch.erf and GELU."""
import math

import numpy as np
import pytest

import minitorch as mt
import minitorch.nn.functional as F
from minitorch.autograd import gradcheck
from minitorch.backends import get_backend
from minitorch.backends.base import Backend
from minitorch.backends.numpy_backend import NumpyBackend
from helpers import make

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of these tests (pip install -e '.[torch]')")


def _points(dtype):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-7, 7, 4000), rng.uniform(-0.5, 0.5, 1000), rng.uniform(3.9, 6.2, 500),
                        rng.standard_normal(300) * 1e-4, [0.46875, -0.46875, 4.0, -4.0, 6.0, 26.0, 1e-300]])
    return x.astype(dtype)


def _ulps(a, b):
    """Distance in units in the last place of b (same-dtype float arrays)."""
    return np.abs(a.astype(np.float64) - b.astype(np.float64)) / np.spacing(np.abs(b)).astype(np.float64)


def test_default_erf_float64_matches_torch_to_a_few_ulps():
    x = _points(np.float64)
    ours = Backend.erf(get_backend("cpu"), x)  # the xp default, whatever the NumPy backend overrides it with
    ref = torch.erf(torch.from_numpy(x)).numpy()
    nz = ref != 0
    assert np.max(np.abs(ours[nz] - ref[nz]) / np.abs(ref[nz])) < 1e-15


def test_default_erf_float32_is_rounded_like_torch():
    x = _points(np.float32)
    ours = Backend.erf(get_backend("cpu"), x)
    assert ours.dtype == np.float32
    assert np.max(_ulps(ours, torch.erf(torch.from_numpy(x)).numpy())) <= 1
    exact = Backend.erf(get_backend("cpu"), x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(ours, exact)  # evaluated in float64, rounded once


def test_default_erf_special_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -30.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = Backend.erf(get_backend("cpu"), x)
    np.testing.assert_array_equal(out[[0, 2, 3, 6]], [0.0, 1.0, -1.0, -1.0])
    assert np.signbit(out[1]) and not np.signbit(out[0]) and np.isnan(out[4])
    assert out[5] == torch.erf(torch.tensor(5e-324, dtype=torch.float64)).item()


def test_default_erf_runs_on_the_strict_backend():
    if not mt.backends.is_available("array_api_strict"):
        pytest.skip("array_api_strict is not installed")
    backend = get_backend("strict")
    x = _points(np.float64)
    out = np.asarray(backend.erf(backend.xp.asarray(x)))
    np.testing.assert_allclose(out, torch.erf(torch.from_numpy(x)).numpy(), rtol=1e-15, atol=0)


def test_numpy_backend_uses_scipy_when_importable():
    special = pytest.importorskip("scipy.special")
    x = _points(np.float32)[:5800].reshape(58, -1)
    out = NumpyBackend.erf(get_backend("cpu"), x)
    np.testing.assert_array_equal(out, special.erf(x))
    assert out.dtype == np.float32 and isinstance(get_backend("cpu").erf(np.asarray(0.5)), np.ndarray)
    half = get_backend("cpu").erf(np.array([0.5, -1.0], dtype=np.float16))  # no SciPy loop: the default
    assert half.dtype == np.float16


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_erf_op_matches_torch(device, dtype):
    rng = np.random.default_rng(3)
    values = rng.uniform(-3, 3, (4, 5)) if dtype.startswith("float") else rng.integers(-2, 3, (4, 5))
    host = values.astype(dtype)
    t = torch.from_numpy(host.copy())
    m = mt.tensor(host, device=device)
    assert mt.erf(m).dtype == getattr(mt, str(t.erf().dtype).split(".")[1])
    tol = 1e-15 if dtype == "float64" else 2e-7
    np.testing.assert_allclose(m.erf().numpy(), t.erf().numpy(), rtol=tol, atol=tol)


def test_erf_grad_matches_torch(device):
    x = make(device, (3, 4), -3, 3)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    x.erf().sum().backward()
    tx.erf().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-13)


def test_erf_gradcheck(device):
    assert gradcheck(lambda a: mt.erf(a), [make(device, (3, 4), -2.5, 2.5)])


def test_erf_in_place():
    x = mt.tensor([0.5, -1.0])
    assert x.erf_() is x
    np.testing.assert_allclose(x.numpy(), [math.erf(0.5), math.erf(-1.0)], rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(device, dtype, approximate):
    rng = np.random.default_rng(5)
    host = np.concatenate([rng.uniform(-8, 8, 40), [0.0, -0.0, 1e-8, -40.0, 40.0]]).astype(dtype)
    m = mt.tensor(host, device=device, requires_grad=True)
    t = torch.tensor(host, requires_grad=True)
    y, ty = F.gelu(m, approximate=approximate), torch.nn.functional.gelu(t, approximate=approximate)
    assert y.dtype == m.dtype
    g = rng.standard_normal(host.shape).astype(dtype)
    y.backward(mt.tensor(g, device=device))
    ty.backward(torch.from_numpy(g))
    tol = 1e-14 if dtype == "float64" else 3e-6
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)


def test_gelu_saves_nothing_without_grad():
    x = mt.randn(3, 4)
    with mt.no_grad():
        y = F.gelu(mt.randn(3, 4, requires_grad=True))
    assert y.grad_fn is None and F.gelu(x).grad_fn is None
