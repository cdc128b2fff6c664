"""Training as library code, behind train.py and the examples.

    loop.py    train_epoch, evaluate, fit, workshop_mlp; mid-epoch stops (Position) and divergence checks
    stop.py    GracefulStop: SIGINT/SIGTERM end a run after the current step
    resume.py  a run's checkpoint (configuration, RNGs, position) and resuming from it
    report.py  metrics.json (strict JSON) and the plot, written atomically
    health.py  HealthMonitor: activations, gradients and update sizes every N steps (and to TensorBoard)
    cli.py     scripts' errors as one or two lines and an exit status (run_cli)
    ranks.py   one rank of train.py --distributed: rank 0 writes, errors settled or the job aborted
"""
from .cli import RunError, UsageError, run_cli, select_device
from .health import HealthMonitor
from .loop import (Diverged, Position, TrainingStopped, evaluate, fit, parameters_finite, train_epoch,
                   training_step, workshop_mlp)
from .stop import GracefulStop, Interrupted

__all__ = ["workshop_mlp", "training_step", "train_epoch", "evaluate", "fit", "Position", "TrainingStopped", "Diverged",
           "parameters_finite", "GracefulStop", "Interrupted", "UsageError", "RunError", "run_cli",
           "select_device", "HealthMonitor"]
