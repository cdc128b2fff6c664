"""DistributedSampler in one process (num_replicas and rank given): shard properties, and PyTorch's shards."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitorch as mt
from minitorch.distributed import DistributedSampler


def shards(n: int, replicas: int, **kw) -> list[list[int]]:
    ds = mt.data.TensorDataset(mt.arange(n))
    return [list(DistributedSampler(ds, num_replicas=replicas, rank=r, **kw)) for r in range(replicas)]


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 60), replicas=st.integers(1, 9), shuffle=st.booleans(), seed=st.integers(0, 5),
       epoch=st.integers(0, 3))
def test_shards_are_equal_length_and_cover_the_dataset(n, replicas, shuffle, seed, epoch):
    ds = mt.data.TensorDataset(mt.arange(n))
    samplers = [DistributedSampler(ds, num_replicas=replicas, rank=r, shuffle=shuffle, seed=seed)
                for r in range(replicas)]
    for s in samplers:
        s.set_epoch(epoch)
    parts = [list(s) for s in samplers]
    assert {len(p) for p in parts} == {math.ceil(n / replicas)} == {len(s) for s in samplers}
    flat = [i for p in parts for i in p]
    assert set(flat) == set(range(n))  # covering
    assert len(flat) - n < replicas    # padding repeats fewer than one index per rank
    if n % replicas == 0:
        assert sorted(flat) == list(range(n))  # disjoint when nothing needs padding


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 60), replicas=st.integers(1, 9), shuffle=st.booleans())
def test_drop_last_gives_disjoint_equal_shards(n, replicas, shuffle):
    parts = shards(n, replicas, shuffle=shuffle, drop_last=True)
    flat = [i for p in parts for i in p]
    assert len(set(flat)) == len(flat) == (n // replicas) * replicas
    assert {len(p) for p in parts} == {n // replicas}


def test_same_permutation_on_every_rank_and_a_new_one_each_epoch():
    first = shards(50, 3, shuffle=True, seed=4)
    assert shards(50, 3, shuffle=True, seed=4) == first
    ds = mt.data.TensorDataset(mt.arange(50))
    s = DistributedSampler(ds, num_replicas=3, rank=0, shuffle=True, seed=4)
    s.set_epoch(1)
    assert list(s) != first[0]
    assert shards(50, 3, shuffle=True, seed=5)[0] != first[0]


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n,replicas", [(10, 3), (7, 2), (2, 5), (12, 4), (1, 3), (9, 9), (0, 2)])
def test_matches_pytorch_without_shuffle(n, replicas, drop_last):
    torch = pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler
    data = list(range(n))
    for r in range(replicas):
        theirs = TorchSampler(data, num_replicas=replicas, rank=r, shuffle=False, drop_last=drop_last)
        ours = DistributedSampler(data, num_replicas=replicas, rank=r, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    del torch


@pytest.mark.parametrize("rank", [-1, 3])
def test_bad_rank_raises_like_pytorch(rank):
    with pytest.raises(ValueError, match=r"Invalid rank .*\[0, 2\]"):
        DistributedSampler(list(range(5)), num_replicas=3, rank=rank)


def test_without_a_group_num_replicas_and_rank_are_needed():
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(list(range(5)))


def test_dataloader_takes_it_as_sampler():
    ds = mt.data.TensorDataset(mt.arange(10) * 10)
    loader = mt.data.DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, num_replicas=3, rank=1,
                                                                              shuffle=False))
    assert len(loader) == 2
    assert [b[0].tolist() for b in loader] == [[10, 40], [70, 0]]
