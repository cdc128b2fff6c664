"""Datasets and loaders: Dataset, TensorDataset, ConcatDataset, Subset, random_split, DataLoader, MNIST, FashionMNIST;
torchvision-style transforms in minitorch.data.transforms, its datasets under their names in minitorch.data.datasets."""

from . import datasets, transforms
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .idx import DataFileError, read_idx, write_idx
from .loader import DataLoader, default_collate
from .mnist import MNIST, FashionMNIST
from .sources import DatasetNotFoundError
from .workers import get_worker_info

__all__ = ["Dataset", "TensorDataset", "ConcatDataset", "Subset", "random_split", "DataLoader", "default_collate",
           "get_worker_info", "MNIST", "FashionMNIST", "DataFileError", "DatasetNotFoundError", "read_idx", "write_idx",
           "datasets", "transforms"]
