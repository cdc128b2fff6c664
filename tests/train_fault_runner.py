"""Run train.py (as __main__) with signals injected at chosen calls, for tests/test_train_faults.py.

    TRAIN_FAULTS="int@step#7,int@savez#1" python tests/train_fault_runner.py --data-dir ... --out ...

Each fault is ACTION@TARGET#N, optionally with a trailing "+": on the Nth call of TARGET, counted from
when the previous fault fired, this process sends itself the signal ACTION (kill = SIGKILL, int =
SIGINT, term = SIGTERM) just before the call (just after it with "+"). Targets: step (an optimizer
step), savez (numpy.savez: mt.save writing its temp file), member (a zip member opened: mid-write of
that temp file, or a read), fsync (os.fsync), replace (os.replace: a temp file renamed over its
target), write_json (metrics.json), plot (curves.png).
"""
import contextlib
import functools
import os
import runpy
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = {"kill": signal.SIGKILL, "int": signal.SIGINT, "term": signal.SIGTERM}


class Faults:
    def __init__(self, spec: str) -> None:
        self.queue = []
        for item in filter(None, spec.split(",")):
            action, rest = item.split("@")
            target, count = rest.split("#")
            self.queue.append((ACTIONS[action], target, int(count.rstrip("+")), count.endswith("+")))
        self.calls = 0

    def hit(self, target: str, after: bool) -> None:
        if not self.queue or self.queue[0][1] != target:
            return
        signum, _, count, when_after = self.queue[0]
        if not after:
            self.calls += 1
        if self.calls == count and after == when_after:
            self.queue.pop(0)
            self.calls = 0
            os.kill(os.getpid(), signum)

    @contextlib.contextmanager
    def installed(self):
        """The targets wrapped while the block runs (also in a test's own process, for int and term)."""
        import zipfile

        import numpy as np

        from minitorch import optim
        from minitorch.training import report

        places = [(optim.Adam, "step", "step"), (optim.SGD, "step", "step"), (np, "savez", "savez"),
                  (zipfile.ZipFile, "open", "member"), (os, "fsync", "fsync"), (os, "replace", "replace"),
                  (report, "write_json", "write_json"), (report, "plot", "plot")]
        saved = [(owner, name, vars(owner).get(name)) for owner, name, _ in places]
        for owner, name, target in places:
            setattr(owner, name, self._wrap(getattr(owner, name), target))
        try:
            yield self
        finally:
            for owner, name, own in saved:
                if own is None:  # inherited: uncover the base class's again
                    delattr(owner, name)
                else:
                    setattr(owner, name, own)

    def _wrap(self, real, target: str):
        @functools.wraps(real)
        def wrapped(*args, **kwargs):
            self.hit(target, False)
            result = real(*args, **kwargs)
            self.hit(target, True)
            return result

        return wrapped


def main() -> None:
    sys.argv = [str(ROOT / "train.py"), *sys.argv[1:]]
    with Faults(os.environ.get("TRAIN_FAULTS", "")).installed():
        runpy.run_path(str(ROOT / "train.py"), run_name="__main__")


if __name__ == "__main__":
    main()
