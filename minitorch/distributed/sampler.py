"""DistributedSampler: each rank's share of a dataset's indices, as torch.utils.data.DistributedSampler."""
from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np


class DistributedSampler:
    """Disjoint, equal-length shards covering the dataset: rank r takes every num_replicas-th index from r.

    Without drop_last the order is padded by repeating its start, so every rank has the same number of
    samples (and so of batches: no rank waits in a collective for a batch another rank does not have); with
    drop_last the tail that does not divide evenly is dropped. shuffle permutes with seed + epoch, the same
    permutation on every rank: call set_epoch(epoch) before each epoch for a new one. (PyTorch draws its
    permutation from torch's generator, so the orders differ from PyTorch's; the shards' rules do not.)
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from .group import group
            g = group()
            num_replicas = g.world_size if num_replicas is None else num_replicas
            rank = g.rank if rank is None else rank
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be at least 1, got {num_replicas}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > n:  # pad by repeating the order from its start (several times if n is small)
            order = np.resize(order, self.total_size)
        return iter(order[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of this epoch (seed + epoch) from the next iteration on."""
        self.epoch = epoch
