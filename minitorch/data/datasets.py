"""`minitorch.data.datasets`: the datasets under torchvision.datasets' names, so that
`from torchvision import datasets, transforms` becomes `from minitorch.data import datasets, transforms`."""
from .mnist import MNIST, FashionMNIST

__all__ = ["MNIST", "FashionMNIST"]
