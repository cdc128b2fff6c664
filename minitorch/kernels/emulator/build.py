"""Compiles a .cu source with g++ into a cached shared library that runs its kernels on the CPU."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

EMULATOR_DIR = Path(__file__).resolve().parent
KERNELS_DIR = EMULATOR_DIR.parent
RUNTIME_SOURCES = ("runtime.cpp", "device.cpp", "warp.cpp")
HEADERS = ("cuda_emu.h", "fiber.h", "scheduler.h", "launch.h")
# Headers a .cu may include for nvcc; under the emulator cuda_emu.h already covers them.
STUB_HEADERS = ("cuda_runtime.h", "cuda_runtime_api.h", "cuda.h", "device_launch_parameters.h")
FORMAT_VERSION = "1"  # bump when generated code changes in a way the hash cannot see

_KERNEL_RE = re.compile(
    r'extern\s+"C"\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+'
    r"(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*\("
)
_COMMENT_RE = re.compile(r'//[^\n]*|/\*.*?\*/|("(?:\\.|[^"\\\n])*")', re.S)
_DYN_SMEM_RE = re.compile(r"extern\s+__shared__\s+([^;\[\]{}()]*(?:\([^)]*\)[^;\[\]{}()]*)*?)\s*\b(\w+)\s*\[\s*\]\s*;")
_ALIGN_RE = re.compile(r"\b(?:__align__|alignas)\s*\([^)]*\)")


class EmulatorError(RuntimeError):
    """A kernel failed under the CPU emulator, or its source could not be built."""


class CompileError(EmulatorError):
    """g++ rejected a kernel source; the message carries the compiler's diagnostics."""


def compiler() -> str | None:
    """Path of the C++ compiler the emulator uses ($MINITORCH_EMU_CXX or g++), or None."""
    return shutil.which(os.environ.get("MINITORCH_EMU_CXX", "g++"))


def cache_dir() -> Path:
    """Where built libraries live: $MINITORCH_CACHE/emulator, else ~/.cache/minitorch/emulator."""
    root = os.environ.get("MINITORCH_CACHE")
    return Path(root) / "emulator" if root else Path.home() / ".cache" / "minitorch" / "emulator"


def strip_comments(src: str) -> str:
    """Source with comments blanked (line count kept), so commented-out code is not scanned."""
    return _COMMENT_RE.sub(lambda m: m.group(1) or "\n" * m.group(0).count("\n") or " ", src)


def kernel_names(src: str) -> list[str]:
    """Names of the `extern "C" __global__` kernels defined in a source, in order."""
    return list(dict.fromkeys(_KERNEL_RE.findall(strip_comments(src))))


def rewrite_dynamic_shared(src: str) -> str:
    """Turns `extern __shared__ T name[];` into a pointer to the block's dynamic buffer.

    The pointer is `static thread_local`, so the rewrite is valid at file and function scope;
    the buffer's address is fixed per OS thread. Newlines are kept so line numbers stay right.
    """

    def repl(m: re.Match) -> str:
        ctype = " ".join(_ALIGN_RE.sub(" ", m.group(1)).split())
        lines = "\n" * m.group(0).count("\n")
        return (f"static thread_local {ctype}* const {m.group(2)} = "
                f"reinterpret_cast<{ctype}*>(::cuda_emu::dynamic_smem());{lines}")

    return _DYN_SMEM_RE.sub(repl, src)


def split_options(options: tuple[str, ...] | list[str]) -> tuple[list[str], list[str]]:
    """(defines, include dirs) from nvcc/NVRTC-style options; other options are nvcc-only and ignored."""
    defines: list[str] = []
    includes: list[str] = []
    opts = list(options)
    i = 0
    while i < len(opts):
        opt = opts[i]
        for prefix, into in (("-D", defines), ("--define-macro=", defines), ("-I", includes),
                             ("--include-path=", includes), ("-U", defines)):
            if opt.startswith(prefix):
                value = opt[len(prefix):]
                if not value and i + 1 < len(opts):  # "-D NAME" as two items
                    i += 1
                    value = opts[i]
                into.append(("-U" if prefix == "-U" else "-D") + value if into is defines else value)
                break
        i += 1
    return defines, includes


@lru_cache(maxsize=None)
def _compiler_identity(cxx: str) -> str:
    out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
    return cxx + "\n" + out.stdout


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _local_headers(dirs: list[Path]) -> dict[str, str]:
    """Headers next to the source and in the include dirs, which a kernel may #include."""
    found: dict[str, str] = {}
    for d in dirs:
        for f in sorted(d.glob("*.cu*")) + sorted(d.glob("*.h")):
            if f.suffix in (".cuh", ".h") and f.name not in found:
                found[f.name] = f.read_text()
    return found


def _compile(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(procs: list[tuple[subprocess.Popen, str]]) -> None:
    errors = []
    for proc, what in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            errors.append(f"g++ failed on {what}:\n{out}")
    if errors:
        raise CompileError("\n".join(errors))


def build(src: str, origin: str, options=(), sanitize: bool = False,
          search_dirs: tuple[Path, ...] = ()) -> tuple[Path, list[str], bool]:
    """Compiles a kernel source; returns (library path, kernel names, whether it came from the cache)."""
    cxx = compiler()
    if cxx is None:
        raise EmulatorError("the CUDA emulator needs g++ on PATH (or $MINITORCH_EMU_CXX)")
    names = kernel_names(src)
    if not names:
        raise EmulatorError(f'{origin}: no `extern "C" __global__ void name(...)` kernels found')
    defines, user_includes = split_options(options)
    include_dirs = [Path(d) for d in (*search_dirs, *user_includes)] + [KERNELS_DIR]
    headers = _local_headers(include_dirs)
    flags = ["-std=c++17", "-fPIC", "-pthread", "-fno-strict-aliasing", "-fvisibility=hidden",
             "-Wno-unknown-pragmas", "-Wno-attributes"]
    flags += ["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer"] if sanitize else ["-O2"]
    # Only emulator switches reach the runtime, so kernel macros do not force a runtime rebuild.
    runtime_flags = flags + [d for d in defines if d[2:].startswith("CUDA_EMU_")]
    kernel_flags = flags + defines

    ours = {n: (EMULATOR_DIR / n).read_text() for n in HEADERS + RUNTIME_SOURCES}
    wrapper = (f'#include "cuda_emu.h"\n#line 1 "{origin}"\n{rewrite_dynamic_shared(src)}\n'
               '#line 1 "<emulator wrapper>"\n#include "launch.h"\n'
               + "".join(f"CUDA_EMU_EXPORT({n})\n" for n in names))
    identity = _compiler_identity(cxx)
    runtime_key = _digest(FORMAT_VERSION, identity, *runtime_flags, *(ours[n] for n in sorted(ours)))
    key = _digest(runtime_key, wrapper, *kernel_flags, *(f"{k}\n{v}" for k, v in sorted(headers.items())))
    out_dir = cache_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"\W", "", Path(origin).stem)[:40] or "kernels"
    lib = out_dir / f"{stem}-{key}.so"
    if lib.exists():
        return lib, names, True

    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as tmp_name:
        tmp = Path(tmp_name)
        inc = tmp / "include"
        inc.mkdir()
        for name in STUB_HEADERS:
            (inc / name).write_text('#pragma once\n#include "cuda_emu.h"\n')
        for name, text in headers.items():  # rewrite `extern __shared__` in included headers too
            if "__shared__" in text:
                (inc / name).write_text(f'#line 1 "{name}"\n{rewrite_dynamic_shared(text)}')
        idirs = [f"-I{d}" for d in (inc, *include_dirs, EMULATOR_DIR)]
        (tmp / "kernels.cpp").write_text(wrapper)
        procs = [(_compile([cxx, *kernel_flags, *idirs, "-c", str(tmp / "kernels.cpp"), "-o",
                            str(tmp / "kernels.o")]), origin)]
        objects = []
        for name in RUNTIME_SOURCES:
            obj = out_dir / f"runtime-{runtime_key}-{Path(name).stem}.o"
            objects.append(obj)
            if not obj.exists():  # compiled in a private file, then renamed: concurrent builds are safe
                part = tmp / obj.name
                procs.append((_compile([cxx, *runtime_flags, *idirs, "-c", str(EMULATOR_DIR / name),
                                        "-o", str(part)]), name))
        _wait(procs)
        for obj in objects:
            if not obj.exists():
                os.replace(tmp / obj.name, obj)
        link = [cxx, *flags, "-shared", str(tmp / "kernels.o"), *map(str, objects), "-o", str(tmp / lib.name)]
        _wait([(_compile(link), f"linking {origin}")])
        os.replace(tmp / lib.name, lib)
    return lib, names, False
