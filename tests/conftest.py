"""Shared fixtures: `device` runs a test on every backend this machine has."""
from __future__ import annotations

import pytest

import minitorch as mt
from minitorch import backends

_CUDA = pytest.param("cuda", marks=[pytest.mark.gpu])
_DEVICE_SKIPS: set[str] = set()  # the reasons _skip_unavailable gave


def _skip_unavailable(device: str) -> None:
    reason = None
    if device == "strict" and not backends.is_available("array_api_strict"):
        reason = "array_api_strict is not installed (pip install -e '.[test]')"
    if device == "cuda" and not backends.is_available("cupy"):
        ok, why = backends.cupy_backend.availability()
        reason = f"no usable CUDA device for the cupy backend: {why}"
    if reason is not None:
        _DEVICE_SKIPS.add(reason)
        pytest.skip(reason)


_SKIP_PLACES: dict[str, tuple[str, int]] = {}  # reason -> where it is reported


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Report each skip reason at one place, so that `-rs` prints it once with its count: pytest folds
    skips by place, and places a fixture's skip at each test (the device fixture's: ~190 lines)."""
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        path, line, reason = report.longrepr
        if reason.removeprefix("Skipped: ") in _DEVICE_SKIPS:
            path, line = __file__, _skip_unavailable.__code__.co_firstlineno
        report.longrepr = (*_SKIP_PLACES.setdefault(reason, (path, line)), reason)
    return report


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
