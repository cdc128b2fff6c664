"""train.py: a smoke run on a generated tiny MNIST, bad arguments, resume, divergence, user errors, real MNIST (slow).

Signals and kill -9 are in test_train_faults.py."""
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minitorch as mt
from helpers import write_fake_mnist
from minitorch.training import run_cli

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
    """Separable fake digits written as real IDX files in mnist/ (helpers.write_fake_mnist)."""
    write_fake_mnist(tmp_path / "data")
    return tmp_path / "data"


def run(train_script, data, out, *extra):
    argv = ["--data-dir", str(data), "--out", str(out), "--val-size", "100", "--no-progress", *extra]
    assert train_script.main(argv) == 0
    return json.loads((out / "metrics.json").read_text())

def run_interrupted(monkeypatch, train_script, data, out, *extra):
    """A run stopped by a KeyboardInterrupt (Ctrl-C without a signal handler) as its second epoch starts."""
    import minitorch.training.loop as loop
    real, calls = loop.train_epoch, []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(loop, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(train_script, data, out, *extra)
    monkeypatch.setattr(loop, "train_epoch", real)


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

    # Interrupt a second, identical run during its second epoch (a KeyboardInterrupt from no signal
    # handler: the default Ctrl-C), then resume it with --resume alone: it remembers its flags.
    run_interrupted(monkeypatch, train_script, tiny_mnist, tmp_path / "resumed", *args)
    assert int(mt.load(tmp_path / "resumed" / "checkpoint.npz")["epoch"]) == 1
    assert train_script.main(["--resume", str(tmp_path / "resumed"), "--no-progress"]) == 0

    a = mt.load(tmp_path / "straight" / "checkpoint.npz")
    b = mt.load(tmp_path / "resumed" / "checkpoint.npz")
    for name, tensor in a["model"].items():
        np.testing.assert_array_equal(tensor.numpy(), b["model"][name].numpy(), err_msg=name)
    assert json.loads(a["history"])[-1]["train_loss"] == json.loads(b["history"])[-1]["train_loss"]
    assert b["config"] == {**a["config"]} and b["config"]["epochs"] == 3 and b["config"]["max_steps"] == 4


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_compile_trains_the_same_numbers(train_script, tiny_mnist, tmp_path, model, recwarn):
    """--compile replays the recorded step (health's measured steps run eagerly in between, and the last
    smaller batch of each epoch records its own step): the model and history are eager's, bit for bit."""
    args = ["--model", model, "--epochs", "2", "--max-steps", "7", "--batch-size", "16", "--health-every", "3",
            "--no-plot"]
    eager = run(train_script, tiny_mnist, tmp_path / "eager", *args)
    captured = run(train_script, tiny_mnist, tmp_path / "compiled", *args, "--compile")
    a, b = mt.load(tmp_path / "eager" / "model.npz"), mt.load(tmp_path / "compiled" / "model.npz")
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].numpy().tobytes() == b[name].numpy().tobytes(), name
    keys = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
    assert [[r[k] for k in keys] for r in eager["epochs"]] == [[r[k] for k in keys] for r in captured["epochs"]]
    assert eager["test_accuracy"] == captured["test_accuracy"]
    assert not [str(w.message) for w in recwarn if "compile" in str(w.message)]  # replayed, not fallen back


def test_compile_records_once_and_replays(monkeypatch):
    from minitorch import capture
    from minitorch.training import loop
    made = []
    real = capture.compile
    monkeypatch.setattr(capture, "compile", lambda fn, **kw: made.append(real(fn, **kw)) or made[-1])
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 784)).astype(np.float32), rng.integers(0, 10, 64)
    loader = mt.data.DataLoader(mt.data.TensorDataset(mt.tensor(x), mt.tensor(y)), batch_size=16)
    model = loop.workshop_mlp()
    opt = mt.optim.Adam(model.parameters())
    loop.fit(model, opt, loader, [], 2, compiled=True)
    step, = made
    tape, = step.tapes.values()
    assert step.recordings == 1 and tape.replays == 7  # 8 steps: one recording, then replays across epochs


# -- the command line's errors: exit status and one or two lines, no traceback ----------------------
@pytest.fixture
def cli(train_script, capsys, monkeypatch, tmp_path):
    """train.py as `python train.py` runs it, in this process: cli(*argv) -> (status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINITORCH_OFFLINE", "1")
    monkeypatch.delenv("MINITORCH_DEBUG", raising=False)

    def call(*argv):
        code = run_cli(train_script.main, [*argv], check_backend=False)
        out = capsys.readouterr()
        return code, out.out, out.err
    return call


def quick(data, out, *extra):
    return ["--data-dir", str(data), "--out", str(out), "--val-size", "100", "--no-progress", "--no-plot",
            "--batch-size", "16", "--max-steps", "3", *extra]


def test_a_diverging_run_stops_at_the_first_nan_step_naming_the_cause(cli, tiny_mnist, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli(*quick(tiny_mnist, out, "--optimizer", "sgd", "--lr", "1e6", "--max-steps", "20"))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in err
    assert re.search(r"the training loss is (nan|inf|-inf) at step \d+ of epoch 1", lines[0])
    assert "learning rate is likely too high (--lr 1e+06 with sgd)" in lines[0]
    assert "no checkpoint was written" in lines[1] and "--allow-nonfinite" in lines[1]
    assert not (out / "metrics.json").exists() and not (out / "checkpoint.npz").exists()


def test_divergence_keeps_the_last_good_checkpoint(cli, tiny_mnist, tmp_path):
    out = tmp_path / "run"
    assert cli(*quick(tiny_mnist, out, "--epochs", "1", "--optimizer", "sgd"))[0] == 0
    before = (out / "checkpoint.npz").read_bytes()
    code, _, err = cli("--resume", str(out), "--override", "--epochs", "2", "--lr", "1e6", "--max-steps", "20")
    assert code == 1 and f"the last good checkpoint, {out / 'checkpoint.npz'}" in err, err
    assert (out / "checkpoint.npz").read_bytes() == before


def test_a_nan_input_pixel_is_named_as_the_cause(cli, train_script, tiny_mnist, tmp_path, monkeypatch):
    real = train_script.load_data

    def poisoned(*a):
        train, val, test = real(*a)
        train.tensors[0][7, 300] = np.nan
        return train, val, test

    monkeypatch.setattr(train_script, "load_data", poisoned)
    code, _, err = cli(*quick(tiny_mnist, tmp_path / "run", "--max-steps", "40"))
    assert code == 1
    assert re.search(r"the training loss is nan at step \d+ of epoch 1", err)
    assert "the training data hold 1 NaN/Inf values: clean the input" in err


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow warnings: the user let it diverge
def test_allow_nonfinite_trains_on_and_writes_strict_json(cli, tiny_mnist, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli(*quick(tiny_mnist, out, "--optimizer", "sgd", "--lr", "1e6", "--max-steps", "20",
                              "--epochs", "2", "--allow-nonfinite"))
    assert code == 0, err

    def refuse(constant):
        raise AssertionError(f"metrics.json holds {constant}, which is not JSON")

    metrics = json.loads((out / "metrics.json").read_text(), parse_constant=refuse)
    assert metrics["epochs"][-1]["train_loss"] is None


def test_resume_remembers_and_a_finished_run_says_so(cli, tiny_mnist, tmp_path):
    out = tmp_path / "run"
    assert cli(*quick(tiny_mnist, out, "--epochs", "2", "--optimizer", "sgd", "--seed", "4"))[0] == 0
    stamp = (out / "checkpoint.npz").stat().st_mtime_ns
    code, printed, _ = cli("--resume", str(out))
    assert code == 0 and "is a finished run (2/2 epochs" in printed and printed.count("\n") == 1
    assert (out / "checkpoint.npz").stat().st_mtime_ns == stamp  # nothing trained, nothing written

    code, _, err = cli("--resume", str(out), "--epochs", "3")
    assert code == 2 and "--epochs 3 differs from the run being resumed (--epochs 2 in" in err
    assert "add --override" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("--resume", str(out), "--seed", "9", "--override")
    assert code == 2 and "--seed cannot change within a run" in err
    code, _, err = cli("--resume", str(out), "--epochs", "2", "--optimizer", "sgd")  # the same values: fine
    assert code == 0, err

    code, printed, err = cli("--resume", str(out), "--epochs", "3", "--override", "--lr", "0.01")
    assert code == 0, err
    assert "changed: --epochs 3, --lr 0.01" in printed and "epoch  3/3" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in metrics["epochs"]] == [1, 2, 3] and metrics["config"]["lr"] == 0.01
    assert metrics["config"]["optimizer"] == "sgd" and metrics["config"]["seed"] == 4


def test_batch_size_changes_only_between_epochs(cli, tiny_mnist, tmp_path):
    out = tmp_path / "run"
    state = {"model": {}, "optimizer": {}, "scheduler": {}, "epoch": 0, "best_val_accuracy": -1.0,
             "history": "[]", "rng": "{}", "config": {"batch_size": 16},
             "position": {"step": 2, "generator": None, "generator_now": None}}
    out.mkdir()
    mt.save(state, out / "checkpoint.npz")
    code, _, err = cli("--resume", str(out), "--batch-size", "32", "--override", "--data-dir", str(tiny_mnist))
    assert code == 2 and "--batch-size can change only between epochs" in err


@pytest.mark.parametrize("argv, code, words", [
    (["--device", "cuda"], 1, "device 'cuda' cannot be used here"),
    (["--resume", "nowhere"], 2, "--resume nowhere: does not exist"),
    (["--data-dir", "empty"], 1, "MNIST training files not found"),
])
def test_user_mistakes_are_one_message_and_an_exit_status(cli, tmp_path, monkeypatch, argv, code, words):
    if argv[:2] == ["--device", "cuda"] and mt.backends.is_available("cupy"):
        pytest.skip("this machine has a GPU")
    monkeypatch.delenv("MINITORCH_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "empty").mkdir()
    got, _, err = cli(*argv, "--no-progress")
    assert got == code and words in err and "Traceback" not in err, err


def test_a_corrupt_checkpoint_is_a_runtime_error_and_debug_shows_the_traceback(cli, tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip file")
    code, _, err = cli("--resume", str(tmp_path / "bad.npz"))
    assert code == 1 and "cannot load" in err and "bad.npz" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 2  # the error, and how to see the traceback
    code, _, err = cli("--resume", str(tmp_path / "bad.npz"), "--debug")
    assert code == 1 and "Traceback" in err


@pytest.mark.parametrize("backend, code, words", [("cupy", 1, "MINITORCH_BACKEND=cupy cannot be used here"),
                                                  ("tpu", 2, "MINITORCH_BACKEND='tpu' is not a backend")])
def test_the_backend_is_checked_before_any_data_is_read(tmp_path, backend, code, words):
    if backend == "cupy" and mt.backends.is_available("cupy"):
        pytest.skip("this machine has a GPU")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MINITORCH_")},
           "MINITORCH_BACKEND": backend, "MINITORCH_OFFLINE": "1", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "--data-dir", str(tmp_path / "none")],
                          env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == code and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "not found" not in done.stderr  # no data was looked for


def _real_mnist():
    from helpers import real_mnist_root
    return real_mnist_root()


@pytest.mark.slow
def test_default_run_reaches_98_percent_on_real_mnist(train_script, tmp_path):
    root = _real_mnist()
    out = tmp_path / "run"
    assert train_script.main(["--data-dir", root, "--out", str(out), "--no-progress", "--no-plot"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.98
