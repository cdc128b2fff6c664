"""Corrupt files for every reader, written by hand and by a seeded fuzzer.

Checkpoints: every mutated file either loads exactly what was saved or raises CheckpointError
naming the file (byte-level mutations: the zip CRCs stand between a damaged byte and a wrong
value). Mutations that rewrite the manifest or an .npy header and fix the CRCs make a different
valid file or an invalid one: it loads something, or raises CheckpointError naming the file.
IDX (plain and gzip): every mutated file reads as an array no larger than its bound, or raises
DataFileError naming the file. Nothing else may escape, ever.
"""
from __future__ import annotations

import gzip
import io
import json
import random
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bombs import npy, npy_header, stored, zip_archive

import minitorch as mt
from minitorch import nn
from minitorch.data import DataFileError, read_idx
from minitorch.data.idx import write_idx
from minitorch.errors import CheckpointError

SEED = 20240917


def sample() -> dict:
    """A checkpoint with every kind of node: tensors of five dtypes, a Parameter, arrays, scalars, nesting."""
    return {
        "model": {"w": mt.tensor(np.arange(12, dtype=np.float32).reshape(3, 4)), "b": nn.Parameter(mt.ones(4)),
                  "n": mt.tensor(7), "half": mt.ones(2, dtype=mt.float16), "mask": mt.tensor([True, False])},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": mt.zeros(3, 4)}},
                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1]}]},
        "epoch": 2, "name": "run", "none": None, "nan": float("nan"), "flags": [True, False],
        "np": np.arange(3, dtype=np.int16), "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "scalar": np.float64(2.5), "text": np.array(["a", "bc"]),
    }


def same(a: Any, b: Any) -> bool:
    """Deep, bit-exact equality of two loaded objects (types, dtypes, shapes, flags, values)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, mt.Tensor):
        return (a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
                and a.detach().numpy().tobytes() == b.detach().numpy().tobytes())
    if isinstance(a, (np.ndarray, np.generic)):
        return a.dtype == b.dtype and np.shape(a) == np.shape(b) and np.asarray(a).tobytes() == np.asarray(b).tobytes()
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def outcome(path: Path, expected: Any = None) -> tuple[bool, str]:
    """(survived, what happened) for one load: `expected` (when given) or any value, or a CheckpointError
    naming the file."""
    try:
        back = mt.load(path)
    except CheckpointError as exc:
        return path.name in str(exc), f"CheckpointError: {exc}"
    except Exception as exc:  # noqa: BLE001 (a raw exception is exactly what this test hunts)
        return False, f"raw {type(exc).__name__}: {exc}"
    return (expected is None or same(back, expected)), "loaded"


# -- checkpoints, by hand -----------------------------------------------------------------------
def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _manifest(members: dict[str, bytes]) -> dict:
    return json.loads(np.load(io.BytesIO(members["__manifest__.npy"])).tobytes())


def _with_manifest(members: dict[str, bytes], manifest: Any) -> dict[str, bytes]:
    blob = json.dumps(manifest).encode() if not isinstance(manifest, bytes) else manifest
    return {**members, "__manifest__.npy": npy(np.frombuffer(blob, np.uint8))}


def _write(path: Path, members: dict[str, bytes]) -> Path:
    path.write_bytes(zip_archive([stored(n, b) for n, b in members.items()]))
    return path


def _ref(kind: str, key: str, dtype: str, shape: list, **flags: Any) -> dict:
    return {"format": "minitorch.checkpoint", "version": 1,
            "root": {"kind": kind, "key": key, "dtype": dtype, "shape": shape, **flags}}


def _array_case(array: np.ndarray, kind: str = "tensor", **flags: Any) -> dict[str, bytes]:
    members = {"a0.npy": npy(array)}
    return _with_manifest(members, _ref(kind, "a0", array.dtype.str, list(array.shape), **flags))


CHECKPOINT_CASES = {
    "empty file": (lambda m: b"", "corrupt, truncated"),
    "text": (lambda m: b"not a checkpoint at all", "corrupt, truncated"),
    "png": (lambda m: b"\x89PNG\r\n\x1a\n" + bytes(40), "corrupt, truncated"),
    "single .npy": (lambda m: npy(np.ones(3)), "single .npy array of shape (3,)"),
    "damaged single .npy": (lambda m: b"\x93NUMPY garbage", "damaged single .npy"),
    "non-.npy member": (lambda m: {**m, "notes.txt": b"hello"}, "'notes.txt' is not an .npy array"),
    "manifest not UTF-8": (lambda m: _with_manifest(m, b"\xff\xfe{"), "cannot be parsed as JSON"),
    "manifest not JSON": (lambda m: _with_manifest(m, b"{'a': 1}"), "cannot be parsed as JSON"),
    "manifest a list": (lambda m: _with_manifest(m, []), "manifest format is 'list'"),
    "other format": (lambda m: _with_manifest(m, {**_manifest(m), "format": "x"}), "manifest format is 'x'"),
    "newer version": (lambda m: _with_manifest(m, {**_manifest(m), "version": 2}), "version 2 is newer"),
    "manifest as float array": (lambda m: {**m, "__manifest__.npy": npy(np.ones(3))}, "not UTF-8 bytes"),
    "missing array": (lambda m: {k: v for k, v in m.items() if k != "a0.npy"}, "does not hold"),
    "reference to the manifest": (lambda m: _with_manifest(m, _ref("tensor", "__manifest__", "|u1", [3])),
                                  "does not hold"),
    "unknown node kind": (lambda m: _with_manifest(m, {**_manifest(m), "root": {"kind": "pickle"}}),
                          "not a valid node"),
    "dict item not a pair": (lambda m: _with_manifest(m, {**_manifest(m), "root": {"kind": "dict", "items": [[1]]}}),
                             "malformed item"),
    "unhashable key": (lambda m: _with_manifest(m, {**_manifest(m), "root": {"kind": "dict", "items": [
        [[1], {"kind": "value", "value": 1}]]}}), "malformed item"),
    "dtype disagrees": (lambda m: _with_manifest(m, _ref("tensor", "a0", "<f8", [3])), "the manifest says"),
    "shape disagrees": (lambda m: _with_manifest(m, _ref("tensor", "a0", "<f4", [4])), "the manifest says"),
    "shape of strings": (lambda m: _with_manifest(m, _ref("tensor", "a0", "<f4", ["3"])), "not a valid array"),
    "same key, two kinds": (lambda m: _with_manifest(m, {**_manifest(m), "root": {"kind": "list", "items": [
        _ref("tensor", "a0", "<f4", [3])["root"], _ref("ndarray", "a0", "<f4", [3])["root"]]}}),
        "referenced twice with different"),
    "object array (pickle)": (lambda m: {**m, "a0.npy": npy_header("|O", (1,)) + b"\x80\x04N."}, "pickle"),
    "structured dtype": (lambda m: _array_case(np.zeros(2, dtype=[("a", "<f4")]), "ndarray"), "is not supported"),
    "complex tensor": (lambda m: _array_case(np.ones(2, np.complex64)), "only bool, integer and floating"),
    "string tensor": (lambda m: _array_case(np.array(["ab"])), "only bool, integer and floating"),
    "datetime tensor": (lambda m: _array_case(np.array(["2024-01-01"], "datetime64[D]")),
                        "only bool, integer and floating"),
    "float128 tensor": (lambda m: _array_case(np.ones(2, np.longdouble)), "only bool, integer and floating"),
    "int tensor requiring grad": (lambda m: _array_case(np.ones(2, np.int64), requires_grad=True),
                                  "marked requires_grad"),
    "npscalar with a shape": (lambda m: _array_case(np.ones(2, np.float32), "npscalar"), "must have shape []"),
    "header shape too big": (lambda m: {**m, "a0.npy": npy_header("<f4", (4,)) + bytes(12)}, "declares shape (4,)"),
    "header shape negative": (lambda m: {**m, "a0.npy": npy_header("<f4", (-1,)) + bytes(12)}, "invalid shape"),
    "header too long": (lambda m: {**m, "a0.npy": b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 30)},
                        "truncated or over"),
    "header garbage": (lambda m: {**m, "a0.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': os.system}"},
                       "corrupt .npy header"),
    "npy version 9": (lambda m: {**m, "a0.npy": b"\x93NUMPY\x09\x00" + bytes(100)}, "version 9.0"),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_corrupt_checkpoints_name_the_file(tmp_path: Path, case: str, tally) -> None:
    good = tmp_path / "good.npz"
    mt.save(mt.ones(3), good)
    make, message = CHECKPOINT_CASES[case]
    content = make(_members(good))
    path = tmp_path / "broken-ckpt.npz"
    if isinstance(content, dict):
        _write(path, content)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="broken-ckpt.npz") as err:
        mt.load(path)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)  # what load raised before CheckpointError existed
    tally.case("corrupt checkpoints (hand-written)", True)


def test_stored_member_claiming_more_than_the_file(tmp_path: Path) -> None:
    data = npy(np.ones(3, np.float32))
    blob = bytearray(zip_archive([("a0.npy", data, 0, 0, 1 << 31, 1 << 31)]))
    (tmp_path / "x.npz").write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match=r"x\.npz.*extends past the end of the file"):
        mt.load(tmp_path / "x.npz")


def test_valid_variants_load(tmp_path: Path) -> None:
    """Big-endian, Fortran-ordered and deflated members are valid .npz content and load correctly."""
    be = np.arange(6, dtype=">f4").reshape(2, 3)
    path = _write(tmp_path / "be.npz", _array_case(be))
    back = mt.load(path)
    assert back.dtype == mt.float32 and back.numpy().tolist() == be.tolist()
    np.savez_compressed(tmp_path / "zipped.npz", w=np.zeros((100, 100), np.float32), f=np.asfortranarray(be))
    back = mt.load(tmp_path / "zipped.npz")
    assert back["w"].shape == (100, 100) and back["f"].numpy().tolist() == be.tolist()


def test_round_trip_of_the_fuzz_sample(tmp_path: Path) -> None:
    obj = sample()
    mt.save(obj, tmp_path / "s.npz")
    back = mt.load(tmp_path / "s.npz")
    assert same(back, mt.load(tmp_path / "s.npz"))
    assert isinstance(back["model"]["b"], nn.Parameter) and back["fortran"].flags.f_contiguous
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999) and back["text"].tolist() == ["a", "bc"]


# -- checkpoints, fuzzed ------------------------------------------------------------------------
def _zip_fields(data: bytes) -> list[int]:
    """Offsets of every size, offset, length, method and flag field of the zip's records."""
    fields = []
    for sig, offs in ((b"PK\x03\x04", (6, 8, 14, 18, 22, 26, 28)), (b"PK\x01\x02", (8, 10, 16, 20, 24, 28, 30, 42)),
                      (b"PK\x05\x06", (8, 10, 12, 16, 20))):
        start = data.find(sig)
        while start >= 0:
            fields += [start + o for o in offs]
            start = data.find(sig, start + 1)
    return [f for f in fields if f + 4 <= len(data)]


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One random damage: bit flips, a byte, a cut, an insertion, a deletion, a zip field set to an extreme."""
    b = bytearray(data)
    kind = rng.randrange(7)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:
        b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 2:
        del b[rng.randrange(len(b)):]
    elif kind == 3:
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == 4:
        i = rng.randrange(len(b))
        del b[i:i + rng.randint(1, 64)]
    else:
        fields = _zip_fields(data)
        i = rng.choice(fields) if kind == 5 and fields else rng.randrange(len(b) - 4)
        value = rng.choice([0, 1, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, len(data), len(data) + 1,
                            rng.randrange(1 << 32)])
        width = rng.choice([2, 4])
        b[i:i + width] = (value & ((1 << 8 * width) - 1)).to_bytes(width, "little")
    return bytes(b)


def test_fuzz_bytes_of_a_checkpoint(tmp_path: Path, tally) -> None:
    good = tmp_path / "good.npz"
    mt.save(sample(), good)
    expected, data = mt.load(good), good.read_bytes()
    rng, path, lost = random.Random(SEED), tmp_path / "mutant.npz", []
    for i in range(1500):
        path.write_bytes(mutate_bytes(data, rng))
        survived, what = outcome(path, expected)
        tally.case("fuzz: checkpoint bytes (flip, cut, insert, zip fields)", survived)
        if not survived:
            lost.append((i, what))
    assert not lost, lost[:5]


_POOL = [None, True, 0, -1, 2 ** 70, 1.5, float("nan"), "", "a0", "a1", "a999", "__manifest__", [], {}, [[]],
         {"kind": "tensor"}, {"kind": "value"}, {"kind": "dict", "items": [[1, {"kind": "value", "value": 2}]]},
         "<f8", "<c16", "|O", "<U3", "|b1", "<M8[D]", "garbage", [2 ** 40], [-1], [3, 4, 5], ["3"], [0], [[3]]]
_KINDS = ["value", "dict", "list", "tuple", "tensor", "ndarray", "npscalar", "frob"]


def _nodes(tree: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _nodes(v, path + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _nodes(v, path + (i,))
    return out


def mutate_manifest(manifest: dict, rng: random.Random) -> Any:
    """One random structural change somewhere in the manifest's JSON tree."""
    tree = json.loads(json.dumps(manifest))
    path = rng.choice(_nodes(tree)[1:])
    parent = tree
    for step in path[:-1]:
        parent = parent[step]
    last, kind = path[-1], rng.randrange(5)
    if kind == 0 and isinstance(parent, dict):
        del parent[last]
    elif kind == 1 and isinstance(parent, dict) and last == "kind":
        parent[last] = rng.choice(_KINDS)
    elif kind == 2 and isinstance(parent, list):
        parent.insert(last, json.loads(json.dumps(parent[last])))  # a duplicate
    elif kind == 3 and isinstance(parent, dict) and last == "key":
        parent[last] = f"a{rng.randrange(20)}"  # another array of the archive (or none)
    else:
        parent[last] = json.loads(json.dumps(rng.choice(_POOL)))
    return tree


def test_fuzz_manifests(tmp_path: Path, tally) -> None:
    good = tmp_path / "good.npz"
    mt.save(sample(), good)
    members = _members(good)
    manifest, rng, lost = _manifest(members), random.Random(SEED + 1), []
    for i in range(700):
        path = _write(tmp_path / "mutant.npz", _with_manifest(members, mutate_manifest(manifest, rng)))
        survived, what = outcome(path)
        tally.case("fuzz: manifests (rewritten, valid CRC)", survived)
        if not survived:
            lost.append((i, what))
    assert not lost, lost[:5]


_DESCRS = ["<f4", ">f4", "<f8", "|u1", "<i8", "|b1", "<f2", "<c8", "<U2", "|S3", "<M8[s]", "|O", "|V4", "<f16",
           [("a", "<f4")], "(2,)<f4", "foo", 3]
_SHAPES = [(3,), (), (0,), (4,), (2, 2), (1, 3), (2 ** 40,), (-3,), (3, -1), (1,) * 40, (2 ** 62, 2 ** 62)]


def test_fuzz_npy_headers(tmp_path: Path, tally) -> None:
    good = tmp_path / "good.npz"
    mt.save(sample(), good)
    members, rng, lost = _members(good), random.Random(SEED + 2), []
    arrays = [n for n in members if n != "__manifest__.npy"]
    for i in range(300):
        name = rng.choice(arrays)
        data = np.load(io.BytesIO(members[name])).tobytes()
        try:
            header = npy_header(rng.choice(_DESCRS), rng.choice(_SHAPES), rng.random() < 0.3)
        except (ValueError, SyntaxError):
            continue
        body = data[:rng.randrange(len(data) + 1)] if rng.random() < 0.2 else data
        path = _write(tmp_path / "mutant.npz", {**members, name: header + body})
        survived, what = outcome(path)
        tally.case("fuzz: .npy headers (rewritten, valid CRC)", survived)
        if not survived:
            lost.append((i, what))
    assert not lost, lost[:5]


# -- IDX, fuzzed --------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_fuzz_idx(tmp_path: Path, tally, gz: bool) -> None:
    original = tmp_path / ("orig.gz" if gz else "orig")
    write_idx(original, np.arange(2 * 5 * 3, dtype=np.int16).reshape(2, 5, 3))
    data, rng, lost = original.read_bytes(), random.Random(SEED + 3 + gz), []
    path = tmp_path / ("mutant-idx.gz" if gz else "mutant-idx")
    for i in range(1000):
        path.write_bytes(mutate_bytes(data, rng) if rng.random() < 0.8 else gzip.compress(mutate_bytes(
            gzip.decompress(data) if gz else data, rng)))
        try:
            array = read_idx(path)
            survived = array.nbytes <= 16 << 20  # the largest a tiny file may claim (INFLATION_ALLOWANCE)
        except DataFileError as exc:
            survived = "mutant-idx" in str(exc)
        except Exception as exc:  # noqa: BLE001
            survived = False
            lost.append((i, f"raw {type(exc).__name__}: {exc}"))
        tally.case(f"fuzz: IDX {'gzip' if gz else 'plain'}", survived)
    assert not lost, lost[:5]


IDX_GZ_CASES = {
    "bad CRC": lambda good: good[:-8] + bytes(4) + good[-4:],
    "wrong length": lambda good: good[:-4] + struct.pack("<I", 1),
    "header only": lambda good: good[:10],
    "trailing garbage": lambda good: good + b"garbage!",
    "cut": lambda good: good[:len(good) // 2],
}


@pytest.mark.parametrize("case", list(IDX_GZ_CASES))
def test_corrupt_gzip_idx(tmp_path: Path, case: str, tally) -> None:
    path = tmp_path / "broken-idx.gz"
    write_idx(path, np.arange(1000, dtype=np.uint8) % 7)
    path.write_bytes(IDX_GZ_CASES[case](path.read_bytes()))
    with pytest.raises(DataFileError, match=r"broken-idx\.gz: corrupt or truncated gzip"):
        read_idx(path)
    tally.case("corrupt IDX gzip (hand-written)", True)


def test_concatenated_gzip_members_are_one_valid_file(tmp_path: Path) -> None:
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 6]) + b"abcdef"
    (tmp_path / "two.gz").write_bytes(gzip.compress(raw[:9]) + gzip.compress(raw[9:]))
    assert read_idx(tmp_path / "two.gz").tobytes() == b"abcdef"
