"""Rank script: DistributedDataParallel, SyncBatchNorm and DistributedSampler on 2 ranks.

usage: mpiexec -n 2 python ranks_ddp.py OUT
The single-process references run inside every rank on the whole global batch (plain BatchNorm, no group).
"""
from __future__ import annotations

import sys

import numpy as np
from mpi_launch import Checks

import minitorch as mt
import minitorch.distributed as dist
from minitorch import nn

STEPS = 6


def gathered(t: mt.Tensor) -> list[np.ndarray]:
    out = [mt.zeros_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(out, t.detach())
    return [o.numpy() for o in out]


def identical_everywhere(module: nn.Module) -> None:
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        copies = gathered(t.detach())
        assert all(np.array_equal(c, copies[0]) for c in copies), f"{name} differs across ranks"


# No bias before a BatchNorm: its true gradient is 0, so Adam would turn rounding noise into full steps.
def mlp(bn: type = nn.BatchNorm1d) -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16, bias=False), bn(16), nn.ReLU(), nn.Linear(16, 3))


def cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 5 * 5, 3))


def batches(shape: tuple[int, ...], n: int = 16) -> list[tuple[mt.Tensor, mt.Tensor]]:
    rng = np.random.default_rng(7)
    return [(mt.tensor(rng.standard_normal((n, *shape)).astype("float32") * 2 + 1),
             mt.tensor(rng.integers(0, 3, n))) for _ in range(STEPS)]


def train(model: nn.Module, opt_name: str, data, part: slice) -> list[float]:
    """The loss of every step on model's share `part` of each global batch."""
    opt = {"sgd": lambda p: mt.optim.SGD(p, lr=0.1, momentum=0.9),
           "adam": lambda p: mt.optim.Adam(p, lr=0.01)}[opt_name](model.parameters())
    losses = []
    for x, y in data:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x[part]), y[part])
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


def matches_single_process(make, shape, opt_name: str) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    data = batches(shape)
    mt.manual_seed(1 + rank)  # each rank starts elsewhere: DDP must broadcast rank 0's (seed 1) weights
    model = make()
    mt.manual_seed(1)
    start = make()
    model = dist.DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(model))
    identical_everywhere(model)
    for a, b in zip(model.module.parameters(), start.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy()), "not rank 0's initial weights"
    ref_losses = train(start, opt_name, data, slice(None))  # one process, the whole batch, plain BatchNorm
    n = data[0][0].shape[0] // world
    losses = train(model, opt_name, data, slice(rank * n, (rank + 1) * n))
    mean_losses = mt.tensor(losses, dtype="float64")
    dist.all_reduce(mean_losses, "mean")  # equal shares: the mean of the ranks' losses is the global loss
    identical_everywhere(model)
    np.testing.assert_allclose(mean_losses.numpy(), ref_losses, atol=1e-4, rtol=0)
    for (name, a), b in zip(model.module.state_dict().items(), start.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4, rtol=0, err_msg=name)


def no_sync_accumulates() -> None:
    rank = dist.get_rank()
    mt.manual_seed(0)
    model = dist.DistributedDataParallel(nn.Linear(4, 2))
    xs = [mt.tensor(np.random.default_rng(10 * rank + i).standard_normal((3, 4)).astype("float32"))
          for i in range(2)]
    with model.no_sync():
        model(xs[0]).sum().backward()
    local = model.module.weight.grad.numpy().copy()
    assert not np.array_equal(*gathered(model.module.weight.grad)), "no_sync still averaged"
    model(xs[1]).sum().backward()
    plain = nn.Linear(4, 2)
    plain.load_state_dict(model.state_dict())
    for x in xs:
        plain(x).sum().backward()
    want = mt.tensor(plain.weight.grad.numpy())
    dist.all_reduce(want, "mean")
    np.testing.assert_allclose(model.module.weight.grad.numpy(), want.numpy(), rtol=1e-6)
    assert not np.array_equal(local, model.module.weight.grad.numpy())


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.never = nn.Linear(3, 1), nn.Linear(3, 1), nn.Linear(3, 1)

    def forward(self, x: mt.Tensor, use_b: bool) -> mt.Tensor:
        return self.a(x) + self.b(x) if use_b else self.a(x)


def unused_parameters() -> None:
    rank = dist.get_rank()
    mt.manual_seed(0)
    model = dist.DistributedDataParallel(TwoHeads())
    model(mt.ones(2, 3), use_b=rank == 0).sum().backward()
    b_grad = model.module.b.weight.grad
    assert b_grad is not None, "a parameter used on another rank must get the averaged gradient"
    np.testing.assert_allclose(b_grad.numpy(), [[1.0, 1.0, 1.0]])  # (2 on rank 0 + 0 on rank 1) / 2
    np.testing.assert_allclose(model.module.a.weight.grad.numpy(), [[2.0, 2.0, 2.0]])
    assert model.module.never.weight.grad is None, "a parameter no rank used keeps grad None"


def partial_backward_raises() -> None:
    mt.manual_seed(0)
    model = dist.DistributedDataParallel(TwoHeads())
    model.module.b(mt.ones(1, 3))  # outside DDP: no effect on its bookkeeping
    out = model(mt.ones(2, 3), use_b=True)
    model.module.a.weight.sum().backward()  # reaches a.weight only, not a.bias nor b
    try:
        model(mt.ones(2, 3), use_b=True)
    except RuntimeError as exc:
        assert "only" in str(exc) and "parameters" in str(exc), exc
    else:
        raise AssertionError("no error for a backward that reached only some parameters")
    del out


def mismatched_models_raise() -> None:
    rank = dist.get_rank()
    try:
        dist.DistributedDataParallel(nn.Sequential(nn.Linear(4, 4 + rank)))
    except RuntimeError as exc:
        for s in ("'0.weight'", "(4, 4)", "(5, 4)", "rank 1"):
            assert s in str(exc), f"{exc} does not mention {s}"
    else:
        raise AssertionError("no error for different models")


def dropout_differs_per_rank() -> None:
    mt.manual_seed(0)
    model = dist.DistributedDataParallel(nn.Sequential(nn.Linear(4, 64), nn.Dropout(0.5)))
    masks = gathered(model(mt.ones(2, 4)).detach() != 0)
    assert not np.array_equal(masks[0], masks[1]), "dropout drew the same mask on every rank"


def state_dict_is_the_modules() -> None:
    mt.manual_seed(0)
    inner = mlp()
    model = dist.DistributedDataParallel(inner)
    assert list(model.state_dict()) == list(inner.state_dict())
    assert model.module is inner and [id(p) for p in model.parameters()] == [id(p) for p in inner.parameters()]
    prefixed = {f"module.{k}": v * 0 for k, v in inner.state_dict().items()}
    model.load_state_dict(prefixed)
    assert all(float(abs(p).sum()) == 0 for p in inner.parameters())


def sampler_shards() -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    ds = mt.data.TensorDataset(mt.arange(11))
    sampler = dist.DistributedSampler(ds, shuffle=True, seed=3)
    sampler.set_epoch(2)
    loader = mt.data.DataLoader(ds, batch_size=4, sampler=sampler)
    seen = np.concatenate([b[0].numpy() for b in loader])
    assert len(seen) == len(sampler) == 6 and (sampler.num_replicas, sampler.rank) == (world, rank)
    every = gathered(mt.tensor(seen))
    assert set(np.concatenate(every).tolist()) == set(range(11))


def main() -> None:
    dist.init_process_group()
    checks = Checks(sys.argv[1], dist.get_rank())
    for opt_name in ("sgd", "adam"):
        with checks(f"mlp_syncbn_{opt_name}_matches_single_process"):
            matches_single_process(mlp, (6,), opt_name)
    with checks("cnn_syncbn_adam_matches_single_process"):
        matches_single_process(cnn, (2, 5, 5), "adam")
    for name, fn in [("no_sync_accumulates", no_sync_accumulates), ("unused_parameters", unused_parameters),
                     ("partial_backward_raises", partial_backward_raises),
                     ("mismatched_models_raise", mismatched_models_raise),
                     ("dropout_differs_per_rank", dropout_differs_per_rank),
                     ("state_dict_is_the_modules", state_dict_is_the_modules), ("sampler_shards", sampler_shards)]:
        with checks(name):
            fn()
    checks.save()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
