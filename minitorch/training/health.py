"""Training health, measured every N steps: per layer the activations' mean, std and dead fraction,
per parameter the gradient norm and the update-to-data ratio ||step's change|| / ||parameter||.

Only measured steps pay: their forward runs with hooks on the model's leaf modules, removed right
after it, and their optimizer step is bracketed by copies of the parameters. Records go to
metrics.json (under "health"), to health.png, and with a writer to TensorBoard.
"""
from __future__ import annotations

from typing import Any, Callable

from ..coach import dead_fraction
from ..tensor import Tensor
from .cli import RunError


def tensorboard_writer_class(logdir: str) -> Any:
    """tensorboardX's SummaryWriter, checked before a run starts: RunError saying how to install it."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise RunError(f"--tensorboard {logdir}: tensorboardX is not installed; install it with "
                       'pip install "minitorch[tensorboard]" (or pip install tensorboardX)') from None
    return SummaryWriter


def leaf_layers(model: Any) -> dict[str, Any]:
    """The modules without children, by name (the model itself when it is one)."""
    return {name or type(m).__name__: m for name, m in model.named_modules() if not any(True for _ in m.children())}


TAGS = {"mean": "activation_mean", "std": "activation_std", "dead": "dead_fraction"}  # TensorBoard's names


class HealthMonitor:
    """Measures one step in every `every` (the first included; 0: none); `writer` (a SummaryWriter) gets
    the same numbers as scalars, the activations and gradients as histograms, and each epoch's results."""

    def __init__(self, model: Any, every: int = 100, writer: Any = None) -> None:
        if every < 0:
            raise ValueError(f"HealthMonitor: every must be >= 0 (0: measure no step), got {every}")
        self.model, self.every, self.writer = model, every, writer
        self.layers = leaf_layers(model)
        self.step = 0  # optimizer steps seen over the whole run: the records' x axis
        self.records: list[dict] = []

    def probe(self) -> Probe | None:
        """Count a step; a Probe when this one is measured, else None."""
        step, self.step = self.step, self.step + 1
        return Probe(self, step) if self.every and step % self.every == 0 else None

    def add(self, record: dict, histograms: dict[str, Any]) -> None:
        self.records.append(record)
        if self.writer is None:
            return
        step, w = record["step"], self.writer
        w.add_scalar("health/loss", record["loss"], step)
        for layer, stats in record["layers"].items():
            for key, value in stats.items():
                w.add_scalar(f"{TAGS[key]}/{layer}", value, step)
        for param, stats in record["params"].items():
            for key, value in stats.items():
                if value is not None:
                    w.add_scalar(f"{key}/{param}", value, step)
        for tag, values in histograms.items():
            w.add_histogram(tag, values, step)

    def log_epoch(self, record: dict) -> None:
        """An epoch's losses and accuracies, to the writer (the x axis: epochs)."""
        if self.writer is not None:
            for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr"):
                if record.get(key) is not None:
                    self.writer.add_scalar(f"epoch/{key}", record[key], record["epoch"])
            self.writer.flush()

    def summary(self) -> dict:
        """metrics.json's "health": the interval, each layer's type, and the records."""
        return {"every": self.every, "layers": {name: type(m).__name__ for name, m in self.layers.items()},
                "records": self.records}

    def state_dict(self) -> dict:
        return {"step": self.step, "records": self.records}

    def load_state_dict(self, state: dict) -> None:
        """Continue a resumed run's count and records."""
        self.step, self.records = int(state["step"]), list(state["records"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Probe:
    """One measured step: `forward` runs the model with hooks on its layers, `step` the optimizer."""

    def __init__(self, monitor: HealthMonitor, step: int) -> None:
        self.monitor, self.number = monitor, step
        self.layers: dict[str, list] = {}
        self.histograms: dict[str, Any] = {}

    def forward(self, model: Any, x: Any) -> Any:
        """model(x), recording each leaf layer's output."""
        removers = [attach_forward_hook(m, self._hook(name)) for name, m in self.monitor.layers.items()]
        try:
            return model(x)
        finally:
            for remove in removers:
                remove()

    def _hook(self, name: str) -> Callable:
        def hook(module: Any, args: Any, out: Any) -> None:
            if not isinstance(out, Tensor) or "float" not in str(out.dtype) or out.array.size == 0:
                return  # tuples, integer outputs: nothing to measure
            xp, a = out.xp, out.array
            self.layers[name] = [xp.mean(a), xp.std(a), dead_fraction(xp, a) if a.ndim >= 2 else 0.0]
            if self.monitor.writer is not None:
                self.histograms[f"activations/{name}"] = out.backend.to_host(a)
        return hook

    def step(self, optimizer: Any, loss: Any) -> None:
        """optimizer.step(), measuring gradient norms before it and each parameter's change over it."""
        params = {n: p for n, p in self.monitor.model.named_parameters() if p.grad is not None}
        grads, before = {}, {}
        for name, p in params.items():
            xp = p.xp
            grads[name] = xp.sqrt(xp.sum(xp.astype(p.grad.array, xp.float64) ** 2))
            before[name] = xp.astype(p.array, xp.float64)  # a copy: the step writes p in place
            if self.monitor.writer is not None:
                self.histograms[f"gradients/{name}"] = p.backend.to_host(p.grad.array)
        optimizer.step()
        stats = {}
        for name, p in params.items():
            xp = p.xp
            old = before[name]
            change = float(xp.sqrt(xp.sum((xp.astype(p.array, xp.float64) - old) ** 2)))
            size = float(xp.sqrt(xp.sum(old ** 2)))
            # A parameter at zero (a fresh bias) has no scale to compare its update with.
            stats[name] = {"grad_norm": float(grads[name]), "update_ratio": change / size if size > 0 else None}
        layers = {name: dict(zip(("mean", "std", "dead"), map(float, v))) for name, v in self.layers.items()}
        self.monitor.add({"step": self.number, "loss": float(loss.item()), "layers": layers, "params": stats},
                         self.histograms)


def attach_forward_hook(module: Any, hook: Callable) -> Callable[[], None]:
    """Call hook(module, args, output) after each forward of `module`; returns the function that removes it.

    Uses Module.register_forward_hook where it exists; otherwise wraps the instance's forward.
    """
    if hasattr(module, "register_forward_hook"):
        return module.register_forward_hook(hook).remove
    own = module.__dict__.get("forward")  # an instance may have its own forward already
    inner = own or module.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        out = inner(*args, **kwargs)
        hook(module, args, out)
        return out

    object.__setattr__(module, "forward", forward)

    def remove() -> None:
        if own is None:
            module.__dict__.pop("forward", None)
        else:
            object.__setattr__(module, "forward", own)
    return remove
