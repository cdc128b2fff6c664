"""train.py --model cnn: images reach the CNN as (N, 1, 28, 28), it learns, the model is part of the run."""
import numpy as np
import pytest

import minitorch as mt
from test_train_script import load_train_script, run
from test_train_script import tiny_mnist  # noqa: F401  (a fixture, used by name)


@pytest.fixture(scope="module")
def train_script():
    return load_train_script()


def test_cnn_learns_the_toy_problem_and_saves_conv_weights(train_script, tiny_mnist, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    metrics = run(train_script, tiny_mnist, out, "--model", "cnn", "--epochs", "2", "--batch-size", "32",
                  "--no-plot")
    assert metrics["test_accuracy"] > 0.9
    state = mt.load(out / "model.npz")
    assert state["0.weight"].shape == (16, 1, 5, 5)
    from minitorch.training import resume
    assert resume.read_checkpoint(out)["config"]["model"] == "cnn"


def test_the_model_cannot_change_on_resume(train_script, tiny_mnist, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "run"
    run(train_script, tiny_mnist, out, "--model", "cnn", "--epochs", "1", "--max-steps", "2", "--no-plot")
    from minitorch.training import run_cli
    code = run_cli(train_script.main, ["--resume", str(out), "--model", "mlp", "--epochs", "2", "--override"])
    assert code == 2
    assert "--model cannot change within a run" in capsys.readouterr().err


@pytest.mark.slow
def test_cnn_learns_real_mnist_in_300_steps(train_script, tmp_path):
    """The full default run (4 epochs, ~3 min on 2 cores) reaches 99.3 %; 300 steps already pass 97 %."""
    from helpers import real_mnist_root
    metrics = run(train_script, real_mnist_root(), tmp_path / "run", "--model", "cnn", "--epochs", "1",
                  "--max-steps", "300", "--no-plot")
    assert metrics["test_accuracy"] >= 0.97


def test_augment_shifts_each_training_image_and_resumes_the_same_draws(train_script, tiny_mnist, tmp_path):  # noqa: F811
    config = {"dataset": "mnist", "model": "cnn", "val_size": 100, "seed": 0, "augment": True}
    train_set, _, _ = train_script.load_data(str(tiny_mnist), config)
    from minitorch.backends import host_rng
    mt.manual_seed(3)
    image, label = train_set[0]
    state = host_rng().bit_generator.state
    again = train_set[0][0]
    host_rng().bit_generator.state = state
    assert image.shape == (1, 28, 28) and np.array_equal(train_set[0][0], again)  # the draws follow the saved state
    lit = np.flatnonzero((image[0] > 2).sum(axis=1) >= 26)  # the lit row of class `label` moved by at most 2
    assert lit.size == 1 and abs(lit[0] - (int(label) * 2 + 3)) <= 2
    assert np.isclose(train_set.shift.fill, train_set.images.min())  # padding is black, not the standardised 0
    metrics = run(train_script, tiny_mnist, tmp_path / "run", "--model", "cnn", "--augment", "--epochs", "1",
                  "--max-steps", "3", "--no-plot")
    assert metrics["epochs"][0]["epoch"] == 1
