"""A training run and its folder: checkpoint.npz (where to resume), model.npz (the best epoch's model),
metrics.json, curves.png and health.png. Stops, divergence and resuming are handled here, so scripts
stay short."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from . import report, resume
from .cli import RunError
from .loop import Diverged, TrainingStopped, evaluate, fit
from .stop import GracefulStop, signal_name


class Run:
    """`config` holds epochs, lr, optimizer, momentum, weight_decay, max_steps (and whatever else the
    script stores); the optimizer's lr follows `scheduler` (stepped per epoch, T_max = epochs).
    `health` (a HealthMonitor) records the training's health, kept in checkpoints and metrics.json.
    `ranks` (a training.ranks.Ranks) makes it one rank of a distributed job: only rank 0 prints and
    writes the folder, and checkpoints record the world size and the global step."""

    def __init__(self, out: Path, config: dict, model: Any, optimizer: Any, scheduler: Any, *,
                 resume_command: str, data_dir: str | None = None, health: Any = None, ranks: Any = None) -> None:
        self.out, self.config, self.resume_command, self.health = Path(out), config, resume_command, health
        self.ranks, self.leader = ranks, ranks is None or ranks.leader
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.data_dir = str(Path(data_dir).resolve()) if data_dir else None
        self.history: list[dict] = []
        self.best, self.start, self.position = -1.0, 0, None
        self.kept = "no checkpoint was written (no epoch had finished)"

    @property
    def checkpoint(self) -> Path:
        return self.out / "checkpoint.npz"

    def resume_from(self, saved: dict, changed: Iterable[str] = (), flags: dict | None = None) -> None:
        """Continue from a checkpoint read by resume.read_checkpoint; `changed` keys of config were overridden."""
        resume.restore(saved, self.model, self.optimizer, self.scheduler)
        retune(self.optimizer, self.scheduler, self.config, changed)
        self.history, self.best = saved["history"], saved["best_val_accuracy"]
        self.start, self.position = saved["epoch"], saved["position"]
        self.kept = f"the last good checkpoint, {saved['path']}, is kept"
        if self.health is not None and saved.get("health") is not None:
            self.health.load_state_dict(json.loads(saved["health"]))
        if not self.leader:
            return
        at = f", step {self.position.step} of epoch {self.start + 1}" if self.position else ""
        flags = flags or {}
        note = "; changed: " + ", ".join(f"{flags.get(k, k)} {self.config[k]}" for k in changed) if changed else ""
        then, now = int(saved.get("world_size", 1)), 1 if self.ranks is None else self.ranks.size
        if then != now or now > 1:
            note += f" (global step {self.global_step(self.position)}; saved by {then} rank{'s' * (then > 1)}, " \
                    f"now {now})"
        print(f"resumed from {saved['path']} after epoch {self.start}{at}{note}")
        if saved["rng"].get("device") is None and self.ranks is None:  # CuPy's generators cannot save their state
            print("note: the device's random generator could not be saved, so dropout draws other masks than "
                  "a run never stopped would")

    def global_step(self, position: Any = None) -> int:
        """Optimizer steps (of the global batch) done in this run, up to `position` in the next epoch."""
        return sum(int(r.get("steps", 0)) for r in self.history) + (position.step if position else 0)

    def save(self, epoch: int, position: Any = None, **extra: Any) -> None:
        """Write checkpoint.npz (atomically) for `epoch` epochs done and `position` into the next; on a
        rank other than 0, only note what the checkpoint would be."""
        from ..serialization import save
        where = f"{self.checkpoint} (after epoch {epoch})"
        if not self.leader:
            self.kept = f"the last good checkpoint, {where}, is kept"
            return
        extra.update(world_size=1 if self.ranks is None else self.ranks.size, global_step=self.global_step(position))
        if self.health is not None:
            extra["health"] = json.dumps(report.finite_or_none(self.health.state_dict()), allow_nan=False)
        save(resume.make_checkpoint(self.model, self.optimizer, self.scheduler, history=self.history,
                                    best=self.best, epoch=epoch, config=self.config, position=position,
                                    data_dir=self.data_dir, **extra), self.checkpoint)
        self.kept = f"the last good checkpoint, {where}, is kept"

    def on_epoch_end(self, epoch: int, record: dict) -> None:
        from ..serialization import save
        self.history.append(record)
        if self.health is not None:
            self.health.log_epoch(record)
        if not self.leader:  # only rank 0 validates: the others' records hold no validation results
            self.save(epoch + 1)
            return
        print(f"epoch {record['epoch']:>2}/{self.config['epochs']}  train loss {record['train_loss']:.4f}  "
              f"acc {100 * record['train_accuracy']:.2f}%  |  val loss {record['val_loss']:.4f}  "
              f"acc {100 * record['val_accuracy']:.2f}%  |  {record['samples_per_second']:,.0f} samples/s")
        if record["val_accuracy"] > self.best:  # model.npz first: a crash between the two redoes this epoch
            self.best = record["val_accuracy"]
            save(self.model.state_dict(), self.out / "model.npz")
        self.save(epoch + 1)

    def train(self, train_loader: Any, val_loader: Any, loss_fn: Callable, stop: GracefulStop, *,
              progress: Any = None, check_finite: bool = True, compiled: bool = False) -> int | None:
        """Train to config["epochs"]. Returns None when done, or 128 + N after signal N saved a checkpoint
        to resume from; a NaN/Inf loss raises RunError saying why, and nothing after it is saved."""
        if self.leader:
            self.out.mkdir(parents=True, exist_ok=True)
        # The loss is checked, so NumPy's overflow warnings would only repeat what the error says.
        quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore") if check_finite \
            else contextlib.nullcontext()
        try:
            with stop.graceful(), quiet:
                fit(self.model, self.optimizer, train_loader, val_loader, self.config["epochs"], loss_fn=loss_fn,
                    scheduler=self.scheduler, start_epoch=self.start, max_steps=self.config.get("max_steps"),
                    progress=progress, on_epoch_end=self.on_epoch_end, position=self.position, stop=stop,
                    check_finite=check_finite, health=self.health, ranks=self.ranks, compiled=compiled)
        except TrainingStopped as stopped:
            self.save(stopped.epoch, stopped.position, stopped_by=signal_name(stopped.signum))
            if not self.leader:
                return 128 + stopped.signum
            where = (f"after step {stopped.position.step} of epoch {stopped.epoch + 1}" if stopped.position
                     else f"before epoch {stopped.epoch + 1}")
            sys.stdout.flush()
            print(f"stopped by {signal_name(stopped.signum)} {where}; saved {self.checkpoint}\n"
                  f"resume with: {self.resume_command}", file=sys.stderr)
            return 128 + stopped.signum
        except Diverged as exc:
            raise RunError(self.divergence(exc, [("training", train_loader), ("validation", val_loader)])) from exc
        return None

    def divergence(self, exc: Diverged, loaders: list[tuple[str, Any]]) -> str:
        """Why the run diverged, and what was kept: two lines."""
        bad = [f"the {name} data hold {n:,} NaN/Inf values" for name, n in
               ((name, nonfinite_values(getattr(loader, "dataset", None))) for name, loader in loaders) if n]
        lr, name = self.config.get("lr"), self.config.get("optimizer", "")
        cause = (f"{bad[0]}: clean the input" if bad else
                 f"the learning rate is likely too high (--lr {lr:g} with {name}): try a smaller --lr")
        return (f"training diverged: {exc}; {cause}\n"
                f"stopped: {self.kept}; --allow-nonfinite trains on regardless")

    def finish(self, test_loader: Any, loss_fn: Callable, device: str, *, plot: bool = True,
               **extra: Any) -> dict:
        """Test the best epoch's model; write metrics.json (last: it marks a finished run) and the plot."""
        from ..backends import get_backend
        from ..serialization import load
        self.model.load_state_dict(load(self.out / "model.npz", device=device))
        test = evaluate(self.model, test_loader, loss_fn)
        history = self.history
        seconds = [r["seconds"] for r in history]
        metrics = {"dataset": self.config.get("dataset"), "epochs": history, "test_loss": test["loss"],
                   "test_accuracy": test["accuracy"], "best_val_accuracy": self.best,
                   "seconds_per_epoch": float(np.mean(seconds)) if seconds else None,
                   "samples_per_second": float(np.mean([r["samples_per_second"] for r in history]))
                   if history else None,
                   "backend": get_backend(device).name, "device": device, "config": self.config, **extra}
        if self.health is not None and self.health.every:
            metrics["health"] = self.health.summary()
        print(f"test accuracy {100 * test['accuracy']:.2f}% (model of the best validation epoch); "
              f"{metrics['seconds_per_epoch'] or 0:.1f} s/epoch, {metrics['samples_per_second'] or 0:,.0f} samples/s")
        if plot and history:
            report.plot(history, test["accuracy"], self.out / "curves.png")
        if plot and "health" in metrics and self.health.records:
            from ..viz.health import plot_health
            plot_health(metrics["health"], self.out / "health.png")
        report.write_json(self.out / "metrics.json", metrics)
        return metrics


def retune(optimizer: Any, scheduler: Any, config: dict, changed: Iterable[str]) -> None:
    """Apply values changed on resume (lr, epochs, momentum, weight_decay); the schedule goes on from its epoch."""
    changed = set(changed)
    for group in optimizer.param_groups:
        for key in ("momentum", "weight_decay"):
            if key in changed and key in group:
                group[key] = config[key]
        if "lr" in changed:
            group["initial_lr"] = config["lr"]
    if "lr" in changed:
        scheduler.base_lrs = [config["lr"]] * len(optimizer.param_groups)
    if "epochs" in changed and hasattr(scheduler, "T_max"):
        scheduler.T_max = config["epochs"]
    if changed & {"lr", "epochs"}:
        for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
            group["lr"] = scheduler.lr_at(base, scheduler.last_epoch)


def nonfinite_values(dataset: Any) -> int:
    """How many NaN/Inf values a dataset's arrays hold (0 for datasets without arrays())."""
    arrays = dataset.arrays() if hasattr(dataset, "arrays") else ()
    total = 0
    for a in arrays:
        host = a.numpy() if hasattr(a, "numpy") else np.asarray(a)
        if host.dtype.kind in "fc":
            total += int(host.size - np.count_nonzero(np.isfinite(host)))
    return total
