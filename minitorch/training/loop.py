"""The training loop: train_epoch, evaluate, fit; stops that can resume mid-epoch; divergence checks."""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from ..autograd import no_grad


def workshop_mlp(in_features: int = 784, hidden: int = 256, classes: int = 10, dropout: float = 0.2) -> Any:
    """The workshop network: Linear -> BatchNorm1d -> ReLU -> Dropout -> Linear.

    Its Linear layers are re-initialised Kaiming-uniform for ReLU (std sqrt(2/fan_in)) with zero
    biases, as the workshop does; this trains MNIST slightly better than nn.Linear's PyTorch default.
    """
    from .. import nn
    model = nn.Sequential(nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                          nn.Dropout(dropout), nn.Linear(hidden, classes))
    for layer in (model[0], model[4]):
        nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
    return model


class Diverged(RuntimeError):
    """A loss (or the parameters) became NaN or infinite; `epoch` and `step` count from 1."""

    def __init__(self, what: str, value: float, epoch: int, step: int | None = None) -> None:
        self.what, self.value, self.epoch, self.step = what, value, epoch, step
        where = f"at step {step} of epoch {epoch}" if step is not None else f"after epoch {epoch}"
        super().__init__(f"the {what} is {value} {where}")


@dataclass
class Position:
    """How far a stopped epoch got: enough to continue it exactly (see train_epoch)."""

    step: int  # steps done in this epoch
    generator: str | None  # the loader's generator at the epoch's start (JSON), to redraw its order
    generator_now: str | None  # ...and at the stop
    loss_sum: Any = None  # the running sums, as host arrays
    correct: Any = None
    samples: int = 0
    seconds: float = 0.0

    def state_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Position":
        return cls(**state)


class TrainingStopped(Exception):
    """fit() stopped because `stop.requested` was set: `epoch` (from 0) and where in it (None: at its start)."""

    def __init__(self, epoch: int, position: Position | None, signum: int | None) -> None:
        self.epoch, self.position, self.signum = epoch, position, signum
        super().__init__(f"stopped in epoch {epoch + 1}" + (f" after step {position.step}" if position else ""))


class _Running:
    """Loss and accuracy summed on the device; read back once, so the GPU never waits per step."""

    def __init__(self) -> None:
        self.loss = self.correct = None
        self.samples = 0

    def add(self, loss: Any, logits: Any, labels: Any) -> None:
        xp = logits.xp
        n = labels.shape[0]
        loss_sum = loss.array * n
        hits = xp.sum(xp.astype(xp.argmax(logits.array, axis=1) == labels.array, xp.int64))
        self.loss = loss_sum if self.loss is None else self.loss + loss_sum
        self.correct = hits if self.correct is None else self.correct + hits
        self.samples += n

    def result(self) -> dict[str, float]:
        return _result(self.loss, self.correct, self.samples)

    def over_ranks(self, backend: Any, ranks: Any, carried: Position | None) -> tuple[Any, Any, int]:
        """(loss sum, correct, samples) summed over every rank, plus the global sums a resumed position
        carried in, as host scalars (one allreduce)."""
        local = [0.0 if v is None else float(backend.to_host(v)) for v in (self.loss, self.correct)]
        total = ranks.sum(np.array(local + [self.samples], np.float64))
        if carried is not None:
            total += [float(carried.loss_sum or 0.0), float(carried.correct or 0), carried.samples]
        return np.asarray(total[0]), np.asarray(round(total[1]), np.int64), round(total[2])


def _result(loss: Any, correct: Any, samples: int) -> dict[str, float]:
    if not samples:
        return {"loss": float("nan"), "accuracy": float("nan"), "samples": 0}
    return {"loss": float(loss) / samples, "accuracy": int(correct) / samples, "samples": samples}


class _FiniteCheck:
    """Raises Diverged at the first non-finite loss. On the CPU each loss is read at once (free);
    on a GPU the losses wait on the device and are read every `every` steps, so no step syncs."""

    def __init__(self, backend: Any, epoch: int, every: int = 50) -> None:
        self.backend, self.epoch = backend, epoch
        self.every = 1 if backend.device in ("cpu", "strict") else every
        self.pending: list[tuple[int, Any]] = []

    def add(self, step: int, loss: Any) -> None:
        self.pending.append((step, loss))
        if len(self.pending) >= self.every:
            self.check()

    def check(self) -> None:
        if not self.pending:
            return
        self.backend.raise_pending_errors()  # a bad label makes the loss NaN: name the label, not the NaN
        xp = self.backend.xp
        losses = xp.stack([loss for _, loss in self.pending]) if len(self.pending) > 1 else self.pending[0][1]
        if not bool(xp.all(xp.isfinite(losses))):
            values = np.atleast_1d(self.backend.to_host(losses))
            first = int(np.argmin(np.isfinite(values)))
            raise Diverged("training loss", float(values[first]), self.epoch + 1, self.pending[first][0] + 1)
        self.pending.clear()


def parameters_finite(model: Any) -> bool:
    """Whether every parameter of `model` is finite (one read of the device)."""
    params = list(model.parameters())
    if not params:
        return True
    xp = params[0].xp
    return bool(xp.all(xp.stack([xp.all(xp.isfinite(p.array)) for p in params])))


def _backend(model: Any) -> Any:
    from ..backends import get_backend
    params = list(model.parameters())
    return params[0].backend if params else get_backend()


def generator_state(loader: Any) -> str | None:
    """The state of the generator a loader draws each epoch's order from, as JSON (None: it has none)."""
    gen = getattr(loader, "generator", None)
    if hasattr(gen, "bit_generator"):
        return json.dumps(gen.bit_generator.state)
    if hasattr(gen, "get_state"):  # a minitorch.Generator: its state is JSON in a uint8 tensor
        return bytes(gen.get_state().numpy()).decode()
    return None


def set_generator_state(loader: Any, state: str | None) -> None:
    """Restore a state from generator_state()."""
    if state is None:
        return
    gen = loader.generator
    if hasattr(gen, "bit_generator"):
        gen.bit_generator.state = json.loads(state)
    else:
        from ..tensor import Tensor
        gen.set_state(Tensor(np.frombuffer(state.encode(), dtype=np.uint8).copy()))


def training_step(model: Any, optimizer: Any, loss_fn: Callable) -> Callable[[Any, Any], tuple[Any, Any]]:
    """step(x, y) -> (loss, logits): forward, loss, zero_grad, backward, update. What train_epoch runs each
    step, and what `fit(compiled=True)` hands to minitorch.compile."""
    def step(x: Any, y: Any) -> tuple[Any, Any]:
        logits = model(x)
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss, logits
    return step


def train_epoch(model: Any, loader: Iterable, optimizer: Any, loss_fn: Callable, *,
                max_steps: int | None = None, progress: Any = None, epoch: int = 0,
                position: Position | None = None, stop: Any = None, check_finite: bool = True,
                health: Any = None, ranks: Any = None, step: Callable | None = None) -> dict[str, float]:
    """One pass over `loader`: forward, loss, backward, step. Returns mean loss, accuracy, samples/s, steps.

    `position` continues a stopped epoch: the loader's generator is set back to the epoch's start so
    it redraws the same order, the steps already done are skipped (only their batches are gathered),
    and the running sums carry on. After each step, a true `stop.requested` raises TrainingStopped
    with the Position to continue from. With `check_finite`, a NaN/Inf loss raises Diverged. `health`
    (a HealthMonitor) measures the steps it chooses. `ranks` (a training.ranks.Ranks, in a distributed
    job) makes the results and a Position's sums those of every rank's batches: the global batch's.
    `step` (a training_step, or one compiled by minitorch.compile) runs the steps health does not measure.
    """
    model.train()
    step = step or training_step(model, optimizer, loss_fn)
    backend = _backend(model)
    running, first, before = _Running(), 0, 0.0
    world, carried = 1 if ranks is None else ranks.size, None
    start_state = generator_state(loader) if position is None else position.generator
    if position is not None:
        set_generator_state(loader, position.generator)
    batches = iter(loader)
    if position is not None:
        for _ in range(position.step):  # the same order as before the stop: skip what was done
            next(batches, None)
        set_generator_state(loader, position.generator_now)
        first, before = position.step, position.seconds
        if ranks is None:
            running.samples = position.samples
            running.loss, running.correct = (None if v is None else backend.from_host(np.asarray(v))
                                             for v in (position.loss_sum, position.correct))
        else:  # its sums are global, the same on every rank: added once, after summing over ranks
            carried = position
        if progress is not None:
            progress.update(position.samples)
    finite = _FiniteCheck(backend, epoch) if check_finite else None
    start, done = time.perf_counter(), first
    for index, (x, y) in enumerate(batches, start=first):
        if max_steps is not None and index >= max_steps:
            break
        probe = None if health is None else health.probe()  # None on the steps it does not measure
        if probe is None:
            loss, logits = step(x, y)
        else:  # measured: eagerly, with the probe's hooks
            logits = probe.forward(model, x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            probe.step(optimizer, loss)
        running.add(loss.detach(), logits.detach(), y)
        done = index + 1
        if finite is not None:
            finite.add(index, loss.array)
        if progress is not None:  # in a distributed job every rank's batch has this size (DistributedSampler)
            progress.update(y.shape[0] * world)
            if index % 50 == 0:  # reading the loss synchronises the GPU, so only now and then
                backend.raise_pending_errors()  # e.g. a bad label cross_entropy flagged on the device
                elapsed = time.perf_counter() - start
                progress.set_postfix(loss=f"{loss.item():.4f}",
                                     samples_s=f"{running.samples * world / elapsed:,.0f}")
        if stop is not None and stop.requested:
            if finite is not None:
                finite.check()
                if not parameters_finite(model):
                    raise Diverged("model's parameters", float("nan"), epoch + 1, index + 1)
            if ranks is None:
                sums = (*(None if v is None else backend.to_host(v) for v in (running.loss, running.correct)),
                        running.samples)
            else:
                sums = running.over_ranks(backend, ranks, carried)
            where = Position(index + 1, start_state, generator_state(loader), *sums,
                             before + time.perf_counter() - start)
            raise TrainingStopped(epoch, where, stop.signum)
    backend.synchronize()
    if finite is not None:
        finite.check()
    seconds = before + time.perf_counter() - start
    out = running.result() if ranks is None else _result(*running.over_ranks(backend, ranks, carried))
    out.update(seconds=seconds, samples_per_second=out["samples"] / seconds if seconds else float("nan"),
               steps=done)
    return out


@no_grad()
def evaluate(model: Any, loader: Iterable, loss_fn: Callable) -> dict[str, float]:
    """Mean loss and accuracy of `model` (in eval mode) over `loader`."""
    was_training = model.training
    model.eval()
    running = _Running()
    for x, y in loader:
        logits = model(x)
        running.add(loss_fn(logits, y), logits, y)
    model.train(was_training)
    result = running.result()  # reads the sums back: the device flags of the epoch's checks go with them
    _backend(model).raise_pending_errors()
    return result


def fit(model: Any, optimizer: Any, train_loader: Iterable, val_loader: Iterable, epochs: int, *,
        loss_fn: Callable | None = None, scheduler: Any = None, start_epoch: int = 0,
        max_steps: int | None = None, progress: Callable[[int], Any] | None = None,
        on_epoch_end: Callable[[int, dict], None] | None = None, position: Position | None = None,
        stop: Any = None, check_finite: bool = True, health: Any = None, ranks: Any = None,
        compiled: bool = False) -> list[dict]:
    """Train for epochs start_epoch..epochs-1, evaluating on `val_loader` after each; returns the history.

    `progress(epoch)` may return a tqdm-like bar (update, set_postfix, close); `on_epoch_end(epoch,
    record)` runs after each epoch, e.g. to write a checkpoint. `position` continues epoch
    `start_epoch` where a stop left it. `stop` (e.g. a GracefulStop) is polled after every step and
    before every epoch: when `stop.requested`, TrainingStopped says where to continue from. With
    `check_finite`, a NaN/Inf training or validation loss raises Diverged. `health` (a HealthMonitor)
    records the training's health every so many steps. A sampler with set_epoch (DistributedSampler) is
    set to each epoch before it starts; `ranks` makes the training results global (see train_epoch).
    `compiled` records the training step once and replays it (minitorch.compile; bit-identical to eager),
    or runs it eagerly, with a CaptureWarning, where it cannot be replayed.
    """
    from ..capture import compile as compile_step
    from ..nn import CrossEntropyLoss
    loss_fn = loss_fn or CrossEntropyLoss()
    step = compile_step(training_step(model, optimizer, loss_fn), fallback=True) if compiled else None
    history = []
    for epoch in range(start_epoch, epochs):
        if stop is not None and stop.requested:
            raise TrainingStopped(epoch, position if epoch == start_epoch else None, stop.signum)
        sampler = getattr(train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):  # a new shuffle each epoch, as PyTorch's loops must ask for
            sampler.set_epoch(epoch)
        bar = progress(epoch) if progress else None
        try:
            train = train_epoch(model, train_loader, optimizer, loss_fn, max_steps=max_steps, progress=bar,
                                epoch=epoch, position=position if epoch == start_epoch else None, stop=stop,
                                check_finite=check_finite, health=health, ranks=ranks, step=step)
        finally:
            if bar is not None:
                bar.close()
        val = evaluate(model, val_loader, loss_fn)
        if check_finite and not math.isfinite(val["loss"]) and val["samples"]:
            raise Diverged("validation loss", val["loss"], epoch + 1)
        record = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"],
                  "train_loss": train["loss"], "train_accuracy": train["accuracy"],
                  "val_loss": val["loss"], "val_accuracy": val["accuracy"],
                  "seconds": train["seconds"], "samples_per_second": train["samples_per_second"],
                  "steps": train["steps"]}
        if scheduler is not None:
            scheduler.step()
        history.append(record)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
    return history
