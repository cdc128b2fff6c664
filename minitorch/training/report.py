"""A run's report files, written atomically: metrics as strict JSON and the loss/accuracy plot."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..files import atomic_write, sync_folder

def finite_or_none(obj: Any) -> Any:
    """obj with every NaN/Inf float replaced by None, so that it is valid JSON (which has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def write_json(path: Path, data: Any) -> None:
    """Strict JSON (a non-finite number becomes null), written atomically."""
    text = json.dumps(finite_or_none(data), indent=2, allow_nan=False)
    atomic_write(path, lambda f: f.write(text.encode()))
    sync_folder(path)


def plot(history: list[dict], test_accuracy: float, path: Path) -> None:
    """Loss and accuracy per epoch (train, validation) and the test accuracy, as a PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('no plot: matplotlib is missing; install it with pip install -e ".[plot]"')
        return
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    ax_acc.plot(epochs, [100 * r["train_accuracy"] for r in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * r["val_accuracy"] for r in history], "o-", label="validation")
    ax_acc.axhline(100 * test_accuracy, color="gray", ls="--", label=f"test {100 * test_accuracy:.2f}%")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    finally:
        plt.close(fig)
