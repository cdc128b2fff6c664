"""Bombs: files that would take far more memory than they hold. Each is refused (or, for shared
references, loaded once) with peak memory below 2x the legitimate file it imitates, measured with
tracemalloc (NumPy reports its buffers to it), and once more as the RSS of a fresh process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from bombs import MiB, deflated_zeros, gzip_zeros, npy, npy_header, stored, zip_archive

import minitorch as mt
from minitorch.data import MNIST, DataFileError, read_idx
from minitorch.data.idx import write_idx
from minitorch.errors import CheckpointError

GiB = 1 << 30
MNIST_TRAIN_IMAGES = 47_040_016  # the largest real MNIST file, decompressed
IMAGES = "train-images-idx3-ubyte"


def peak_of(fn: Callable[[], Any]) -> tuple[Any, int]:
    """(fn's result or the exception it raised, peak bytes allocated while it ran)."""
    tracemalloc.start()
    try:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 (the test inspects it)
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def idx_header(dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, 0x08, len(dims)]) + np.asarray(dims, ">u4").tobytes()


def gz_bomb_imitating_mnist(folder: Path) -> Path:
    """A 1 MB train-images .gz whose header says (60000, 28, 28) and which inflates to 1 GiB."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{IMAGES}.gz").write_bytes(gzip_zeros(idx_header((60000, 28, 28)), 1024))
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(60000, np.uint8))
    return folder / f"{IMAGES}.gz"


def npz_bomb(path: Path, checkpoint: bool) -> Path:
    """A 1 MB .npz holding a deflated 1 GiB float32 array (as a plain .npz, or as a checkpoint)."""
    n = (GiB - len(npy_header("<f4", (GiB // 4,)))) // 4
    members = [deflated_zeros("a0.npy", npy_header("<f4", (n,)), 1024)]
    if checkpoint:
        manifest = {"format": "minitorch.checkpoint", "version": 1,
                    "root": {"kind": "tensor", "key": "a0", "dtype": "<f4", "shape": [n]}}
        members.append(stored("__manifest__.npy", npy(np.frombuffer(json.dumps(manifest).encode(), np.uint8))))
    path.write_bytes(zip_archive(members))
    return path


def shared_refs_checkpoint(path: Path) -> Path:
    """A 4 MiB checkpoint whose manifest references one array 150 times."""
    t = mt.tensor(np.arange(MiB, dtype=np.float32))
    mt.save({"refs": [t] * 150}, path)  # save stores an object once, however often it appears
    manifest = json.loads(np.load(path)["__manifest__"].tobytes())
    assert {n["key"] for n in manifest["root"]["items"][0][1]["items"]} == {"a0"}
    return path


def huge_header_checkpoint(path: Path) -> Path:
    """A 1 MiB checkpoint with one member whose .npy header declares shape (2**40,) float64."""
    manifest = {"format": "minitorch.checkpoint", "version": 1, "root": {"kind": "dict", "items": [
        ["ok", {"kind": "ndarray", "key": "a0", "dtype": "<f8", "shape": [MiB // 8]}],
        ["huge", {"kind": "tensor", "key": "a1", "dtype": "<f8", "shape": [2 ** 40]}]]}}
    path.write_bytes(zip_archive([
        stored("a0.npy", npy(np.ones(MiB // 8))),
        stored("a1.npy", npy_header("<f8", (2 ** 40,)) + bytes(8)),
        stored("__manifest__.npy", npy(np.frombuffer(json.dumps(manifest).encode(), np.uint8)))]))
    return path


def test_gzip_bomb_imitating_mnist_is_stopped_one_byte_past_its_header(tmp_path: Path, tally) -> None:
    path = gz_bomb_imitating_mnist(tmp_path / "mnist")
    assert path.stat().st_size < 1.1e6
    for how, load in [("MNIST()", lambda: MNIST(root=tmp_path, download=False)),
                      ("read_idx", lambda: read_idx(path))]:
        err, peak = peak_of(load)
        assert isinstance(err, DataFileError), err
        assert str(path) in str(err) and "trailing bytes" in str(err)
        assert peak < 2 * MNIST_TRAIN_IMAGES
        tally.peak(f"1 MB .gz -> 1 GiB, header (60000, 28, 28), {how}", MNIST_TRAIN_IMAGES, peak)
        tally.case("bombs: IDX gzip", True)


def test_gzip_bomb_declaring_1gib_is_refused_before_inflating(tmp_path: Path, tally) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    path = folder / f"{IMAGES}.gz"
    path.write_bytes(gzip_zeros(idx_header((GiB - 8,)), 1024))
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(60000, np.uint8))
    for how, load, why in [("MNIST()", lambda: MNIST(root=tmp_path, download=False), "more than the 47040016"),
                           ("read_idx", lambda: read_idx(path), "refused as a gzip bomb")]:
        err, peak = peak_of(load)
        assert isinstance(err, DataFileError) and str(path) in str(err) and why in str(err), err
        assert peak < MiB
        tally.peak(f"1 MB .gz -> 1 GiB, header (1073741816,), {how}", path.stat().st_size, peak)
        tally.case("bombs: IDX gzip", True)


def test_plain_idx_declaring_more_than_it_holds(tmp_path: Path, tally) -> None:
    path = tmp_path / "huge-idx"
    path.write_bytes(idx_header((2 ** 32 - 1, 2 ** 32 - 1)) + bytes(100))
    err, peak = peak_of(lambda: read_idx(path))
    assert isinstance(err, DataFileError) and "huge-idx" in str(err) and "truncated" in str(err)
    assert peak < 64 * 1024
    tally.case("bombs: IDX plain", True)


@pytest.mark.parametrize("checkpoint", [False, True], ids=["plain-npz", "checkpoint"])
def test_npz_with_a_deflated_1gib_member_is_refused_before_inflating(tmp_path: Path, tally, checkpoint) -> None:
    path = npz_bomb(tmp_path / "bomb.npz", checkpoint)
    size = path.stat().st_size
    assert size < 1.1e6
    err, peak = peak_of(lambda: mt.load(path))
    assert isinstance(err, CheckpointError) and "bomb.npz" in str(err) and "zip bomb" in str(err), err
    assert peak < 2 * size
    tally.peak(f"1 MB .npz, deflated 1 GiB member ({'checkpoint' if checkpoint else 'plain'})", size, peak)
    tally.case("bombs: .npz", True)


def test_one_array_referenced_150_times_is_loaded_once(tmp_path: Path, tally) -> None:
    path = shared_refs_checkpoint(tmp_path / "shared.npz")
    size = path.stat().st_size
    back, peak = peak_of(lambda: mt.load(path, device="cpu"))
    refs = back["refs"]
    assert len(refs) == 150 and all(r is refs[0] for r in refs)
    np.testing.assert_array_equal(refs[0].numpy(), np.arange(MiB, dtype=np.float32))
    assert peak < 2 * size
    tally.peak("4 MiB checkpoint, one array referenced 150 times (loads)", size, peak)
    tally.case("bombs: checkpoint manifest", True)


def test_npy_header_declaring_2_to_the_40_elements(tmp_path: Path, tally) -> None:
    path = huge_header_checkpoint(tmp_path / "huge.npz")
    size = path.stat().st_size
    err, peak = peak_of(lambda: mt.load(path))
    assert isinstance(err, CheckpointError), err
    assert "huge.npz" in str(err) and "(1099511627776,)" in str(err) and "holds 8 bytes" in str(err)
    assert peak < 2 * size
    tally.peak("1 MiB checkpoint, .npy header shape (2**40,)", size, peak)
    single = tmp_path / "huge.npy"
    single.write_bytes(npy_header("<f8", (2 ** 40,)) + bytes(8))
    err, peak = peak_of(lambda: mt.load(single))
    assert isinstance(err, CheckpointError) and "huge.npy" in str(err) and "(1099511627776,)" in str(err)
    assert peak < 64 * 1024
    tally.case("bombs: .npy header", True)
    tally.case("bombs: .npy header", True)


def test_manifest_bombs(tmp_path: Path, tally) -> None:
    """An oversized manifest, a deeply nested one, a number with 100,000 digits, a deflated 1 GiB one."""
    def checkpoint(name: str, manifest: bytes, deflate_mib: int = 0) -> Path:
        member = (deflated_zeros("__manifest__.npy", npy_header("|u1", (deflate_mib * MiB - 128,)), deflate_mib)
                  if deflate_mib else stored("__manifest__.npy", npy(np.frombuffer(manifest, np.uint8))))
        (tmp_path / name).write_bytes(zip_archive([member]))
        return tmp_path / name

    big = b'{"format": "minitorch.checkpoint", "version": 1, "root": {"kind": "value", "value": "' + \
        b"x" * (17 * MiB) + b'"}}'
    nested = b'{"format": "minitorch.checkpoint", "version": 1, "root": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    deep_nodes = '{"kind": "list", "items": [' * 100 + "]}" * 100  # shallower than JSON's own limit
    deep = ('{"format": "minitorch.checkpoint", "version": 1, "root": ' + deep_nodes + "}").encode()
    digits = b'{"format": "minitorch.checkpoint", "version": 1, "root": {"kind": "value", "value": ' + \
        b"9" * 100_000 + b"}}"
    cases = [(checkpoint("big.npz", big), "more than the 16,777,216"),
             (checkpoint("nested.npz", nested), "nested"),
             (checkpoint("deep.npz", deep), "nested more than 64 levels"),
             (checkpoint("digits.npz", digits), "cannot be parsed as JSON"),
             (checkpoint("deflated.npz", b"", deflate_mib=1024), "zip bomb")]
    for path, message in cases:
        err, peak = peak_of(lambda: mt.load(path))
        assert isinstance(err, CheckpointError) and path.name in str(err) and message in str(err), (path, err)
        assert peak < 2 * max(path.stat().st_size, MiB) + 4 * MiB, (path.name, peak)  # + the JSON's own objects
        tally.case("bombs: checkpoint manifest", True)


def test_rss_of_a_fresh_process_stays_below_twice_each_legitimate_file(tmp_path: Path) -> None:
    """The same bombs in one child process, smallest bound first: its peak RSS (ru_maxrss) must rise
    by less than 2x the legitimate file each imitates."""
    bombs = [(npz_bomb(tmp_path / "npz-bomb.npz", True), 1.1e6),
             (huge_header_checkpoint(tmp_path / "huge.npz"), 1.1 * MiB),
             (shared_refs_checkpoint(tmp_path / "shared.npz"), 4.1 * MiB),
             (gz_bomb_imitating_mnist(tmp_path / "mnist"), MNIST_TRAIN_IMAGES)]
    script = textwrap.dedent("""
        import json, resource, sys
        import minitorch as mt
        from minitorch.data import read_idx
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        rises = []
        for path in sys.argv[1:]:
            try:
                (read_idx if path.endswith(".gz") else mt.load)(path)
            except ValueError:
                pass
            rises.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)
        print(json.dumps(rises))
    """)
    out = subprocess.run([sys.executable, "-c", script, *(str(p) for p, _ in bombs)], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "MINITORCH_BACKEND": "numpy"})
    assert out.returncode == 0, out.stderr
    rises = json.loads(out.stdout.strip().splitlines()[-1])
    for (path, legit), rise in zip(bombs, rises):
        assert rise < 2 * legit, (path.name, rise, legit)
