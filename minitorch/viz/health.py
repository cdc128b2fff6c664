"""health.png: a run's training health (metrics.json's "health") as four small panels over the steps."""
from __future__ import annotations

from pathlib import Path
from typing import Any

UPDATE_GUIDE = 1e-3  # Karpathy's rule of thumb: each step changes a weight by about a thousandth of its size


def plot_health(health: dict, path: str | Path) -> bool:
    """Draw activation std per layer, dead-unit fraction of the ReLU-like layers, gradient norm and
    update/data ratio per weight (log scales) into a PNG; False (nothing drawn) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    from ..files import atomic_write
    records = health["records"]
    steps = [r["step"] for r in records]
    types = health.get("layers", {})
    layers = list(types)
    params = list(dict.fromkeys(p for r in records for p in r["params"]))
    # Weights (not biases or norm scales) carry the story; all parameters when a model has no such names.
    weights = [p for p in params if p.endswith("weight")] or params
    relus = [n for n in layers if "ReLU" in types[n]] or [n for n in layers if any(
        _get(r, "layers", n, "dead") for r in records)]
    # One colour per layer (and per weight) in every panel; tab20 tells up to 20 apart.
    cmap = plt.get_cmap("tab10" if max(len(layers), len(weights)) <= 10 else "tab20")
    layer_style = {n: dict(color=cmap(i % cmap.N), label=f"{n} {types[n]}") for i, n in enumerate(layers)}
    weight_style = {n: dict(color=cmap(i % cmap.N), label=_weight_label(n, types)) for i, n in enumerate(weights)}

    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5), sharex=True)
    (ax_std, ax_dead), (ax_grad, ax_ratio) = axes
    _lines(ax_std, steps, records, "layers", layer_style, "std")
    ax_std.set(title="activation std per layer", ylabel="std of the layer's output")
    top = _lines(ax_dead, steps, records, "layers", {n: layer_style[n] for n in relus}, "dead", scale=100)
    ax_dead.set(title="dead ReLU units (0 for the whole batch)", ylabel="% of units", ylim=(0, max(5.0, 1.15 * top)))
    _lines(ax_grad, steps, records, "params", weight_style, "grad_norm")
    ax_grad.set(title="gradient norm per weight", ylabel="||grad||", yscale="log", xlabel="step")
    _lines(ax_ratio, steps, records, "params", weight_style, "update_ratio")
    ax_ratio.axhline(UPDATE_GUIDE, color="black", ls="--", lw=1, label=f"{UPDATE_GUIDE:g} (guide)")
    ax_ratio.set(title="update / data ratio per weight", ylabel="||step's change|| / ||weight||", yscale="log",
                 xlabel="step")
    for ax in axes.flat:
        ax.grid(alpha=0.3, which="both" if ax.get_yscale() == "log" else "major")
    # One legend per row, outside the panels so that no line hides behind it.
    for source, ax in ((ax_std, ax_dead), (ax_ratio, ax_ratio)):
        handles, labels = source.get_legend_handles_labels()
        if handles:
            ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.suptitle(f"training health, every {health.get('every', '?')} steps", fontsize=11)
    fig.tight_layout()
    try:
        atomic_write(Path(path), lambda f: fig.savefig(f, format="png", dpi=100))
    finally:
        plt.close(fig)
    return True


def _weight_label(name: str, types: dict) -> str:
    """'0.weight (Conv2d)': the parameter and the type of the layer that owns it."""
    owner = types.get(name.rpartition(".")[0])
    return f"{name} ({owner})" if owner else name


def _get(record: dict, group: str, name: str, key: str) -> Any:
    return record[group].get(name, {}).get(key)


def _lines(ax: Any, steps: list, records: list, group: str, styles: dict, key: str, scale: float = 1.0) -> float:
    """One line per name in `styles`; a missing or null value (a zero parameter's ratio) leaves a gap.
    Returns the largest value drawn (0 when none)."""
    top = 0.0
    for name, style in styles.items():
        values = [_get(r, group, name, key) for r in records]
        ys = [float("nan") if v is None else scale * v for v in values]
        if all(y != y for y in ys):
            continue
        top = max(top, max(y for y in ys if y == y))
        ax.plot(steps, ys, ".-" if len(steps) < 30 else "-", lw=1.2, ms=4, **style)
    return top
