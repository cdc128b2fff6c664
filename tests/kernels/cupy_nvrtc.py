"""Compile a .cu exactly as `cupy.RawModule(code=..., options=...)` does, on a machine without a GPU.

RawModule compiles through `cupy._core.core.compile_with_cache` (CuPy's options: its include dirs, a default
C++ standard, `-ftz=true`, `-arch=sm_XX`, `--device-as-default-execution-space`), then loads the cubin on the
current device. Without a GPU two steps fail: CuPy asks the device for its architecture in one cached helper
(`compiler._get_arch`), whose per-device cache (and that of `_get_arch_for_options_for_nvrtc`) asks for the
current device; and loading the cubin needs a driver. `rawmodule_build` replaces the first by a fixed
architecture and the module class by one that keeps the cubin instead of loading it: everything between is
CuPy's own code, with the options it would pass to NVRTC recorded.
"""
from __future__ import annotations

import contextlib
import io
import re
import struct
import types
from dataclasses import dataclass
from typing import Iterator

import pytest


@dataclass
class Build:
    cubin: bytes
    nvrtc_options: tuple[str, ...]  # what NVRTC received for the source (CuPy's additions included)
    log: str                         # NVRTC's log (ptxas' report when -Xptxas=-v was passed)


@contextlib.contextmanager
def _gpu_free_compiler(arch: str) -> Iterator[list]:
    """CuPy's compiler, told the architecture, keeping cubins instead of loading them; yields the options
    each NVRTC compile received, as (source, options)."""
    from cupy.cuda import compiler, function

    class KeptModule(function.Module):  # a real Module subclass: compile_with_cache's return type is checked
        def load(self, cubin: bytes) -> None:
            self.cubin = cubin

        def _set_mapping(self, mapping: dict | None) -> None:
            self.kept_mapping = mapping

    seen: list[tuple[str, tuple[str, ...]]] = []
    compile_program = compiler._NVRTCProgram.compile

    def recording_compile(self, options=(), log_stream=None):
        seen.append((self.src, tuple(options)))
        return compile_program(self, options, log_stream)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compiler, "_get_arch", lambda: arch)
        mp.setattr(compiler, "_get_arch_for_options_for_nvrtc", compiler._get_arch_for_options_for_nvrtc.__wrapped__)
        mp.setattr(compiler, "function", types.SimpleNamespace(Module=KeptModule))
        mp.setattr(compiler._NVRTCProgram, "compile", recording_compile)
        mp.setenv("CUPY_CACHE_IN_MEMORY", "1")  # compile every time: a disk-cache hit would skip NVRTC's log
        yield seen


def rawmodule_build(source: str, options: tuple[str, ...], arch: str) -> Build:
    """The cubin RawModule(code=source, options=options) would load on an sm_<arch> device."""
    from cupy._core import core

    log = io.StringIO()
    with _gpu_free_compiler(arch) as seen:
        # The call cupy/_core/raw.pyx's _get_raw_module makes for a RawModule built from code.
        module = core.compile_with_cache(source, tuple(options), prepend_cupy_headers=False, backend="nvrtc",
                                         translate_cucomplex=False, enable_cooperative_groups=False,
                                         name_expressions=None, log_stream=log, jitify=False)
    nvrtc_options = next(opts for src, opts in seen if src == source)
    return Build(module.cubin, nvrtc_options, log.getvalue())


def nvrtc_unavailable() -> str | None:
    """Why CuPy's NVRTC path cannot run here (a reason to skip), or None when it can."""
    try:
        import cupy  # noqa: F401
        from cupy_backends.cuda.libs import nvrtc
    except Exception as exc:
        return f"cupy is not importable ({exc}); pip install -e '.[test]' installs cupy-cuda12x"
    try:
        nvrtc.getVersion()
    except Exception as exc:
        return f"CuPy cannot load NVRTC ({exc}); pip install -e '.[test]' installs nvidia-cuda-nvrtc-cu12"
    return None


# ---- the cubin and ptxas' report --------------------------------------------------------------------
EIATTR_REGCOUNT = 0x2F  # a `.nv.info` attribute: (function symbol index, registers)
EIFMT_SVAL = 0x04       # attribute records with a sized payload; the others are 4 bytes long


def cubin_functions(cubin: bytes) -> dict[str, int]:
    """Function name -> registers, read from the cubin's ELF: the REGCOUNT attributes of `.nv.info`."""
    if cubin[:5] != b"\x7fELF\x02":
        raise ValueError("not a 64-bit ELF cubin")
    shoff = struct.unpack_from("<Q", cubin, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", cubin, 0x3A)
    # Elf64_Shdr: name, type, flags, addr, offset, size, link, info, addralign, entsize
    headers = [struct.unpack_from("<IIQQQQIIQQ", cubin, shoff + i * shentsize) for i in range(shnum)]

    def text(at: int) -> str:
        return cubin[at:cubin.index(b"\0", at)].decode()

    section = {text(headers[shstrndx][4] + h[0]): h for h in headers}
    symtab = next(h for h in headers if h[1] == 2)  # SHT_SYMTAB; Elf64_Sym entries are 24 bytes, name first
    names_at = headers[symtab[6]][4]
    symbols = [text(names_at + struct.unpack_from("<I", cubin, symtab[4] + 24 * i)[0])
               for i in range(symtab[5] // 24)]
    registers, at = {}, section[".nv.info"][4]
    end = at + section[".nv.info"][5]
    while at < end:
        fmt, attr = cubin[at], cubin[at + 1]
        size = struct.unpack_from("<H", cubin, at + 2)[0] if fmt == EIFMT_SVAL else 0
        if attr == EIATTR_REGCOUNT:
            symbol, count = struct.unpack_from("<II", cubin, at + 4)
            registers[symbols[symbol]] = count
        at += 4 + size
    return registers


@dataclass
class Usage:
    registers: int
    stack: int         # bytes of stack frame (local memory)
    spill_stores: int
    spill_loads: int
    lmem: int          # bytes of local memory ptxas reports besides the frame


_ENTRY = re.compile(r"Compiling entry function '(\w+)' for 'sm_(\d+)'(.*?)(?=Compiling entry function|\Z)", re.S)
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")
_LMEM = re.compile(r"(\d+) bytes lmem")


def ptxas_usage(log: str, arch: str) -> dict[str, Usage]:
    """Kernel -> resources, from the `ptxas info` lines NVRTC logs under -Xptxas=-v."""
    usage = {}
    for name, sm, block in _ENTRY.findall(log):
        if sm != arch:
            continue
        frame, used, lmem = _FRAME.search(block), _USED.search(block), _LMEM.search(block)
        if frame is None or used is None:
            raise ValueError(f"unreadable ptxas report for {name}:\n{block}")
        usage[name] = Usage(int(used.group(1)), *map(int, frame.groups()), int(lmem.group(1)) if lmem else 0)
    return usage


def block_registers(registers: int, threads: int) -> int:
    """Registers a block takes: each warp's share is allocated in units of 256 (sm_75 to sm_90)."""
    per_warp = -(-registers * 32 // 256) * 256
    return per_warp * -(-threads // 32)
