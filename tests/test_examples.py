"""The examples a newcomer copies from still run (on real MNIST; skipped without it)."""
import ast
import os
import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def mnist_root():
    root = os.environ.get("MINITORCH_DATA")
    if not root or not (Path(root) / "mnist").is_dir():
        pytest.skip("real MNIST not found: set MINITORCH_DATA to a folder holding mnist/ (CI does)")
    return root


def run_example(name, argv, monkeypatch):
    monkeypatch.setattr(sys, "argv", [name, *argv])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")


def test_gradient_accumulation(mnist_root, monkeypatch, capsys):
    run_example("gradient_accumulation.py", ["--data-dir", mnist_root, "--max-steps", "60"], monkeypatch)
    out = capsys.readouterr().out
    accuracy = float(out.strip().split("test accuracy ")[-1].rstrip("%"))
    assert accuracy > 85.0


def test_save_load_predict(mnist_root, monkeypatch, tmp_path, capsys):
    run_example("save_load_predict.py", ["--data-dir", mnist_root, "--out", str(tmp_path / "m.npz"),
                                         "--steps", "100"], monkeypatch)
    out = capsys.readouterr().out
    predicted = out.split("predicted:")[1].splitlines()[0]
    actual = out.split("actual:")[1].splitlines()[0]
    agree = sum(a == b for a, b in zip(ast.literal_eval(predicted.strip()), ast.literal_eval(actual.strip())))
    assert agree >= 8 and (tmp_path / "m.npz").exists()
