"""Launch rank scripts under mpiexec with a hard timeout; read the checks each rank recorded.

A rank script records named checks with `Checks` (an exception becomes that check's failure message) and
writes them to OUT/rank<r>.json; the tests then assert on every rank's record, so one launch serves many
tests (an MPI launch costs about a second).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TIMEOUT = 60  # seconds for one launch: a hang becomes a test failure with the ranks' output


def mpiexec() -> str | None:
    """The mpiexec next to this Python (the venv's bin, where pip's MPI puts it), else the one on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


def skip_reason() -> str | None:
    """Why rank tests cannot run here, or None."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return 'mpi4py is not installed (pip install -e ".[mpi]")'
    if mpiexec() is None:
        return 'no mpiexec next to this Python or on PATH (pip install -e ".[mpi]" installs one)'
    return None


def launch(script: str, n: int, out: Path, *args: str, timeout: float = TIMEOUT,
           env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run `python script out args...` on n ranks; (the finished process, wall seconds). Raises on timeout,
    after killing the whole job, with what the ranks printed."""
    cmd = [mpiexec(), "-n", str(n), sys.executable, str(HERE / script), str(out), *args]
    environment = {**os.environ, "MINITORCH_BACKEND": "numpy", **(env or {})}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
                            start_new_session=True)  # its own process group: a timeout kills every rank
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise AssertionError(f"{' '.join(cmd)} did not finish in {timeout} s\n--- stdout\n{stdout}\n--- stderr\n"
                             f"{stderr}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), time.perf_counter() - start


def results(script: str, n: int, out: Path, *args: str) -> list[dict[str, str]]:
    """Each rank's {check: "ok" or failure}, after a launch that must exit cleanly."""
    proc, _ = launch(script, n, out, *args)
    files = [out / f"rank{r}.json" for r in range(n)]
    if proc.returncode != 0 or not all(f.exists() for f in files):
        raise AssertionError(f"{' '.join(proc.args)} exited with {proc.returncode}\n--- stdout\n{proc.stdout}\n"
                             f"--- stderr\n{proc.stderr}")
    return [json.loads(f.read_text()) for f in files]


def check(records: list[dict[str, str]], name: str) -> None:
    """Fail unless every rank ran check `name` and it passed there."""
    problems = [f"rank {r}: {rec.get(name, 'did not run')}" for r, rec in enumerate(records)
                if rec.get(name) != "ok"]
    assert not problems, f"{name}:\n" + "\n".join(problems)


class Checks:
    """In a rank script: `with checks("name"): ...` records "ok" or the exception's traceback."""

    def __init__(self, out: str, rank: int) -> None:
        self.path, self.record = Path(out) / f"rank{rank}.json", {}
        self.name = ""

    def __call__(self, name: str) -> "Checks":
        self.name = name
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(self, etype: Any, value: Any, tb: Any) -> bool:
        self.record[self.name] = "ok" if etype is None else "".join(traceback.format_exception(etype, value, tb))
        return True  # keep going: the other checks still run, and every rank stays in step

    def save(self) -> None:
        self.path.write_text(json.dumps(self.record, indent=1))
