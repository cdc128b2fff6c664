"""examples/pytorch_mnist.py is PyTorch's MNIST example with only its imports changed: it must run as is."""
import re
import runpy
import sys
import types
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pytorch_mnist.py"


@pytest.fixture
def mnist_env(tmp_path, monkeypatch):
    """Real MNIST through $MINITORCH_DATA (the example asks for '../data', which holds nothing here)."""
    from helpers import real_mnist_root
    monkeypatch.setenv("MINITORCH_DATA", real_mnist_root())
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")


def test_only_the_imports_differ_from_pytorch():
    lines = EXAMPLE.read_text().splitlines()
    imports = [line for line in lines if line.startswith(("import ", "from "))]
    assert all("minitorch" in line or line == "import argparse" for line in imports)
    assert not any("minitorch" in line for line in lines if line not in imports and not line.startswith('"""'))


def test_dry_run_trains_one_batch_and_tests_the_whole_test_set(mnist_env, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["pytorch_mnist.py", "--dry-run", "--epochs", "1", "--save-model"])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "Train Epoch: 1 [0/60000 (0%)]" in out
    assert re.search(r"Test set: Average loss: [0-9.]+, Accuracy: \d+/10000", out)
    assert Path("mnist_cnn.pt").exists()


@pytest.mark.slow
def test_learns_from_200_batches(mnist_env, capsys):
    """The example's own Net, train() and test() on the first 12,800 images: PyTorch reaches ~97 % here."""
    example = runpy.run_path(str(EXAMPLE))
    import minitorch as torch
    from minitorch.data import Subset, datasets, transforms

    torch.manual_seed(1)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = Subset(datasets.MNIST("../data", train=True, transform=transform), range(12800))
    test_set = datasets.MNIST("../data", train=False, transform=transform)
    model = example["Net"]()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    args = types.SimpleNamespace(log_interval=100, dry_run=False)
    example["train"](args, model, "cpu", torch.utils.data.DataLoader(train_set, batch_size=64), optimizer, 1)
    example["test"](model, "cpu", torch.utils.data.DataLoader(test_set, batch_size=1000))
    correct = int(re.search(r"Accuracy: (\d+)/10000", capsys.readouterr().out).group(1))
    assert correct >= 9600
