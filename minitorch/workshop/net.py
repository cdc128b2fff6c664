"""Net: layers in a list, run forward in order and backward in reverse; TwoLayerMLP built on it."""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import unwrap, wrap
from .layers import Linear, ReLU
from .losses import CrossEntropyLoss


class Net:
    """A sequence of layers: `add`, `forward`, `backward`, `update(lr)` (plain SGD), `train`/`eval`.

    A layer is any object with `forward(x) -> y` and `backward(dL_dy) -> dL_dx`, like the tutorials'
    own classes; `update(lr)`, `train(mode)` and `parameters()` are called where the layer has them.
    """

    def __init__(self, *layers: Any) -> None:
        self.layers: list[Any] = []
        self.training = True
        for layer in layers:
            self.add(layer)

    def add(self, layer: Any) -> "Net":
        """Append a layer (anything with forward and backward); it takes the net's current mode."""
        _check_layer(layer)
        _call_if_present(layer, "train", self.training)
        self.layers.append(layer)
        return self

    def forward(self, x: Any) -> Any:
        """Run x through every layer in order."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, gradient: Any) -> Any:
        """Run dL/d(output) back through the layers in reverse (the chain rule); returns dL/d(input)."""
        for layer in reversed(self.layers):
            gradient = layer.backward(gradient)
        return gradient

    def update(self, learning_rate: float) -> None:
        """One SGD step on every parameter: p -= learning_rate * dL/dp."""
        for layer in self.layers:
            _call_if_present(layer, "update", learning_rate)

    def train(self, mode: bool = True) -> "Net":
        """Training mode for every layer (BatchNorm: batch statistics; Dropout: on)."""
        self.training = mode
        for layer in self.layers:
            _call_if_present(layer, "train", mode)
        return self

    def eval(self) -> "Net":
        """Evaluation mode for every layer (BatchNorm: running statistics; Dropout: off)."""
        return self.train(False)

    def parameters(self) -> list[Any]:
        """Every layer's trainable arrays, in layer order."""
        return [p for layer in self.layers for p in (_call_if_present(layer, "parameters") or [])]

    def predict(self, x: Any) -> Any:
        """Predicted class indices, computed in evaluation mode (the mode is restored afterwards)."""
        was_training = self.training
        self.eval()
        try:
            logits, backend, as_tensor = unwrap(self.forward(x))
        finally:
            self.train(was_training)
        return wrap(backend.xp.argmax(logits, axis=1), backend, as_tensor)

    def evaluate(self, x: Any, y: Any) -> float:
        """Accuracy in [0, 1]: the fraction of samples whose predicted class equals the label."""
        predicted, backend, _ = unwrap(self.predict(x))
        labels, label_backend, _ = unwrap(y)
        if tuple(labels.shape) != tuple(predicted.shape):  # (N, 1) vs (N,) would broadcast to N*N pairs
            raise ValueError(f"evaluate: expected labels of shape {tuple(predicted.shape)}, got {tuple(labels.shape)}")
        return float(np.mean(backend.to_host(predicted) == label_backend.to_host(labels)))

    def __repr__(self) -> str:
        return "Net(\n" + "".join(f"  ({i}): {layer!r}\n" for i, layer in enumerate(self.layers)) + ")"


def _check_layer(layer: Any) -> None:
    """Refuse, with what is missing and what would do, anything Net cannot run forward and backward."""
    if isinstance(layer, type):
        raise TypeError(f"Net.add: got the class {layer.__name__}, not a layer; create one: "
                        f"net.add({layer.__name__}(...))")
    missing = [f"{m}()" for m in ("forward", "backward") if not callable(getattr(layer, m, None))]
    if not missing:
        return
    name = type(layer).__name__
    hint = ""
    if callable(getattr(layer, "named_parameters", None)):   # an nn.Module: autograd makes its gradients
        hint = (f" {name} is a minitorch.nn module, trained by autograd (loss.backward(), an optimizer); "
                f"in a workshop Net use minitorch.workshop's layers (Linear, ReLU, ...).")
    elif callable(getattr(layer, "update", None)):
        hint = (f" {name} looks like an optimizer: call it yourself after net.backward(...), "
                f"over the layers in net.layers.")
    raise TypeError(f"Net.add: {name} has no {' and no '.join(missing)}. A workshop layer needs "
                    f"forward(x) -> y and backward(dL_dy) -> dL_dx (the gradient for the layer before it); "
                    f"update(learning_rate), train(mode) and parameters() are used when present. Define them, "
                    f"or subclass minitorch.workshop.Layer.{hint}")


def _call_if_present(layer: Any, method: str, *args: Any) -> Any:
    """layer.method(*args) for the methods a duck-typed layer may leave out; None where it has none."""
    fn = getattr(layer, method, None)
    return fn(*args) if callable(fn) else None


class TwoLayerMLP(Net):
    """Linear -> ReLU -> Linear, trained with softmax cross-entropy and SGD."""

    def __init__(self, input_size: int = 784, hidden_size: int = 128, output_size: int = 10) -> None:
        self.layer1 = Linear(input_size, hidden_size)
        self.relu = ReLU()
        self.layer2 = Linear(hidden_size, output_size)
        super().__init__(self.layer1, self.relu, self.layer2)
        self.loss_fn = CrossEntropyLoss()

    def train_step(self, x: Any, y: Any, lr: float) -> float:
        """Forward, loss, backward, SGD update on one batch; returns the batch's loss."""
        self.train()
        loss = self.loss_fn.forward(self.forward(x), y)
        self.backward(self.loss_fn.backward())
        self.update(lr)
        return loss
