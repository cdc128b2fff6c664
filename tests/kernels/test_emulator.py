"""The CPU emulator itself: CUDA semantics, divergence checks, argument checks, ASan, the build cache."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from minitorch.kernels import emulator
from minitorch.kernels.emulator import CompileError, EmulatedModule, EmulatorError
from minitorch.kernels.emulator.build import kernel_names, rewrite_dynamic_shared

pytestmark = pytest.mark.skipif(not emulator.available(), reason="g++ not on PATH: the emulator compiles with it")

CU = Path(__file__).parent / "cu" / "emulator_kernels.cu"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mod() -> EmulatedModule:
    return EmulatedModule(CU)


def bounded(fn, timeout: float = 20.0):
    """Runs fn in a daemon thread, so an emulator hang fails the test instead of the whole run."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised on the test's thread
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"emulator still running after {timeout}s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def test_thread_and_block_indices_over_a_2d_grid(mod):
    w, h = 21, 7  # partial blocks on both axes
    out = np.full((h, w, 4), -1, np.int32)
    mod.get_function("index2d")((3, 2), (8, 4), (out, np.int32(w), np.int32(h)))
    ys, xs = np.mgrid[0:h, 0:w]
    np.testing.assert_array_equal(out[..., 0], xs)
    np.testing.assert_array_equal(out[..., 1], ys)
    assert (out[..., 2] == 302).all() and (out[..., 3] == 804).all()


def test_static_shared_block_reduction(mod):
    x = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    out = np.zeros(4, np.float32)
    mod.get_function("block_sum_static")(4, 256, (x, out, np.int64(x.size)))
    np.testing.assert_allclose(out, np.add.reduceat(x, [0, 256, 512, 768]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("threads", [32, 128])
def test_dynamic_shared_block_reduction(mod, threads):
    x = np.random.default_rng(2).standard_normal((9, 300))
    out = np.zeros(9)
    mod.get_function("row_sum_dynamic")((9,), (threads,), (x, out, np.int32(300)), shared_mem=threads * 8)
    np.testing.assert_allclose(out, x.sum(axis=1), rtol=1e-12)


def test_warp_shuffles_and_votes(mod):
    v = np.random.default_rng(3).integers(0, 200, 128).astype(np.float32)
    out = np.zeros((4, 8), np.float32)
    mod.get_function("warp_ops")(2, 64, (v, out))
    lanes = v.reshape(4, 32)
    np.testing.assert_array_equal(out[:, 0], lanes.sum(1))  # __shfl_down_sync tree
    np.testing.assert_array_equal(out[:, 1], lanes.sum(1))  # __shfl_xor_sync butterfly, any lane
    np.testing.assert_array_equal(out[:, 2], lanes[:, 3])  # __shfl_sync broadcast
    np.testing.assert_array_equal(out[:, 3], (lanes.astype(int) % 2).sum(1))  # __ballot_sync
    np.testing.assert_array_equal(out[:, 4], (lanes > 100).any(1))
    np.testing.assert_array_equal(out[:, 5], (lanes >= 0).all(1))
    np.testing.assert_array_equal(out[:, 6], lanes[:, 16:].sum(1))  # __shfl_up_sync scan, width 16


def test_atomics_from_many_threads_and_os_threads(mod, monkeypatch):
    monkeypatch.setenv("MINITORCH_EMU_THREADS", "2")  # blocks race on two OS threads
    labels = np.random.default_rng(4).integers(0, 10, 5000).astype(np.int32)
    hist, fsum = np.zeros(10, np.uint32), np.zeros(1, np.float32)
    count, maxval, dsum = np.zeros(1, np.uint64), np.array([-1, -1], np.int32), np.zeros(1)
    mod.get_function("atomics")(20, 256, (labels, np.int64(labels.size), hist, fsum, count, maxval, dsum))
    np.testing.assert_array_equal(hist, np.bincount(labels, minlength=10))
    assert fsum[0] == 2500.0 and count[0] == 5000 and dsum[0] == labels.sum()
    assert list(maxval) == [labels.max(), 7]  # atomicMax, then atomicCAS claimed once


@pytest.mark.parametrize("kernel, expected", [
    ("early_return_barrier", "thread (3,0,0) exited while 31 other thread(s) wait at __syncthreads()"),
    ("split_barrier", "threads wait at different __syncthreads()"),
    ("shuffle_after_exit", "waits at __shfl_down_sync"),
])
def test_divergence_is_an_error_not_a_hang(mod, kernel, expected):
    out = np.zeros(32, np.float32)
    with pytest.raises(EmulatorError, match=r"kernel '\w+' block \(\d,0,0\)") as info:
        bounded(lambda: mod.get_function(kernel)(2, 32, (out,)))
    assert expected in str(info.value) and "emulator_kernels.cu:" in str(info.value)


def test_trap_and_assert_fail_the_launch_with_their_location(mod):
    with pytest.raises(EmulatorError, match=r"block \(2,0,0\): __trap\(\) at .*in thread \(1,0,0\)"):
        bounded(lambda: mod.get_function("trap_in_block")(4, 32, (np.zeros(4, np.int32), np.int32(2))))
    labels = np.arange(64, dtype=np.int32)
    with pytest.raises(EmulatorError, match=r"assertion `labels\[i\] < classes' failed"):
        mod.get_function("checked_labels")(2, 32, (labels, np.int32(50)))
    mod.get_function("checked_labels")(2, 32, (labels, np.int32(64)))  # the module still works


@pytest.mark.parametrize("args, message", [
    ((np.zeros(4, np.float32),), r"takes 3 arguments \(float\*, float, unsigned long long\), got 1"),
    ((np.zeros(4, np.float32), 2.0, np.uint64(4)), r"argument 1 \(float\): got a Python float; pass np.float32"),
    ((np.zeros(4, np.float32), np.float64(2), np.uint64(4)), r"argument 1 \(float\): got float64"),
    ((np.zeros(4, np.float32), np.float32(2), 4), r"argument 2 .*Python int; pass np.uint64"),
    ((np.zeros(4), np.float32(2), np.uint64(4)), r"argument 0 \(float\*\): got a float64 array"),
    ((np.zeros((4, 2), np.float32).T, np.float32(2), np.uint64(8)), "C-contiguous"),
    (([0.0] * 4, np.float32(2), np.uint64(4)), r"argument 0 \(float\*\): expected a NumPy array"),
])
def test_argument_errors_name_the_kernel(mod, args, message):
    with pytest.raises(TypeError, match=r"kernel 'scale'.*" + message):
        mod.get_function("scale")(1, 32, args)


def test_launch_configuration_errors(mod):
    k = mod.get_function("scale")
    args = (np.zeros(4, np.float32), np.float32(2), np.uint64(4))
    with pytest.raises(EmulatorError, match="invalid block"):
        k(1, 2048, args)
    with pytest.raises(EmulatorError, match="invalid grid"):
        k((1, 0), 32, args)
    with pytest.raises(EmulatorError, match="max_dynamic_shared_size_bytes"):
        k(1, 32, args, shared_mem=64 * 1024)
    with pytest.raises(TypeError, match="grid must be"):
        k("1", 32, args)
    with pytest.raises(EmulatorError, match="no kernel 'nope'"):
        mod.get_function("nope")
    k.max_dynamic_shared_size_bytes = 96 * 1024  # opting in works as with CuPy
    k(1, 32, args, shared_mem=64 * 1024)


def test_build_cache_is_reused(mod, monkeypatch):
    def no_compiler(*a, **k):
        raise AssertionError("g++ ran although the library was cached")

    monkeypatch.setattr(subprocess, "Popen", no_compiler)
    again = EmulatedModule(str(CU))
    assert again.from_cache and again.library_path == mod.library_path
    assert again.library_path.parent == emulator.cache_dir()


def test_ucontext_fallback_gives_the_same_results(mod):
    """The portable makecontext/swapcontext path (non-x86-64 hosts) matches the assembly one."""
    alt = EmulatedModule(CU, options=("-DCUDA_EMU_UCONTEXT",))
    assert alt.library_path != mod.library_path
    v = np.random.default_rng(5).integers(0, 200, 128).astype(np.float32)
    a, b = np.zeros(32, np.float32), np.zeros(32, np.float32)
    mod.get_function("warp_ops")(2, 64, (v, a))
    alt.get_function("warp_ops")(2, 64, (v, b))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(EmulatorError, match="exited while"):
        bounded(lambda: alt.get_function("early_return_barrier")(1, 32, (np.zeros(32, np.float32),)))


def test_compile_errors_carry_gxx_diagnostics():
    with pytest.raises(CompileError, match=r"<source>:2.*undeclared_thing"):
        EmulatedModule('extern "C" __global__ void broken(float* x) {\n  x[0] = undeclared_thing;\n}\n')


def test_source_scanning_and_dynamic_shared_rewrite():
    src = ('// extern "C" __global__ void old(int* x) {}\n'
           'extern "C" __global__ void __launch_bounds__(256) a(int* x) {}\n'
           'extern "C" __global__ void b(int* x) {}\n')
    assert kernel_names(src) == ["a", "b"]
    for decl, ctype in [("extern __shared__ float smem[];", "float"),
                        ("extern __shared__ __align__(16) unsigned char buf[];", "unsigned char"),
                        ("extern  __shared__ alignas(8)\n  double  tile [ ];", "double")]:
        out = rewrite_dynamic_shared(decl)
        assert f"static thread_local {ctype}* const" in out and "dynamic_smem()" in out
        assert out.count("\n") == decl.count("\n")  # line numbers survive


_ASAN_SCRIPT = """
import sys, numpy as np
from minitorch.kernels.emulator import EmulatedModule
m = EmulatedModule(sys.argv[1], sanitize=True)
v = np.arange(64, dtype=np.float32); o = np.zeros(16, np.float32)
m.get_function("warp_ops")(1, 64, (v, o))  # barriers and shuffles run clean under ASan
assert o[0] == v[:32].sum(), o
print("CLEAN", flush=True)
if sys.argv[2] == "global":
    m.get_function("write_past_end")(1, 128, (np.zeros(100, np.float32), np.int32(100)))
else:
    m.get_function("shared_past_end")(1, 32, (np.zeros(32, np.float32),), shared_mem=32 * 4)
print("NOT CAUGHT", flush=True)
"""


@pytest.mark.parametrize("where, report", [("global", "heap-buffer-overflow"), ("shared", "use-after-poison")])
def test_address_sanitizer_catches_out_of_bounds(where, report):
    libasan = subprocess.run(["g++", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(libasan):
        pytest.skip("g++ has no libasan")
    env = dict(os.environ, LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0")
    proc = subprocess.run([sys.executable, "-c", _ASAN_SCRIPT, str(CU), where], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert "CLEAN" in proc.stdout, proc.stderr[-3000:]
    assert "NOT CAUGHT" not in proc.stdout and proc.returncode != 0
    assert f"AddressSanitizer: {report}" in proc.stderr
    assert "emulator_kernels.cu:" in proc.stderr  # the report points at the kernel's source line
    assert "happened in kernel" in proc.stderr and "thread (" in proc.stderr
