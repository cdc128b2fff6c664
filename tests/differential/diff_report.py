"""Run many seeds, sort the mismatches into kinds (category, op), minimise one repro per kind."""
from __future__ import annotations

import re
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterable, Iterator

import minitorch as mt
from diff_deliberate import deliberate
from diff_gen import generate
from diff_harness import Mismatch, minimize, run_program


@contextmanager
def default_device(device: str) -> Iterator[None]:
    """Run minitorch's side on `device` ("cpu" or "strict"); torch always runs on its CPU."""
    old = mt.default_device()
    mt.set_default_device(device)
    try:
        yield
    finally:
        mt.set_default_device(old)


def run_seeds(seeds: Iterable[int], device: str = "cpu") -> tuple[list[Mismatch], dict[str, int], int]:
    """(bug mismatches, deliberate-difference counts, statements compared) over the seeds."""
    bugs: list[Mismatch] = []
    forgiven: dict[str, int] = defaultdict(int)
    n_stmts = 0
    with default_device(device):
        for seed in seeds:
            stmts, records = generate(seed)
            mm = run_program(stmts, seed, records)
            n_stmts += len(stmts) if mm is None else mm.index + 1
            if mm is None:
                continue
            name = deliberate(mm)
            if name:
                forgiven[name] += 1
            else:
                bugs.append(mm)
    return bugs, dict(forgiven), n_stmts


def _shape_of_detail(detail: str) -> str:
    """A detail with variable names and numbers blurred, to tell variants of one kind apart."""
    first = detail.splitlines()[0] if detail else ""
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "N", re.sub(r"\bx\d+\b", "x", first))


def group(bugs: list[Mismatch], device: str = "cpu", show: int = 2, budget_s: float = 30.0) -> list[dict]:
    """Kinds, most frequent first: count, seeds, and up to `show` minimised repros of distinct variants.

    A gradient or final-state mismatch is named by the ops of its minimised program (the whole
    program's ops say little), so those are minimised before grouping, within the time budget.
    """
    deadline = time.perf_counter() + budget_s
    kinds: dict[tuple[str, str], list[Mismatch]] = defaultdict(list)
    with default_device(device):
        for mm in bugs:
            if "[" in mm.op and time.perf_counter() < deadline:
                mm = minimize(mm)
                mm.__dict__["minimized"] = True
            kinds[mm.key].append(mm)
        out = []
        for key, mms in sorted(kinds.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            variants: dict[str, Mismatch] = {}
            for mm in mms:
                variants.setdefault(_shape_of_detail(mm.detail), mm)
            examples = []
            for mm in list(variants.values())[:show]:
                done = mm.__dict__.get("minimized") or time.perf_counter() >= deadline
                examples.append(mm if done else minimize(mm))
            out.append({"key": key, "count": len(mms), "seeds": [m.seed for m in mms], "examples": examples})
    return out


def format_report(groups: list[dict], forgiven: dict[str, int], n_cases: int, n_stmts: int,
                  elapsed: float) -> str:
    lines = [f"{n_cases} programs, {n_stmts} statements compared in {elapsed:.1f} s; "
             f"{sum(g['count'] for g in groups)} programs mismatch in {len(groups)} kinds"]
    if forgiven:
        lines.append("deliberate differences (forgiven): " + ", ".join(f"{k} x{v}" for k, v in forgiven.items()))
    by_cat: dict[str, list[dict]] = defaultdict(list)
    for g in groups:
        by_cat[g["key"][0]].append(g)
    for cat, gs in sorted(by_cat.items(), key=lambda kv: -sum(g["count"] for g in kv[1])):
        lines.append(f"\n######## {cat}: {sum(g['count'] for g in gs)} programs, {len(gs)} ops")
        for g in gs:
            seeds = ", ".join(map(str, g["seeds"][:6])) + (" ..." if len(g["seeds"]) > 6 else "")
            lines.append(f"\n=== [{cat}] {g['key'][1]}  x{g['count']}  (seeds {seeds})")
            for ex in g["examples"]:
                lines.append(f"--- seed {ex.seed}")
                lines.append(ex.repro())
    return "\n".join(lines)
