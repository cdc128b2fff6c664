"""Benchmark helpers: which backends to run, GPU synchronisation, calibrated pedantic timing, extra_info."""
from __future__ import annotations

import math
import os
import time
from typing import Any, Callable

import minitorch as mt

# Seconds of timed work per benchmark; the whole suite stays at a few minutes on 2 cores.
BUDGET_S = float(os.environ.get("MINITORCH_BENCH_BUDGET_S", "1.5"))
MIN_ROUND_S = 2e-3  # tiny ops run several calls per round so timer resolution and call jitter average out
MIN_ROUNDS, MAX_ROUNDS = 5, 200
SETTLE_S = 0.25


def minitorch_devices() -> list[str]:
    """Real backends on this machine: "cpu", plus "cuda" when CuPy has a device ("strict" is for tests only)."""
    return [d for d in mt.available_devices() if d != "strict"]


def torch_devices() -> list[str]:
    """PyTorch peers: "cpu", plus "cuda" when available; empty when torch is not installed."""
    try:
        import torch
    except ImportError:
        return []
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def minitorch_sync(device: str) -> Callable[[], None]:
    """Waits for queued GPU work, so the timer sees the kernels and not only their launches."""
    return mt.get_backend(device).synchronize


def torch_sync(device: str) -> Callable[[], None]:
    """torch.cuda.synchronize on CUDA, a no-op on the CPU."""
    if device == "cuda":
        import torch
        return torch.cuda.synchronize
    return lambda: None


def no_sync() -> None:
    """Host NumPy work is done when the call returns."""


def backend_label(framework: str, device: str) -> str:
    """The column name used in the report: minitorch-numpy, minitorch-cupy, torch-cpu, torch-cuda, numpy."""
    if framework == "minitorch":
        return "minitorch-" + ("numpy" if device == "cpu" else "cupy")
    if framework == "torch":
        return f"torch-{device}"
    return framework


def _cpu_ticks() -> tuple[int, int, int] | None:
    """(busy, total) clock ticks of the whole machine and this process's own ticks; None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()
        return sum(fields) - fields[3] - fields[4], sum(fields), int(own[11]) + int(own[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def other_load(before: tuple | None, after: tuple | None) -> float | None:
    """Cores kept busy by other processes between two _cpu_ticks(): a shared box's noise, recorded per benchmark."""
    if not before or not after or after[1] == before[1]:
        return None
    busy, total, own = (a - b for a, b in zip(after, before))
    return max(0.0, (busy - own) / total * (os.cpu_count() or 1))


def measure(benchmark, fn: Callable[[], Any], sync: Callable[[], None], *, batch: int | None = None,
            flops: float | None = None, **info: Any) -> None:
    """Time fn (+ sync) with pedantic rounds sized to BUDGET_S; record info, samples/s and GFLOP/s (from the min)."""
    def timed():
        fn()
        sync()

    # Warm up for SETTLE_S, not a fixed count: besides compilation and allocation, the previous benchmark's
    # thread pool (OpenBLAS or torch's OpenMP) keeps spinning for ~0.1 s and would steal this one's cores.
    calls, once, start = 0, float("inf"), time.perf_counter()
    while calls < 2 or time.perf_counter() - start < SETTLE_S:
        t0 = time.perf_counter()
        timed()
        once = min(once, max(time.perf_counter() - t0, 1e-7))  # the quietest call sizes the rounds
        calls += 1
    iterations = max(1, math.ceil(MIN_ROUND_S / once))
    rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, BUDGET_S / (once * iterations))))
    info.setdefault("dtype", "float32")
    benchmark.extra_info.update(info, batch_size=batch, flops=flops, statistic="min")
    before = _cpu_ticks()
    benchmark.pedantic(timed, rounds=rounds, iterations=iterations, warmup_rounds=1)
    benchmark.extra_info["other_load"] = other_load(before, _cpu_ticks())
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: the function ran once as a test, nothing was timed
        return
    # The minimum: other processes on this shared box only ever add time, so it is the least noisy statistic.
    best = stats.stats.min
    if batch:
        benchmark.extra_info["samples_per_s"] = batch / best
    if flops:
        benchmark.extra_info["gflops"] = flops / best / 1e9
