"""Fault-injection tests: hermetic (no network, none of the machine's data folders), bounded in time,
and tallied: each probe records the cases it tried and how many survived, and the tally is printed
at the end of the run (probe, cases tried, survived, lost)."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

from minitorch.data import download, sources

_TALLY: dict[str, list[int]] = defaultdict(lambda: [0, 0])
_PEAKS: dict[str, tuple[int, int]] = {}


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A fresh HOME, no MINITORCH_DATA, an empty system root, no downloads."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINITORCH_DATA", raising=False)
    monkeypatch.setenv("MINITORCH_OFFLINE", "1")
    monkeypatch.setattr(sources, "SYSTEM_ROOT", tmp_path / "system-root")

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(download, "fetch", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


class Tally:
    """tally.case(probe, survived) for each case; the totals are printed in the summary."""

    def case(self, probe: str, survived: bool) -> None:
        _TALLY[probe][0] += 1
        _TALLY[probe][1] += bool(survived)

    def peak(self, bomb: str, legit_bytes: int, peak_bytes: int) -> None:
        _PEAKS[bomb] = (legit_bytes, peak_bytes)


@pytest.fixture
def tally() -> Tally:
    return Tally()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _PEAKS:
        terminalreporter.section("bombs: peak memory while loading or rejecting them (tracemalloc)")
        terminalreporter.write_line(f"{'bomb':58} {'legit file':>12} {'peak':>12} {'ratio':>6}")
        for bomb, (legit, peak) in _PEAKS.items():
            terminalreporter.write_line(f"{bomb:58} {legit:>12,} {peak:>12,} {peak / legit:>6.3f}")
    if _TALLY:
        terminalreporter.section("fault-injection probes")
        terminalreporter.write_line(f"{'probe':58} {'tried':>7} {'survived':>9} {'lost':>5}")
        for probe, (tried, survived) in _TALLY.items():
            terminalreporter.write_line(f"{probe:58} {tried:>7} {survived:>9} {tried - survived:>5}")
