"""What the drawing shows: the captured graph with names, grouped by module call, deep calls collapsed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .capture import Call, Capture, rule_lines


@dataclass
class Cluster:
    """A module call drawn as a box around its ops."""

    id: str
    label: str
    parent: str | None


def name_graph(cap: Capture, params: Any) -> None:
    """Name leaves and module calls from `params` (a Module or a dict) or the outermost module on the graph."""
    from ..nn import Module
    outer = params if isinstance(params, Module) else None
    if outer is None:
        roots = [c for c in cap.calls if c.parent is None]
        outer = max(roots, key=lambda c: len(c.ops)).module if roots else None
    qualnames = {id(m): n for n, m in outer.named_modules()} if outer is not None else {}
    buffers: set[int] = set()
    if isinstance(params, dict):
        names = {id(t): n for n, t in params.items()}
    elif params is not None and not isinstance(params, Module):
        raise TypeError(f"graph(params=...) takes a dict name -> tensor or a Module, got {type(params).__name__}")
    elif outer is not None:
        names = {id(t): n for n, t in outer.named_parameters()}
        buffers = {id(t) for _, t in outer.named_buffers()}
        names.update({id(t): n for n, t in outer.named_buffers()})
    else:
        names = {}
    calls_of: dict[int, int] = {}
    for c in sorted(cap.calls, key=lambda c: int(c.out[2:])):  # forward order: a module's calls count up
        count = calls_of[id(c.module)] = calls_of.get(id(c.module), 0) + 1
        base = qualnames.get(id(c.module), "")
        c.name = f"{base}: {type(c.module).__name__}" if base else type(c.module).__name__
        c.name += f" (call {count})" if count > 1 else ""
    owned: dict[int, set[int]] = {}
    users: dict[str, set[str]] = {}
    for e in cap.edges:
        users.setdefault(e.src, set()).add(e.dst)
    for leaf in cap.leaves.values():
        t = leaf.tensor
        leaf.name, leaf.buffer, leaf.tensor = names.get(id(t)), id(t) in buffers, None
        for c in cap.calls:  # the innermost call that uses it everywhere and owns it as a parameter or buffer
            if users[leaf.id] <= c.ops:
                if id(c) not in owned:
                    owned[id(c)] = {id(p) for p in c.module.parameters()} | {id(b) for b in c.module.buffers()}
                if id(t) in owned[id(c)]:
                    leaf.owner = c
                    break


def _innermost(cap: Capture) -> dict[str, Call]:
    inner: dict[str, Call] = {}
    for c in cap.calls:  # smallest first
        for op in c.ops:
            inner.setdefault(op, c)
    return inner


def _shown_call(c: Call | None, depth: int | None) -> Call | None:
    """The call whose box holds something owned by `c`: c itself, or its ancestor above the collapse depth."""
    while c is not None and depth is not None and c.depth >= depth:
        c = c.parent
    return c


def _grad(grad: dict | None) -> dict | None:
    return None if grad is None else dict(grad)


def build(cap: Capture, group_by: str | None, depth: int | None) -> tuple[list[dict], list[dict], list[Cluster]]:
    """The nodes, edges and clusters to draw, as plain data."""
    inner = _innermost(cap)
    collapsed = {} if depth is None else {op: c for c in cap.calls if c.depth == depth for op in c.ops}
    cluster_ids = {id(c): f"cluster_{i}" for i, c in enumerate(cap.calls)}

    def cluster_of(c: Call | None) -> Call | None:
        return _shown_call(c, depth) if group_by == "module" else None

    def label(c: Call | None) -> str | None:
        return None if c is None else c.name

    nodes: list[dict] = []
    for leaf in cap.leaves.values():
        owner = leaf.owner
        if owner is not None and depth is not None and owner.depth >= depth:
            continue  # inside a collapsed module: counted in its parameters
        nodes.append({"id": leaf.id, "kind": "leaf", "name": leaf.name or leaf.arg, "named": leaf.name is not None,
                      "buffer": leaf.buffer, "shape": leaf.shape, "dtype": leaf.dtype,
                      "requires_grad": leaf.requires_grad, "module": label(owner), "grad": _grad(leaf.grad),
                      "cluster": cluster_of(owner)})
    module_ids: dict[int, str] = {}  # collapsed call -> its node, numbered in forward order
    for op in cap.ops.values():
        call = collapsed.get(op.id)
        if call is None:
            nodes.append({"id": op.id, "kind": "op", "name": op.name, "rule": op.rule, "rule_lines": rule_lines(op),
                          "inputs": list(op.inputs), "output": op.output, "dtype": op.dtype,
                          "loss": op.id == cap.root, "module": label(inner.get(op.id)), "grad": _grad(op.grad),
                          "cluster": cluster_of(inner.get(op.id))})
        elif id(call) not in module_ids:
            module_ids[id(call)] = f"module{len(module_ids)}"
            out = cap.ops[call.out]
            nodes.append({"id": module_ids[id(call)], "kind": "module", "name": call.name,
                          "type": type(call.module).__name__, "inputs": [], "output": out.output,
                          "dtype": out.dtype, "params": sum(p.numel() for p in call.module.parameters()),
                          "ops": len(call.ops), "module": label(call.parent), "grad": _grad(out.grad),
                          "cluster": cluster_of(call.parent)})
    rep = {op: module_ids[id(c)] for op, c in collapsed.items()}
    shown = {n["id"] for n in nodes}
    edges, seen = [], set()
    for e in cap.edges:
        src, dst = rep.get(e.src, e.src), rep.get(e.dst, e.dst)
        key = (src, dst, e.position if dst == e.dst else None)  # one edge into a module node per source
        if src == dst or src not in shown or key in seen:
            continue
        seen.add(key)
        axes = e.sum_axes if dst == e.dst else ()  # a sum inside a collapsed module is not drawn
        edges.append({"src": src, "dst": dst, "shape": e.shape, "sum_axes": axes, "label": _sum_label(axes)})
    by_id = {n["id"]: n for n in nodes}
    for e in edges:
        if by_id[e["dst"]]["kind"] == "module":
            by_id[e["dst"]]["inputs"].append(e["shape"])
    clusters = []
    if group_by == "module":
        for c in cap.calls:
            if depth is None or c.depth < depth:
                parent = cluster_of(c.parent)
                clusters.append(Cluster(cluster_ids[id(c)], c.name, None if parent is None else
                                        cluster_ids[id(parent)]))
    for n in nodes:
        c = n.pop("cluster")
        n["cluster"] = None if c is None else cluster_ids[id(c)]
    return nodes, edges, clusters


def _sum_label(axes: tuple[int, ...]) -> str | None:
    if not axes:
        return None
    return f"sum over axis {axes[0]}" if len(axes) == 1 else "sum over axes " + ", ".join(map(str, axes))
