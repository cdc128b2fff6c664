"""Rank script: collectives on the mpi backend and on nccl (the MPI stand-in, or real NCCL with "gpu").

usage: mpiexec -n N python ranks_collectives.py OUT [standin|gpu]
Every rank computes every rank's input (seeded by rank), so each checks its results against NumPy alone.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from mpi_launch import Checks

import minitorch as mt
import minitorch.distributed as dist
from minitorch import backends
from minitorch.distributed import nccl

DTYPES = ["float32", "float64", "int64"]


def data(rank: int, dtype: str, shape=(3, 5)) -> np.ndarray:
    rng = np.random.default_rng(100 + rank)
    return (rng.standard_normal(shape) * 10).astype(dtype)


def expect_error(fn, *needles: str) -> None:
    try:
        fn()
    except RuntimeError as exc:
        missing = [s for s in needles if s not in str(exc)]
        assert not missing, f"error {exc!r} does not mention {missing}"
        return
    raise AssertionError("no error raised")


def run(checks: Checks, tag: str, devices: list[str]) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    everyone = {dt: [data(r, dt) for r in range(world)] for dt in DTYPES}
    for device in devices:
        for dt in DTYPES:
            ops = {"sum": np.sum, "max": np.max, "min": np.min, "product": np.prod}
            if dt != "int64":
                ops["mean"] = np.mean
            for op, fn in ops.items():
                with checks(f"{tag}:all_reduce:{op}:{dt}:{device}"):
                    t = mt.tensor(data(rank, dt), device=device)
                    array_before = t.array
                    dist.all_reduce(t, op)
                    want = fn(np.stack(everyone[dt]), axis=0).astype(dt)
                    got = t.numpy()
                    assert got.dtype == np.dtype(dt), got.dtype
                    np.testing.assert_allclose(got, want, rtol=1e-6 if dt == "float32" else 1e-12)
                    assert device != "cpu" or t.array is array_before  # in place, as torch.distributed
            with checks(f"{tag}:broadcast:{dt}:{device}"):
                t = mt.tensor(data(rank, dt), device=device)
                dist.broadcast(t, src=world - 1)
                np.testing.assert_array_equal(t.numpy(), everyone[dt][world - 1])
            with checks(f"{tag}:all_gather:{dt}:{device}"):
                out = [mt.zeros(3, 5, dtype=dt, device=device) for _ in range(world)]
                dist.all_gather(out, mt.tensor(data(rank, dt), device=device))
                for r in range(world):
                    np.testing.assert_array_equal(out[r].numpy(), everyone[dt][r])
    with checks(f"{tag}:mean_of_int_raises"):
        expect_error(lambda: dist.all_reduce(mt.tensor([1, 2]), dist.ReduceOp.AVG), "AVG", "int64")
    with checks(f"{tag}:in_place_on_a_view"):
        base = mt.tensor(data(rank, "float64", (4, 3)))
        view = base.T
        version = base._vc[0]
        dist.all_reduce(view)
        want = np.sum(np.stack([data(r, "float64", (4, 3)) for r in range(world)]), 0)
        np.testing.assert_allclose(base.numpy(), want)
        assert base._vc[0] > version  # saved copies of it are now stale, as after any in-place op
    with checks(f"{tag}:broadcast_object"):
        got = dist.broadcast_object({"rank": rank, "list": [rank] * 3}, src=world - 1)
        assert got == {"rank": world - 1, "list": [world - 1] * 3}, got
    with checks(f"{tag}:mismatched_shapes_raise"):
        expect_error(lambda: dist.all_reduce(mt.zeros(2 + rank)), "rank 0", "rank 1", "(2,)", "(3,)")
    with checks(f"{tag}:mismatched_dtypes_raise"):
        expect_error(lambda: dist.broadcast(mt.zeros(2, dtype="float32" if rank else "float64")), "float32",
                     "float64")
    with checks(f"{tag}:mismatched_ops_raise"):
        expect_error(lambda: dist.all_reduce(mt.zeros(2), "max" if rank else "min"), "MAX", "MIN")
    with checks(f"{tag}:mismatched_calls_raise"):
        expect_error(lambda: dist.all_reduce(mt.zeros(2)) if rank else dist.broadcast(mt.zeros(2)),
                     "all_reduce", "broadcast")
    with checks(f"{tag}:bad_list_on_one_rank_raises_everywhere"):
        expect_error(lambda: dist.all_gather([mt.zeros(2) for _ in range(world + (rank == 1))], mt.zeros(2)),
                     "rank 1", "tensor_list has")
    with checks(f"{tag}:still_in_step_after_errors"):
        t = mt.tensor([float(rank)])
        dist.all_reduce(t)
        assert t.item() == sum(range(world))
    with checks(f"{tag}:queries"):
        assert dist.is_initialized() and 0 <= dist.get_local_rank() < world
        assert dist.get_backend() == ("mpi" if tag == "mpi" else "nccl")
        dist.barrier()
    with checks(f"{tag}:blas_threads_share_the_cores"):
        threads = dist.group.group().blas_threads
        if threads is not None:  # None: OMP_NUM_THREADS (or the like) was set, or threadpoolctl is missing
            from threadpoolctl import threadpool_info
            assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} <= {threads}
            total = mt.tensor([threads])
            dist.all_reduce(total)  # all ranks of this test run on one node
            assert total.item() <= max(os.cpu_count(), world), (total.item(), os.cpu_count())
    with checks(f"{tag}:ddp_steps"):
        ddp_steps(rank, world)


def ddp_steps(rank: int, world: int) -> None:
    """Three DDP steps: parameters equal on all ranks; the last loss is recorded to compare backends."""
    mt.manual_seed(rank)  # different on purpose: DDP must make them equal
    model = dist.DistributedDataParallel(mt.nn.Sequential(mt.nn.Linear(5, 4), mt.nn.Tanh(), mt.nn.Linear(4, 2)))
    opt = mt.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = mt.tensor(data(rank, "float32", (6, 5)))
    for _ in range(3):
        opt.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        opt.step()
    for p in model.parameters():
        gathered = [mt.zeros_like(p.detach()) for _ in range(world)]
        dist.all_gather(gathered, p.detach())
        assert all(np.array_equal(g.numpy(), gathered[0].numpy()) for g in gathered), "parameters differ"
    LOSSES.append(float(loss))


LOSSES: list[float] = []


def main() -> None:
    out, mode = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "standin"
    if mode == "gpu":
        dist.init_process_group("nccl")
        checks = Checks(out, dist.get_rank())
        run(checks, "nccl", [backends.default_device()])
    else:
        dist.init_process_group("mpi")
        checks = Checks(out, dist.get_rank())
        devices = ["cpu"] + (["strict"] if backends.is_available("array_api_strict") else [])
        run(checks, "mpi", devices)
        dist.destroy_process_group()
        with checks("destroyed"):
            assert not dist.is_initialized()
        nccl.use_mpi_stand_in()
        dist.init_process_group("nccl")
        run(checks, "standin", ["cpu"])
        with checks("standin:same_training_as_mpi"):
            assert LOSSES[0] == LOSSES[1], LOSSES
    checks.save()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
