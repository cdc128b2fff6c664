"""Save a trained model, load it back (on the CPU, without pickle) and predict digits.

Run `python train.py` first and pass its model.npz, or let this script train a small model briefly.
"""
import argparse
import sys
from pathlib import Path

import minitorch as mt
from minitorch import nn, optim
from minitorch.data import DataLoader, MNIST
from minitorch.training import run_cli, workshop_mlp


def quick_model(data_dir, steps: int):
    """A briefly trained workshop MLP (stands in for train.py's output)."""
    model = workshop_mlp()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(MNIST(root=data_dir, train=True).tensor_dataset(), batch_size=128, shuffle=True)
    for i, (x, y) in enumerate(loader):
        if i == steps:
            break
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default=None, help="a model.npz written by train.py")
    p.add_argument("--out", default="runs/example-model.npz")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)

    mt.manual_seed(0)
    path = Path(args.model) if args.model else Path(args.out)
    if not args.model:
        path.parent.mkdir(parents=True, exist_ok=True)
        mt.save(quick_model(args.data_dir, args.steps).state_dict(), path)   # written atomically
        print(f"saved {path}")

    model = workshop_mlp()
    model.load_state_dict(mt.load(path, device="cpu"))    # a GPU-trained model loads here too
    model.eval()                                          # BatchNorm uses running stats, no dropout
    test = MNIST(root=args.data_dir, train=False)
    images, labels = test.arrays(flatten=True)
    with mt.no_grad():
        predicted = model(mt.tensor(images[:10])).argmax(dim=1).tolist()
    print("predicted:", predicted)
    print("actual:   ", labels[:10].tolist())


if __name__ == "__main__":
    sys.exit(run_cli(main))  # a user's mistake (no data, a missing --model file): a message, not a traceback
