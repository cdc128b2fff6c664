"""Errors inside model(x) that explain themselves: the layers called so far, their output shapes, the
failing layer, and for a Linear / Conv / norm layer the size that would fit.

Nothing is recorded on a successful call. When a forward raises, the outermost Module.__call__ runs
the forward once more under no_grad with summary's hooks (mode, buffers and RNG restored after) and
adds the walk to the original exception as a note (PEP 678; appended to its message before Python
3.11). The exception keeps its type, identity, arguments and traceback, so `except` clauses and code
that reads exc.args behave as without the walk. If the re-run does not fail the same way, the error is
left exactly as raised. A model with hooks of its own is not re-run: its hooks (loggers, feature
collectors) would see a call the user never made.
"""
from __future__ import annotations

import math
import sys
import warnings
from typing import Any

from ..autograd import no_grad
from .summary import Trace, _shape, preserved

EXPLAINED = (RuntimeError, ValueError, TypeError, IndexError)  # what shape mistakes raise; not MemoryError
MAX_ROWS = 30  # the calls shown before the failure (the failing layer's ancestors always are)

# (attribute, its name in the message, which input dim must match it)
_EXPECTS = (("in_features", "features", -1), ("in_channels", "channels", 1), ("num_features", "features", 1),
            ("num_channels", "channels", 1))


def explain(module: Any, args: tuple, kwargs: dict, exc: BaseException) -> None:
    """Add the layer walk to exc when this is the outermost module call; never raises."""
    if not isinstance(exc, EXPLAINED) or getattr(exc, "_minitorch_walk", False) or not _outermost():
        return
    try:
        if any(m._has_hooks and _hooked(m) for m in module.modules()):
            return
        attach(exc, _rerun(module, args, kwargs, exc))
    except Exception:  # the walk is a courtesy: any failure of its own leaves the original error as it was
        return


def attach(exc: BaseException, walk: str | None) -> None:
    """Add `walk` to exc (a note; the message before Python 3.11), once."""
    if walk is None or getattr(exc, "_minitorch_walk", False):
        return
    try:
        exc._minitorch_walk = True
    except Exception:  # an exception type without attributes: leave it untouched
        return
    if hasattr(exc, "add_note"):
        exc.add_note(walk)
    elif exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]}\n{walk}",) + exc.args[1:]


def _hooked(m: Any) -> bool:
    return bool(m._forward_pre_hooks or m._forward_hooks or m._backward_hooks or m._backward_pre_hooks)


def _outermost() -> bool:
    """Whether no Module.__call__ is on the stack above the one that called explain()."""
    from .module import Module  # noqa: PLC0415
    call = Module.__call__.__code__
    frame = sys._getframe(3)  # _outermost <- explain <- Module.__call__ <- its caller
    while frame is not None:
        if frame.f_code is call:
            return False
        frame = frame.f_back
    return True


def _rerun(module: Any, args: tuple, kwargs: dict, exc: BaseException) -> str | None:
    """The walk, from one more forward that must fail as the first did; None if it does not."""
    trace = Trace(module)
    with preserved(module), no_grad(), warnings.catch_warnings(), trace.hooked():
        warnings.simplefilter("ignore")  # the first run already said whatever it had to say
        try:
            module(*args, **kwargs)
        except Exception as again:
            if type(again) is not type(exc) or str(again) != str(exc):
                return None  # a different failure: the walk would describe another error
        else:
            return None  # it failed only with grad on, or by chance
    return describe(trace)


def describe(trace: Trace) -> str | None:
    """The walk of a trace whose forward failed: the calls so far, the failing layer, what would fit."""
    if not trace.stack:
        return None
    lines = [f"While running {_label(trace.stack[0])}; the module calls so far, with their output shapes:"]
    failed = trace.stack[-1]
    open_ = {id(r) for r in trace.stack}
    first_shown = len(trace.rows) - MAX_ROWS
    shown = [r for i, r in enumerate(trace.rows) if i >= first_shown or id(r) in open_]
    width = max(len(_label(r)) + 2 * r["depth"] for r in shown)
    skipped = 0
    for i, r in enumerate(trace.rows):
        if i < first_shown and id(r) not in open_:
            skipped += 1
            continue
        if skipped:
            lines.append(f"  {'  ' * r['depth']}... {skipped} calls")
            skipped = 0
        text = ("  " * r["depth"] + _label(r)).ljust(width)
        if r is failed:
            lines.append(f"  {text}  <- failed here; input {_shape(_first(r['input_shapes']))}")
        else:
            lines.append(f"  {text}  {_shape(r['output_shape']) if r['output_shape'] is not None else '(running)'}")
    hint = _fit_hint(failed, trace.rows)
    return "\n".join(lines + ([hint] if hint else []))


def _fit_hint(row: dict, rows: list[dict]) -> str | None:
    """'got 12544 = 64x14x14 features; Linear expects 9216 (in_features): ...' when a size mismatches."""
    module, shape = row["module"], _first(row["input_shapes"])
    if shape is None:
        return None
    for attr, noun, dim in _EXPECTS:
        want = getattr(module, attr, None)
        if not isinstance(want, int) or len(shape) < (1 if dim == -1 else 2):
            continue
        if dim == 1 and attr == "in_channels" and len(shape) == 1 + len(getattr(module, "kernel_size", ())):
            dim = 0  # an unbatched (C, H, W) input
        got = shape[dim]
        if got == want:
            continue
        cls = type(module).__name__
        flat = _source(rows, row, lambda s: len(s) > 2 and math.prod(s[1:]) == got) if dim == -1 else None
        same = flat or _source(rows, row, lambda s: s == shape)
        product = f" = {'x'.join(map(str, flat['output_shape'][1:]))}" if flat else ""
        where = (f" (the output {_shape(same['output_shape'])} of {_label(same)}{', flattened' if flat else ''})"
                 if same else f" (its input {_shape(shape)})")
        return f"got {got}{product} {noun}; {cls} expects {want} ({attr}): {attr}={got} would fit{where}"
    return None


def _source(rows: list[dict], failed: dict, fits: Any) -> dict | None:
    """The last call that returned before `failed` with a single output whose shape `fits`."""
    before = next(i for i, r in enumerate(rows) if r is failed)
    for r in reversed(rows[:before]):
        if isinstance(r["output_shape"], tuple) and fits(r["output_shape"]):
            return r
    return None


def _label(row: dict) -> str:
    return f"{row['name']} ({row['class']})" if row["name"] else row["class"]


def _first(shapes: list) -> Any:
    return shapes[0] if shapes else None
