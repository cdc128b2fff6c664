"""Collectives, DistributedDataParallel, SyncBatchNorm and faults on 2 CPU ranks under mpiexec.

Each launch runs many checks (see ranks_*.py); the tests below assert on what every rank recorded.
Skipped, with the reason, where mpi4py or mpiexec is missing (pip install -e ".[mpi]").
"""
from __future__ import annotations

import pytest
from mpi_launch import check, launch, results, skip_reason

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

DTYPES = ["float32", "float64", "int64"]
OPS = ["sum", "max", "min", "product"]
COLLECTIVE_CHECKS = ["mean_of_int_raises", "in_place_on_a_view", "broadcast_object", "mismatched_shapes_raise",
                     "mismatched_dtypes_raise", "mismatched_ops_raise", "mismatched_calls_raise",
                     "bad_list_on_one_rank_raises_everywhere", "still_in_step_after_errors", "queries",
                     "blas_threads_share_the_cores", "ddp_steps"]


@pytest.fixture(scope="module")
def collectives(tmp_path_factory):
    return results("ranks_collectives.py", 2, tmp_path_factory.mktemp("collectives"))


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    return results("ranks_ddp.py", 2, tmp_path_factory.mktemp("ddp"))


@pytest.mark.parametrize("tag", ["mpi", "standin"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_all_reduce_broadcast_all_gather(collectives, tag, dtype):
    ops = OPS + (["mean"] if dtype != "int64" else [])
    names = [f"{tag}:all_reduce:{op}:{dtype}:cpu" for op in ops]
    names += [f"{tag}:broadcast:{dtype}:cpu", f"{tag}:all_gather:{dtype}:cpu"]
    for name in names:
        check(collectives, name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_collectives_on_the_strict_backend(collectives, dtype):
    names = [n for n in collectives[0] if n.startswith("mpi:") and n.endswith(f":{dtype}:strict")]
    if not names:
        pytest.skip("array_api_strict is not installed")
    for name in names:
        check(collectives, name)


@pytest.mark.parametrize("tag", ["mpi", "standin"])
@pytest.mark.parametrize("name", COLLECTIVE_CHECKS)
def test_collective_rules(collectives, tag, name):
    check(collectives, f"{tag}:{name}")


def test_nccl_stand_in_trains_like_mpi(collectives):
    check(collectives, "destroyed")
    check(collectives, "standin:same_training_as_mpi")


@pytest.mark.parametrize("name", ["mlp_syncbn_sgd_matches_single_process", "mlp_syncbn_adam_matches_single_process",
                                  "cnn_syncbn_adam_matches_single_process"])
def test_ddp_with_syncbn_matches_one_process(ddp, name):
    """Rank 0's weights everywhere at construction; bit-identical after every step; the loss trajectory and
    the final state within 1e-4 of one process on the whole global batches."""
    check(ddp, name)


@pytest.mark.parametrize("name", ["no_sync_accumulates", "unused_parameters", "partial_backward_raises",
                                  "mismatched_models_raise", "dropout_differs_per_rank", "state_dict_is_the_modules",
                                  "sampler_shards"])
def test_ddp_rules(ddp, name):
    check(ddp, name)


def test_a_failing_rank_ends_the_job(tmp_path):
    proc, seconds = launch("ranks_fault.py", 2, tmp_path, timeout=30)
    assert proc.returncode != 0
    assert seconds < 10, f"the job took {seconds:.1f} s to end"
    assert "rank 1 of 2 failed" in proc.stderr and "ValueError: deliberate failure on rank 1" in proc.stderr
    assert "rank 0 passed the collective" not in proc.stdout
