"""The data tests never touch the network, the real HOME, or a caller's MINITORCH_DATA."""

from __future__ import annotations

from pathlib import Path

import pytest

from minitorch.data import download


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Isolate every test: fresh HOME, no MINITORCH_DATA, and downloads that fail loudly."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINITORCH_DATA", raising=False)
    monkeypatch.delenv("MINITORCH_OFFLINE", raising=False)

    def refuse(url: str, out, timeout: float = 0) -> None:
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(download, "fetch", refuse)
    monkeypatch.setattr(download, "NPM", str(tmp_path / "no-npm-in-tests"))
