"""The data tests are hermetic: no network, and none of the machine's data folders.

Every test gets a fresh HOME (so an empty ~/.cache/minitorch/datasets), no MINITORCH_DATA or
MINITORCH_OFFLINE, system folders (Debian's /usr/share/datasets/fashion-mnist) re-rooted in an
empty folder, and downloads that fail loudly. Tests that need the real MNIST find it with
`real_mnist` (mnist_files.py), which looks where the library looks, before this isolation.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from minitorch.data import download, sources


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Isolate every test: fresh HOME, no MINITORCH_DATA, an empty system root, no downloads."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINITORCH_DATA", raising=False)
    monkeypatch.delenv("MINITORCH_OFFLINE", raising=False)
    monkeypatch.setattr(sources, "SYSTEM_ROOT", tmp_path / "system-root")

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(download, "fetch", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)  # in case anything bypasses fetch
    monkeypatch.setattr(download, "NPM", str(tmp_path / "no-npm-in-tests"))
