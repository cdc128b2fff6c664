"""Random programs on minitorch and on PyTorch: values, shapes, dtypes, gradients and errors must agree.

Seeds run in batches so a failure names its seeds; the message lists every mismatch of the batch by
kind with a minimised standalone repro. For the whole picture at once run
`python tests/differential/run.py --cases 4000`.
"""
from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="PyTorch is not installed; the differential tests compare minitorch against "
                                    "it (pip install -e '.[torch]')")

from diff_report import format_report, group, run_seeds  # noqa: E402

BATCH = 100
CPU_BATCHES = 40   # 4,000 programs on the NumPy backend
STRICT_BATCHES = 2  # a sample on array_api_strict: the same semantics through the standard's namespace only


def _check(batch: int, device: str) -> None:
    seeds = range(batch * BATCH, (batch + 1) * BATCH)
    bugs, forgiven, n_stmts = run_seeds(seeds, device)
    if bugs:
        groups = group(bugs, device, show=1, budget_s=2.0)
        pytest.fail(f"{len(bugs)} of {BATCH} programs differ from PyTorch on {device} (seeds {seeds.start}.."
                    f"{seeds.stop - 1}); rerun one with `python tests/differential/run.py --device {device} "
                    f"--seed N`\n" + format_report(groups, forgiven, BATCH, n_stmts, 0.0), pytrace=False)


@pytest.mark.parametrize("batch", range(CPU_BATCHES), ids=lambda b: f"seeds{b * BATCH}-{(b + 1) * BATCH - 1}")
def test_random_programs_cpu(batch: int) -> None:
    _check(batch, "cpu")


@pytest.mark.parametrize("batch", range(STRICT_BATCHES), ids=lambda b: f"seeds{b * BATCH}-{(b + 1) * BATCH - 1}")
def test_random_programs_strict(batch: int) -> None:
    from minitorch import backends
    if not backends.is_available("array_api_strict"):
        pytest.skip("array_api_strict is not installed (pip install -e '.[test]')")
    _check(batch + 1000, "strict")
