"""train.py: a smoke run on a generated tiny MNIST, bad arguments, resume equivalence, and real MNIST (slow)."""
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

import minitorch as mt
from minitorch.data import write_idx

ROOT = Path(__file__).resolve().parents[1]


def load_train_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train_script():
    return load_train_script()


@pytest.fixture
def tiny_mnist(tmp_path):
    """Separable fake digits: class k lights up row k. Written as real IDX files in mnist/."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for split, n in (("train", 600), ("t10k", 200)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        images[np.arange(n), labels * 2 + 3, :] = 255
        write_idx(folder / f"{split}-images-idx3-ubyte", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels)
    return tmp_path / "data"


def run(train_script, data, out, *extra):
    argv = ["--data-dir", str(data), "--out", str(out), "--val-size", "100", "--no-progress", *extra]
    assert train_script.main(argv) == 0
    return json.loads((out / "metrics.json").read_text())


def test_smoke_max_steps_writes_checkpoint_metrics_and_plot(train_script, tiny_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    metrics = run(train_script, tiny_mnist, out, "--epochs", "2", "--max-steps", "5", "--batch-size", "32")
    assert (out / "model.npz").exists() and (out / "checkpoint.npz").exists()
    if importlib.util.find_spec("matplotlib"):
        assert (out / "curves.png").exists()
    else:  # the plot extra is optional: say how to get it instead
        assert 'pip install -e ".[plot]"' in capsys.readouterr().out
    assert [r["epoch"] for r in metrics["epochs"]] == [1, 2]
    for key in ("test_accuracy", "seconds_per_epoch", "samples_per_second", "backend", "device"):
        assert key in metrics
    assert metrics["backend"] == "numpy" and metrics["device"] == "cpu"
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    state = mt.load(out / "model.npz")
    assert state["0.weight"].shape == (256, 784)


def test_learns_the_separable_toy_problem(train_script, tiny_mnist, tmp_path):
    metrics = run(train_script, tiny_mnist, tmp_path / "run", "--epochs", "3", "--optimizer", "sgd", "--no-plot")
    assert metrics["test_accuracy"] > 0.9


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--optimizer", "rmsprop"], ["--device", "tpu"],
                                  ["--batch-size", "-3"], ["--lr", "abc"], ["--weight-decay", "-1"]])
def test_bad_arguments_are_usage_errors(train_script, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        train_script.parse_args(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_resume_continues_the_same_run(train_script, tiny_mnist, tmp_path, monkeypatch):
    args = ["--epochs", "3", "--max-steps", "4", "--batch-size", "16", "--seed", "5", "--no-plot"]
    run(train_script, tiny_mnist, tmp_path / "straight", *args)

    # Interrupt a second, identical run during its second epoch, then resume it.
    import minitorch.training as training
    real, calls = training.train_epoch, []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(training, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(train_script, tiny_mnist, tmp_path / "resumed", *args)
    monkeypatch.setattr(training, "train_epoch", real)
    assert int(mt.load(tmp_path / "resumed" / "checkpoint.npz")["epoch"]) == 1
    run(train_script, tiny_mnist, tmp_path / "resumed", *args, "--resume", str(tmp_path / "resumed"))

    a = mt.load(tmp_path / "straight" / "checkpoint.npz")
    b = mt.load(tmp_path / "resumed" / "checkpoint.npz")
    for name, tensor in a["model"].items():
        np.testing.assert_array_equal(tensor.numpy(), b["model"][name].numpy(), err_msg=name)
    assert json.loads(a["history"])[-1]["train_loss"] == json.loads(b["history"])[-1]["train_loss"]


def _real_mnist():
    root = os.environ.get("MINITORCH_DATA")
    if not root or not (Path(root) / "mnist").is_dir():
        pytest.skip("real MNIST not found: set MINITORCH_DATA to a folder holding mnist/ (CI does)")
    return root


@pytest.mark.slow
def test_default_run_reaches_98_percent_on_real_mnist(train_script, tmp_path):
    root = _real_mnist()
    out = tmp_path / "run"
    assert train_script.main(["--data-dir", root, "--out", str(out), "--no-progress", "--no-plot"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.98
