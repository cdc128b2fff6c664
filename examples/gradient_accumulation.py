"""Gradient accumulation: train with an effective batch of 256 while holding only 64 samples at once.

Each micro-batch's loss is divided by the number of accumulation steps, so the summed gradients
equal those of one big batch (for the mean-reduced loss), exactly as in PyTorch. BatchNorm layers
still see micro-batches, so this MLP has none.
"""
import argparse
import sys

import minitorch as mt
from minitorch import nn, optim
from minitorch.data import DataLoader, MNIST
from minitorch.training import run_cli


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--accumulation-steps", type=int, default=4)
    p.add_argument("--micro-batch", type=int, default=64)
    p.add_argument("--max-steps", type=int, default=None, help="optimizer steps to run (default: one epoch)")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)

    mt.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(MNIST(root=args.data_dir, train=True).tensor_dataset(), batch_size=args.micro_batch,
                        shuffle=True, drop_last=True)
    steps = 0
    opt.zero_grad()
    for i, (x, y) in enumerate(loader):
        loss = nn.functional.cross_entropy(model(x), y) / args.accumulation_steps
        loss.backward()                      # gradients add up in .grad until zero_grad
        if (i + 1) % args.accumulation_steps == 0:
            opt.step()
            opt.zero_grad()
            steps += 1
            if steps % 50 == 0:
                print(f"step {steps}: micro-batch loss {loss.item() * args.accumulation_steps:.4f}")
            if args.max_steps is not None and steps >= args.max_steps:
                break
    test = MNIST(root=args.data_dir, train=False).tensor_dataset()
    with mt.no_grad():
        model.eval()
        accuracy = (model(test.tensors[0]).argmax(dim=1) == test.tensors[1]).float().mean().item()
    print(f"{steps} optimizer steps of {args.accumulation_steps} x {args.micro_batch} samples; "
          f"test accuracy {100 * accuracy:.2f}%")


if __name__ == "__main__":
    sys.exit(run_cli(main))  # a user's mistake (no data, no GPU): a message, not a traceback
