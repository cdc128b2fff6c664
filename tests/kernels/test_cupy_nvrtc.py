"""Every .cu compiled through CuPy's own NVRTC path, exactly as cupy.RawModule builds it (its options, its
-ftz=true), for sm_75, sm_80 and sm_90 without a GPU: every kernel a launcher requests is in the cubin, none
spills or uses local memory, and its registers x threads fit every shape it is launched with
(cuda.LAUNCH_THREADS, which tests/test_cuda_devices.py checks against the launches made). Runs wherever the
cupy-cuda12x and nvidia-cuda-nvrtc-cu12 wheels install (both are in the test extra); skips elsewhere."""
from __future__ import annotations

import pytest

from cupy_nvrtc import block_registers, cubin_functions, nvrtc_unavailable, ptxas_usage, rawmodule_build
from minitorch.kernels import KERNEL_SOURCES, NVRTC_OPTIONS
from minitorch.kernels.cuda import LAUNCH_THREADS
from minitorch.kernels.emulator.build import kernel_names

ARCHS = ("75", "80", "90")  # Turing (T4), Ampere (A100), Hopper (H100)
REGISTERS_PER_THREAD = 255  # the hardware limit on every one of them
REGISTERS_PER_BLOCK = 65536
VERBOSE = ("-Xptxas=-v",)  # ptxas' resource report in NVRTC's log; the cubin stays the same (checked)

_why_not = nvrtc_unavailable()
pytestmark = pytest.mark.skipif(_why_not is not None, reason=str(_why_not))

CASES = [pytest.param(src, arch, id=f"{src.name}-sm_{arch}") for src in KERNEL_SOURCES for arch in ARCHS]


@pytest.fixture(scope="module")
def builds() -> dict:
    """(source name, arch) -> (the RawModule build, the same with ptxas' report)."""
    out = {}
    for src in KERNEL_SOURCES:
        code = src.read_text()
        for arch in ARCHS:
            out[(src.name, arch)] = (rawmodule_build(code, NVRTC_OPTIONS, arch),
                                     rawmodule_build(code, NVRTC_OPTIONS + VERBOSE, arch))
    return out


def _requested(source) -> dict[str, tuple[int, ...]]:
    """The kernels of `source` that launchers request, with their threads per block."""
    defined = set(kernel_names(source.read_text()))
    return {name: threads for name, threads in LAUNCH_THREADS.items() if name in defined}


def test_every_requested_kernel_is_defined_in_some_source():
    defined = {name for src in KERNEL_SOURCES for name in kernel_names(src.read_text())}
    assert set(LAUNCH_THREADS) - defined == set()


@pytest.mark.parametrize("source,arch", CASES)
def test_built_as_rawmodule_builds_it(builds, source, arch):
    plain, verbose = builds[(source.name, arch)]
    assert plain.cubin[:4] == b"\x7fELF"
    opts = plain.nvrtc_options
    assert f"-arch=sm_{arch}" in opts and set(NVRTC_OPTIONS) <= set(opts)
    # CuPy appends -ftz=true after our options and NVRTC keeps the last -ftz: the GPU flushes float denormals,
    # which the emulator reproduces (launch.h, CUDA_EMU_FTZ).
    assert [o for o in opts if o.startswith("-ftz=")][-1] == "-ftz=true"
    assert verbose.cubin == plain.cubin, "-Xptxas=-v changed the code: its report would not describe the build"
    assert "warning" not in verbose.log.lower(), verbose.log


@pytest.mark.parametrize("source,arch", CASES)
def test_requested_kernels_exist(builds, source, arch):
    plain, verbose = builds[(source.name, arch)]
    in_cubin, entries = cubin_functions(plain.cubin), ptxas_usage(verbose.log, arch)
    missing = {name for name in _requested(source) if name not in in_cubin or name not in entries}
    assert not missing, f"kernels the launchers request but the {arch} cubin lacks: {sorted(missing)}"


@pytest.mark.parametrize("source,arch", CASES)
def test_no_spills_and_no_local_memory(builds, source, arch):
    usage = ptxas_usage(builds[(source.name, arch)][1].log, arch)
    assert usage
    bad = {name: u for name, u in usage.items() if u.stack or u.spill_stores or u.spill_loads or u.lmem}
    assert not bad, f"local memory or spills on sm_{arch}: {bad}"


@pytest.mark.parametrize("source,arch", CASES)
def test_registers_fit_every_launch_shape(builds, source, arch):
    plain, verbose = builds[(source.name, arch)]
    usage, in_cubin = ptxas_usage(verbose.log, arch), cubin_functions(plain.cubin)
    for name, threads in _requested(source).items():
        registers = usage[name].registers
        assert in_cubin[name] == registers, f"{name}: the cubin and ptxas disagree on its registers"
        assert registers <= REGISTERS_PER_THREAD
        for t in threads:
            need = block_registers(registers, t)
            assert need <= REGISTERS_PER_BLOCK, (
                f"{name} on sm_{arch}: {registers} registers x {t} threads take {need} > {REGISTERS_PER_BLOCK}: "
                "the launch would fail with 'too many resources requested'")
