"""The tutorials' own code runs on minitorch (`import minitorch as torch`; `deeplearning` is minitorch.workshop).

The seeds live in the repository's sibling folder shared/seeds (skipped with a reason when absent).
Blocks run as written, each after the ones before it, with only the names the tutorial leaves to
the reader supplied (its dataset, model, data loader); the few slips corrected are named where they
are made. tests/seeds/seedcode.py lists every python block with the test that runs it or the reason
it cannot run.
"""
import math
import re

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn, optim, workshop
from minitorch.data import DataLoader, TensorDataset
from seeds.seedcode import (BLOCKS, NOT_RUNNABLE, block, fake_keras_mnist, fixed, mnist_flat, mnist_raw,
                            python_blocks, run)


def test_every_python_block_is_run_or_explained():
    for seed, entries in BLOCKS.items():
        blocks = python_blocks(seed)
        for i, code in enumerate(blocks):
            claims = [m for m, _ in entries if m in code]
            assert len(claims) == 1, f"seed {seed}, python block {i}: claimed by {claims}:\n{code}"
        for marker, use in entries:
            block(seed, marker)
            assert use.startswith(NOT_RUNNABLE) or callable(globals().get(use)), use


# -- seed 000: the workshop tutorial ----------------------------------------------------------
def test_seed000_linear_forward_numbers_and_w_orientation():
    X = mt.tensor([[1.0, 2.0, 3.0]])
    W = [[0.5, 0.2], [0.3, 0.4], [0.1, 0.6]]       # the tutorial's (in, out) weights
    self = type("Layer", (), {"W": mt.tensor(W), "b": mt.tensor([0.1, 0.2])})()
    ns = run(block("000", "Z = torch.matmul"), {"torch": mt, "X": X, "self": self})   # the reader's torch
    # The tutorial prints [1.5, 3.2], but 1*0.2 + 2*0.4 + 3*0.6 = 2.8, so Z = [1.4, 2.8] + [0.1, 0.2].
    np.testing.assert_allclose(ns["Z"].numpy(), [[1.5, 3.0]], rtol=1e-6)
    layer = workshop.Linear(3, 2)
    with pytest.raises(ValueError, match=r"W must have shape \(2, 3\), got \(3, 2\); it is \(in, out\).*"
                                         r"stores W as \(out, in\), as PyTorch.*transpose it"):
        layer.W = np.array(W)
    layer.W, layer.b = np.array(W).T, np.array([0.1, 0.2])   # minitorch's (out, in) orientation
    np.testing.assert_allclose(layer.forward(X.numpy()), [[1.5, 3.0]])


def test_seed000_linear_backward_fragment_divides_by_the_batch_twice():
    # The fragment's dZ comes from the loss's gradient, which already divides by the batch size.
    rng = np.random.default_rng(0)
    X, labels = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    layer, loss_function = workshop.Linear(5, 3), workshop.CrossEntropyLoss()
    loss_function.forward(layer.forward(X), labels)
    dZ = loss_function.backward()
    dX = layer.backward(dZ)
    seed = type("Layer", (), {})()
    ns = run(block("000", "self.dW = X.T @ dZ"), {"self": seed, "X": X, "dZ": dZ, "W": layer.W.T, "batch_size": 8})
    np.testing.assert_allclose(ns["self"].dX, dX)
    np.testing.assert_allclose(seed.dW.T * 8, layer.dW)    # the tutorial's dW is 1/N of the true gradient
    np.testing.assert_allclose(seed.db * 8, layer.db)
    assert workshop.gradient_check_weights(workshop.Linear(5, 3), X)


def test_seed000_relu_and_manual_cross_entropy():
    # PyTorch's maximum takes a Tensor, not the int 0 (TypeError): compare with a 0-d tensor instead.
    relu = fixed(block("000", "torch.maximum(input, 0)"), "torch.maximum(input, 0)",
                 "torch.maximum(input, torch.tensor(0.0))")
    ns = run(relu, {"torch": mt, "input": mt.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])})
    np.testing.assert_array_equal(ns["output"].numpy(), [0, 0, 0, 1, 2])
    # The tutorial's scores [2.0, 1.0, 0.1], with true class 0 (loss 0.41) and class 2 (loss 2.30).
    Z, labels = mt.tensor([[2.0, 1.0, 0.1], [2.0, 1.0, 0.1]]), mt.tensor([0, 2])
    ns = run(block("000", "# Manual softmax"), {"torch": mt, "Z": Z, "labels": labels})
    np.testing.assert_allclose(ns["probabilities"].numpy()[0], [0.66, 0.24, 0.10], atol=0.005)
    np.testing.assert_allclose(-ns["log_probs"].numpy(), [0.417, 2.317], atol=0.001)
    ns = run(block("000", "Y_one_hot = torch.zeros_like"), dict(ns, batch_size=2))
    ce = workshop.CrossEntropyLoss()
    assert ce.forward(Z, labels) == pytest.approx(ns["loss"].item(), rel=1e-6)
    np.testing.assert_allclose(ns["gradient"].numpy(), ce.backward().numpy(), rtol=1e-6)


def test_seed000_workshop_loop_on_mnist(capsys):
    x_train, y_train, x_test, y_test = mnist_flat(1024, 500)
    mt.manual_seed(0)
    history = []

    class RecordingCrossEntropyLoss(workshop.CrossEntropyLoss):
        def forward(self, predictions, labels):
            history.append(super().forward(predictions, labels))
            return history[-1]

    trainloader = DataLoader(TensorDataset(mt.tensor(x_train), mt.tensor(y_train)), batch_size=64, shuffle=True,
                             drop_last=True)
    # The tutorial leaves these to the reader (and never defines loss_function).
    ns = {name: getattr(workshop, name) for name in workshop.__all__}
    ns.update(num_epochs=2, trainloader=trainloader, loss_function=RecordingCrossEntropyLoss(), learning_rate=0.1)
    run(block("000", "net.add(Linear(784, 256))"), ns)
    run(block("000", "for epoch in range(num_epochs):"), ns)
    net = ns["net"]
    ns.update(X=ns["images"], W=net.layers[0].W, Z=ns["predictions"], accuracy=net.evaluate(x_test, y_test))
    capsys.readouterr()
    run(block("000", 'print(f"X shape'), ns)
    run(block("000", 'print(f"Loss:'), ns)
    out = capsys.readouterr().out
    assert re.search(r"X shape: .*64, 784", out) and re.search(r"Z shape: .*64, 10", out)
    assert "W shape: (256, 784)" in out    # (out, in) as in PyTorch; the tutorial's comment says (in, out)
    assert len(history) == 32 and isinstance(ns["loss"].item(), float)
    assert float(re.search(r"Loss: ([\d.]+)", out).group(1)) == ns["loss"].item()
    assert np.mean(history[-4:]) < 0.5 * np.mean(history[:4])
    assert ns["accuracy"] > 0.8


# -- seed 002: the from-scratch library (deeplearning = minitorch.workshop) --------------------
def test_seed002_building_blocks(capsys):
    ns = {}
    for marker in ["layer = Linear(in_features=784", "import ReLU", "import Sigmoid", "import Tanh",
                   "import MSELoss", "import CrossEntropyLoss"]:
        run(block("002", marker), ns)
    assert capsys.readouterr().out.splitlines() == ["Weight gradient: (128, 784)", "Bias gradient: (128,)"]
    assert ns["layer"].W.shape == (128, 784) and ns["y"].shape == (1, 3) and ns["dL_dx"].shape == (1, 5)
    np.testing.assert_allclose(ns["sigmoid"].forward(np.array([[-2, 0, 2]])), [[0.12, 0.5, 0.88]], atol=0.005)
    np.testing.assert_allclose(ns["y"], [[-0.96, 0, 0.96]], atol=0.005)    # tanh, the last of the three
    relu = ns["relu"]
    np.testing.assert_array_equal(relu.forward(np.array([[-2, -1, 0, 1, 2]])), [[0, 0, 0, 1, 2]])
    np.testing.assert_array_equal(relu.backward(np.array([[1, 1, 1, 1, 1]])), [[0, 0, 0, 1, 1]])
    logits = ns["logits"] - ns["logits"].max(axis=1, keepdims=True)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert ns["loss"] == pytest.approx(-np.mean(np.log(p[[0, 1], ns["targets"]])))   # cross-entropy
    np.testing.assert_allclose(ns["grad"], (p - np.eye(3)[ns["targets"]]) / 2)        # (softmax - one_hot) / N
    assert ns["loss"].item() == ns["loss"]
    assert ns["mse"].forward(np.array([[2.5, 3.0]]), np.array([[2.0, 3.5]])) == pytest.approx(0.25)


def test_seed002_hand_written_network_and_two_layer_mlp(capsys):
    np.random.seed(0)
    ns = run(block("002", "def update(lr):"), {})
    run(block("002", "learning_rate = 0.01\nnum_epochs = 10"), ns)
    losses = [float(v) for v in re.findall(r"Epoch \d+: Loss = ([\d.]+)", capsys.readouterr().out)]
    assert len(losses) == 10 and all(map(math.isfinite, losses)) and losses[-1] < losses[0]
    # The tutorial never defines x_test / y_test (its MNIST section has X_test, later): stand-ins.
    ns.update(x_test=np.random.randn(64, 784), y_test=np.random.randint(0, 10, 64))
    run(block("002", "loss = model.train_step(x_batch, y_batch, lr=0.01)"), ns)
    assert re.fullmatch(r"Accuracy: \d+\.\d\d%\n", capsys.readouterr().out)
    assert ns["predictions"].shape == (64,) and math.isfinite(ns["loss"].item())


def test_seed002_mnist_training(monkeypatch, capsys):
    # load_mnist() takes MNIST from TensorFlow's keras.datasets; here that module hands out MNIST's files.
    fake_keras_mnist(monkeypatch, mnist_raw(2000, 500))
    np.random.seed(0)
    mt.manual_seed(0)
    ns = run(block("002", "def load_mnist():"), {})
    run(block("002", "= load_mnist()"), ns)
    out = capsys.readouterr().out
    accuracy = [float(a) for a in re.findall(r"Test Acc: ([\d.]+)%", out)]
    losses = [float(a) for a in re.findall(r"Loss: ([\d.]+)", out)]
    assert len(accuracy) == len(losses) == 5 and losses[-1] < losses[0]
    assert accuracy[-1] > 75.0 and accuracy[-1] > accuracy[0], out   # lr 0.01 on 2,000 images: slow but steady


def test_seed002_gradient_checks(capsys):
    run(block("002", "from tests.test_gradients import"), {})
    out = capsys.readouterr().out
    assert out.count("✓ PASSED") == 2 and "FAILED" not in out
    errors = [float(e) for e in re.findall(r"Max Relative Error: (\S+)", out)]
    assert len(errors) == 2 and max(errors) < 1e-7     # "excellent", by the tutorial's scale


def test_seed002_extensions_plug_into_a_workshop_net():
    ns = {}
    for marker in ["class LeakyReLU:", "class HuberLoss:", "class SGDMomentum:"]:
        run(block("002", marker), ns)
    LeakyReLU, HuberLoss, SGDMomentum = ns["LeakyReLU"], ns["HuberLoss"], ns["SGDMomentum"]
    rng = np.random.default_rng(0)
    # The tutorial's classes agree with the library's, and pass its gradient check.
    x, g = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    mine, ours = LeakyReLU(), workshop.LeakyReLU(0.01)
    np.testing.assert_allclose(mine.forward(x), ours.forward(x))
    np.testing.assert_allclose(mine.backward(g), ours.backward(g))
    assert workshop.gradient_check(LeakyReLU(), x)
    target = rng.standard_normal((6, 4))
    huber, ref = HuberLoss(), workshop.HuberLoss()
    assert huber.forward(2 * x, target) == pytest.approx(ref.forward(2 * x, target))
    np.testing.assert_allclose(huber.backward(), ref.backward())
    # A regression net with the tutorial's activation and loss, trained by its optimizer.
    X = rng.standard_normal((128, 8))
    y = np.sin(X[:, :1]) + 0.5 * X[:, 1:2]
    net = workshop.Net()
    net.add(workshop.Linear(8, 32))
    net.add(LeakyReLU())
    net.add(workshop.Linear(32, 1))
    net.eval().train()                     # skips the layer that has no train()
    assert len(net.parameters()) == 4      # and the one that has no parameters()
    loss_fn, optimizer, losses = HuberLoss(), SGDMomentum(lr=0.05, momentum=0.9), []
    for step in range(60):
        losses.append(loss_fn.forward(net.forward(X), y))
        net.backward(loss_fn.backward())
        for i, layer in enumerate(net.layers):
            if isinstance(layer, workshop.Linear):
                optimizer.update({"w": layer.W, "b": layer.b}, {"dw": layer.dW, "db": layer.db}, i)
    assert losses[-1] < 0.2 * losses[0]
    net.update(0.01)                       # plain SGD still reaches the Linear layers, skips LeakyReLU


# -- seed 003: the course notes ---------------------------------------------------------------
def test_seed003_debug_print(capsys):
    run(block("003", "# The Debug Print"), {"A": mt.randn(32, 128), "B": mt.randn(128)})
    a, b = capsys.readouterr().out.splitlines()
    assert a.startswith("Tensor A: ") and "32, 128" in a and b.startswith("Tensor B: ") and "128" in b


def test_seed003_autograd_verification(capsys):
    run(block("003", "def verify_autograd():"), {"__name__": "__main__"})
    pairs = re.findall(r"Expected: (.+?) \| Actual: (.+)", capsys.readouterr().out)
    assert len(pairs) == 4
    for expected, actual in pairs:
        np.testing.assert_allclose(eval(actual), eval(expected))
    assert [eval(a) for _, a in pairs] == [42.0, [2.0, 4.0], 7.0, [0.0, 1.0]]


def _mlp(features=20, hidden=16, classes=4):
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def test_seed003_gradient_accumulation_equals_one_big_batch():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((128, 20)).astype(np.float32), rng.integers(0, 4, 128)
    model, twin = _mlp(), _mlp()
    twin.load_state_dict(model.state_dict())
    dataloader = [(mt.tensor(x[i:i + 16]), mt.tensor(y[i:i + 16])) for i in range(0, 128, 16)]
    ns = dict(dataloader=dataloader, model=model, criterion=nn.CrossEntropyLoss(),
              optimizer=optim.SGD(model.parameters(), lr=0.1))
    run(block("003", "accumulation_steps = 4\nfor i, (data, target)"), ns)
    # Four accumulated quarter-losses of 16 samples are one mean loss over 64: the same two SGD steps.
    big = optim.SGD(twin.parameters(), lr=0.1)
    for i in range(0, 128, 64):
        big.zero_grad()
        nn.functional.cross_entropy(twin(mt.tensor(x[i:i + 64])), mt.tensor(y[i:i + 64])).backward()
        big.step()
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
        assert p.grad is None or not np.any(p.grad.numpy())   # zeroed after the last step


def test_seed003_reference_training_loop():
    x_train, y_train, x_val, y_val = mnist_flat(1024, 256)

    class MyModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))

        def forward(self, x):
            return self.net(x)

    def val_loss(model):
        with mt.no_grad():
            device = next(iter(model.parameters())).device
            logits = model(mt.tensor(x_val, device=device))
            return nn.functional.cross_entropy(logits, mt.tensor(y_val, device=device)).item()

    mt.manual_seed(1)
    before = val_loss(MyModel())
    mt.manual_seed(1)
    ns = dict(dataset=TensorDataset(mt.tensor(x_train), mt.tensor(y_train)), MyModel=MyModel,
              val_loader=DataLoader(TensorDataset(mt.tensor(x_val), mt.tensor(y_val)), batch_size=64))
    run(block("003", "# --- 1. Setup Device ---"), ns)
    model = ns["model"]
    assert not model.training                          # the loop ends in evaluation mode
    assert ns["output"].shape == (64, 10)              # the last validation batch went through
    assert val_loss(model) < before - 0.5, (before, val_loss(model))


def test_seed003_first_iteration_loss_is_ln_c():
    """Section 6.3: an untrained C-class classifier with PyTorch's default init starts at ln C."""
    x, y, _, _ = mnist_flat(512, 0)
    mt.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    loss = nn.CrossEntropyLoss()(model(mt.tensor(x)), mt.tensor(y)).item()
    assert abs(loss - math.log(10)) < 0.1, f"first-iteration loss {loss:.3f}, expected ln 10 = 2.303"


# -- seed 004: the lecture ----------------------------------------------------------------------
def test_seed004_low_level_linear_regression():
    code = block("004", "class LinearRegression:")
    # Two slips in the lecture: lowercase `true`, and loss_fn's body not indented under its def.
    code = fixed(code, "requires_grad = true)", "requires_grad = True)", count=2)
    code = fixed(code, "\n\t# Mean Squared Error", "\n\t\t# Mean Squared Error")
    code = fixed(code, "\n\treturn torch.mean(", "\n\t\treturn torch.mean(")
    mt.manual_seed(0)
    ns = run(code, {"torch": mt})     # the lecture's reader has imported torch; here it is minitorch
    model, train_step = ns["model"], ns["train_step"]
    w, b = model.w, model.b
    rng = np.random.default_rng(0)
    features = rng.standard_normal((64, 2)).astype(np.float32)
    labels = features @ np.array([[2.0, -1.0], [0.5, 3.0]], np.float32) + np.array([1.0, -2.0], np.float32)
    losses = [train_step(model, mt.tensor(features), mt.tensor(labels)).item() for _ in range(20)]
    assert all(b2 < a for a, b2 in zip(losses, losses[1:])), losses   # 0.001 is small: slow but steady
    assert model.w is w and model.b is b and w.requires_grad and w.is_leaf  # updated in place
    np.testing.assert_array_equal(w.grad.numpy(), 0.0)
