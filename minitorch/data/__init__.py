"""Datasets and loaders: Dataset, TensorDataset, DataLoader, MNIST, FashionMNIST."""

from .dataset import Dataset, TensorDataset
from .idx import DataFileError, read_idx, write_idx
from .loader import DataLoader
from .mnist import MNIST, FashionMNIST
from .sources import DatasetNotFoundError

__all__ = ["Dataset", "TensorDataset", "DataLoader", "MNIST", "FashionMNIST",
           "DataFileError", "DatasetNotFoundError", "read_idx", "write_idx"]
