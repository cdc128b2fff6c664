"""Net and TwoLayerMLP: the tutorial's training loop as written, SGD updates, train/eval, kinds in and out."""
import numpy as np
import pytest

import minitorch as mt
from minitorch.data import DataLoader, TensorDataset
from minitorch.workshop import BatchNorm1D, CrossEntropyLoss, Dropout, Linear, Net, ReLU, TwoLayerMLP


def _blobs(n=600, features=20, classes=4, seed=0):
    """Separable synthetic classes: Gaussian blobs around well-spaced centres, float32 / int64."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (classes, features))
    labels = rng.integers(0, classes, n)
    images = centres[labels] + rng.normal(0.0, 1.0, (n, features))
    return images.astype(np.float32), labels.astype(np.int64)


def _tutorial_net(features=20, classes=4):
    net = Net()
    net.add(Linear(features, 64))
    net.add(BatchNorm1D(64))
    net.add(ReLU())
    net.add(Dropout(0.2))
    net.add(Linear(64, classes))
    return net


def test_tutorial_loop_as_written_learns_a_separable_problem():
    images, labels = _blobs()
    trainloader = DataLoader(TensorDataset(mt.tensor(images), mt.tensor(labels)), batch_size=64,
                             shuffle=True, drop_last=True)
    net = _tutorial_net()
    loss_function = CrossEntropyLoss()
    num_epochs, learning_rate, losses = 2, 0.1, []
    for epoch in range(num_epochs):
        for images_batch, labels_batch in trainloader:
            predictions = net.forward(images_batch)
            loss = loss_function.forward(predictions, labels_batch)
            gradient = loss_function.backward()
            net.backward(gradient)
            net.update(learning_rate)
            losses.append(loss)
    assert len(losses) == 18 and losses[-1] < 0.5 * losses[0]
    assert net.evaluate(mt.tensor(images), mt.tensor(labels)) > 0.95
    assert net.training   # evaluate() restored the mode


def test_update_is_plain_sgd_on_every_parameter():
    images, labels = _blobs(n=32)
    net = _tutorial_net()
    loss_function = CrossEntropyLoss()
    loss_function.forward(net.forward(images), labels)
    net.backward(loss_function.backward())
    before = [p.copy() for p in net.parameters()]
    grads = [g for layer in net.layers for g in layer.gradients()]
    net.update(0.05)
    assert len(before) == 6   # W, b; gamma, beta; W, b
    for old, new, g in zip(before, net.parameters(), grads):
        np.testing.assert_allclose(new, old - 0.05 * g, rtol=1e-6)


def test_train_and_eval_reach_every_layer():
    net = _tutorial_net()
    x = _blobs(n=16)[0]
    net.eval()
    assert not any(layer.training for layer in net.layers)
    np.testing.assert_array_equal(net.forward(x), net.forward(x))     # deterministic: no dropout
    net.train()
    assert all(layer.training for layer in net.layers)
    assert not np.array_equal(net.forward(x), net.forward(x))         # dropout masks differ
    net.eval()
    net.add(Dropout(0.5))
    assert not net.layers[-1].training                                # joins in the net's mode


def test_backward_returns_input_gradient_and_kinds_follow_the_input(device):
    images, labels = _blobs(n=16)
    net = _tutorial_net()
    loss_function = CrossEntropyLoss()
    out = net.forward(mt.tensor(images, device=device))
    assert isinstance(out, mt.Tensor) and out.device == device and out.shape == (16, 4)
    loss_function.forward(out, mt.tensor(labels, device=device))
    dx = net.backward(loss_function.backward())
    assert isinstance(dx, mt.Tensor) and dx.device == device and dx.shape == images.shape
    predicted = net.predict(mt.tensor(images, device=device))
    assert isinstance(predicted, mt.Tensor) and predicted.shape == (16,) and predicted.device == device
    out = net.forward(images)
    assert isinstance(out, np.ndarray)
    loss_function.forward(out, labels)
    assert isinstance(net.backward(loss_function.backward()), np.ndarray)


def test_two_layer_mlp_learns_synthetic_data():
    images, labels = _blobs(n=800, features=30, classes=5, seed=1)
    model = TwoLayerMLP(input_size=30, hidden_size=32, output_size=5)
    assert [type(layer).__name__ for layer in model.layers] == ["Linear", "ReLU", "Linear"]
    first = model.train_step(images[:64], labels[:64], lr=0.05)
    for epoch in range(3):
        for start in range(0, 800, 64):
            loss = model.train_step(images[start:start + 64], labels[start:start + 64], lr=0.05)
    assert isinstance(loss, float) and loss < 0.3 * first
    predictions = model.predict(images[:10])
    assert predictions.shape == (10,) and predictions.dtype.kind == "i"
    accuracy = model.evaluate(images, labels)
    assert 0.95 < accuracy <= 1.0
    assert model.evaluate(mt.tensor(images), mt.tensor(labels)) == accuracy


def test_two_layer_mlp_defaults_and_tutorial_style_float64_batches():
    model = TwoLayerMLP()
    assert model.layer1.W.shape == (128, 784) and model.layer2.W.shape == (10, 128)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 784)), rng.integers(0, 10, 64)   # as in the tutorial: float64
    loss = model.train_step(x, y, lr=0.01)
    assert np.isfinite(loss) and loss > 0 and model.layer1.W.dtype == np.float64


def test_evaluate_rejects_mismatched_label_shape():
    images, labels = _blobs(n=16)
    with pytest.raises(ValueError, match="labels of shape"):
        _tutorial_net().evaluate(images, labels[:, None])


class _TutorialLeakyReLU:
    """A duck-typed layer as the from-scratch tutorial writes one: forward and backward, nothing else."""

    def forward(self, x):
        self._x = x
        return np.where(x > 0, x, 0.01 * x)

    def backward(self, dL_dy):
        return np.where(self._x > 0, dL_dy, 0.01 * dL_dy)


def test_net_takes_any_object_with_forward_and_backward():
    images, labels = _blobs()
    net = Net(Linear(20, 32), _TutorialLeakyReLU(), Linear(32, 4))
    net.eval()
    net.train()                                       # the duck layer has no train(): skipped
    assert len(net.parameters()) == 4                 # nor parameters()
    loss_function, losses = CrossEntropyLoss(), []
    for step in range(30):
        losses.append(loss_function.forward(net.forward(images), labels))
        net.backward(loss_function.backward())
        net.update(0.1)                               # nor update()
    assert losses[-1] < 0.3 * losses[0]
    assert net.evaluate(images, labels) > 0.95


def test_net_add_says_what_a_layer_needs():
    net = Net()
    with pytest.raises(TypeError, match=r"Half has no backward\(\)\. A workshop layer needs forward\(x\) -> y and "
                                        r"backward\(dL_dy\) -> dL_dx"):
        net.add(type("Half", (), {"forward": lambda self, x: x})())
    with pytest.raises(TypeError, match=r"no forward\(\) and no backward\(\).*looks like an optimizer"):
        net.add(type("SGDMomentum", (), {"update": lambda self, params, grads, layer_id: None})())
    with pytest.raises(TypeError, match=r"ReLU is a minitorch.nn module.*minitorch.workshop's layers"):
        net.add(mt.nn.ReLU())
    with pytest.raises(TypeError, match=r"got the class ReLU, not a layer; create one: net.add\(ReLU\(...\)\)"):
        net.add(ReLU)
    assert net.layers == []
