"""Every name minitorch's ops, engine, references and launchers read from `xp` exists on the real CuPy, which
imports without a GPU. The names are those a run of the suite recorded (tests/xp_names.txt, made by
tests/xp_recorder.py); a smaller run re-records here, so a name the committed list lacks fails the suite
instead of going unchecked until someone runs on a GPU."""
from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

import xp_recorder

TESTS = Path(__file__).resolve().parent
NAMES = TESTS / "xp_names.txt"
# The smaller run: the ops, the engine, the layers and losses, the optimizers, the references and the emulated
# launchers, on the numpy and strict backends.
SMALL_RUN = ["test_math_ops.py", "test_autograd.py", "test_indexing_ops.py", "nn", "optim",
             "kernels/test_reference.py", "kernels/test_window_reference.py", "kernels/test_training_emulated.py"]
RERECORD = ('PYTHONPATH=tests python -m pytest -p xp_recorder --record-xp-names=tests/xp_names.txt '
            '-m "not slow" tests')


def _on(namespace, name: str) -> bool:
    try:
        functools.reduce(getattr, name.split("."), namespace)
    except AttributeError:
        return False
    return True


def test_recorded_names_exist_on_cupy():
    try:
        import cupy
    except Exception as exc:  # noqa: BLE001 - any failure to import is a reason to skip
        pytest.skip(f"cupy is not importable ({exc}); pip install -e '.[test]' installs cupy-cuda12x")
    names = xp_recorder.read(NAMES)
    assert len(names) > 50, "the recorded list is suspiciously short"
    missing = sorted(n for n in names if not _on(cupy, n))
    assert not missing, f"names minitorch reads from xp that CuPy {cupy.__version__} lacks: {missing}"


def test_the_recorded_list_is_current(tmp_path):
    out = tmp_path / "names.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "xp_recorder",
                          f"--record-xp-names={out}", "-m", "not slow", *[str(TESTS / t) for t in SMALL_RUN]],
                         capture_output=True, text=True, env=env, cwd=TESTS.parent, timeout=900)
    # A failing test there is reported by its own file; only a run that could not record is this test's failure.
    assert run.returncode in (0, 1) and out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    recorded = xp_recorder.read(out)
    assert len(recorded) > 50
    new = sorted(recorded - xp_recorder.read(NAMES))
    assert not new, f"xp names used but not in tests/xp_names.txt: {new}; re-record with: {RERECORD}"


def test_the_recorder_sees_xp_names_only():
    import numpy as np

    code = ("def f(xp, ctx, a):\n"
            "    xp.exp(a); ctx.xp.float32; xp.linalg.vector_norm(a)\n"
            "    np.frombuffer(b'1234', dtype=np.uint8); getattr(xp, 'sq' + 'rt')(a)\n"
            "    getattr(xp, 'float16', None); hasattr(xp, 'cuda'); getattr(ctx, 'xp'); getattr(ctx.xp, 'tanh')\n"
            "def g(xp):\n"
            "    xp.cos(1.0)\n"
            "def h(xp, names):\n"
            "    for name in names:\n"  # a new name at a call site the interpreter has specialised by then
            "        getattr(xp, name)\n")
    scope = {"__name__": "minitorch.probe", "np": np}
    exec(compile(code, "<probe>", "exec"), scope)
    ctx = type("Ctx", (), {"xp": np})()
    with xp_recorder.recording() as outer:  # as when the suite runs under the recorder
        with xp_recorder.recording() as names:
            scope["f"](np, ctx, np.ones(3))
            scope["h"](np, ["sin"] * 50 + ["arctan"])
        scope["g"](np)
    assert names == {"exp", "float32", "linalg", "linalg.vector_norm", "sqrt", "tanh", "sin", "arctan"}
    assert outer == {"cos"}, "the inner recording ended the outer one"
    scope["g"](np)
    assert outer == {"cos"}  # nothing recorded into a block's set after it ends
