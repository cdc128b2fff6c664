"""Shared fixtures: `device` runs a test on every backend this machine has."""
from __future__ import annotations

import pytest

import minitorch as mt
from minitorch import backends

_CUDA = pytest.param("cuda", marks=[pytest.mark.gpu])


def _skip_unavailable(device: str) -> None:
    if device == "strict" and not backends.is_available("array_api_strict"):
        pytest.skip("array_api_strict is not installed (pip install -e '.[test]')")
    if device == "cuda" and not backends.is_available("cupy"):
        ok, reason = backends.cupy_backend.availability()
        pytest.skip(f"no usable CUDA device for the cupy backend: {reason}")


@pytest.fixture(params=["cpu", "strict", _CUDA])
def device(request) -> str:
    """Every backend: numpy ("cpu"), array_api_strict ("strict") and cupy ("cuda", skipped without a GPU)."""
    _skip_unavailable(request.param)
    return request.param


@pytest.fixture(params=["cpu", _CUDA])
def fast_device(request) -> str:
    """The real backends only (no array_api_strict), for tests about speed paths or large inputs."""
    _skip_unavailable(request.param)
    return request.param


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same seed, so failures reproduce."""
    mt.manual_seed(0)
    yield
