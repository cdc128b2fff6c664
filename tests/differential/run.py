"""Standalone differential run: `python tests/differential/run.py --cases 2000` prints mismatches by kind."""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from diff_report import format_report, group, run_seeds  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=2000, help="number of random programs (seeds)")
    ap.add_argument("--start", type=int, default=0, help="first seed")
    ap.add_argument("--seed", type=int, action="append", help="run only this seed (repeatable)")
    ap.add_argument("--device", default="cpu", help="minitorch's device: cpu or strict")
    ap.add_argument("--show", type=int, default=2, help="repros per kind (distinct variants)")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds to spend minimising repros")
    args = ap.parse_args()
    seeds = args.seed or range(args.start, args.start + args.cases)
    t0 = time.perf_counter()
    bugs, forgiven, n_stmts = run_seeds(seeds, args.device)
    elapsed = time.perf_counter() - t0
    groups = group(bugs, args.device, args.show, args.budget)
    print(format_report(groups, forgiven, len(seeds), n_stmts, elapsed))
    return 1 if bugs else 0


if __name__ == "__main__":
    raise SystemExit(main())
