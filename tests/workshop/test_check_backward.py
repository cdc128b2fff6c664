"""check_backward: correct layers pass; each usual mistake in a student's layer is named."""
import numpy as np
import pytest

from minitorch.workshop import (BatchNorm1D, Dropout, LeakyReLU, Linear, ReLU, Sigmoid, Tanh,
                                check_backward)
from minitorch.workshop.check import AUTOGRAD, NUMERIC


def _x(shape=(4, 3), seed=1, zeros=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    x.flat[:zeros] = 0.0  # exact zeros sit on ReLU's kink
    return x


# -- students' layers, in the tutorials' style (forward(x); backward(dL_dy) -> dL_dx; gradients kept) --
class StudentLinear:
    """The `deeplearning` tutorial's Linear: y = x @ W.T + b, W of shape (out, in)."""

    def __init__(self, in_features, out_features):
        rng = np.random.default_rng(0)
        self.W = rng.standard_normal((out_features, in_features)) * np.sqrt(2.0 / in_features)
        self.b = rng.standard_normal(out_features)
        self.dW = None
        self.db = None

    def forward(self, x):
        self.x = x
        return x @ self.W.T + self.b

    def backward(self, dL_dy):
        self.dW = dL_dy.T @ self.x
        self.db = dL_dy.sum(axis=0)
        return dL_dy @ self.W


class TransposedLinear(StudentLinear):
    def backward(self, dL_dy):
        dx = super().backward(dL_dy)
        self.dW = self.x.T @ dL_dy  # (in, out): the workshop tutorial's layout
        return dx


class BatchAveragedLinear(StudentLinear):
    """The workshop tutorial's dW = X.T @ dZ / batch_size, on top of a loss that already averaged."""

    def backward(self, dL_dy):
        dx = super().backward(dL_dy)
        self.dW, self.db = self.dW / len(self.x), self.db / len(self.x)
        return dx


class UnsummedBias(StudentLinear):
    def backward(self, dL_dy):
        dx = super().backward(dL_dy)
        self.db = dL_dy  # the bias was broadcast over the batch: its gradient must be summed over it
        return dx


class SignFlipped(StudentLinear):
    def backward(self, dL_dy):
        return -super().backward(dL_dy)


class OneWrongEntry(StudentLinear):
    def backward(self, dL_dy):
        dx = super().backward(dL_dy)
        self.dW[1, 2] += 0.5
        return dx


class ForgotBias(StudentLinear):
    def backward(self, dL_dy):
        self.dW = dL_dy.T @ self.x
        return dL_dy @ self.W


class ReturnsNothing(StudentLinear):
    def backward(self, dL_dy):
        super().backward(dL_dy)


class TutorialNames:
    """The from-scratch tutorial's names: _w, _b and dL_dW, dL_db; a NumPy forward (finite differences)."""

    def __init__(self):
        rng = np.random.default_rng(3)
        self._w, self._b = rng.standard_normal((2, 3)), np.zeros(2)
        self.dL_dW = np.zeros((2, 3))  # kept from __init__: not taken for a parameter
        self.dL_db = np.zeros(2)

    def forward(self, x):
        self.x = x
        return np.tanh(x @ self._w.T + self._b)

    def backward(self, dL_dy):
        self.y = np.tanh(self.x @ self._w.T + self._b)
        dz = dL_dy * (1 - self.y ** 2)
        self.dL_dW, self.dL_db = dz.T @ self.x, dz.sum(axis=0)
        return dz @ self._w


class StudentReLU:
    def forward(self, x):
        self.x = x
        return np.maximum(0, x)

    def backward(self, dL_dy):
        return dL_dy * (self.x > 0)


class KinkReLU(StudentReLU):
    def backward(self, dL_dy):
        return dL_dy * (self.x >= 0)


class OperatorReLU(StudentReLU):
    """Operators only: the forward runs on Tensors, so autograd gives the reference."""

    def forward(self, x):
        self.x = x
        return x * (x > 0)


class HalfOnGraph:
    """np.tanh turns a Tensor into an array: autograd would see only the `+ x` path."""

    def forward(self, x):
        self.x = x
        return np.tanh(x) + x

    def backward(self, dL_dy):
        return dL_dy * (2 - np.tanh(self.x) ** 2)


# -- the diagnoses -----------------------------------------------------------------------------
def test_correct_student_linear_passes_against_autograd():
    result = check_backward(StudentLinear(3, 2), _x())
    assert result.ok and bool(result) and result.reference == AUTOGRAD
    assert set(result.errors) == {"dL_dx", "dW", "db"} and max(result.errors.values()) < 1e-12
    assert str(result).splitlines()[:2] == ["check_backward(StudentLinear): ok", "  reference: minitorch autograd"]


@pytest.mark.parametrize("layer, wrong, words", [
    (TransposedLinear(3, 2), ["dW"], "transposed: it has shape (3, 2)"),
    (BatchAveragedLinear(3, 2), ["dW", "db"], "is N = 4 times too small"),
    (UnsummedBias(3, 2), ["db"], "missing the sum over axis 0 (the batch): it has shape (4, 2)"),
    (SignFlipped(3, 2), ["dL_dx"], "has the wrong sign"),
    (OneWrongEntry(3, 2), ["dW"], "max error 0.5 at index (1, 2)"),
    (ForgotBias(3, 2), ["db"], "not set by backward"),
    (ReturnsNothing(3, 2), ["dL_dx"], "backward returned None"),
    (TransposedLinear(3, 3), ["dW"], "transposed: it equals the true gradient transposed"),
], ids=lambda v: type(v).__name__ if not isinstance(v, (list, str)) else None)
def test_each_mistake_is_named(layer, wrong, words):
    result = check_backward(layer, _x())
    assert not result.ok
    diagnoses = {v.name: v.diagnosis for v in result.verdicts if not v.ok}
    assert list(diagnoses) == wrong
    for name in wrong:
        assert diagnoses[name].startswith(words) or words in diagnoses[name], diagnoses[name]
        assert f"{name:<5}  WRONG  " in str(result)


class WorkshopTutorialLinear:
    """The workshop tutorial's layer: Z = X @ W + b with W (in, out), b (1, out), dW = X.T @ dZ / m."""

    def __init__(self, i, o):
        self.W = np.random.default_rng(0).standard_normal((i, o)) * 0.1
        self.b = np.zeros((1, o))

    def forward(self, X):
        self.X = X
        return X @ self.W + self.b

    def backward(self, dZ):
        self.dW = self.X.T @ dZ / self.X.shape[0]
        self.db = dZ
        return dZ @ self.W.T


def test_workshop_tutorial_layer():
    result = check_backward(WorkshopTutorialLinear(3, 2), _x())
    text = str(result).splitlines()
    assert text[2] == "  dL_dx  ok     max error 0"
    assert text[3].startswith("  dW     WRONG  is N = 4 times too small, the true gradient divided by the batch size")
    assert text[4].startswith("  db     WRONG  missing the sum over axis 0 (the batch): it has shape (4, 2), the true "
                              "gradient (1, 2)") and text[4].endswith(".sum(axis=0, keepdims=True)")


def test_kink_mistake_with_finite_differences_and_with_autograd():
    x = _x(zeros=3)
    kink = check_backward(KinkReLU(), x)
    assert kink.reference == NUMERIC and "does not record a minitorch graph" in kink.why_numeric
    (verdict,) = kink.verdicts
    assert not verdict.ok and verdict.diagnosis.startswith("wrong only where x == 0 (3 of 12 entries)")
    assert check_backward(StudentReLU(), x).ok  # the slope from below at 0, as PyTorch's ReLU

    class OperatorKinkReLU(OperatorReLU, KinkReLU):
        pass

    on_graph = check_backward(OperatorKinkReLU(), x)
    assert on_graph.reference == AUTOGRAD and "wrong only where x == 0" in on_graph.verdicts[0].diagnosis
    assert check_backward(OperatorReLU(), x).ok


def test_a_forward_that_leaves_the_graph_falls_back_to_finite_differences():
    result = check_backward(HalfOnGraph(), _x())
    assert result.ok and result.reference == NUMERIC and "disagreed with finite differences" in result.why_numeric


def test_tutorial_names_and_explicit_params():
    result = check_backward(TutorialNames(), _x())
    assert result.ok and list(result.errors) == ["dL_dx", "dL_dW", "dL_db"]  # dL_dW found for _w, without case
    explicit = check_backward(TutorialNames(), _x(), params={"_w": "dL_dW"})  # only what is named
    assert explicit.ok and list(explicit.errors) == ["dL_dx", "dL_dW"]


@pytest.mark.parametrize("layer", [Linear(3, 2), BatchNorm1D(3), ReLU(), Sigmoid(), Tanh(), LeakyReLU(0.1),
                                   Dropout(0.5)], ids=repr)
def test_workshop_layers_pass(layer):
    result = check_backward(layer, _x(zeros=2))
    assert result.ok, str(result)
    assert [v.name for v in result.verdicts] == ["dL_dx"] + [g for _, g in getattr(layer, "params", ())]


def test_the_layer_is_left_as_it_was():
    layer = Linear(3, 2)
    weight = layer.W.copy()
    bn = BatchNorm1D(3)
    check_backward(layer, _x())
    check_backward(bn, _x())
    assert layer.dW is None and np.array_equal(layer.W, weight) and layer.W.dtype == np.float32
    assert np.array_equal(bn.running_mean, np.zeros(3))
    student = StudentLinear(3, 2)
    check_backward(student, _x())
    assert student.dW is None and not hasattr(student, "x")
