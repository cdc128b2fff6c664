"""DataLoader worker processes (num_workers > 0), for datasets that build samples in __getitem__.

As in PyTorch: batch i goes to worker i % num_workers, which fetches `dataset[j]` for the batch's
indices and collates them on the host; the loader yields batches in order, at most
prefetch_factor * num_workers of them in flight. Worker w is seeded with base_seed + w
(minitorch.manual_seed and Python's `random`), then runs worker_init_fn(w). Workers work on the
host only: like PyTorch's, they must not use CUDA. With the "fork" start method (Linux's default)
the dataset is inherited; with "spawn" it is pickled, and the script needs `if __name__ == "__main__":`.

Failures are reported, never waited on: an exception in a worker is raised in the loader naming the
worker, the dataset index and the original traceback; a worker that dies (a signal, os._exit) is
reported within _POLL_S. Workers ignore Ctrl-C (SIGINT reaches the whole process group; the loader
stops them when its loop ends) and exit by themselves when the loader's process is gone.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import random
import signal
import traceback
from collections import namedtuple
from typing import Any, Callable, Iterator

import numpy as np

WorkerInfo = namedtuple("WorkerInfo", ["id", "num_workers", "seed", "dataset"])
_info: WorkerInfo | None = None
_POLL_S = 1.0  # how often a waiting loader checks its workers are alive, and an idle worker its parent


def get_worker_info() -> WorkerInfo | None:
    """In a worker process: its (id, num_workers, seed, dataset); in the main process: None."""
    return _info


class _Wire:
    """A Tensor on its way between processes: its host array (Tensors hold a per-process backend)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def to_wire(obj: Any) -> Any:
    """Replace Tensors in a (nested tuple/list/dict) batch by picklable host arrays."""
    from ..tensor import Tensor
    if isinstance(obj, Tensor):
        return _Wire(obj.backend.to_host(obj.array))
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_wire(o) for o in obj) if type(obj) in (tuple, list) else type(obj)(*map(to_wire, obj))
    if isinstance(obj, dict):
        return {k: to_wire(v) for k, v in obj.items()}
    return obj


def from_wire(obj: Any) -> Any:
    """Undo to_wire: host arrays back into (CPU) Tensors."""
    from ..tensor import Tensor
    if isinstance(obj, _Wire):
        return Tensor(obj.array, device="cpu")
    if isinstance(obj, (tuple, list)):
        return type(obj)(from_wire(o) for o in obj) if type(obj) in (tuple, list) else type(obj)(*map(from_wire, obj))
    if isinstance(obj, dict):
        return {k: from_wire(v) for k, v in obj.items()}
    return obj


class _KeyErrorMessage(str):
    """KeyError's str() is the repr of its argument: this keeps the traceback's line breaks readable."""

    def __repr__(self) -> str:
        return str(self)


class _Failure:
    """An exception raised in a worker: its type (when it pickles), the dataset index, its traceback as text."""

    def __init__(self, worker: int, exc: BaseException, index: int | None = None) -> None:
        self.worker, self.index = worker, index
        self.text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            pickle.loads(pickle.dumps(type(exc)))
            self.exc_type: type | None = type(exc)
        except Exception:  # a class defined inside a function, say: report it as a RuntimeError
            self.exc_type = None

    def reraise(self) -> None:
        """Raise the worker's exception type in this process, with the worker's traceback in the message."""
        name = self.exc_type.__name__ if self.exc_type else "an exception"
        where = "" if self.index is None else f" while loading dataset index {self.index}"
        message = f"Caught {name} in DataLoader worker process {self.worker}{where}.\nOriginal {self.text}"
        if self.exc_type is KeyError:
            message = _KeyErrorMessage(message)
        try:
            error = (self.exc_type or RuntimeError)(message)
        except Exception:  # an exception type whose constructor wants other arguments
            error = RuntimeError(message)
        raise error


def _worker_loop(wid: int, num_workers: int, seed: int, dataset: Any, fetch: Callable, init_fn: Callable | None,
                 tasks: Any, results: Any, parent: int) -> None:
    """Run in each worker process: (epoch, batch, indices) in, (epoch, batch, data or _Failure) out."""
    global _info
    # Ctrl-C is the loader's to handle: a worker killed mid-put could leave the result queue half written.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    results.cancel_join_thread()  # exit without waiting for unread results to drain into the pipe
    from .. import backends
    backends.forget_cuda_backends()
    random.seed(seed)
    np.random.seed(seed % 2**32)  # NumPy's global generator too, as PyTorch's workers do
    backends.manual_seed(seed)
    _info = WorkerInfo(wid, num_workers, seed, dataset)
    init_failure = None
    if init_fn is not None:
        try:
            init_fn(wid)
        except Exception as exc:  # reported with the first task, where the loader is listening
            init_failure = _Failure(wid, exc)
    while True:
        try:
            task = tasks.get(timeout=_POLL_S)
        except queue.Empty:
            if os.getppid() != parent:  # the loader's process died without stopping us (SIGKILL, say)
                return
            continue
        if task is None:
            return
        epoch, batch, ids = task
        try:
            if init_failure is not None:
                raise RuntimeError(f"worker_init_fn failed:\n{init_failure.text}")
            # Pickled here, not in the queue's feeder thread, so a batch that cannot be sent is reported.
            out = pickle.dumps(to_wire(fetch(ids)), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            out = pickle.dumps(_Failure(wid, exc, getattr(fetch, "index", None)))
        results.put((epoch, batch, out))


class WorkerPool:
    """num_workers processes with one task queue each and a shared result queue."""

    def __init__(self, num_workers: int, base_seed: int, dataset: Any, fetch: Callable, init_fn: Callable | None,
                 context: Any) -> None:
        ctx = multiprocessing.get_context(context) if isinstance(context, (str, type(None))) else context
        self.results = ctx.Queue()
        self.tasks = [ctx.Queue() for _ in range(num_workers)]
        self.procs = [ctx.Process(target=_worker_loop, daemon=True,
                                  args=(w, num_workers, base_seed + w, dataset, fetch, init_fn, self.tasks[w],
                                        self.results, os.getpid()))
                      for w in range(num_workers)]
        for p in self.procs:
            p.start()
        self.epoch = 0

    def run(self, batches: list, prefetch: int, timeout: float) -> Iterator[Any]:
        """Yield fetch(ids) for each batch of indices, in order; at most `prefetch` batches in flight."""
        self.epoch += 1  # results of an abandoned earlier epoch (persistent workers) are recognised and dropped
        n, sent, done, ready = len(batches), 0, 0, {}
        while done < n:
            while sent < n and sent - done < prefetch:
                self.tasks[sent % len(self.tasks)].put((self.epoch, sent, batches[sent]))
                sent += 1
            while done not in ready:
                epoch, batch, out = self._get(timeout)
                if epoch == self.epoch:
                    ready[batch] = out
            out = pickle.loads(ready.pop(done))
            done += 1
            if isinstance(out, _Failure):
                out.reraise()
            yield from_wire(out)

    def _get(self, timeout: float) -> tuple:
        waited = 0.0
        while True:
            wait = _POLL_S if timeout <= 0 else min(_POLL_S, timeout - waited)
            try:
                return self.results.get(timeout=wait)
            except queue.Empty:
                waited += wait
            dead = [(w, p.pid, p.exitcode) for w, p in enumerate(self.procs) if not p.is_alive()]
            if dead:
                self.shutdown(wait=0.0)
                raise RuntimeError(_death(*dead[0]))
            if 0 < timeout <= waited:
                self.shutdown(wait=0.0)
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds waiting for a batch")

    def shutdown(self, wait: float = 1.0) -> None:
        """Stop the workers; those still busy after `wait` seconds are terminated."""
        for q in self.tasks:
            try:
                q.put(None)
                q.cancel_join_thread()  # at exit, never wait to deliver tasks to a dead worker
            except (ValueError, OSError):  # queue already closed
                pass
        for p in self.procs:
            p.join(timeout=wait)
            if p.is_alive():
                p.terminate()
                p.join()
        self.procs = []

    def alive(self) -> bool:
        return bool(self.procs) and all(p.is_alive() for p in self.procs)


def _death(worker: int, pid: int, code: int | None) -> str:
    """What to say about a worker that is gone."""
    prefix = f"DataLoader worker (pid {pid}) exited unexpectedly"
    if code is None or code >= 0:
        return f"{prefix} with exit code {code} (worker {worker})"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    oom = -code == signal.SIGKILL
    hint = " (the system may be out of memory: the kernel's OOM killer sends SIGKILL)" if oom else ""
    return f"{prefix}: worker {worker} was killed by {name}{hint}"
