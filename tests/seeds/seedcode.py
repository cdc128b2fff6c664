"""The tutorials' code, read from ../shared/seeds: python blocks, import rewriting, stand-in data.

A reader pastes a seed's blocks into one notebook, in order, with `import minitorch as torch`; these
helpers do the same. Every python block of every seed is listed in BLOCKS, either with the test that
runs it or with the reason it cannot run as written, so a changed seed shows up as a failing test.
"""
from __future__ import annotations

import functools
import linecache
import re
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# The repository's sibling folder, where CI keeps the tutorials the project grew from.
SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"

NOT_RUNNABLE = "not runnable as written: "

# seed -> [(a string found in exactly one of its python blocks, the test that runs it or why none can)]
BLOCKS: dict[str, list[tuple[str, str]]] = {
    "000": [
        ("Z = torch.matmul(X, self.W) + self.b", "test_seed000_linear_forward_numbers_and_w_orientation"),
        ("self.dW = X.T @ dZ / batch_size", "test_seed000_linear_backward_fragment_divides_by_the_batch_twice"),
        ("W = W - learning_rate", NOT_RUNNABLE + "pseudo-code: `Ã—` (a mis-encoded ×) is not a Python operator"),
        ("output = torch.maximum(input, 0)", "test_seed000_relu_and_manual_cross_entropy"),
        ("gradient_out = gradient_in", NOT_RUNNABLE + "pseudo-code: `Ã—` (a mis-encoded ×) is not a Python operator"),
        ("# Manual softmax for numerical stability", "test_seed000_relu_and_manual_cross_entropy"),
        ("Y_one_hot = torch.zeros_like(probabilities)", "test_seed000_relu_and_manual_cross_entropy"),
        ("keep_prob = 1 - drop_prob", NOT_RUNNABLE + "pseudo-code: `Ã—` is not a Python operator and `random` "
                                      "(the uniform draws) and `drop_prob` are never defined"),
        ("net.add(Linear(784, 256))", "test_seed000_workshop_loop_on_mnist"),
        ("for epoch in range(num_epochs):", "test_seed000_workshop_loop_on_mnist"),
        ('print(f"X shape: {X.shape}")', "test_seed000_workshop_loop_on_mnist"),
        ('print(f"Loss: {loss.item()}")', "test_seed000_workshop_loop_on_mnist"),
    ],
    "001": [],   # the visual guide has diagrams only
    "002": [
        ("for each batch:", NOT_RUNNABLE + "pseudo-code: `for each batch:` is not Python; `network`, "
                           "`compute_gradients` and `weights` are placeholders"),
        ("layer = Linear(in_features=784, out_features=128)", "test_seed002_building_blocks"),
        ("from deeplearning import ReLU", "test_seed002_building_blocks"),
        ("from deeplearning import Sigmoid", "test_seed002_building_blocks"),
        ("from deeplearning import Tanh", "test_seed002_building_blocks"),
        ("from deeplearning import MSELoss", "test_seed002_building_blocks"),
        ("from deeplearning import CrossEntropyLoss", "test_seed002_building_blocks"),
        ("def update(lr):", "test_seed002_hand_written_network_and_two_layer_mlp"),
        ("learning_rate = 0.01\nnum_epochs = 10", "test_seed002_hand_written_network_and_two_layer_mlp"),
        ("model.train_step(x_batch, y_batch, lr=0.01)", "test_seed002_hand_written_network_and_two_layer_mlp"),
        ("def load_mnist():", "test_seed002_mnist_training"),
        ("(X_train, y_train), (X_test, y_test) = load_mnist()", "test_seed002_mnist_training"),
        ("from tests.test_gradients import", "test_seed002_gradient_checks"),
        ("class LeakyReLU:", "test_seed002_extensions_plug_into_a_workshop_net"),
        ("class HuberLoss:", "test_seed002_extensions_plug_into_a_workshop_net"),
        ("class SGDMomentum:", "test_seed002_extensions_plug_into_a_workshop_net"),
    ],
    "003": [
        ("# The Debug Print", "test_seed003_debug_print"),
        ("def verify_autograd():", "test_seed003_autograd_verification"),
        ("accumulation_steps = 4\nfor i, (data, target) in enumerate(dataloader):",
         "test_seed003_gradient_accumulation_equals_one_big_batch"),
        ("# --- 1. Setup Device ---", "test_seed003_reference_training_loop"),
    ],
    "004": [("class LinearRegression:", "test_seed004_low_level_linear_regression")],
}


def seed_text(seed: str) -> str:
    """The text of seed `seed` ("000" ... "004"); skips the test when the seeds are not there."""
    if not SEEDS.is_dir():
        pytest.skip(f"the tutorials are not at {SEEDS} (the repository's sibling folder shared/seeds)")
    files = sorted(SEEDS.glob(f"{seed}_*.txt"))
    if not files:
        pytest.skip(f"no seed {seed}_*.txt in {SEEDS}")
    return files[0].read_text(encoding="utf-8")


def python_blocks(seed: str) -> list[str]:
    """Every ```python fenced block of a seed, dedented, in order."""
    found = re.findall(r"^[ \t]*```python[ \t]*\n(.*?)^[ \t]*```", seed_text(seed), re.M | re.S)
    return [textwrap.dedent(block) for block in found]


def block(seed: str, marker: str) -> str:
    """The one python block of `seed` that contains `marker`."""
    matches = [b for b in python_blocks(seed) if marker in b]
    assert len(matches) == 1, f"seed {seed}: {len(matches)} python blocks contain {marker!r}, expected 1"
    return matches[0]


def fixed(code: str, old: str, new: str, count: int = 1) -> str:
    """`code` with a known slip of the seed corrected; fails if the seed no longer has exactly that slip."""
    assert code.count(old) == count, f"expected {count} x {old!r} in the seed's code, found {code.count(old)}"
    return code.replace(old, new)


def as_minitorch(code: str) -> str:
    """The seed's imports pointed at minitorch: torch -> minitorch, deeplearning -> minitorch.workshop."""
    code = re.sub(r"^(\s*)import torch\s*$", r"\1import minitorch as torch", code, flags=re.M)
    code = re.sub(r"^(\s*)import torch\.([\w.]+) as (\w+)", r"\1import minitorch.\2 as \3", code, flags=re.M)
    code = re.sub(r"^(\s*)from torch((?:\.\w+)*) import", r"\1from minitorch\2 import", code, flags=re.M)
    # The from-scratch tutorial's package and its test helpers are minitorch.workshop here.
    code = re.sub(r"^(\s*)from (deeplearning|tests\.test_gradients) import", r"\1from minitorch.workshop import",
                  code, flags=re.M)
    assert not re.search(r"^\s*(import|from) (torch|deeplearning)\b", code, re.M), code
    return code


def run(code: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Execute a block (imports rewritten) in `namespace`, as the next cell of the reader's notebook.

    Tracebacks show the block's own lines, under a name made of its first line.
    """
    source = as_minitorch(code)
    name = f"<seed block: {source.strip().splitlines()[0][:60]}>"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    namespace.setdefault("__name__", "__seed__")
    exec(compile(source, name, "exec"), namespace)
    return namespace


@functools.lru_cache(maxsize=1)
def _mnist_test_split() -> tuple[np.ndarray, np.ndarray]:
    from minitorch.data import MNIST, DatasetNotFoundError
    try:
        split = MNIST(train=False, download=False)
    except DatasetNotFoundError as exc:
        pytest.skip(f"MNIST not found (set MINITORCH_DATA to a folder holding mnist/): {str(exc).splitlines()[0]}")
    return split.images, split.labels


def mnist_raw(n_train: int, n_test: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Keras-style ((x_train, y_train), (x_test, y_test)) uint8 arrays: disjoint slices of MNIST's test split."""
    images, labels = _mnist_test_split()
    a, b = slice(0, n_train), slice(n_train, n_train + n_test)
    return (images[a], labels[a].astype(np.uint8)), (images[b], labels[b].astype(np.uint8))


def mnist_flat(n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): standardised float32 (N, 784) images and int64 labels."""
    (xa, ya), (xb, yb) = mnist_raw(n_train, n_test)
    def standardise(x: np.ndarray) -> np.ndarray:
        return ((x.reshape(len(x), 784).astype(np.float32) / 255.0 - 0.1307) / 0.3081).astype(np.float32)

    return standardise(xa), ya.astype(np.int64), standardise(xb), yb.astype(np.int64)


def fake_keras_mnist(monkeypatch: pytest.MonkeyPatch, data: Any) -> None:
    """Make `from tensorflow.keras.datasets import mnist; mnist.load_data()` return `data` (no TensorFlow here)."""
    names = ["tensorflow", "tensorflow.keras", "tensorflow.keras.datasets", "tensorflow.keras.datasets.mnist"]
    modules = [types.ModuleType(n) for n in names]
    modules[-1].load_data = lambda: data
    for parent, child in zip(modules, modules[1:]):
        setattr(parent, child.__name__.rsplit(".", 1)[1], child)
    for module in modules:
        monkeypatch.setitem(sys.modules, module.__name__, module)
