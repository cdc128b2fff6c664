"""Datasets and loaders: Dataset, TensorDataset, Subset, random_split, DataLoader, MNIST, FashionMNIST."""

from .dataset import Dataset, Subset, TensorDataset, random_split
from .idx import DataFileError, read_idx, write_idx
from .loader import DataLoader, default_collate
from .mnist import MNIST, FashionMNIST
from .sources import DatasetNotFoundError
from .workers import get_worker_info

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate", "get_worker_info",
           "MNIST", "FashionMNIST", "DataFileError", "DatasetNotFoundError", "read_idx", "write_idx"]
