"""Redraw docs/graph_mlp.png and docs/graph_cnn.png: `python docs/make_graphs.py` (needs pip install -e ".[viz]"
and Graphviz's `dot`).

Each picture is one training step of a network train.py offers, on a batch of 64 random images, drawn
with minitorch.viz.graph before backward and rendered after it, so every node shows its gradient.
"""
from __future__ import annotations

import os
import sys

import minitorch as mt
import minitorch.nn.functional as F
from minitorch.training.models import MODELS
from minitorch.viz import graph

try:  # Pillow (matplotlib's dependency) turns the flat-coloured PNGs into 256-colour ones, a third the size
    from PIL import Image
except ImportError:
    Image = None

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 64
# The drawings are about 7.2 inches wide: 110 dpi is README's ~800 px at 1:1; with Pillow, 1.5x that for
# sharp text on high-density screens, still under 500 KB.
DPI = 165 if Image is not None else 110


def draw(name: str, path: str) -> str:
    """One forward and backward of the `name` model (train.py's --model), drawn to `path`."""
    os.environ["MINITORCH_FUSED"] = "1"  # the fused BatchNorm and cross-entropy ops train.py runs
    mt.manual_seed(0)
    build, flat = MODELS[name]
    model = build()
    x = mt.randn(BATCH, 784) if flat else mt.randn(BATCH, 1, 28, 28)
    loss = F.cross_entropy(model(x), mt.randint(0, 10, (BATCH,)))
    drawing = graph(loss, group_by="module")
    loss.backward()
    drawing.render(path, dpi=DPI)
    if Image is not None:
        with Image.open(path) as im:
            small = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        small.save(path, optimize=True)
    return path


def main() -> None:
    for name in sys.argv[1:] or ("mlp", "cnn"):
        path = draw(name, os.path.join(HERE, f"graph_{name}.png"))
        print(f"{path}: {os.path.getsize(path) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
