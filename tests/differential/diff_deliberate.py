"""Where minitorch differs from PyTorch on purpose: the only mismatches the differential test forgives.

Each entry is one behaviour README's "Where minitorch differs from PyTorch" lists, with the reason,
and a predicate that recognises its mismatches (a Mismatch: category, op, detail). Keep this tiny:
an entry needs the lead's agreement; every other mismatch is a bug.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Difference:
    reason: str
    matches: Callable[[object], bool]


DELIBERATE: dict[str, Difference] = {
    "loss-shapes": Difference(
        "mse_loss / l1_loss / huber_loss refuse input and target of different shapes instead of broadcasting "
        "them (PyTorch only warns; broadcasting there is almost always a bug). Listed in README.",
        lambda mm: mm.category == "raises" and mm.op.startswith(("F.mse_loss", "F.l1_loss", "F.huber_loss"))
        and "target of shape" in mm.detail),
    "view-rebase": Difference(
        "An in-place op recorded by autograd on a view (x.T.zero_(), x[0].add_(w), x.view(6).clamp_()) raises, "
        "and so does using a view whose base was rewritten in place after the view was taken: PyTorch rebases "
        "the view's base (CopySlices on the base); minitorch does not, and refuses rather than give a wrong "
        "gradient. The same write on the base, or on a clone(), or under no_grad, works. Listed in README.",
        lambda mm: "in-place operation on a view" in mm.detail or "is a view of a tensor that was modified" in mm.detail
        or (mm.category == "requires_grad" and mm.op.startswith("final-state"))),  # a view does not follow its base
    "memory-overlap": Difference(
        "An in-place op whose operand overlaps the written tensor (x3 = x.unsqueeze(-1); x3 -= x; x[[0, 0]] = x) "
        "is computed out of place and then written, so it gives the well-defined result where PyTorch refuses.",
        lambda mm: mm.category == "no-raise" and "refer to a single memory location" in mm.detail),
    "saved-arrays": Difference(
        "Version checks cover the arrays minitorch's backward formulas read, which are not always those PyTorch "
        "saves: modifying a huber/mse target, an amax or prod output, ... in place before backward raises in "
        "PyTorch and is allowed in minitorch (the gradient stays right, tested); the fused cross_entropy saves "
        "the logits (and recomputes softmax in backward) where PyTorch saves log_softmax, so modifying the logits "
        "in place before backward raises in minitorch. Listed in README.",
        lambda mm: (mm.category == "backward-no-raise" and "modified by an inplace operation" in mm.detail)
        or (mm.category == "backward-raises" and "CrossEntro" in mm.detail)
        # .data writes bypass version checks in both libraries; cross_entropy's backward then reads the new logits
        or (mm.category == "grad-value" and "cross_entropy" in mm.op and "data." in mm.op)),
    "infinite-upstream-gradient": Difference(
        "When the gradient flowing into an op is already infinite (a loss divided by zero), which elements end up "
        "nan, +-inf or 0 follows each library's formula order; finite gradients match.",
        lambda mm: mm.category == "grad-value" and _nonfinite(mm.detail.split("minitorch")[0])),
    "expand-read-only": Difference(
        "expand() returns a read-only broadcast view, so every in-place write into it raises; PyTorch allows "
        "fill_/zero_ there (the others are refused there too). Listed in README.",
        lambda mm: mm.category == "raises" and "expand() view" in mm.detail),
    "view-strides": Difference(
        "view() refuses exactly when NumPy's reshape would have to copy; a result's memory order can differ from "
        "PyTorch's strides (e.g. elementwise results of transposed inputs), so a view PyTorch refuses may work.",
        lambda mm: mm.category == "no-raise" and mm.op == "view"),
    "relu-mask": Difference(
        "relu's backward multiplies by its 0/1 mask (12x faster than where on NumPy), so an infinite gradient "
        "arriving at a unit relu zeroed (sqrt(relu(x)) at x < 0) becomes nan there, where PyTorch gives 0.",
        lambda mm: mm.category == "grad-value" and "relu" in mm.op and "nan" in mm.detail.split("minitorch")[-1]),
    "strict-none-key-write": Difference(
        "On the array_api_strict test backend (not a user backend), a write through an index key holding None "
        "raises: the standard has no such writes and minitorch does not emulate them there.",
        lambda mm: mm.category == "raises" and mm.op.startswith("setitem") and "Single-axes index None" in mm.detail),
    "gelu-inf": Difference(
        "gelu(+inf) is +inf (the limit of x * Phi(x)); PyTorch gives nan. gelu(-inf) is nan in both.",
        lambda mm: mm.category == "value" and mm.op.startswith("F.gelu") and "inf" in mm.detail),
    "integer-requires-grad": Difference(
        "Only floating-point tensors ever require grad: writing a tensor that requires grad into an integer or "
        "bool tensor leaves it not requiring grad (PyTorch marks the integer tensor, which can never get a .grad).",
        lambda mm: mm.category == "requires_grad" and mm.op.startswith("setitem")),
    "bool-exponent": Difference(
        "x ** bool_tensor is differentiable in x (the exponent acts as 0/1); PyTorch's backward raises on it.",
        lambda mm: mm.category == "backward-no-raise" and "with a bool tensor is not supported" in mm.detail),
    "empty-integer-softmax": Difference(
        "softmax/log_softmax of an integer or bool tensor raises even when it is empty (PyTorch returns the "
        "empty result without checking the dtype).",
        lambda mm: mm.category == "raises" and "softmax" in mm.op and "not implemented for" in mm.detail),
}


def _nonfinite(text: str) -> bool:
    """Whether PyTorch's side of a mismatch (the text before "minitorch") holds nan or inf."""
    return "nan" in text or "inf" in text


def deliberate(mm: object) -> str | None:
    """The registry's name for this mismatch, or None when it is a bug."""
    for name, diff in DELIBERATE.items():
        if diff.matches(mm):
            return name
    return None
