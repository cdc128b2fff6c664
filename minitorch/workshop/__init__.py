"""The workshop tutorials' layer-level API: layers with explicit forward/backward, a Net, SGD by hand.

    net = Net()
    net.add(Linear(784, 256)); net.add(BatchNorm1D(256)); net.add(ReLU())
    net.add(Dropout(0.2)); net.add(Linear(256, 10))
    loss_function = CrossEntropyLoss()
    predictions = net.forward(images)
    loss = loss_function.forward(predictions, labels)     # a float with .item(), as in PyTorch
    net.backward(loss_function.backward())
    net.update(learning_rate)

Each layer's forward and backward are the framework's op classes (`minitorch.ops`) run on raw
arrays, so these gradients are the ones autograd computes. Inputs may be NumPy arrays or
`minitorch.Tensor`s; outputs come back as the same kind. Parameters and their gradients are
arrays on the layer's device and follow its input's device and float dtype. Linear's W is
(out_features, in_features), as in PyTorch. `Net.add` takes any object with forward/backward.
"""
from .base import Layer
from .check import BackwardCheck, check_backward
from .gradcheck import gradient_check, gradient_check_weights, relative_error
from .layers import BatchNorm1D, Dropout, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .losses import CrossEntropyLoss, HuberLoss, LossValue, MSELoss
from .net import Net, TwoLayerMLP

__all__ = ["Layer", "Net", "TwoLayerMLP", "Linear", "BatchNorm1D", "ReLU", "Sigmoid", "Tanh", "LeakyReLU",
           "Dropout", "CrossEntropyLoss", "MSELoss", "HuberLoss", "LossValue", "gradient_check",
           "gradient_check_weights", "relative_error", "check_backward", "BackwardCheck"]
