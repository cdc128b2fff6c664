"""A run's report files, written atomically: metrics as strict JSON and the loss/accuracy plot."""
from __future__ import annotations

import json
import math
import os
import re
import uuid
from pathlib import Path
from typing import Any, Callable, IO

_TEMP = re.compile(r"(\d+)-[0-9a-f]{8}")


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call write(f) on a temp file beside `path`, then rename it over `path`: a reader (or a crash) never
    sees half a file. The temp file is removed on any error; ones left by killed writers, at the next write."""
    path = Path(path)
    _remove_stale(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _remove_stale(path: Path) -> None:
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        match = _TEMP.fullmatch(name[len(prefix):-4]) if name.startswith(prefix) and name.endswith(".tmp") else None
        if match is None or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        try:
            os.unlink(path.parent / name)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:
        return True
    return True


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
