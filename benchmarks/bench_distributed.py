"""minitorch.distributed: allreduce latency and bandwidth, and the data-parallel training step at 1 and 2 ranks.

The timing happens inside an MPI job (this file run as `mpiexec -n N python bench_distributed.py worker CASE`),
where rank 0 times each call and all ranks make the same number of calls. pytest-benchmark times the whole
launch (start-up included: not a number to compare); the measured values are in extra_info: `time_s` (min
over rounds, as the other benchmarks), `median_s`, `gb_per_s` (allreduce bus bandwidth, 2(n-1)/n bytes per
byte), `samples_per_s`, `comm_s` / `comm_share` (time rank 0 spent inside collectives per step: the transfer
and any wait for the slower rank). `report_section(rows)` renders them for benchmarks/report.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness import BUDGET_S, SETTLE_S

SIZES = {"4 B": 1, "1 MB": 2**18, "100 MB": 25 * 2**20}  # float32 elements
TRAIN_BATCHES = (256, 1024)  # global batch: each of N ranks takes batch / N
TIMEOUT = 180


def _cases() -> list:
    cases = [("allreduce", size, 2, "checked") for size in SIZES]
    cases += [("allreduce", size, 2, "unchecked") for size in ("4 B", "1 MB")]  # cost of the signature check
    for batch in TRAIN_BATCHES:
        cases += [("train", batch, 1, "one process"), ("train", batch, 2, "ddp"), ("train", batch, 2, "ddp+syncbn")]
    return [pytest.param(*c, id="-".join(str(v).replace(" ", "") for v in c)) for c in cases]


def _mpiexec() -> str | None:
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else None


@pytest.mark.parametrize("what,size,ranks,variant", _cases())
def test_distributed(benchmark, what, size, ranks, variant):
    pytest.importorskip("mpi4py", reason='pip install -e ".[mpi]"')
    if _mpiexec() is None:
        pytest.skip('no mpiexec next to this Python (pip install -e ".[mpi]")')
    case = json.dumps(dict(what=what, size=size, variant=variant))
    env = {**os.environ, "MINITORCH_BACKEND": "numpy",
           "MINITORCH_DISTRIBUTED_CHECK": "0" if variant == "unchecked" else "1"}
    result: dict = {}

    def launch() -> None:
        proc = subprocess.run([_mpiexec(), "-n", str(ranks), sys.executable, __file__, "worker", case],
                              capture_output=True, text=True, env=env, timeout=TIMEOUT)
        assert proc.returncode == 0, proc.stderr
        result.update(json.loads(proc.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(launch, rounds=1, iterations=1)
    shape = size if what == "allreduce" else f"workshop B={size}"
    benchmark.extra_info.update(kind="distributed", op=what, shape=shape, ranks=ranks, variant=variant,
                                framework="minitorch", backend="minitorch-mpi", device="cpu", **result)


# -- inside the MPI job ----------------------------------------------------------------------------------
def _measure(fn) -> list[float]:
    """fn() makes one call on every rank and returns rank 0's seconds for it. Rank 0 decides when the warm-up
    (SETTLE_S) ends and how many rounds fill the budget, so every rank makes the same calls."""
    import minitorch.distributed as dist
    start, once = time.perf_counter(), float("inf")
    while True:
        once = min(once, fn())
        if dist.broadcast_object(time.perf_counter() - start >= SETTLE_S):
            break
    rounds = dist.broadcast_object(int(min(200, max(5, BUDGET_S / max(once, 1e-7)))))
    return [fn() for _ in range(rounds)]


def _allreduce(size: str) -> dict:
    import minitorch as mt
    import minitorch.distributed as dist
    t = mt.ones(SIZES[size])

    def call() -> float:
        dist.barrier()  # start together: the time is the collective's, not the other rank's lateness
        t0 = time.perf_counter()
        dist.all_reduce(t)
        return time.perf_counter() - t0
    times = _measure(call)
    best, n = min(times), dist.get_world_size()
    return dict(time_s=best, median_s=float(np.median(times)), rounds=len(times),
                gb_per_s=2 * (n - 1) / n * SIZES[size] * 4 / best / 1e9)


def _train(batch: int, variant: str) -> dict:
    import minitorch as mt
    import minitorch.distributed as dist
    from minitorch import nn, optim
    from minitorch.distributed import collectives, ddp
    from minitorch.training import workshop_mlp
    rank, world = dist.get_rank(), dist.get_world_size()
    mt.manual_seed(0)
    model = workshop_mlp(dropout=0.2)
    if variant == "ddp+syncbn":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if variant != "one process":
        model = dist.DistributedDataParallel(model)
    comm = [0.0]

    def clocked(fn):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            comm[0] += time.perf_counter() - t0
            return out
        return run
    for module in (ddp, collectives):  # every collective a step makes goes through these names
        for name in ("all_reduce", "broadcast"):
            setattr(module, name, clocked(getattr(module, name)))
    rng = np.random.default_rng(rank)
    n = batch // world
    x = mt.tensor(rng.standard_normal((n, 784), dtype=np.float32))
    y = mt.tensor(rng.integers(0, 10, n))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    comms: list[float] = []

    def step() -> float:
        comm[0] = 0.0
        t0 = time.perf_counter()
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        comms.append(comm[0])
        return time.perf_counter() - t0
    times = _measure(step)
    comms = comms[-len(times):]
    i = int(np.argmin(times))
    return dict(time_s=times[i], median_s=float(np.median(times)), rounds=len(times), batch_size=batch,
                samples_per_s=batch / times[i], comm_s=float(np.median(comms)),
                comm_share=float(np.median(np.array(comms) / np.array(times))))


def worker(case: dict) -> None:
    import minitorch.distributed as dist
    dist.init_process_group("mpi")
    if case["what"] == "allreduce":
        result = _allreduce(case["size"])
    else:
        result = _train(case["size"], case["variant"])
    if dist.get_rank() == 0:
        print(json.dumps(result))
    dist.destroy_process_group()


def report_section(rows: list[dict]) -> str:
    """Markdown for benchmarks/report.py: allreduce latency/bandwidth and the training step per rank count."""
    rows = [r for r in rows if r.get("kind") == "distributed"]
    lines = ["### Distributed (MPI, 2 local ranks)\n", "| allreduce | variant | µs (min) | µs (median) | GB/s |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['shape']} | {r['variant']} | {r['time_s'] * 1e6:,.1f} | {r['median_s'] * 1e6:,.1f} | "
              f"{r['gb_per_s']:.2f} |" for r in rows if r["op"] == "allreduce"]
    lines += ["", "| training step | ranks | variant | ms (min) | ms (median) | samples/s | in collectives (median) |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['shape']} | {r['ranks']} | {r['variant']} | {r['time_s'] * 1e3:.2f} | {r['median_s'] * 1e3:.2f} | "
              f"{r['samples_per_s']:,.0f} | {r['comm_s'] * 1e3:.2f} ms ({r['comm_share'] * 100:.0f}% of the step) |"
              for r in rows if r["op"] == "train"]
    return "\n".join(lines)


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(json.loads(sys.argv[2]))
