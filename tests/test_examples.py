"""The examples a newcomer copies from still run (on real MNIST; skipped without it), and a user's mistake
(no data, a missing file, no GPU) gives a message and exit status 1, not a traceback."""
import ast
import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def mnist_root():
    from helpers import real_mnist_root
    return real_mnist_root()


def run_example(name, argv, monkeypatch) -> int:
    """Run an example as `python examples/<name> ...` does; returns its exit status."""
    monkeypatch.setattr(sys, "argv", [name, *argv])
    try:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    except SystemExit as exc:
        return exc.code
    return 0


def test_gradient_accumulation(mnist_root, monkeypatch, capsys):
    assert run_example("gradient_accumulation.py", ["--data-dir", mnist_root, "--max-steps", "60"], monkeypatch) == 0
    out = capsys.readouterr().out
    accuracy = float(out.strip().split("test accuracy ")[-1].rstrip("%"))
    assert accuracy > 85.0


def test_save_load_predict(mnist_root, monkeypatch, tmp_path, capsys):
    assert run_example("save_load_predict.py", ["--data-dir", mnist_root, "--out", str(tmp_path / "m.npz"),
                                                "--steps", "100"], monkeypatch) == 0
    out = capsys.readouterr().out
    predicted = out.split("predicted:")[1].splitlines()[0]
    actual = out.split("actual:")[1].splitlines()[0]
    agree = sum(a == b for a, b in zip(ast.literal_eval(predicted.strip()), ast.literal_eval(actual.strip())))
    assert agree >= 8 and (tmp_path / "m.npz").exists()


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No MNIST anywhere and no network: the examples must say so, not print a traceback."""
    monkeypatch.delenv("MINITORCH_DATA", raising=False)
    monkeypatch.setenv("MINITORCH_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def exit_status(name, argv, monkeypatch, capsys):
    code = run_example(name, argv, monkeypatch)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name, argv", [("gradient_accumulation.py", ["--max-steps", "1"]),
                                        ("save_load_predict.py", ["--steps", "1"])])
def test_no_data_is_a_message_not_a_traceback(no_data, monkeypatch, capsys, name, argv):
    code, err = exit_status(name, ["--data-dir", str(no_data), *argv], monkeypatch, capsys)
    assert code == 1 and "MNIST training files not found" in err and "Traceback" not in err


def test_a_missing_model_file_is_named(no_data, monkeypatch, capsys):
    code, err = exit_status("save_load_predict.py", ["--model", "missing.npz"], monkeypatch, capsys)
    assert code == 1 and "missing.npz: No such file or directory" in err and "Traceback" not in err


def test_a_gpu_asked_for_without_one_is_named_before_data_is_read(no_data, monkeypatch, capsys):
    import minitorch as mt
    if mt.backends.is_available("cupy"):
        pytest.skip("this machine has a GPU")
    code, err = exit_status("workshop_mnist.py", ["--device", "cuda", "--max-steps", "1"], monkeypatch, capsys)
    assert code == 1 and "device 'cuda' cannot be used here" in err and "Traceback" not in err
