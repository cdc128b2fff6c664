"""minitorch.save / load: structure and dtypes round trip, devices, atomic writes, corrupt files, no pickle.

(Faults in depth, bombs and fuzzing: tests/faults/.)"""
from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest

import minitorch as mt
from minitorch import nn
from minitorch.errors import CheckpointError, CheckpointWriteError


def test_round_trip_structure_and_dtypes(device, tmp_path):
    obj = {
        "f32": mt.randn(2, 3, device=device),
        "f64": mt.tensor(np.arange(3, dtype=np.float64), device=device),
        "i64": mt.tensor(7, dtype=mt.int64, device=device),
        "empty": mt.zeros(0, 4, device=device),
        "nested": {"list": [1, 2.5, "three", None, True], "tuple": (0.9, 0.999), 3: "int key", "ndarray": np.eye(2)},
        "epoch": 3,
        "nan": float("nan"),
    }
    if device != "strict":  # the array API standard has no float16
        obj["f16"] = mt.ones(2, dtype=mt.float16, device=device)
    path = tmp_path / "ckpt"  # no suffix is added: the file is written where asked
    mt.save(obj, path)
    assert os.listdir(tmp_path) == ["ckpt"]
    back = mt.load(path, device=device)
    assert set(back) == set(obj)
    for key in [k for k in obj if isinstance(obj[k], mt.Tensor)]:
        assert back[key].dtype == obj[key].dtype and back[key].shape == obj[key].shape, key
        assert back[key].device == device
        np.testing.assert_array_equal(back[key].detach().numpy(), obj[key].detach().numpy())
    assert back["nested"]["list"] == [1, 2.5, "three", None, True]
    assert back["nested"]["tuple"] == (0.9, 0.999) and back["nested"][3] == "int key"
    assert isinstance(back["nested"]["ndarray"], np.ndarray)
    assert back["epoch"] == 3 and np.isnan(back["nan"])


def test_load_onto_another_device(device, tmp_path):
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).to(device)
    mt.save(net.state_dict(), tmp_path / "m.npz")
    state = mt.load(tmp_path / "m.npz", device="cpu")  # e.g. trained on a GPU, inspected on a laptop
    assert all(t.device == "cpu" for t in state.values())
    assert state["1.num_batches_tracked"].dtype == mt.int64 and state["0.weight"].dtype == mt.float32
    assert all(t.device == mt.default_device() for t in mt.load(tmp_path / "m.npz").values())


def test_parameters_and_requires_grad_survive(tmp_path):
    p = nn.Parameter(mt.ones(2))
    mt.save({"p": p, "t": mt.ones(1, requires_grad=True), "plain": mt.ones(1)}, tmp_path / "p.npz")
    back = mt.load(tmp_path / "p.npz")
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert back["t"].requires_grad and not back["plain"].requires_grad


def test_failed_write_leaves_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    mt.save({"epoch": 1, "w": mt.ones(3)}, path)

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(CheckpointWriteError, match="cannot save .*ckpt.npz.*disk full.*unchanged") as err:
        mt.save({"epoch": 2, "w": mt.zeros(3)}, path)
    assert isinstance(err.value, OSError)  # callers that catch OSError keep working
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # the temporary file is cleaned up too
    assert mt.load(path)["epoch"] == 1
    with pytest.raises(TypeError, match="cannot save obj\\['bad'\\] of type object"):
        mt.save({"bad": object()}, path)
    assert mt.load(path)["epoch"] == 1


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"\x93NUMPY garbage"])
def test_corrupt_file_names_the_file(tmp_path, content):
    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="broken.npz"):
        mt.load(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.npz"
    mt.save({"w": mt.randn(100, 100)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.npz.*corrupt, truncated"):
        mt.load(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        mt.load(tmp_path / "nope.npz")


def test_pickled_arrays_are_rejected(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([{"a": 1}, None], dtype=object))  # stored with pickle inside
    with pytest.raises(CheckpointError, match="evil.npz.*pickle"):
        mt.load(path)
    with pytest.raises(TypeError, match="object array"):
        mt.save({"x": np.array([None], dtype=object)}, tmp_path / "x.npz")


def test_single_npy_is_rejected(tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.ones(3))
    with pytest.raises(CheckpointError, match=r"one.npy.*single .npy array of shape \(3,\)"):
        mt.load(path)


def test_plain_npz_loads_as_tensors(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.ones((2, 2), dtype=np.float32), step=np.int64(4))
    back = mt.load(tmp_path / "plain.npz")
    assert back["w"].shape == (2, 2) and back["step"].dtype == mt.int64


def test_manifest_mismatch_is_corruption(tmp_path):
    path = tmp_path / "tampered.npz"
    mt.save({"w": mt.ones(3)}, path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO()
    np.save(buf, np.ones(4, dtype=np.float32))
    members["a0.npy"] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    with pytest.raises(CheckpointError, match="tampered.npz.*manifest says"):
        mt.load(path)
    assert issubclass(CheckpointError, ValueError)  # what load raised before CheckpointError existed


def test_an_object_saved_twice_is_stored_once_and_loaded_as_one(tmp_path):
    w, a = mt.randn(50, 50), np.arange(4)
    mt.save({"tied": [w, w], "arrays": (a, a), "copy": mt.tensor(w.numpy())}, tmp_path / "t.npz")
    assert len(np.load(tmp_path / "t.npz").files) == 4  # w, a, the copy, the manifest
    back = mt.load(tmp_path / "t.npz")
    assert back["tied"][0] is back["tied"][1] and back["arrays"][0] is back["arrays"][1]
    assert back["copy"] is not back["tied"][0]
    np.testing.assert_array_equal(back["tied"][0].numpy(), w.numpy())


def test_only_numbers_become_tensors(tmp_path):
    np.savez(tmp_path / "c.npz", z=np.ones(2, np.complex64))
    with pytest.raises(CheckpointError, match=r"c\.npz'?: array z has dtype complex64; only bool, integer"):
        mt.load(tmp_path / "c.npz")
    mt.save({"text": np.array(["a", "b"]), "when": np.array(["2024-01-01"], "datetime64[D]")}, tmp_path / "n.npz")
    back = mt.load(tmp_path / "n.npz")  # NumPy arrays (not tensors) may hold text and dates
    assert back["text"].tolist() == ["a", "b"] and back["when"].dtype == np.dtype("datetime64[D]")
    with pytest.raises(TypeError, match=r"obj\['r'\] is a .* array"):
        mt.save({"r": np.zeros(2, dtype=[("a", "f4")])}, tmp_path / "r.npz")


def test_save_into_a_missing_folder(tmp_path):
    with pytest.raises(CheckpointWriteError, match="nope/x.npz.*No such file or directory.*does the folder exist"):
        mt.save({"a": 1}, tmp_path / "nope" / "x.npz")
