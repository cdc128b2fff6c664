"""A run's checkpoint: what a training script saves at each epoch's end and at a stop, and how a
resumed run reads it back: model, optimizer, scheduler, RNGs, history, the run's configuration and,
after a stop mid-epoch, the Position to continue that epoch from."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from .. import backends
from ..errors import CheckpointError
from .cli import UsageError
from .loop import Position

FORMAT = "minitorch.training-run"
KEYS = ("model", "optimizer", "scheduler", "epoch", "best_val_accuracy", "history", "rng")


def make_checkpoint(model: Any, optimizer: Any, scheduler: Any, *, history: list, best: float, epoch: int,
                    config: Mapping[str, Any], position: Position | None = None, **extra: Any) -> dict:
    """Everything a resumed run needs to continue as if never stopped. `epoch`: epochs completed;
    `position`: how far the next one got (None: not started). `extra` values are stored as they are."""
    backend = backends.get_backend(backends.default_device())
    rng = {"host": backends.host_rng().bit_generator.state, "device": backend.rng_state()}
    return {"format": FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "epoch": epoch, "best_val_accuracy": best,
            "history": json.dumps(history), "rng": json.dumps(rng), "config": dict(config),
            "position": None if position is None else position.state_dict(), **extra}


def checkpoint_path(path: str | os.PathLike) -> Path:
    """`path` itself, or the checkpoint.npz in it when it is a run folder."""
    path = Path(path)
    return path / "checkpoint.npz" if path.is_dir() else path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint at `path` (a file or run folder): UsageError if there is none, CheckpointError if
    it is damaged or not a training run's."""
    from ..serialization import load
    file = checkpoint_path(path)
    if not file.exists():
        where = "holds no checkpoint.npz" if Path(path).is_dir() else "does not exist"
        raise UsageError(f"--resume {os.fspath(path)}: {where}")
    state = load(file, device=backends.default_device())
    missing = [k for k in KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"cannot resume from {os.fspath(file)!r}: not a training checkpoint "
                              f"(it lacks {', '.join(missing)})")
    try:
        state["history"], state["rng"] = json.loads(state["history"]), json.loads(state["rng"])
        state["epoch"], state["best_val_accuracy"] = int(state["epoch"]), float(state["best_val_accuracy"])
        state["position"] = None if state.get("position") is None else Position.from_state(state["position"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"cannot resume from {os.fspath(file)!r}: a damaged entry ({exc})") from None
    state["path"] = file
    return state


def restore(state: dict, model: Any, optimizer: Any, scheduler: Any) -> None:
    """Load a checkpoint from read_checkpoint into the objects and the RNGs; CheckpointError if they do not fit."""
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng = state["rng"]
        backends.host_rng().bit_generator.state = rng["host"]
        if rng["device"] is not None:
            backends.get_backend(backends.default_device()).set_rng_state(rng["device"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"cannot resume from {os.fspath(state['path'])!r}: it does not fit this run "
                              f"({type(exc).__name__}: {exc})") from None


def resolve_config(given: Mapping[str, Any], defaults: Mapping[str, Any], saved: Mapping[str, Any] | None, *,
                   flags: Mapping[str, str], fixed: frozenset = frozenset(), epoch_boundary: frozenset = frozenset(),
                   override: bool = False, source: str = "", mid_epoch: bool = False) -> tuple[dict, list[str]]:
    """A run's configuration and the keys that changed on resume.

    `given`: the values typed on the command line (None: not typed); `saved`: a resumed run's
    configuration (None: a new run). A value typed again must agree with the saved one, unless
    `override`; keys in `fixed` never change; keys in `epoch_boundary` change only between epochs.
    `flags` maps keys to their command-line spelling, for the messages.
    """
    typed = {k: v for k, v in given.items() if v is not None}
    if saved is None:
        return {k: typed.get(k, defaults.get(k)) for k in flags}, []
    saved = {k: saved.get(k, defaults.get(k)) for k in flags}
    differ = [k for k, v in typed.items() if k in saved and v != saved[k]]
    if not differ:
        return saved, []

    def show(keys: list[str], values: Mapping[str, Any]) -> str:
        return " ".join(f"{flags[k]} {values[k]}" for k in keys)

    new, old = show(differ, typed), show(differ, saved)
    frozen = [k for k in differ if k in fixed]
    if frozen:
        raise UsageError(f"{new} differs from the run being resumed ({old} in {source}); "
                         f"{', '.join(flags[k] for k in frozen)} cannot change within a run: "
                         "leave it out, or start a new run (without --resume)")
    if not override:
        raise UsageError(f"{new} differs from the run being resumed ({old} in {source}); leave it out to "
                         "continue as saved, or add --override to continue with the new value")
    late = [k for k in differ if k in epoch_boundary]
    if late and mid_epoch:
        raise UsageError(f"{' and '.join(flags[k] for k in late)} can change only between epochs, and {source} "
                         "stopped mid-epoch: resume without it, let the epoch finish, then stop and resume again")
    return {**saved, **{k: typed[k] for k in differ}}, differ
