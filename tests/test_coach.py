"""The coach: each warning fires on its mistake (once, pointing at the user's line), stays silent on the
correct code and on `python train.py`, and MINITORCH_COACH=0 silences them all."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import minitorch as mt
import minitorch.nn.functional as F
from minitorch import coach, nn, optim
from minitorch.coach import CoachWarning
from test_train_script import load_train_script, run
from test_train_script import tiny_mnist  # noqa: F401  (a fixture, used by name)


@pytest.fixture(autouse=True)
def fresh_coach(monkeypatch):
    """Each test starts with nothing fired and every schedule at its start."""
    monkeypatch.delenv("MINITORCH_COACH", raising=False)
    coach.reset()
    yield
    coach.reset()


def coached(fn) -> list[str]:
    """The CoachWarning messages `fn()` raised (other warnings are ignored)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if issubclass(w.category, CoachWarning)]


def logits_and_labels(scale=1.0, n=16, classes=10):
    rng = np.random.default_rng(0)
    x = mt.tensor((scale * rng.standard_normal((n, classes))).astype(np.float32), requires_grad=True)
    return x, mt.tensor(rng.integers(0, classes, n))


def test_the_category_and_where_it_points():
    assert issubclass(CoachWarning, UserWarning)
    x, y = logits_and_labels()
    with pytest.warns(CoachWarning, match="expects raw logits") as record:
        nn.CrossEntropyLoss()(F.softmax(x, dim=1), y)
    assert record[0].filename == __file__  # the user's line, not minitorch's


# -- a: probabilities into cross_entropy -------------------------------------------------------------
def test_probabilities_and_log_probabilities_warn_once():
    x, y = logits_and_labels()
    got = coached(lambda: F.cross_entropy(F.softmax(x, dim=1), y))
    assert len(got) == 1 and "got probabilities" in got[0] and "softmax was applied" in got[0]
    assert coached(lambda: F.cross_entropy(F.softmax(x, dim=1), y)) == []  # once per process
    coach.reset()
    got = coached(lambda: F.cross_entropy(F.log_softmax(x, dim=1), y))
    assert len(got) == 1 and "log-probabilities" in got[0] and "nll_loss" in got[0]


def test_logits_are_silent_and_only_the_first_calls_are_checked():
    x, y = logits_and_labels()
    assert coached(lambda: [F.cross_entropy(x, y) for _ in range(coach.CROSS_ENTROPY_CHECKS)]) == []
    assert not coach.watch_loss  # the schedule is over: later calls cost one flag test
    assert coached(lambda: F.cross_entropy(F.softmax(x, dim=1), y)) == []


def test_probabilities_over_a_class_axis_of_images():
    x = mt.tensor(np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32))
    y = mt.tensor(np.zeros((2, 4, 4), dtype=np.int64))
    assert len(coached(lambda: F.cross_entropy(F.softmax(x, dim=1), y))) == 1


# -- b: gradients never zeroed ----------------------------------------------------------------------
def steps(n, zero=None, backwards=1):
    mt.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = optim.SGD(model.parameters(), lr=0.01)
    x = mt.randn(8, 4)

    def go():
        for _ in range(n):
            if zero is not None:
                zero(model, opt)
            for _ in range(backwards):
                (model(x) ** 2).mean().backward()
            opt.step()
    return coached(go)


def test_ten_steps_without_zero_grad_warn():
    assert steps(coach.STALE_STEPS) == []  # the first step's gradient is fresh: 9 stale steps so far
    coach.reset()
    got = steps(coach.STALE_STEPS + 1)
    assert len(got) == 1 and "zero_grad()" in got[0] and f"{coach.STALE_STEPS} times" in got[0]


def set_grads_to_none(model, opt):
    for p in model.parameters():
        p.grad = None


@pytest.mark.parametrize("zero", [lambda m, o: o.zero_grad(), lambda m, o: o.zero_grad(set_to_none=False),
                                  lambda m, o: m.zero_grad(), lambda m, o: m.zero_grad(set_to_none=False),
                                  set_grads_to_none],
                         ids=["optimizer", "optimizer-in-place", "model", "model-in-place", "grad=None"])
def test_any_way_of_zeroing_is_silent(zero):
    assert steps(30, zero) == []
    assert steps(30, zero, backwards=2) == []  # accumulating micro-batches, zeroed per step


# -- c: evaluation in train mode --------------------------------------------------------------------
@pytest.mark.parametrize("layer", [nn.Dropout(0.5), nn.BatchNorm1d(4)], ids=["Dropout", "BatchNorm1d"])
def test_train_mode_under_no_grad_warns(layer):
    model = nn.Sequential(nn.Linear(4, 4), layer)
    x = mt.randn(8, 4)
    assert coached(lambda: model(x)) == []  # training, with grad
    with mt.no_grad():
        model.eval()
        assert coached(lambda: model(x)) == []  # the right evaluation
        model.train()
        got = coached(lambda: model(x))
    assert len(got) == 1 and type(layer).__name__ in got[0] and "model.eval()" in got[0]


def test_dropout_zero_under_no_grad_is_silent():
    with mt.no_grad():
        assert coached(lambda: nn.Dropout(0.0)(mt.randn(3, 3))) == []


# -- d: a first loss far from ln(C) -----------------------------------------------------------------
def test_a_first_loss_far_from_ln_c_warns():
    x, y = logits_and_labels(scale=30.0)
    got = coached(lambda: F.cross_entropy(x, y))
    assert len(got) == 1 and "far from ln(10) = 2.3" in got[0] and "last layer" in got[0]


def test_only_the_first_training_loss_is_compared():
    small, y = logits_and_labels(scale=0.1)
    large, _ = logits_and_labels(scale=30.0)
    with mt.no_grad():
        assert coached(lambda: F.cross_entropy(large, y)) == []  # evaluation does not count
    assert coached(lambda: F.cross_entropy(large, y, reduction="sum")) == []  # nor other reductions
    assert coached(lambda: F.cross_entropy(small, y)) == []  # the first training loss: about ln(10)
    assert coached(lambda: F.cross_entropy(large, y)) == []


def test_a_first_loss_far_below_ln_c_is_a_trained_model_and_silent():
    x, y = logits_and_labels(scale=30.0)
    right = mt.tensor(np.eye(10, dtype=np.float32)[y.numpy()] * 30.0, requires_grad=True)  # confident and right
    assert coached(lambda: F.cross_entropy(right, y)) == []  # a resumed run's first loss (~0) is no mistake


# -- e: dead ReLUs ----------------------------------------------------------------------------------
def relu_calls(n, dead_units, units=20, training=True):
    relu = nn.ReLU().train(training)
    x = np.abs(np.random.default_rng(0).standard_normal((8, units))).astype(np.float32) + 0.1
    x[:, :dead_units] = -1.0
    x = mt.tensor(x)
    return coached(lambda: [relu(x) for _ in range(n)])


def test_a_mostly_dead_relu_warns_at_its_hundredth_call():
    assert relu_calls(99, dead_units=19) == []
    got = relu_calls(100, dead_units=19)
    assert len(got) == 1 and "95% of the units" in got[0] and "learning rate" in got[0]


def test_dead_relus_below_the_threshold_or_in_eval_are_silent():
    assert relu_calls(100, dead_units=18) == []  # 90 %: not more than 90 %
    assert relu_calls(1000, dead_units=20, training=False) == []


# -- all off ------------------------------------------------------------------------------------------
def test_minitorch_coach_0_silences_everything(monkeypatch):
    monkeypatch.setenv("MINITORCH_COACH", "0")
    coach.reset()
    x, y = logits_and_labels(scale=30.0)
    assert coached(lambda: F.cross_entropy(F.softmax(x, dim=1), y)) == []
    assert coached(lambda: F.cross_entropy(x, y)) == []
    assert steps(30) == []
    with mt.no_grad():
        assert coached(lambda: nn.Dropout(0.5)(x)) == []
    assert relu_calls(100, dead_units=20) == []


# -- train.py stays silent ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def train_script():
    return load_train_script()


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.filterwarnings("error::minitorch.coach.CoachWarning")
def test_train_py_is_silent(train_script, tiny_mnist, tmp_path, monkeypatch, model):  # noqa: F811
    # Every check must run (a spy counts them), so silence means "checked and fine", not "never looked".
    ran = {}
    for name in ("_check_probabilities", "_check_first_loss", "optimizer_step", "forward_in_train_mode",
                 "dead_fraction"):
        real = getattr(coach, name)

        def spy(*args, _real=real, _name=name):
            ran[_name] = ran.get(_name, 0) + 1
            return _real(*args)
        monkeypatch.setattr(coach, name, spy)
    monkeypatch.setattr(coach, "RELU_CALLS", frozenset({5, 20}))  # the real schedule starts at call 100
    run(train_script, tiny_mnist, tmp_path / "run", "--model", model, "--epochs", "2", "--max-steps", "12",
        "--batch-size", "32", "--no-plot", "--health-every", "5")
    relus = 3 if model == "cnn" else 1
    assert ran.pop("dead_fraction") == 2 * relus  # calls 5 and 20 of each ReLU
    assert ran == {"_check_probabilities": 3, "_check_first_loss": 1, "optimizer_step": 24,
                   "forward_in_train_mode": 24 * (2 if model == "mlp" else 5)}  # Dropout and BatchNorm modules
