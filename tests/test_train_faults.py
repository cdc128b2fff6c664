"""train.py under faults: SIGINT/SIGTERM stop and resume exactly, kill -9 at random points (during steps
and inside every kind of write) never loses or corrupts a run, and resuming reaches the same final model
bit for bit. Signals are injected by tests/train_fault_runner.py at chosen calls: in this process (fast)
or, for kill -9 and real exit statuses, in a subprocess with a timeout.

MINITORCH_FAULT_TRIALS (default 2) sets how many random kill points the sweep tries; the slow tests try
many more, kill at random wall-clock moments, and print the probe table."""
from __future__ import annotations

import importlib.util
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from train_fault_runner import Faults

import minitorch as mt
from helpers import write_fake_mnist
from minitorch.training import run_cli

ROOT = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).with_name("train_fault_runner.py")
TRIALS = int(os.environ.get("MINITORCH_FAULT_TRIALS", "2"))
TIMEOUT = 60  # seconds for one subprocess; a run takes about one
STEPS, EPOCHS = 4, 2  # steps per epoch; 8 optimizer steps in all
SAVES = 2 * EPOCHS  # model.npz and checkpoint.npz each epoch (model.npz only when validation improves)
CONFIG = ["--epochs", str(EPOCHS), "--max-steps", str(STEPS), "--batch-size", "16", "--seed", "3",
          "--val-size", "100", "--no-progress", "--no-plot"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Separable fake digits written as real IDX files (helpers.write_fake_mnist)."""
    root = tmp_path_factory.mktemp("data")
    write_fake_mnist(root)
    return root


def environment(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINITORCH_")}
    return {**env, "MINITORCH_BACKEND": "numpy", "MINITORCH_OFFLINE": "1", "HOME": str(tmp),
            "PYTHONUNBUFFERED": "1"}


def train(args, cwd: Path, faults: str = "", script: Path = RUNNER) -> subprocess.CompletedProcess:
    env = {**environment(cwd), "TRAIN_FAULTS": faults}
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)


def start(data: Path, out: Path) -> list[str]:
    return ["--data-dir", str(data), "--out", str(out), *CONFIG]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("train_script_faults", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def here(script, capsys, monkeypatch, tmp_path):
    """train.py's CLI in this process, with faults: here(argv, faults) -> (exit status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("MINITORCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MINITORCH_OFFLINE", "1")

    def call(argv, faults=""):
        with Faults(faults).installed():
            code = run_cli(script.main, argv, check_backend=False)
        out = capsys.readouterr()
        return code, out.out, out.err
    return call


def resume_command(stderr: str) -> tuple[dict, list[str]]:
    """The command train.py printed, as it is: (its VAR=value prefixes, its arguments after python)."""
    line = next(l for l in stderr.splitlines() if "resume with: " in l).split("resume with: ")[1]
    argv = shlex.split(line)
    python = argv.index("python")
    return dict(a.split("=", 1) for a in argv[:python]), argv[python + 1:]


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """The final checkpoint of a run never interrupted."""
    tmp = tmp_path_factory.mktemp("reference")
    done = train(start(data, tmp / "run"), tmp, script=ROOT / "train.py")
    assert done.returncode == 0, done.stderr
    return final_state(tmp / "run")


def final_state(out: Path) -> dict:
    state = mt.load(out / "checkpoint.npz")
    return {"model": {k: t.numpy() for k, t in state["model"].items()},
            "losses": [r["train_loss"] for r in json.loads(state["history"])],
            "test_accuracy": json.loads((out / "metrics.json").read_text())["test_accuracy"]}


def assert_same_run(out: Path, reference: dict) -> None:
    got = final_state(out)
    for name, array in reference["model"].items():
        np.testing.assert_array_equal(got["model"][name], array, err_msg=name)
    assert got["losses"] == reference["losses"]
    assert got["test_accuracy"] == reference["test_accuracy"]
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")], "temp files left behind"


def begin_or_resume(data: Path, out: Path) -> list[str]:
    """A killed run's next command: resume it, or start it again if it died before its first checkpoint."""
    return ["--resume", str(out)] if (out / "checkpoint.npz").exists() else start(data, out)


def kill_sweep(data, out: Path, kills: list[str]) -> list[tuple[str, int]]:
    """Run to each kill in turn, each in a subprocess that resumes the last; returns each (kill, exit status)."""
    outcomes = []
    for fault in kills:
        done = train(begin_or_resume(data, out), out.parent, fault)
        assert done.returncode in (0, -signal.SIGKILL), (fault, done.stdout, done.stderr)
        outcomes.append((fault, done.returncode))
    return outcomes


def in_process_argv(stderr: str) -> list[str]:
    env, argv = resume_command(stderr)
    assert not env and Path(argv[0]).resolve() == ROOT / "train.py"
    return argv[1:]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_epoch_saves_a_checkpoint_that_resumes_bit_exact(data, reference, here, tmp_path, signum):
    step = random.Random().randint(1, STEPS * EPOCHS - 1)
    name = signal.Signals(signum).name
    out = tmp_path / "run"
    code, _, err = here(start(data, out), f"{name[3:].lower()}@step#{step}")
    assert code == 128 + signum, err
    assert f"stopped by {name}" in err and "Traceback" not in err
    state = mt.load(out / "checkpoint.npz")
    epoch, at = (step - 1) // STEPS, (step - 1) % STEPS + 1  # the stop comes after the step it arrived in
    assert (state["epoch"], state["position"]["step"], state["stopped_by"]) == (epoch, at, name)
    code, printed, err = here(in_process_argv(err))  # the command it printed, as printed
    assert code == 0, err
    assert f"after epoch {epoch}, step {at} of epoch {epoch + 1}" in printed
    assert_same_run(out, reference)


def test_sigterm_exits_143_and_prints_the_resume_command(data, reference, here, tmp_path):
    out = tmp_path / "run"
    stopped = train(start(data, out), tmp_path, f"term@step#{STEPS + 3}")
    assert stopped.returncode == 143, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert f"stopped by SIGTERM after step 3 of epoch 2; saved {out / 'checkpoint.npz'}" in stopped.stderr
    code, _, err = here(in_process_argv(stopped.stderr))
    assert code == 0, err
    assert_same_run(out, reference)


def test_a_second_sigint_during_the_save_quits_at_once_leaving_the_last_checkpoint(data, reference, here,
                                                                                  tmp_path):
    out = tmp_path / "run"
    # Stopped in epoch 2; the stop's save is interrupted by a second Ctrl-C as it writes its temp file.
    code, _, err = here(start(data, out), f"int@step#{STEPS + 2},int@savez#1")
    assert code == 130, err
    assert "stopped at once by SIGINT" in err and "is intact; resume with:" in err
    state = mt.load(out / "checkpoint.npz")  # epoch 1's checkpoint, whole
    assert state["epoch"] == 1 and state["position"] is None
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    code, _, err = here(in_process_argv(err))
    assert code == 0, err
    assert_same_run(out, reference)


def test_a_stop_between_epochs_and_one_while_finishing(data, reference, here, tmp_path):
    out = tmp_path / "run"
    code, _, err = here(start(data, out), "term@replace#2+")  # as epoch 1's checkpoint lands
    assert code == 143 and "before epoch 2" in err, err
    state = mt.load(out / "checkpoint.npz")
    assert state["epoch"] == 1 and state["position"] is None
    # Training done, a Ctrl-C while metrics.json is written: out at once; resuming writes the results.
    code, _, err = here(["--resume", str(out)], "int@write_json#1")
    assert code == 130 and not (out / "metrics.json").exists(), err
    code, printed, err = here(["--resume", str(out)])
    assert code == 0 and "test accuracy" in printed, err
    assert_same_run(out, reference)


KILL_TARGETS = {  # where a kill -9 lands: target -> how many calls a whole run makes, about
    "step": STEPS * EPOCHS, "savez": SAVES, "member": 2 * SAVES, "fsync": 2 * SAVES, "replace": SAVES,
    "write_json": 1}


def random_kills(rng: random.Random, n: int) -> list[str]:
    kills = []
    for _ in range(n):
        target = rng.choice(sorted(KILL_TARGETS))
        kills.append(f"kill@{target}#{rng.randint(1, KILL_TARGETS[target])}{rng.choice(['', '+'])}")
    return kills


def test_kill9_at_random_steps_and_inside_saves_then_resume_is_bit_exact(data, reference, here, tmp_path):
    out = tmp_path / "run"
    kill_sweep(data, out, random_kills(random.Random(), TRIALS))
    code, _, err = here(begin_or_resume(data, out))
    assert code == 0, err
    assert_same_run(out, reference)


@pytest.mark.slow
def test_kill9_at_random_moments_then_resume_is_bit_exact(data, reference, here, tmp_path):
    """Wall-clock kills: wherever the process happens to be (importing, loading, stepping, saving)."""
    out, rng = tmp_path / "run", random.Random()
    for _ in range(3 * TRIALS):
        proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *begin_or_resume(data, out)],
                                cwd=tmp_path, env=environment(tmp_path), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.0))
        proc.kill()
        proc.wait(timeout=TIMEOUT)
    code, _, err = here(begin_or_resume(data, out))
    assert code == 0, err
    assert_same_run(out, reference)


@pytest.mark.slow
def test_fault_sweep_table(data, reference, here, tmp_path, capsys):
    """Many random kill points, tallied per probe: the issue's closing table (printed)."""
    table: dict[str, list[int]] = {}
    for seed in range(12):
        out = tmp_path / f"run{seed}"
        outcomes = kill_sweep(data, out, random_kills(random.Random(seed), 6))
        code, _, err = here(begin_or_resume(data, out))
        assert code == 0, err
        assert_same_run(out, reference)  # the sweep survived: every kill in it is a case survived
        for fault, status in outcomes:
            if status == -signal.SIGKILL:  # (a point past the run's end is never reached)
                probe = fault.split("#")[0].replace("kill@", "kill -9 before ")
                probe = probe.replace("before", "after") if fault.endswith("+") else probe
                table.setdefault(probe, [0, 0])[0] += 1
                table[probe][1] += 1
    with capsys.disabled():
        print("\nprobe | cases | survived | lost")
        for probe, (cases, survived) in sorted(table.items()):
            print(f"{probe} | {cases} | {survived} | {cases - survived}")
