"""Workshop layers: the tutorials' numbers, gradient checks in float64, and agreement with autograd."""
import math

import numpy as np
import pytest

import minitorch as mt
from minitorch import ops
from minitorch.workshop import (BatchNorm1D, Dropout, LeakyReLU, Linear, ReLU, Sigmoid, Tanh,
                                gradient_check, gradient_check_weights)

LAYERS = {
    "Linear": lambda: Linear(6, 4),
    "BatchNorm1D": lambda: BatchNorm1D(6),
    "BatchNorm1D-eval": lambda: _trained_bn(6).eval(),
    "ReLU": ReLU,
    "Sigmoid": Sigmoid,
    "Tanh": Tanh,
    "LeakyReLU": lambda: LeakyReLU(0.1),
    "Dropout": lambda: Dropout(0.3),
}


def _trained_bn(n):
    bn = BatchNorm1D(n)
    bn.forward(np.random.default_rng(5).normal(2.0, 3.0, (16, n)))  # non-trivial running stats
    bn.gamma[...] = np.linspace(0.5, 2.0, n)
    bn.beta[...] = np.linspace(-1.0, 1.0, n)
    return bn


def _x(shape=(5, 6), seed=0):
    # Values away from 0 keep finite differences off the ReLU kink.
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


# -- the tutorials' examples ------------------------------------------------------------------
def test_relu_tutorial_example():
    relu = ReLU()
    np.testing.assert_array_equal(relu.forward(np.array([[-2, -1, 0, 1, 2]])), [[0, 0, 0, 1, 2]])
    np.testing.assert_array_equal(relu.backward(np.array([[1, 1, 1, 1, 1]])), [[0, 0, 0, 1, 1]])


def test_sigmoid_and_tanh_tutorial_values():
    x = np.array([[-2, 0, 2]])
    np.testing.assert_allclose(Sigmoid().forward(x), [[0.12, 0.5, 0.88]], atol=0.005)
    np.testing.assert_allclose(Tanh().forward(x), [[-0.96, 0.0, 0.96]], atol=0.005)
    s = Sigmoid()
    y = s.forward(np.array([[-2.0, 0.0, 2.0]]))
    np.testing.assert_allclose(s.backward(np.ones((1, 3))), y * (1 - y))


def test_linear_tutorial_shapes_and_formulas():
    layer = Linear(in_features=784, out_features=128)
    x = np.random.default_rng(0).standard_normal((32, 784))
    y = layer.forward(x)
    dL_dy = np.random.default_rng(1).standard_normal((32, 128))
    dL_dx = layer.backward(dL_dy)
    assert y.shape == (32, 128) and dL_dx.shape == (32, 784)
    assert layer.dL_dW.shape == (128, 784) and layer.dL_db.shape == (128,)
    np.testing.assert_allclose(y, x @ layer.W.T + layer.b)
    np.testing.assert_allclose(dL_dx, dL_dy @ layer.W)
    np.testing.assert_allclose(layer.dW, dL_dy.T @ x)          # no division by the batch size here
    np.testing.assert_allclose(layer.db, dL_dy.sum(axis=0))


def test_linear_init_and_aliases():
    layer = Linear(500, 300)
    assert layer.W.shape == (300, 500) and layer.W.dtype == np.float32
    np.testing.assert_array_equal(layer.b, 0.0)
    assert layer.W.std() == pytest.approx(math.sqrt(2 / 500), rel=0.05)   # Kaiming, for ReLU
    assert layer._w is layer.W and layer._b is layer.b
    layer.forward(np.ones((2, 500), np.float32))
    layer.backward(np.ones((2, 300), np.float32))
    assert layer.dL_dW is layer.dW and layer.dL_db is layer.db
    before = layer.W.copy()
    layer._w -= 0.1 * layer.dL_dW        # the from-scratch tutorial's manual update
    np.testing.assert_allclose(layer.W, before - 0.1 * layer.dW)


# -- gradient checks --------------------------------------------------------------------------
@pytest.mark.parametrize("name", LAYERS)
def test_input_gradient_check(name, capsys):
    assert gradient_check(LAYERS[name](), _x())
    assert "Max Relative Error: " in capsys.readouterr().out


@pytest.mark.parametrize("name", ["Linear", "BatchNorm1D", "BatchNorm1D-eval"])
def test_weight_gradient_check(name):
    assert gradient_check_weights(LAYERS[name](), _x())


def test_gradient_check_works_on_float32_layers_and_tensors():
    layer = Linear(6, 4)
    assert gradient_check(layer, mt.tensor(_x().astype(np.float32)))
    assert layer.W.dtype == np.float64   # the check ran in float64
    assert gradient_check_weights(layer, _x())


def test_gradient_check_catches_a_double_division():
    class BuggyLinear(Linear):
        """Seed 000's bug: the loss already divided by the batch size, and dW divides again."""

        def backward(self, dL_dy):
            dx = super().backward(dL_dy)
            self.dW = self.dW / dL_dy.shape[0]
            return dx

    assert gradient_check(BuggyLinear(6, 4), _x())          # dx is still right
    assert not gradient_check_weights(BuggyLinear(6, 4), _x())


def test_float64_input_gives_float64_layer_and_float32_stays_float32():
    layer = Linear(6, 4)
    assert layer.forward(_x().astype(np.float32)).dtype == np.float32
    assert layer.forward(_x()).dtype == np.float64 and layer.W.dtype == np.float64
    bn = BatchNorm1D(6)
    assert bn.forward(_x()).dtype == np.float64 and bn.running_var.dtype == np.float64


# -- agreement with autograd on elementary ops (an independent derivation) ---------------------
def _leaf(a, device):
    return mt.tensor(np.asarray(a), device=device, requires_grad=True)


def _autograd(device, layer_fn, x, g):
    xt = _leaf(x, device)
    y = layer_fn(xt)
    (y * mt.tensor(g, device=device)).sum().backward()
    return y.detach().numpy(), xt.grad.detach().numpy()


AUTOGRAD_FORMULAS = {
    "ReLU": (ReLU, lambda x: ops.where(x.array > 0, x, 0.0)),
    "Sigmoid": (Sigmoid, lambda x: 1.0 / (1.0 + (-x).exp())),
    "Tanh": (Tanh, lambda x: ((2 * x).exp() - 1) / ((2 * x).exp() + 1)),
    "LeakyReLU": (lambda: LeakyReLU(0.1), lambda x: ops.where(x.array > 0, x, 0.1 * x)),
}


@pytest.mark.parametrize("name", AUTOGRAD_FORMULAS)
def test_activation_backward_equals_autograd(name, device):
    make_layer, formula = AUTOGRAD_FORMULAS[name]
    x, g = _x(), np.random.default_rng(3).standard_normal((5, 6))
    y_ref, dx_ref = _autograd(device, formula, x, g)
    layer = make_layer()
    y = layer.forward(mt.tensor(x, device=device))
    dx = layer.backward(mt.tensor(g, device=device))
    np.testing.assert_allclose(y.detach().numpy(), y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx.detach().numpy(), dx_ref, rtol=1e-12, atol=1e-12)


def test_linear_backward_equals_autograd(device):
    layer = Linear(6, 4)
    x, g = _x(), np.random.default_rng(3).standard_normal((5, 4))
    y = layer.forward(mt.tensor(x, device=device))
    dx = layer.backward(mt.tensor(g, device=device))
    w, b = _leaf(np.asarray(layer.W), device), _leaf(np.asarray(layer.b), device)
    y_ref, dx_ref = _autograd(device, lambda xt: xt @ w.T + b, x, g)   # matmul + add, not the Linear op
    np.testing.assert_allclose(y.detach().numpy(), y_ref, rtol=1e-12)
    np.testing.assert_allclose(dx.detach().numpy(), dx_ref, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(layer.dW), w.grad.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(layer.db), b.grad.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_backward_equals_composed_autograd(device, training, monkeypatch):
    bn = _trained_bn(6)
    bn.train(training)
    rm, rv = np.asarray(bn.running_mean).copy(), np.asarray(bn.running_var).copy()
    gamma, beta = _leaf(np.asarray(bn.gamma), device), _leaf(np.asarray(bn.beta), device)
    x, g = _x(), np.random.default_rng(3).standard_normal((5, 6))
    y = bn.forward(mt.tensor(x, device=device))
    dx = bn.backward(mt.tensor(g, device=device))
    # The framework's unfused batch_norm: mean, var, sqrt, divide... each with its own backward.
    monkeypatch.setenv("MINITORCH_FUSED", "0")
    running = (mt.tensor(rm, device=device), mt.tensor(rv, device=device))
    y_ref, dx_ref = _autograd(device, lambda xt: ops.batch_norm(xt, *running, gamma, beta, training=training), x, g)
    np.testing.assert_allclose(y.detach().numpy(), y_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx.detach().numpy(), dx_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(bn.dgamma), gamma.grad.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(bn.dbeta), beta.grad.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(bn.running_var), running[1].detach().numpy(), rtol=1e-12)


def test_dropout_backward_equals_autograd(device):
    x, g = _x((40, 50)), np.random.default_rng(3).standard_normal((40, 50))
    mt.manual_seed(7)
    layer = Dropout(0.3)
    y = layer.forward(mt.tensor(x, device=device))
    dx = layer.backward(mt.tensor(g, device=device))
    mt.manual_seed(7)   # the same random numbers, so the same mask
    y_ref, dx_ref = _autograd(device, lambda xt: ops.dropout(xt, p=0.3), x, g)
    np.testing.assert_allclose(y.detach().numpy(), y_ref)
    np.testing.assert_allclose(dx.detach().numpy(), dx_ref)


# -- BatchNorm and Dropout modes --------------------------------------------------------------
def test_batchnorm_train_normalises_and_updates_running_stats():
    x = np.random.default_rng(0).normal(3.0, 2.0, (64, 5))
    bn = BatchNorm1D(5, momentum=0.1)
    y = bn.forward(x)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1.0, rtol=1e-4)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=0, ddof=1))  # unbiased


def test_batchnorm_eval_uses_running_stats_and_leaves_them():
    bn = _trained_bn(5)
    bn.eval()
    rm, rv = bn.running_mean.copy(), bn.running_var.copy()
    x = np.random.default_rng(1).standard_normal((3, 5))
    expected = (x - rm) / np.sqrt(rv + bn.eps) * bn.gamma + bn.beta
    np.testing.assert_allclose(bn.forward(x), expected)
    np.testing.assert_array_equal(bn.running_mean, rm)
    np.testing.assert_array_equal(bn.running_var, rv)
    assert bn.forward(x[:1]).shape == (1, 5)     # one sample is fine in eval mode


def test_batchnorm_errors():
    with pytest.raises(ValueError, match="at least 2"):
        BatchNorm1D(5).forward(np.ones((1, 5)))
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        BatchNorm1D(5).forward(np.ones((4, 3)))


def test_dropout_train_and_eval():
    x = np.ones((200, 100))
    layer = Dropout(0.2)
    y = layer.forward(x)
    assert set(np.unique(y)) <= {0.0, 1.25}                    # inverted: kept values scaled by 1/(1-p)
    assert (y == 0).mean() == pytest.approx(0.2, abs=0.01)
    np.testing.assert_array_equal(layer.backward(x) == 0, y == 0)   # gradient through the same mask
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(2 * x), 2 * x)
    all_dropped = Dropout(1.0)
    np.testing.assert_array_equal(all_dropped.forward(x), 0.0)
    np.testing.assert_array_equal(all_dropped.backward(x), 0.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(1.5)


# -- kinds in, kinds out ----------------------------------------------------------------------
@pytest.mark.parametrize("name", LAYERS)
def test_tensor_in_tensor_out_array_in_array_out(name, device):
    layer = LAYERS[name]()
    x = _x().astype(np.float32)
    y = layer.forward(mt.tensor(x, device=device))
    assert isinstance(y, mt.Tensor) and y.device == device and y.dtype == mt.float32
    dx = layer.backward(mt.ones(*y.shape, device=device))
    assert isinstance(dx, mt.Tensor) and dx.device == device and dx.shape == x.shape
    y = layer.forward(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    assert isinstance(layer.backward(np.ones(y.shape, np.float32)), np.ndarray)


def test_backward_errors_name_the_layer():
    with pytest.raises(RuntimeError, match=r"ReLU.backward\(\) called before"):
        ReLU().backward(np.ones(3))
    layer = Linear(3, 2)
    layer.forward(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"Linear.backward\(\): gradient of shape \(4, 3\)"):
        layer.backward(np.ones((4, 3)))


# -- W's orientation: (out, in), as in PyTorch; the other convention is named in the error --------
def test_linear_w_in_out_is_refused_with_the_convention_named():
    layer = Linear(784, 256)
    with pytest.raises(ValueError, match=r"Linear\(784, 256\): W must have shape \(256, 784\), got \(784, 256\); "
                                         r"it is \(in, out\).*Z = X @ W \+ b.*stores W as \(out, in\), as "
                                         r"PyTorch.*transpose it"):
        layer.W = np.zeros((784, 256), np.float32)
    with pytest.raises(ValueError, match=r"W must have shape \(256, 784\), got \(10, 784\)$"):
        layer.W = np.zeros((10, 784), np.float32)
    with pytest.raises(ValueError, match=r"b must have shape \(256,\), got \(1, 256\)"):
        layer.b = np.zeros((1, 256), np.float32)
    layer.W = np.zeros((784, 256), np.float32).T         # transposed, it fits
    assert layer.W.shape == (256, 784)


def test_linear_update_refuses_a_transposed_gradient():
    layer = Linear(6, 4)
    x = _x()
    layer.forward(x)
    layer.backward(np.ones((5, 4)))
    layer.dW = x.T @ np.ones((5, 4))                     # the (in, out) tutorial's dW = X.T @ dZ
    with pytest.raises(ValueError, match=r"Linear.update: gradient dW has shape \(6, 4\) but W has shape \(4, 6\); "
                                         r"it is \(in, out\).*transpose it"):
        layer.update(0.1)


def test_linear_takes_tensors_and_lists_as_weights_and_checks_its_input(device):
    layer = Linear(3, 2)
    layer.W = mt.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    layer.b = [0, 1]                                     # ints become the default float dtype
    assert isinstance(layer.W, np.ndarray) and layer.b.dtype == np.float32
    y = layer.forward(mt.tensor([[1.0, 2.0, 3.0]], device=device))
    np.testing.assert_allclose(y.numpy(), [[1.0, 6.0]])
    assert layer.W.shape == (2, 3) and layer.backend.name == mt.tensor(0.0, device=device).backend.name
    with pytest.raises(ValueError, match=r"Linear\(3, 2\): expected input of shape \(N, 3\), got \(4, 2\)"):
        layer.forward(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"got \(3,\) \(one sample\? reshape it to \(1, -1\)\)"):
        layer.forward(np.ones(3))
