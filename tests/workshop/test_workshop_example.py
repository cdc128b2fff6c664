"""Smoke run of examples/workshop_mnist.py on the real MNIST files (skipped when they are not found)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from minitorch.data import MNIST, DatasetNotFoundError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "workshop_mnist.py"


def test_workshop_mnist_example_runs():
    try:
        MNIST(train=False, download=False)
    except DatasetNotFoundError as exc:
        pytest.skip(f"MNIST not found (set MINITORCH_DATA to a folder holding mnist/): {str(exc).splitlines()[0]}")
    env = dict(os.environ, MINITORCH_BACKEND="numpy")
    result = subprocess.run([sys.executable, str(EXAMPLE), "--max-steps", "20"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    match = re.search(r"train loss ([\d.]+), test accuracy ([\d.]+)%", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) < 2.3 and float(match.group(2)) > 50.0   # 20 steps already beat chance
