"""minitorch.viz.graph(loss): a drawing of the recorded autograd graph, with each op's backward rule."""
from __future__ import annotations

import os
import weakref
from typing import Any

from .. import autograd
from .capture import Capture
from .dot import graphviz_module, render_bytes, source
from .view import build, name_graph

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}


def graph(loss: Any, params: Any = None, group_by: str | None = None, depth: int | None = None) -> "Graph":
    """The graph that `loss.backward()` will walk: call it before backward (the graph is freed then).

    params: a dict name -> tensor (as torchviz) or a Module, to name the leaves; by default the outermost
    module called on the graph names them. group_by="module" boxes each module call's ops; with depth=k
    every module call k levels inside the outermost one is drawn as one node. The next backward through
    `loss` adds each node's gradient (shape and norm) to the drawing.
    """
    graphviz_module()  # fail now, not at the first render, when the package is missing
    if group_by not in (None, "module"):
        raise ValueError(f"graph(group_by=...) must be None or 'module', got {group_by!r}")
    if depth is not None and (group_by != "module" or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"graph(depth=...) needs group_by='module' and an int >= 0, got depth={depth!r}")
    return Graph(Capture(loss), params, group_by, depth)


def _norm(a: Any) -> float | None:
    """The 2-norm of an array, accumulated in float64 (None for integer arrays)."""
    xp = a.__array_namespace__()
    if not xp.isdtype(a.dtype, ("real floating", "complex floating")):
        return None
    wide = xp.astype(a, xp.float64) if xp.isdtype(a.dtype, "real floating") else a
    return float(xp.sqrt(xp.sum(xp.abs(wide) ** 2)))


class Graph:
    """A captured graph: `.nodes`/`.edges` as plain data, `.source` as DOT, `.render(path)`, SVG in Jupyter."""

    def __init__(self, capture: Capture, params: Any, group_by: str | None, depth: int | None) -> None:
        self._cap, self.group_by, self.depth = capture, group_by, depth
        name_graph(capture, params)
        self._leaf_sums: dict[str, Any] = {}
        self._active, self._seen = False, 0
        self._handle = None
        add = getattr(autograd, "add_backward_observer", None)
        if add is not None:
            ref = weakref.ref(self)

            def observer(node: Any, grad_in: Any, grads_out: Any) -> None:
                g = ref()
                if g is not None:
                    g._observe(node, grad_in, grads_out)

            def on_accumulate(tensor: Any, grad: Any) -> None:  # once per leaf, when a backward has ended
                g = ref()
                if g is not None and g._handle is not None:
                    g._stop()

            observer.on_accumulate = on_accumulate  # type: ignore[attr-defined]
            self._handle = add(observer)
            weakref.finalize(self, self._handle.remove)  # a drawing dropped unwatched leaves no observer
        else:  # no gradients to wait for: let the graph go
            capture.held, capture.contexts = [], {}

    # -- gradients of the next backward ----------------------------------------------------------
    def _observe(self, node: Any, grad_in: Any, grads_out: Any) -> None:
        """Record one node's gradients, from the next backward only, and only if it starts at or passes
        through this root (it ends at its leaves: on_accumulate stops the observation)."""
        cap = self._cap
        key = cap.contexts.get(id(node))
        if key is None:
            return  # another graph's node: a backward through a sum of losses visits both
        if key == cap.root and self._active:
            self._stop()  # the root again: a second backward (retain_graph=True)
            return
        if key != cap.root and not self._active:
            return
        self._active = True
        op = cap.ops[key]
        op.grad = {"shape": tuple(grad_in.shape), "norm": _norm(grad_in)}
        self._seen += 1
        grads = grads_out if isinstance(grads_out, tuple) else (grads_out,)
        for pos, src in op.slots:
            leaf = cap.leaves.get(src)
            gi = grads[pos] if pos < len(grads) else None
            if leaf is None or gi is None or not leaf.requires_grad:
                continue
            gi = autograd.unbroadcast(gi, leaf.shape)
            prev = self._leaf_sums.get(src)
            # A copy: the first gradient may become the leaf's .grad and be updated in place later.
            self._leaf_sums[src] = gi.__array_namespace__().asarray(gi, copy=True) if prev is None else prev + gi
        if self._seen == len(cap.ops):
            self._stop()

    def _stop(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        for src, total in self._leaf_sums.items():
            self._cap.leaves[src].grad = {"shape": tuple(total.shape), "norm": _norm(total)}
        self._leaf_sums = {}
        self._cap.held, self._cap.contexts = [], {}  # release the graph: backward is done with it

    @property
    def observing(self) -> bool:
        """Whether the next backward through the root will still add gradients to this drawing."""
        return self._handle is not None

    # -- the drawing ------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[dict]:
        """One dict per drawn node: id, kind ('op', 'leaf', 'module'), name, shapes, dtype, module (the call
        it belongs to), grad ({'shape', 'norm'} after backward), cluster; ops add rule and rule_lines."""
        return self._view()[0]

    @property
    def edges(self) -> list[dict]:
        """One dict per drawn edge: src, dst (node ids), shape, sum_axes (a broadcast's gradient sum), label."""
        return self._view()[1]

    @property
    def source(self) -> str:
        """The DOT text of the drawing."""
        return self._source()

    def _view(self) -> tuple:
        if self._active and self._handle is not None:
            self._stop()  # backward finished without visiting every node (some got no gradient)
        return build(self._cap, self.group_by, self.depth)

    def _source(self, dpi: int | None = None) -> str:
        return source(*self._view(), dpi=dpi)

    def render(self, path: str | os.PathLike, dpi: int = 96) -> str:
        """Write the drawing to `path` as SVG, PNG or PDF, chosen by its suffix (dpi: PNG only); returns path."""
        path = os.fspath(path)
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in FORMATS:
            raise ValueError(f"render: cannot tell the format from {path!r}; use a name ending in "
                             + ", ".join(FORMATS))
        data = render_bytes(self._source(dpi if suffix == ".png" else None), FORMATS[suffix])
        with open(path, "wb") as f:
            f.write(data)
        return path

    def _repr_svg_(self) -> str:
        return render_bytes(self._source(), "svg").decode("utf-8")

    def __repr__(self) -> str:
        kinds = [n["kind"] for n in self.nodes]
        return (f"<minitorch.viz.Graph: {kinds.count('op')} ops, {kinds.count('leaf')} leaves"
                + (f", {kinds.count('module')} modules" if "module" in kinds else "") + ">")
