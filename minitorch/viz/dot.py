"""DOT text for a graph view (through the graphviz package), and rendering it with Graphviz's `dot`."""
from __future__ import annotations

import textwrap
from html import escape
from typing import Any

from .view import Cluster

INSTALL_PACKAGE = 'minitorch.viz needs the graphviz Python package: pip install "minitorch[viz]"'
INSTALL_DOT = ("rendering needs Graphviz's `dot` program, which was not found on PATH. Install it: "
               "apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS), or "
               "conda install graphviz; other systems: https://graphviz.org/download/")

FONT, MONO = "Helvetica", "Courier"
# fill, border: ops blue, the loss red, parameters amber, other leaves grey, collapsed modules green
COLOURS = {"op": ("#dbeafe", "#2563eb"), "loss": ("#fee2e2", "#dc2626"), "param": ("#fef3c7", "#d97706"),
           "leaf": ("#f1f5f9", "#64748b"), "module": ("#dcfce7", "#16a34a")}
CLUSTER_FILLS = ("#f8fafc", "#eef2f7")
RULE_WIDTH = 48  # characters per line of a backward rule in a node


def graphviz_module() -> Any:
    """The graphviz package, or an ImportError saying how to install it."""
    try:
        import graphviz
    except ImportError as exc:
        raise ImportError(INSTALL_PACKAGE) from exc
    return graphviz


def shape_text(shape: Any) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")" if shape is not None else "?"


def _grad_row(grad: dict | None) -> str:
    if grad is None:
        return ""
    norm = "" if grad["norm"] is None else f",  norm {grad['norm']:.3g}"
    return _row(f"grad {shape_text(grad['shape'])}{norm}", size=11, colour="#15803d")


def _row(text: str, size: int = 11, colour: str = "#334155", bold: bool = False, face: str | None = None,
         align: str = "CENTER") -> str:
    body = escape(text)
    body = f"<B>{body}</B>" if bold else body
    face = f' FACE="{face}"' if face else ""
    return f'<TR><TD ALIGN="{align}"><FONT POINT-SIZE="{size}" COLOR="{colour}"{face}>{body}</FONT></TD></TR>'


def _table(rows: list[str]) -> str:
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def _title(name: str, dtype: str | None) -> str:
    tail = f'  <FONT POINT-SIZE="11" COLOR="#64748b">{escape(dtype)}</FONT>' if dtype else ""
    return f'<TR><TD><FONT POINT-SIZE="15" COLOR="#0f172a"><B>{escape(name)}</B></FONT>{tail}</TD></TR>'


def _shapes(n: dict) -> str:
    return _row("  ".join(map(shape_text, n["inputs"])) + "  \u2192  " + shape_text(n["output"]))


def _rule_rows(lines: list[dict]) -> list[str]:
    """One row per gradient of the rule, long ones wrapped; greyed where backward skips it (no grad needed)."""
    rows = []
    for line in lines:
        formula, _, note = line["text"].partition("  (")  # a note in parentheses gets its own line
        wrapped = textwrap.wrap(formula, RULE_WIDTH, subsequent_indent="    ")
        wrapped += textwrap.wrap("(" + note, RULE_WIDTH) if note else []
        if not line["computed"]:
            wrapped[-1] += "   (not needed)"
        colour = "#1e3a8a" if line["computed"] else "#94a3b8"
        rows += [_row(text, size=12, colour=colour, face=MONO, align="LEFT") for text in wrapped]
    return rows


def _op_label(n: dict) -> str:
    return _table([_title(n["name"], n["dtype"]), _shapes(n), *_rule_rows(n["rule_lines"]), _grad_row(n["grad"])])


def _leaf_label(n: dict) -> str:
    rows = [_title(n["name"], n["dtype"]), _row(shape_text(n["shape"]))]
    if not n["named"] or n["buffer"]:
        rows.append(_row("requires grad" if n["requires_grad"] else "no grad", size=11, colour="#64748b"))
    return _table(rows + [_grad_row(n["grad"])])


def _module_label(n: dict) -> str:
    return _table([_title(n["name"], n["dtype"]), _shapes(n),
                   _row(f"{n['params']:,} parameters, {n['ops']} op{'s' if n['ops'] != 1 else ''}", size=11,
                        colour="#166534"),
                   _grad_row(n["grad"])])


def _style(n: dict) -> tuple[str, str, str]:
    """(fill, border, style) of a node."""
    if n["kind"] == "leaf":
        kind = "param" if n["requires_grad"] else "leaf"
        return (*COLOURS[kind], "rounded,filled" if n["named"] or not n["requires_grad"] else "rounded,filled,dashed")
    kind = "module" if n["kind"] == "module" else "loss" if n["loss"] else "op"
    return (*COLOURS[kind], "rounded,filled")


def source(nodes: list[dict], edges: list[dict], clusters: list[Cluster], dpi: int | None = None) -> str:
    """The DOT text: forward flow top to bottom, one box per op, leaf and collapsed module."""
    graphviz = graphviz_module()
    attrs = {"rankdir": "TB", "ordering": "in", "nodesep": "0.25", "ranksep": "0.22", "fontname": FONT,
             "bgcolor": "white"}
    if dpi:
        attrs["dpi"] = str(dpi)
    g = graphviz.Digraph("minitorch", graph_attr=attrs,
                         node_attr={"shape": "box", "fontname": FONT, "margin": "0.1,0.03", "penwidth": "1.4"},
                         edge_attr={"color": "#475569", "arrowsize": "0.7", "fontname": FONT, "fontsize": "11"})
    children: dict[str | None, list[Cluster]] = {}
    for c in clusters:
        children.setdefault(c.parent, []).append(c)
    members: dict[str | None, list[dict]] = {}
    for n in nodes:
        members.setdefault(n["cluster"], []).append(n)

    def fill(graph: Any, key: str | None, level: int) -> None:
        for n in members.get(key, ()):
            label = {"op": _op_label, "leaf": _leaf_label, "module": _module_label}[n["kind"]](n)
            colour, border, style = _style(n)
            graph.node(n["id"], label=label, fillcolor=colour, color=border, style=style)
        for c in children.get(key, ()):
            with graph.subgraph(name=c.id) as sub:
                sub.attr(label=f"<<B>{escape(c.label)}</B>>", labeljust="l", fontsize="12", margin="6",
                         fontcolor="#334155", style="rounded,filled", fillcolor=CLUSTER_FILLS[level % 2],
                         color="#94a3b8", penwidth="1.2")
                fill(sub, c.id, level + 1)

    fill(g, None, 0)
    kinds = {n["id"]: n["kind"] for n in nodes}
    fed_by_leaf = {e["dst"] for e in edges if kinds[e["src"]] == "leaf"}
    for e in edges:
        attrs = {}
        if kinds[e["src"]] != "leaf" and e["dst"] in fed_by_leaf:
            attrs["minlen"] = "2"  # a rank between the ops for the leaves: module boxes stack, not zig-zag
        if e["label"]:
            attrs.update(label=f"  {e['label']}", color="#dc2626", fontcolor="#b91c1c", penwidth="1.6")
        g.edge(e["src"], e["dst"], **attrs)
    return g.source


def render_bytes(dot_source: str, fmt: str) -> bytes:
    """`dot -T<fmt>` of the source; a missing `dot` raises a RuntimeError saying how to install it."""
    graphviz = graphviz_module()
    try:
        return graphviz.Source(dot_source).pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:
        raise RuntimeError(INSTALL_DOT) from exc
