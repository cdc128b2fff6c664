"""Backend selection: MINITORCH_BACKEND, device strings, no silent fallback, seeding, transfers."""
import numpy as np
import pytest

import minitorch as mt
from minitorch import backends


@pytest.fixture
def fresh_default(monkeypatch):
    """Forget the chosen default device so MINITORCH_BACKEND is read again."""
    monkeypatch.setattr(backends, "_default_device", None)


def test_default_is_numpy_on_cpu(fresh_default, monkeypatch):
    monkeypatch.delenv("MINITORCH_BACKEND", raising=False)
    assert mt.default_device() == "cpu"
    assert mt.tensor([1.0]).device == "cpu"


def test_unknown_backend_lists_valid_ones(fresh_default, monkeypatch):
    monkeypatch.setenv("MINITORCH_BACKEND", "tensorflow")
    with pytest.raises(ValueError, match="numpy, cupy, array_api_strict"):
        mt.tensor([1.0])


def test_explicit_cupy_that_cannot_start_is_an_error(fresh_default, monkeypatch):
    if backends.is_available("cupy"):
        pytest.skip("CuPy works on this machine")
    monkeypatch.setenv("MINITORCH_BACKEND", "cupy")
    with pytest.raises(RuntimeError, match=r"cupy backend cannot start: .*(pip install|device|NVRTC|probe)"):
        mt.zeros(2)


def test_strict_backend_from_env(fresh_default, monkeypatch):
    monkeypatch.setenv("MINITORCH_BACKEND", "array_api_strict")
    assert mt.ones(2).device == "strict"


def test_set_default_device(monkeypatch):
    monkeypatch.setattr(backends, "_default_device", "cpu")
    mt.set_default_device("strict")
    assert mt.zeros(1).device == "strict"
    mt.set_default_device("cpu")


def test_device_strings():
    assert backends.canonical_device("cuda:0") == "cuda"
    assert backends.canonical_device("CPU") == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        backends.canonical_device("tpu")


def test_manual_seed_reproduces_random_tensors(device):
    mt.manual_seed(42)
    a = mt.randn(5, device=device).numpy()
    mt.manual_seed(42)
    b = mt.randn(5, device=device).numpy()
    np.testing.assert_array_equal(a, b)
    assert mt.rand(1000, device=device).numpy().min() >= 0.0


def test_transfers_round_trip(device):
    x = mt.tensor([[1.0, 2.0]], device=device)
    assert x.to("cpu").device == "cpu" and x.to("cpu").to(device).device == device
    np.testing.assert_array_equal(x.numpy(), [[1.0, 2.0]])
    mt.get_backend(device).synchronize()


def test_scatter_add_accumulates_repeats(device):
    b = mt.get_backend(device)
    target = b.xp.zeros((3,), dtype=b.xp.float64)
    b.index_add(target, (b.from_host(np.array([0, 2, 0])),), b.from_host(np.array([1.0, 2.0, 3.0])))
    np.testing.assert_array_equal(b.to_host(target), [4.0, 0.0, 2.0])


def test_available_devices_lists_cpu():
    assert "cpu" in mt.available_devices()
