"""The workshop tutorial's training loop on MNIST: layers with explicit forward/backward and SGD by hand.

    python examples/workshop_mnist.py                     # 2 epochs, ~97% test accuracy
    python examples/workshop_mnist.py --max-steps 20      # a quick smoke run
    MINITORCH_BACKEND=cupy python examples/workshop_mnist.py
"""
from __future__ import annotations

import argparse
import sys
import time

import minitorch
from minitorch.data import MNIST, DataLoader
from minitorch.training import run_cli
from minitorch.workshop import BatchNorm1D, CrossEntropyLoss, Dropout, Linear, Net, ReLU


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many batches in all")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: MINITORCH_BACKEND)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    minitorch.manual_seed(args.seed)

    # (N, 784) standardised float32 images and int64 labels, as Tensors on the device.
    train_set = MNIST(train=True).tensor_dataset(device=args.device)
    test_images, test_labels = MNIST(train=False).tensor_dataset(device=args.device).tensors
    # drop_last: BatchNorm cannot normalise a last batch of a single image.
    trainloader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True,
                             device=args.device)

    net = Net()
    net.add(Linear(784, 256))
    net.add(BatchNorm1D(256))
    net.add(ReLU())
    net.add(Dropout(0.2))
    net.add(Linear(256, 10))
    loss_function = CrossEntropyLoss()

    step, start = 0, time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        total, batches = 0.0, 0
        for images, labels in trainloader:
            predictions = net.forward(images)                       # 1. forward
            loss = loss_function.forward(predictions, labels)       # 2. loss
            gradient = loss_function.backward()                     # 3. backward
            net.backward(gradient)
            net.update(args.lr)                                     # 4. update
            total, batches, step = total + loss.item(), batches + 1, step + 1   # loss: a float with .item()
            if args.max_steps is not None and step >= args.max_steps:
                break
        accuracy = net.evaluate(test_images, test_labels)  # evaluate() switches to eval mode itself
        print(f"epoch {epoch + 1}: train loss {total / max(batches, 1):.4f}, "
              f"test accuracy {accuracy * 100:.2f}% ({time.perf_counter() - start:.1f}s)")
        if args.max_steps is not None and step >= args.max_steps:
            break


if __name__ == "__main__":
    sys.exit(run_cli(main))  # a user's mistake (no data, no GPU): a message, not a traceback
