"""Train the workshop MLP (or a small CNN) on MNIST or Fashion-MNIST: python train.py --help for the options."""
from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

import minitorch as mt
from minitorch import nn, optim
from minitorch.data import DataLoader, Dataset, FashionMNIST, MNIST, TensorDataset, transforms
from minitorch.distributed import DistributedSampler
from minitorch.training import GracefulStop, Interrupted, RunError, UsageError, run_cli, select_device
from minitorch.training import resume
from minitorch.training.health import HealthMonitor, tensorboard_writer_class
from minitorch.training.models import MODELS
from minitorch.training.ranks import Ranks
from minitorch.training.run import Run

DATASETS = {"mnist": MNIST, "fashion-mnist": FashionMNIST}
# The run's configuration, stored in its checkpoint: key -> (flag, default). The defaults of lr and epochs
# depend on the optimizer and the model.
CONFIG = {"model": ("--model", "mlp"), "epochs": ("--epochs", None), "lr": ("--lr", None),
          "optimizer": ("--optimizer", "adam"), "momentum": ("--momentum", 0.9),
          "weight_decay": ("--weight-decay", 0.0), "batch_size": ("--batch-size", 64),
          "dataset": ("--dataset", "mnist"), "seed": ("--seed", 0),
          "val_size": ("--val-size", 5000), "max_steps": ("--max-steps", None),
          "augment": ("--augment", False)}
EPOCHS = {"mlp": 10, "cnn": 4}  # the default --epochs of each model
FIXED = frozenset({"model", "optimizer", "dataset", "seed", "val_size"})  # they make the run's data and state
EPILOG = """\
resuming:
  --resume DIR continues a run with the configuration saved in its checkpoint (--model, --epochs,
  --lr, --optimizer, --momentum, --weight-decay, --batch-size, --dataset, --seed, --val-size,
  --max-steps, --augment and --data-dir): no other flag is needed. One of these given again must agree
  with the saved value; add --override to change --epochs, --lr, --momentum, --weight-decay,
  --max-steps or (between epochs) --batch-size and --augment. --model, --optimizer, --dataset, --seed
  and --val-size cannot change within a run. --data-dir, --device and --out may differ. A finished
  run says so and exits.

stopping:
  Ctrl-C (SIGINT) or SIGTERM finishes the current step, saves checkpoint.npz and prints the command
  that resumes there (to the same final model as a run never stopped); a second one quits at once,
  leaving the last checkpoint intact. A NaN/Inf loss stops the run (exit 1) unless --allow-nonfinite.

distributed (pip install -e ".[mpi]"):
  mpiexec -n N python train.py --distributed trains on N processes (MINITORCH_BACKEND=cupy: one GPU each,
  NCCL). --batch-size stays the global batch (each rank takes 1/N of it: N must divide it) and --lr, --seed
  and the epochs mean what they mean in one process: each epoch's order depends on --seed and the epoch
  alone, so step k trains on the same global batch on any number of ranks. Rank 0 prints, validates,
  tests and writes the run folder. A checkpoint resumes on any number of ranks (mpiexec -n M ... --resume
  DIR, or python train.py --resume DIR) at the same global step. An error on one rank ends the job.

exit status:
  0 done (or already finished); 1 the run failed (diverged, no GPU, no data, a corrupt checkpoint,
  a full disk); 2 usage error; 130 stopped by Ctrl-C; 143 stopped by SIGTERM.
"""


def positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def non_negative_float(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(MODELS), help="mlp: the workshop MLP (default); cnn: a small CNN")
    p.add_argument("--epochs", type=positive(int), help=f"default: {EPOCHS['mlp']} (mlp), {EPOCHS['cnn']} (cnn)")
    p.add_argument("--batch-size", type=positive(int), help="default: 64")
    p.add_argument("--lr", type=positive(float), help="default: 1e-3 for adam, 0.05 for sgd")
    p.add_argument("--optimizer", choices=["adam", "sgd"], help="default: adam")
    p.add_argument("--momentum", type=non_negative_float, help="for sgd (default: 0.9)")
    p.add_argument("--weight-decay", type=non_negative_float, help="default: 0")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: from MINITORCH_BACKEND)")
    p.add_argument("--dataset", choices=sorted(DATASETS), help="default: mnist")
    p.add_argument("--data-dir", default=None, help="default: $MINITORCH_DATA, then ~/.cache/minitorch/datasets")
    p.add_argument("--seed", type=int, help="default: 0")
    p.add_argument("--val-size", type=positive(int), help="held out of the training set (default: 5000)")
    p.add_argument("--out", default=None, help="default: runs/<dataset>-<time>; a resumed run: its own folder")
    p.add_argument("--resume", default=None, metavar="PATH", help="a checkpoint.npz (or its run folder)")
    p.add_argument("--override", action="store_true", help="with --resume: flags given replace the saved ones")
    p.add_argument("--max-steps", type=positive(int), help="at most this many steps per epoch")
    p.add_argument("--augment", action="store_true", default=None,
                   help="shift training images by up to 2 pixels (per image, on the host: slower)")
    p.add_argument("--allow-nonfinite", action="store_true", help="train on when the loss is NaN/Inf")
    p.add_argument("--compile", action="store_true",
                   help="record the training step once and replay it (minitorch.compile): the same numbers, "
                        "faster for small models")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--health-every", type=non_negative_int, default=100, metavar="N",
                   help="every N steps, record activations, gradients and update sizes per layer into "
                        "metrics.json and health.png (default: 100; 0: off)")
    p.add_argument("--tensorboard", default=None, metavar="DIR",
                   help='also write them, with histograms, as TensorBoard events in DIR (pip install '
                        '"minitorch[tensorboard]")')
    p.add_argument("--distributed", action="store_true",
                   help="one rank of a job started by mpiexec -n N (see distributed, below)")
    p.add_argument("--debug", action="store_true", help="tracebacks for errors (or MINITORCH_DEBUG=1)")
    args = p.parse_args(argv)
    if args.device is not None:
        try:
            mt.backends.canonical_device(args.device)
        except ValueError as exc:
            p.error(str(exc))
    return args


def configure(args, saved):
    """The run's configuration: the flags given, else the resumed run's, else the defaults."""
    given = {k: getattr(args, k) for k in CONFIG}
    saved_config = (saved or {}).get("config", {})
    optimizer = args.optimizer or saved_config.get("optimizer") or "adam"
    model = args.model or saved_config.get("model") or "mlp"
    defaults = {k: default for k, (_, default) in CONFIG.items()}
    defaults["lr"] = 1e-3 if optimizer == "adam" else 0.05
    defaults["epochs"] = EPOCHS[model]
    if saved is not None and "config" not in saved:  # a checkpoint from before configurations were saved
        saved["config"] = {k: v for k, v in given.items() if v is not None}
    return resume.resolve_config(given, defaults, None if saved is None else saved["config"],
                                 flags={k: flag for k, (flag, _) in CONFIG.items()}, fixed=FIXED,
                                 epoch_boundary=frozenset({"batch_size", "augment"}), override=args.override,
                                 source=str(saved["path"]) if saved else "",
                                 mid_epoch=saved is not None and saved["position"] is not None)


def load_data(data_dir, config):
    """Train/validation split (seeded) and test set: flat 784-vectors for the MLP, (1, 28, 28) images
    for the CNN. Whole-array TensorDatasets (one gather per batch), except an --augment training set."""
    train = DATASETS[config["dataset"]](root=data_dir, train=True)
    test = DATASETS[config["dataset"]](root=data_dir, train=False)
    shape = (-1, 784) if MODELS[config["model"]][1] else (-1, 1, 28, 28)
    x, y = train.arrays()
    if config["val_size"] >= len(y):
        raise RunError(f"--val-size {config['val_size']} leaves no training data ({len(y)} samples)")
    order = np.random.default_rng(config["seed"]).permutation(len(y))
    val_idx, train_idx = order[:config["val_size"]], order[config["val_size"]:]
    tx, ty = test.arrays()
    if config["augment"]:
        black = float(train._standardise(np.zeros((1, 1), np.uint8))[0, 0])
        train_set = Shifted(x[train_idx], y[train_idx], black, shape[1:])
    else:
        train_set = TensorDataset(x[train_idx].reshape(shape), y[train_idx])
    return train_set, TensorDataset(x[val_idx].reshape(shape), y[val_idx]), TensorDataset(tx.reshape(shape), ty)


class Shifted(Dataset):
    """--augment: each training image shifted by up to 2 pixels each way (RandomCrop of the image padded
    with black), drawn from the host generator that checkpoints save, so resumed runs repeat the draws."""

    def __init__(self, images, labels, black, shape):
        self.images, self.labels, self.shape = images, labels, shape
        self.shift = transforms.RandomCrop(28, padding=2, fill=black)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.shift(self.images[i]).reshape(self.shape), self.labels[i]


def check_batch(config, world):
    """Each rank takes batch_size / world of every global batch: the world size must divide it."""
    if config["batch_size"] % world:
        raise UsageError(f"--batch-size {config['batch_size']} is the global batch, split evenly over the "
                         f"{world} ranks: it must be a multiple of {world}")


def make_optimizer(config, model):
    # flat=True: parameters, gradients and state in one buffer each, so an update is a few whole-buffer
    # calls; the same numbers and checkpoints as per-tensor updates.
    if config["optimizer"] == "adam":
        return optim.Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"], flat=True)
    return optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"],
                     weight_decay=config["weight_decay"], flat=True)


def progress_bars(args, config, samples):
    if args.no_progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        print('no progress bar: tqdm is missing; install it with pip install -e ".[train]"')
        return None
    steps = config["max_steps"]
    total = samples if steps is None else min(samples, steps * config["batch_size"])
    return lambda epoch: tqdm(total=total, desc=f"epoch {epoch + 1}/{config['epochs']}", unit="img", leave=False)


def resume_command(args, out, world=1):
    """The command that continues this run: the configuration and data folder come from its checkpoint."""
    script = os.path.relpath(__file__)
    backend = os.environ.get("MINITORCH_BACKEND", "").strip()
    env = "" if args.device or backend.lower() in ("", "numpy") else f"MINITORCH_BACKEND={shlex.quote(backend)} "
    device = ["--device", args.device] if args.device else []
    launch = ["mpiexec", "-n", str(world)] if args.distributed else []
    return env + shlex.join([*launch, "python", __file__ if script.startswith("..") else script, "--resume", str(out),
                             *device, *(["--distributed"] if args.distributed else [])])


def main(argv=None) -> int:
    args = parse_args(argv)
    device = select_device(args.device)  # an unusable backend is reported before any data is read
    job = Ranks.start() if args.distributed else Ranks()  # a world of one without --distributed
    with job.aborting(Path(sys.argv[0]).name):  # in a job, an error the ranks did not settle together ends it
        code = run_training(args, job, mt.backends.default_device() if args.distributed else device)  # nccl: its GPU
        job.close()
        return code


def run_training(args, job, device) -> int:
    """The run, on this rank of `job`: rank 0 prints and writes; errors before training are settled together."""
    ranks = job if args.distributed else None  # the training loop's: None keeps one process's exact path
    stamp = job.share(time.strftime("%Y%m%d-%H%M%S"))
    with job.together():
        writer_class = tensorboard_writer_class(args.tensorboard) if args.tensorboard else None  # missing: say so now
        saved = resume.read_checkpoint(args.resume) if args.resume else None
        config, changed = configure(args, saved)
        check_batch(config, job.size)
        out = Path(args.out or (saved["path"].parent if saved else f"runs/{config['dataset']}-{stamp}"))
        finished = bool(saved and saved["epoch"] >= config["epochs"] and saved["position"] is None
                        and (out / "metrics.json").exists())
    if finished:
        if job.leader:
            print(f"{out} is a finished run ({saved['epoch']}/{config['epochs']} epochs; results in "
                  f"{out / 'metrics.json'}): nothing to do (to train longer: --resume {out} --epochs N --override)")
        return 0
    data_dir = args.data_dir or (saved or {}).get("data_dir")
    health = None
    with GracefulStop(announce=job.leader) as stop:
        try:
            with job.together():
                mt.manual_seed(config["seed"])
                train_set, val_set, test_set = load_data(data_dir, config)
                # The epoch's order depends on the seed and the epoch alone, the same on any number of ranks.
                sampler = DistributedSampler(train_set, job.size, job.rank, shuffle=True, seed=config["seed"])
                train_loader = DataLoader(train_set, batch_size=config["batch_size"] // job.size, sampler=sampler,
                                          device=device)
                # Rank 0 alone validates and tests, on the whole sets; the others get nothing to evaluate.
                val_loader = DataLoader(val_set, batch_size=1000, device=device) if job.leader else []
                test_loader = DataLoader(test_set, batch_size=1000, device=device)

                model = MODELS[config["model"]][0]()
                if ranks:  # BatchNorm statistics over the global batch, as in one process
                    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
                optimizer = make_optimizer(config, model)
                scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
                if (args.health_every or writer_class) and job.leader:
                    health = HealthMonitor(model, args.health_every,
                                           writer=writer_class(args.tensorboard) if writer_class else None)
                run = Run(out, config, model, optimizer, scheduler, data_dir=data_dir, health=health, ranks=ranks,
                          resume_command=resume_command(args, out, job.size))
                if saved:
                    run.resume_from(saved, changed, flags={k: flag for k, (flag, _) in CONFIG.items()})
            if ranks:
                from minitorch.distributed import DistributedDataParallel
                run.model = DistributedDataParallel(model)  # rank 0's weights everywhere; gradients averaged
                if saved:  # each rank's own streams, which the position's host generator state must not undo
                    job.reseed(config["seed"], run.global_step(run.position))
                    if run.position is not None:
                        run.position = dataclasses.replace(run.position, generator=None, generator_now=None)
            if job.leader:
                per_rank = config["batch_size"] // job.size
                split = f" on {job.size} rank{'s' * (job.size > 1)} ({job.size} x {per_rank} a step)" if ranks else ""
                print(f"training the {config['model']} on {config['dataset']} on {device} "
                      f"({mt.get_backend(device).name}){split}: {len(train_set)} train, {len(val_set)} validation, "
                      f"{len(test_set)} test; writing to {out}")
            loss_fn = nn.CrossEntropyLoss()
            stopped = run.train(train_loader, val_loader, loss_fn, job.stop(stop) if ranks else stop,
                                check_finite=not args.allow_nonfinite, compiled=args.compile,
                                progress=progress_bars(args, config, len(train_set)) if job.leader else None)
            if stopped is None and job.leader:
                run.finish(test_loader, loss_fn, device, plot=not args.no_plot,
                           args={k: str(v) for k, v in vars(args).items()}, world_size=job.size)
            return stopped or 0
        except Interrupted as exc:  # a second signal, or one outside training: out at once
            if (out / "checkpoint.npz").exists():
                exc.note = f"; {out / 'checkpoint.npz'} is intact; resume with: {resume_command(args, out, job.size)}"
            raise
        finally:
            if health is not None:
                health.close()


if __name__ == "__main__":
    sys.exit(run_cli(main, check_backend=False))
