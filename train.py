"""Train the workshop MLP on MNIST (or Fashion-MNIST): python train.py --help for the options."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import minitorch as mt
from minitorch import nn, optim
from minitorch.data import DataLoader, FashionMNIST, MNIST, TensorDataset
from minitorch.training import evaluate, fit, workshop_mlp

DATASETS = {"mnist": MNIST, "fashion-mnist": FashionMNIST}


def positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def non_negative_float(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=positive(int), default=10)
    p.add_argument("--batch-size", type=positive(int), default=64)
    p.add_argument("--lr", type=positive(float), default=None, help="default: 1e-3 for adam, 0.05 for sgd")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--momentum", type=non_negative_float, default=0.9, help="for sgd")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.0)
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: from MINITORCH_BACKEND)")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="mnist")
    p.add_argument("--data-dir", default=None, help="default: $MINITORCH_DATA, then ~/.cache/minitorch/datasets")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-size", type=positive(int), default=5000, help="held out of the training set")
    p.add_argument("--out", default=None, help="default: runs/<dataset>-<time>")
    p.add_argument("--resume", default=None, metavar="PATH", help="a checkpoint.npz (or its run folder)")
    p.add_argument("--max-steps", type=positive(int), default=None, help="at most this many steps per epoch")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-plot", action="store_true")
    args = p.parse_args(argv)
    if args.device is not None:
        try:
            mt.backends.canonical_device(args.device)
        except ValueError as exc:
            p.error(str(exc))
    args.lr = args.lr or (1e-3 if args.optimizer == "adam" else 0.05)
    return args


def load_data(args):
    """Train/validation split (seeded) and test set, as whole-array TensorDatasets."""
    train = DATASETS[args.dataset](root=args.data_dir, train=True)
    test = DATASETS[args.dataset](root=args.data_dir, train=False)
    x, y = train.arrays(flatten=True)
    if args.val_size >= len(y):
        raise SystemExit(f"train.py: --val-size {args.val_size} leaves no training data ({len(y)} samples)")
    order = np.random.default_rng(args.seed).permutation(len(y))
    val_idx, train_idx = order[:args.val_size], order[args.val_size:]
    tx, ty = test.arrays(flatten=True)
    return TensorDataset(x[train_idx], y[train_idx]), TensorDataset(x[val_idx], y[val_idx]), TensorDataset(tx, ty)


def make_optimizer(args, model):
    if args.optimizer == "adam":
        return optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    return optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)


def write_json(path: Path, data) -> None:
    """Atomically: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def plot(history, test_accuracy, path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('no plot: matplotlib is missing; install it with pip install -e ".[plot]"')
        return
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    ax_acc.plot(epochs, [100 * r["train_accuracy"] for r in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * r["val_accuracy"] for r in history], "o-", label="validation")
    ax_acc.axhline(100 * test_accuracy, color="gray", ls="--", label=f"test {100 * test_accuracy:.2f}%")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def progress_bars(args, samples):
    if args.no_progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        print('no progress bar: tqdm is missing; install it with pip install -e ".[train]"')
        return None
    total = samples if args.max_steps is None else min(samples, args.max_steps * args.batch_size)
    return lambda epoch: tqdm(total=total, desc=f"epoch {epoch + 1}/{args.epochs}", unit="img", leave=False)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device:
        mt.set_default_device(args.device)
    mt.manual_seed(args.seed)
    train_set, val_set, test_set = load_data(args)
    device = mt.default_device()
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, device=device)
    val_loader = DataLoader(val_set, batch_size=1000, device=device)
    test_loader = DataLoader(test_set, batch_size=1000, device=device)

    model = workshop_mlp()
    optimizer = make_optimizer(args, model)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    history, best, start = [], -1.0, 0
    if args.resume:
        history, best, start = restore(args, model, optimizer, scheduler)
    # A resumed run keeps writing into its own folder unless --out says otherwise.
    args.out = Path(args.out or (resume_path(args).parent if args.resume
                                 else f"runs/{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"training {args.dataset} on {device} ({mt.get_backend(device).name}): {len(train_set)} train, "
          f"{len(val_set)} validation, {len(test_set)} test; writing to {args.out}")

    def on_epoch_end(epoch, record):
        nonlocal best
        history.append(record)
        print(f"epoch {record['epoch']:>2}/{args.epochs}  train loss {record['train_loss']:.4f}  "
              f"acc {100 * record['train_accuracy']:.2f}%  |  val loss {record['val_loss']:.4f}  "
              f"acc {100 * record['val_accuracy']:.2f}%  |  {record['samples_per_second']:,.0f} samples/s")
        if record["val_accuracy"] > best:
            best = record["val_accuracy"]
            mt.save(model.state_dict(), args.out / "model.npz")
        mt.save(checkpoint(model, optimizer, scheduler, history, best, epoch + 1), args.out / "checkpoint.npz")

    fit(model, optimizer, train_loader, val_loader, args.epochs, loss_fn=loss_fn, scheduler=scheduler,
        start_epoch=start, max_steps=args.max_steps, progress=progress_bars(args, len(train_set)),
        on_epoch_end=on_epoch_end)

    model.load_state_dict(mt.load(args.out / "model.npz", device=device))
    test = evaluate(model, test_loader, loss_fn)
    seconds = [r["seconds"] for r in history]
    metrics = {"dataset": args.dataset, "epochs": history, "test_loss": test["loss"],
               "test_accuracy": test["accuracy"], "best_val_accuracy": best,
               "seconds_per_epoch": float(np.mean(seconds)) if seconds else None,
               "samples_per_second": float(np.mean([r["samples_per_second"] for r in history])) if history else None,
               "backend": mt.get_backend(device).name, "device": device,
               "args": {k: str(v) for k, v in vars(args).items()}}
    write_json(args.out / "metrics.json", metrics)
    print(f"test accuracy {100 * test['accuracy']:.2f}% (model of the best validation epoch); "
          f"{metrics['seconds_per_epoch']:.1f} s/epoch, {metrics['samples_per_second']:,.0f} samples/s")
    if not args.no_plot and history:
        plot(history, test["accuracy"], args.out / "curves.png")
    return 0


def checkpoint(model, optimizer, scheduler, history, best, epoch):
    """Everything a resumed run needs to continue as if never stopped."""
    backend = mt.get_backend(mt.default_device())
    rng = {"host": mt.backends.host_rng().bit_generator.state, "device": backend.rng_state()}
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "epoch": epoch, "best_val_accuracy": best, "history": json.dumps(history), "rng": json.dumps(rng)}


def resume_path(args) -> Path:
    path = Path(args.resume)
    return path / "checkpoint.npz" if path.is_dir() else path


def restore(args, model, optimizer, scheduler):
    path = resume_path(args)
    state = mt.load(path, device=mt.default_device())
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng = json.loads(state["rng"])
    mt.backends.host_rng().bit_generator.state = rng["host"]
    if rng["device"] is not None:
        mt.get_backend(mt.default_device()).set_rng_state(rng["device"])
    print(f"resumed from {path} after epoch {int(state['epoch'])}")
    return json.loads(state["history"]), float(state["best_val_accuracy"]), int(state["epoch"])


if __name__ == "__main__":
    sys.exit(main())
