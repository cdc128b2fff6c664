"""Views and version counters: the bookkeeping that makes backward refuse arrays changed in place."""
from __future__ import annotations

from typing import Any


def share_storage(view: Any, base: Any) -> None:
    """Give a view its base's version counter; remember the base's history to detect rebasing."""
    view._vc = base._vc
    root = base._base if base._base is not None else base
    view._base, view._base_fn = root, root.grad_fn


def check_view(t: Any, op: str) -> None:
    """A view whose base was rewritten in place by a recorded op describes an old graph: refuse it."""
    if t._base.grad_fn is not t._base_fn:
        raise RuntimeError(f"{op}: this tensor is a view of a tensor that was modified in place by an operation "
                           "recorded by autograd after the view was taken, so its gradient would be wrong. "
                           "minitorch does not rebase views (PyTorch does): take the view again after the "
                           "in-place op, or clone() the view before it")


def saved_versions(saved: tuple, args: tuple, tensor_type: type, out: Any) -> tuple:
    """(tensor, version, which) for each input or output whose storage the op saved; checked in backward."""
    found = []
    for s in saved:
        if same_storage(s, out.array):
            found.append((out, 0, "output 0"))
            continue
        for i, a in enumerate(args):
            if isinstance(a, tensor_type) and same_storage(s, a.array):
                found.append((a, a._vc[0], f"input {i}"))
                break
    return tuple(found)


def same_storage(s: Any, a: Any) -> bool:
    """Whether s and a are one array or views of one buffer (NumPy's and CuPy's .base)."""
    if s is a:
        return True
    sb, ab = getattr(s, "base", None), getattr(a, "base", None)
    return (sb is not None and (sb is a or sb is ab)) or (ab is not None and ab is s)


def check_versions(node: Any) -> None:
    """Raise if an array a node saved was changed in place since (its version moved on)."""
    for t, version, which in node.versions:
        if t._vc[0] != version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: [{t.dtype} tensor of shape {list(t.shape)}], which is {which} of {node.name}, "
                f"is at version {t._vc[0]}; expected version {version} instead. Hint: clone() it before "
                "the in-place change, or use the out-of-place op")
