"""The training loop behind train.py, as library code: train_epoch, evaluate, fit, workshop_mlp."""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from .autograd import no_grad


def workshop_mlp(in_features: int = 784, hidden: int = 256, classes: int = 10, dropout: float = 0.2) -> Any:
    """The workshop network: Linear -> BatchNorm1d -> ReLU -> Dropout -> Linear.

    Its Linear layers are re-initialised Kaiming-uniform for ReLU (std sqrt(2/fan_in)) with zero
    biases, as the workshop does; this trains MNIST slightly better than nn.Linear's PyTorch default.
    """
    from . import nn
    model = nn.Sequential(nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                          nn.Dropout(dropout), nn.Linear(hidden, classes))
    for layer in (model[0], model[4]):
        nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
    return model


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
        if not self.samples:
            return {"loss": float("nan"), "accuracy": float("nan"), "samples": 0}
        return {"loss": float(self.loss) / self.samples, "accuracy": int(self.correct) / self.samples,
                "samples": self.samples}


def train_epoch(model: Any, loader: Iterable, optimizer: Any, loss_fn: Callable, *,
                max_steps: int | None = None, progress: Any = None) -> dict[str, float]:
    """One pass over `loader`: forward, loss, backward, step. Returns mean loss, accuracy, samples/s."""
    model.train()
    running = _Running()
    start = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        logits = model(x)
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running.add(loss.detach(), logits.detach(), y)
        if progress is not None:
            progress.update(y.shape[0])
            if step % 50 == 0:  # reading the loss synchronises the GPU, so only now and then
                elapsed = time.perf_counter() - start
                progress.set_postfix(loss=f"{loss.item():.4f}", samples_s=f"{running.samples / elapsed:,.0f}")
    x.backend.synchronize()
    seconds = time.perf_counter() - start
    out = running.result()
    out.update(seconds=seconds, samples_per_second=out["samples"] / seconds if seconds else float("nan"))
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
    return running.result()


def fit(model: Any, optimizer: Any, train_loader: Iterable, val_loader: Iterable, epochs: int, *,
        loss_fn: Callable | None = None, scheduler: Any = None, start_epoch: int = 0,
        max_steps: int | None = None, progress: Callable[[int], Any] | None = None,
        on_epoch_end: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Train for epochs start_epoch..epochs-1, evaluating on `val_loader` after each; returns the history.

    `progress(epoch)` may return a tqdm-like bar (update, set_postfix, close); `on_epoch_end(epoch,
    record)` runs after each epoch, e.g. to write a checkpoint.
    """
    from .nn import CrossEntropyLoss
    loss_fn = loss_fn or CrossEntropyLoss()
    history = []
    for epoch in range(start_epoch, epochs):
        bar = progress(epoch) if progress else None
        train = train_epoch(model, train_loader, optimizer, loss_fn, max_steps=max_steps, progress=bar)
        if bar is not None:
            bar.close()
        val = evaluate(model, val_loader, loss_fn)
        record = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"],
                  "train_loss": train["loss"], "train_accuracy": train["accuracy"],
                  "val_loss": val["loss"], "val_accuracy": val["accuracy"],
                  "seconds": train["seconds"], "samples_per_second": train["samples_per_second"]}
        if scheduler is not None:
            scheduler.step()
        history.append(record)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
    return history
