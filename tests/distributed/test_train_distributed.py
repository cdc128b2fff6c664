"""train.py --distributed on 2 CPU ranks under mpiexec, each launch under a hard timeout: rank 0 alone prints
and writes the run folder; a stop is agreed by the ranks; resuming 2 -> 1 and 1 -> 2 continues at the same
global step; --batch-size is the global batch; an error on one rank ends the job, naming the rank.

A generated tiny MNIST (real IDX files) stands in for the real one. Skipped, with the reason, where mpi4py
or mpiexec is missing (pip install -e ".[mpi]").
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mpi_launch import launch, skip_reason

import minitorch as mt
from helpers import write_fake_mnist
from minitorch.training import RunError, UsageError
from minitorch.training.ranks import Ranks

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("train_runner.py")
STEPS, BATCH = 4, 32
CONFIG = ["--epochs", "2", "--max-steps", str(STEPS), "--batch-size", str(BATCH), "--val-size", "100",
          "--no-progress"]
needs_mpi = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Separable fake digits written as real IDX files (helpers.write_fake_mnist)."""
    root = tmp_path_factory.mktemp("data")
    write_fake_mnist(root)
    return root


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINITORCH_", "TRAIN_"))}
    return {**env, "MINITORCH_BACKEND": "numpy", "MINITORCH_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **extra}


def ranks2(out: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """train.py --distributed --out OUT ARGS on 2 ranks (TRAIN_* faults as in train_runner.py)."""
    return launch(str(RUNNER), 2, out, "--distributed", *args, env=environment(**env))


def one_process(out: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUNNER), str(out), *args], capture_output=True, text=True,
                          env=environment(**env), timeout=60)


def checkpoint(out: Path) -> dict:
    state = mt.load(out / "checkpoint.npz")
    state["history"] = json.loads(state["history"])
    return state


def assert_global_sums(history: list[dict]) -> None:
    """Each epoch's training results count the global batches' samples, STEPS x BATCH of them, once."""
    for record in history:
        assert record["steps"] == STEPS
        assert record["samples_per_second"] * record["seconds"] == pytest.approx(STEPS * BATCH, rel=1e-9)
        hits = record["train_accuracy"] * STEPS * BATCH
        assert abs(hits - round(hits)) < 1e-9, record


@needs_mpi
def test_rank_0_alone_prints_and_writes_the_run_folder(data, tmp_path):
    out = tmp_path / "run"
    proc, _ = ranks2(out, "--data-dir", str(data), *CONFIG)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("training the mlp on mnist") == 1 and "on 2 ranks (2 x 16 a step)" in proc.stdout
    assert proc.stdout.count("epoch  1/2") == 1 and proc.stdout.count("test accuracy") == 1
    names = {p.name for p in out.iterdir()}
    required = {"checkpoint.npz", "model.npz", "metrics.json"}
    assert required <= names <= required | {"health.png", "curves.png"}, names  # nothing from another rank
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and len(metrics["epochs"]) == 2
    assert metrics["health"]["records"] and "0" in metrics["health"]["layers"]  # rank 0's monitor, inner names
    state = checkpoint(out)
    assert int(state["world_size"]) == 2 and int(state["global_step"]) == 2 * STEPS
    assert_global_sums(state["history"])
    assert sorted(state["model"]) == sorted(mt.load(out / "model.npz"))  # the module's keys: no "module."
    assert "0.weight" in state["model"] and "1.running_mean" in state["model"]


@needs_mpi
def test_a_stop_on_one_rank_stops_both_then_resumes_on_one(data, tmp_path):
    out = tmp_path / "run"
    proc, _ = ranks2(out, "--data-dir", str(data), *CONFIG, TRAIN_FAULTS="term@step#3", TRAIN_FAULT_RANK="0")
    assert proc.returncode == 143, proc.stderr
    assert "resume with: mpiexec -n 2 python" in proc.stderr and "--distributed" in proc.stderr
    state = checkpoint(out)
    assert state["position"]["step"] == 3 and state["position"]["samples"] == 3 * BATCH
    assert int(state["world_size"]) == 2 and int(state["global_step"]) == 3

    done = one_process(out, "--resume", str(out))
    assert done.returncode == 0, done.stderr
    assert "step 3 of epoch 1 (global step 3; saved by 2 ranks, now 1)" in done.stdout
    state = checkpoint(out)
    assert int(state["world_size"]) == 1 and int(state["global_step"]) == 2 * STEPS
    assert_global_sums(state["history"])


@needs_mpi
def test_a_one_process_run_resumes_on_two_ranks(data, tmp_path):
    out = tmp_path / "run"
    stopped = one_process(out, "--data-dir", str(data), *CONFIG, TRAIN_FAULTS="int@step#6")
    assert stopped.returncode == 130, stopped.stderr
    proc, _ = ranks2(out, "--resume", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "step 2 of epoch 2 (global step 6; saved by 1 rank, now 2)" in proc.stdout
    state = checkpoint(out)
    assert int(state["world_size"]) == 2 and int(state["global_step"]) == 2 * STEPS
    assert_global_sums(state["history"])
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2


@needs_mpi
def test_the_global_batch_must_split_evenly(data, tmp_path):
    out = tmp_path / "run"
    proc, _ = ranks2(out, "--data-dir", str(data), "--batch-size", "33", "--max-steps", "1")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("--batch-size 33 is the global batch, split evenly over the 2 ranks") == 1
    assert not out.exists()


@needs_mpi
@pytest.mark.parametrize("error, says", [("OSError", "train.py: rank 1 of 2: OSError: injected failure"),
                                         ("ValueError", "rank 1 of 2 failed with an uncaught ValueError")])
def test_a_failing_rank_ends_the_job_naming_it(data, tmp_path, error, says):
    proc, seconds = ranks2(tmp_path / "run", "--data-dir", str(data), *CONFIG, TRAIN_RAISE=f"{error}@3",
                           TRAIN_FAULT_RANK="1")
    assert proc.returncode != 0
    assert seconds < 10, f"the job took {seconds:.1f} s to end"
    assert says in proc.stderr, proc.stderr
    assert "epoch  1/2" not in proc.stdout


# -- settling an error before training, with a stand-in for the communicator (no MPI needed) -----------------
class Gathered:
    """A communicator whose allgather returns what the ranks would have sent."""

    def __init__(self, every: list) -> None:
        self.every = every

    def allgather(self, mine):
        return self.every


def settle(rank: int, every: list, error: BaseException | None):
    with Ranks(rank, len(every), Gathered(every)).together():
        if error is not None:
            raise error


def test_an_error_on_every_rank_is_reported_once_by_rank_0():
    error = UsageError("--batch-size 33 is the global batch")
    every = [(2, str(error)), (2, str(error))]
    with pytest.raises(UsageError) as raised:
        settle(0, every, error)
    assert raised.value is error
    with pytest.raises(SystemExit) as quiet:
        settle(1, every, error)
    assert quiet.value.code == 2


def test_an_error_on_one_rank_is_reported_by_rank_0_naming_it():
    every = [None, (1, "no such file: /data/mnist")]
    with pytest.raises(RunError, match=r"^rank 1: no such file: /data/mnist$"):
        settle(0, every, None)
    with pytest.raises(SystemExit) as quiet:
        settle(1, every, RunError("no such file: /data/mnist"))
    assert quiet.value.code == 1
    settle(0, [None, None], None)  # nobody failed: on with the run
