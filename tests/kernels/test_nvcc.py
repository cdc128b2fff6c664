"""Every .cu compiles with nvcc for sm_80 and sm_90 without warnings and without register spills."""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from minitorch.kernels import KERNEL_DIR, KERNEL_SOURCES

ARCHS = ["sm_80", "sm_90"]
NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc not on PATH (CUDA toolkit not installed)")

# ptxas -v prints, per kernel: "Function properties for NAME" then "... N bytes spill stores, M bytes spill loads"
# and "Used R registers".
PROPS = re.compile(r"Function properties for (\w+)\s*\n\s*(\d+) bytes stack frame, (\d+) bytes spill stores, "
                   r"(\d+) bytes spill loads")
USED = re.compile(r"Compiling entry function '(\w+)' for '(\w+)'.*?Used (\d+) registers", re.S)


def compile_cubin(source: Path, arch: str, out_dir: Path) -> subprocess.CompletedProcess:
    cmd = [NVCC, "-cubin", f"-arch={arch}", "-std=c++17", f"-I{KERNEL_DIR}", "-Xptxas", "-v",
           "-Werror", "all-warnings", "-o", str(out_dir / f"{source.stem}.{arch}.cubin"), str(source)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[tuple[str, str], subprocess.CompletedProcess]:
    """All (source, arch) pairs compiled once, in parallel."""
    out = tmp_path_factory.mktemp("cubin")
    jobs = [(src, arch) for src in KERNEL_SOURCES for arch in ARCHS]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = pool.map(lambda job: compile_cubin(job[0], job[1], out), jobs)
        return {(src.name, arch): r for (src, arch), r in zip(jobs, results)}


def kernel_names(source: Path) -> set[str]:
    return set(re.findall(r'extern\s+"C"\s+__global__\s+void\s+(\w+)', source.read_text()))


CASES = [pytest.param(src, arch, id=f"{src.name}-{arch}") for src in KERNEL_SOURCES for arch in ARCHS]


@pytest.mark.parametrize("source,arch", CASES)
def test_compiles_cleanly(builds, source, arch):
    result = builds[(source.name, arch)]
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("source,arch", CASES)
def test_no_register_spills(builds, source, arch):
    log = builds[(source.name, arch)].stderr
    props = {name: (int(stack), int(stores), int(loads)) for name, stack, stores, loads in PROPS.findall(log)}
    assert kernel_names(source) <= set(props), f"ptxas reported no properties for some kernels:\n{log}"
    spilling = {name: p for name, p in props.items() if p[1] or p[2]}
    assert not spilling, f"register spills (stack, stores, loads) in {source.name} for {arch}: {spilling}"
    for name, _arch, regs in USED.findall(log):
        assert int(regs) <= 64, f"{name} uses {regs} registers on {arch}: occupancy would suffer"


def test_every_kernel_file_is_listed():
    on_disk = {p.name for p in KERNEL_DIR.glob("*.cu")}
    assert on_disk == {p.name for p in KERNEL_SOURCES}
