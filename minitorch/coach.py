"""Coach: one warning per kind and process about a common training mistake, saying what to do instead.

Five mistakes are watched: probabilities passed to cross_entropy, gradients that pile up because
zero_grad() is never called, Dropout/BatchNorm left in train mode under no_grad, a first loss far
from ln(C), and layers whose ReLUs are nearly all dead. Each is a `CoachWarning` (a UserWarning,
so `warnings.filterwarnings` can silence or raise it); MINITORCH_COACH=0 switches them all off.

The hot paths call in here behind one module-level flag each (`watch_*`), which turns False once
its kind has fired (or, for cross_entropy, once its first calls were checked). Until then the
per-call work is a few attribute reads (about 2 us on a 2 ms workshop-MLP step); the array checks
run only on the first calls and on ReLU calls 100, 1000 and 10000.
"""
from __future__ import annotations

import math
import os
import sys
import warnings
import weakref
from typing import Any

from .autograd import is_grad_enabled


class CoachWarning(UserWarning):
    """A likely training mistake, with what to do about it (MINITORCH_COACH=0 silences them all)."""


CROSS_ENTROPY_CHECKS = 3  # the first calls whose input is checked for probabilities
STALE_STEPS = 10  # optimizer steps on gradients never zeroed before the warning
RELU_CALLS = frozenset({100, 1000, 10000})  # a ReLU module's training calls at which it is checked
DEAD = 0.9  # the fraction of dead units that warns
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep

watch_loss = watch_steps = watch_eval = watch_relu = True
_fired: set[str] = set()
_checks_left = 0
_first_loss = True


def enabled() -> bool:
    """Whether the coach is on (MINITORCH_COACH is not "0")."""
    return os.environ.get("MINITORCH_COACH", "1").strip() != "0"


def reset() -> None:
    """Forget what has fired and start every schedule again; re-reads MINITORCH_COACH."""
    global watch_loss, watch_steps, watch_eval, watch_relu, _checks_left, _first_loss
    on = enabled()
    watch_loss = watch_steps = watch_eval = watch_relu = on
    _fired.clear()
    _checks_left, _first_loss = CROSS_ENTROPY_CHECKS, True


def _warn(kind: str, message: str) -> None:
    if kind in _fired:
        return
    _fired.add(kind)
    # Point the warning at the first line outside minitorch: the user's call that made the mistake.
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, CoachWarning, stacklevel=level)


# -- a and d: cross_entropy's input ----------------------------------------------------------------
def cross_entropy_called(input: Any, target: Any, reduction: str) -> None:
    """Check the first few inputs for probabilities, and the first training loss against ln(C)."""
    global watch_loss, _checks_left, _first_loss
    if input.ndim < 2 or input.shape[1] < 2 or input.shape[0] == 0 or "float" not in str(input.dtype):
        return
    if _checks_left > 0:
        _checks_left -= 1
        _check_probabilities(_rows(input, 64))
    if _first_loss and reduction == "mean" and input.requires_grad and is_grad_enabled() \
            and "int" in str(getattr(target, "dtype", "")):
        _first_loss = False
        _check_first_loss(_rows(input, 1024), target.backend.to_host(target.array).reshape(-1)[:1024])
    watch_loss = _checks_left > 0 or _first_loss


def _rows(input: Any, n: int) -> Any:
    """The first `n` rows of the logits on the host, as float64 (rows, C): the class axis 1 moved last."""
    import numpy as np
    xp, a = input.xp, input.array
    if a.ndim > 2:
        a = xp.permute_dims(a, (0, *range(2, a.ndim), 1))
    return np.asarray(input.backend.to_host(xp.reshape(a, (-1, input.shape[1]))[:n, :]), dtype=np.float64)


def _check_probabilities(rows: Any) -> None:
    import numpy as np
    if not np.all(np.isfinite(rows)):
        return
    what = None
    if rows.min() >= 0 and rows.max() <= 1 and np.allclose(rows.sum(axis=1), 1, atol=1e-3):
        what = "probabilities (each row is >= 0 and sums to 1): softmax was applied before the loss"
    elif rows.max() <= 0 and np.allclose(np.exp(rows).sum(axis=1), 1, atol=1e-3):
        what = "log-probabilities (each row's exp sums to 1): log_softmax was applied before the loss"
    if what is not None:
        _warn("cross_entropy_probabilities",
              f"cross_entropy got {what}. It applies log_softmax itself and expects raw logits (scores): "
              "pass the last layer's output as it is, or use nll_loss on log-probabilities")


def _check_first_loss(rows: Any, labels: Any) -> None:
    import numpy as np
    keep = (labels >= 0) & (labels < rows.shape[1])  # ignore_index rows do not count
    if not keep.any() or not np.all(np.isfinite(rows)):
        return
    rows, labels = rows[keep], labels[keep]
    top = rows.max(axis=1)
    lse = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
    loss = float(np.mean(lse - rows[np.arange(len(labels)), labels]))
    classes = rows.shape[1]
    expected = math.log(classes)
    # Only a loss far above ln(C) is a mistake: far below it means the model already learned (a resumed run,
    # pretrained weights), which no fresh initialisation reaches.
    if loss - expected > 1.0 + 0.5 * expected:
        _warn("first_loss",
              f"the first training loss is {loss:.3g}, far from ln({classes}) = {expected:.3g}, the loss of a model "
              f"that guesses all {classes} classes equally: the initial logits are too large or too confident. "
              "Scale the last layer's initial weights down (e.g. by 0.01, or zero its bias), or check the input "
              "normalisation and the labels")


# -- b: gradients never zeroed -----------------------------------------------------------------------
def optimizer_step(optimizer: Any) -> None:
    """Count steps that find one more backward added into the same gradient, with no zeroing between."""
    global watch_steps
    grad = optimizer.param_groups[0]["params"][0].grad  # one parameter stands for all; usually the first
    if grad is None:
        grad = next((p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None), None)
        if grad is None:
            return
    state = optimizer.__dict__
    last, version = state.get("_coach_grad"), grad._vc[0]
    # zero_grad() replaces the gradient (None, then a new tensor) or zeroes it in place (a second version
    # bump): either way this test fails. Only "the same tensor, exactly one backward later" counts.
    same = last is not None and last[0]() is grad and version == last[1] + 1
    stale = state.get("_coach_stale", 0) + 1 if same else 0
    state["_coach_grad"], state["_coach_stale"] = (weakref.ref(grad), version), stale
    if stale >= STALE_STEPS:
        watch_steps = False
        _warn("stale_gradients",
              f"optimizer.step() has run {stale} times on gradients that were never reset: backward() adds "
              "into .grad, so each step used the sum of all gradients so far. Call optimizer.zero_grad() "
              "(or model.zero_grad()) once per step, before loss.backward()")


# -- c: evaluation in train mode ---------------------------------------------------------------------
def forward_in_train_mode(module: Any) -> None:
    """Warn when a Dropout/BatchNorm in train mode runs under no_grad: most likely an evaluation."""
    global watch_eval
    if is_grad_enabled() or getattr(module, "p", None) == 0:  # Dropout(p=0) changes nothing
        return
    watch_eval = False
    kind = type(module).__name__
    effect = ("drops units at random" if "Dropout" in kind else
              "normalises with this batch's statistics and updates its running statistics")
    _warn("train_mode_in_no_grad",
          f"{kind} is in training mode inside no_grad(), so it {effect}; if this is an evaluation, call "
          "model.eval() before it (and model.train() after)")


# -- e: dead ReLUs -----------------------------------------------------------------------------------
def relu_output(module: Any, out: Any) -> None:
    """On a sparse schedule of training calls, warn when most of a ReLU layer's units are dead."""
    global watch_relu
    calls = module.__dict__.get("_coach_calls", 0) + 1
    module.__dict__["_coach_calls"] = calls
    if calls not in RELU_CALLS or out.ndim < 2 or out.shape[0] < 2:
        return
    fraction = float(dead_fraction(out.xp, out.array))
    if fraction > DEAD:
        watch_relu = False
        _warn("dead_relu",
              f"{100 * fraction:.0f}% of the units of a ReLU layer ({out.shape[1]} units, after {calls} training "
              "calls) output 0 for every sample of the batch, so they no longer learn: lower the learning "
              "rate, use He (kaiming) initialisation, or try LeakyReLU/GELU")


def dead_fraction(xp: Any, array: Any) -> Any:
    """The fraction of units (axis 1) that are 0 for every sample and position of a batch (a 0-d array)."""
    alive = xp.any(array != 0, axis=(0, *range(2, array.ndim)))
    return 1.0 - xp.mean(xp.astype(alive, xp.float64))


reset()
