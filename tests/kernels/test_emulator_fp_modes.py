"""The floating-point mode the kernels run in, decided once (kernels/common.cuh): float denormals flush to zero
as CuPy's -ftz=true makes them on the GPU (the emulator does the same, double math excepted, as on the GPU),
and the kernels use accurate math only; the emulator's fast intrinsics carry the GPU's error growth."""
from __future__ import annotations

import re

import numpy as np
import pytest

from minitorch.kernels import KERNEL_DIR, KERNEL_SOURCES, emulator
from minitorch.kernels.emulator import EmulatedModule
from minitorch.kernels.emulator.build import strip_comments

pytestmark = pytest.mark.skipif(not emulator.available(), reason="g++ not on PATH: the emulator compiles with it")

DENORMAL_F32 = np.float32(1e-40)
DENORMAL_F64 = 1e-310

SOURCE = r"""
template <typename T> __device__ void ops(const T* x, T* out) {
    out[0] = x[0] * x[1];            // a denormal result
    out[1] = x[2] + T(0);            // a denormal input
    out[2] = x[2] > T(0) ? T(1) : T(0);  // a comparison with a denormal
    out[3] = sqrt(x[2]);
}
extern "C" __global__ void ops_f32(const float* x, float* out) { ops(x, out); }
extern "C" __global__ void ops_f64(const double* x, double* out) { ops(x, out); }
extern "C" __global__ void fast(const float* x, float* e, float* l, float* d, int n) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        e[i] = __expf(x[i]);
        l[i] = __logf(fabsf(x[i]) + 1.0f);
        d[i] = __fdividef(1.0f, x[i]);
    }
}
"""


def _run(options, name, dtype, tiny):
    mod = EmulatedModule(code=SOURCE, options=options)
    x = np.array([1e-20 if dtype == np.float32 else 1e-160, 1e-20 if dtype == np.float32 else 1e-160, tiny],
                 dtype=dtype)
    out = np.full(4, -1.0, dtype=dtype)
    mod.get_function(name)((1,), (1,), (x, out))
    return out


def test_float_denormals_flush_to_zero_as_with_cupys_ftz():
    out = _run((), "ops_f32", np.float32, DENORMAL_F32)
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 0.0])


def test_double_math_is_not_flushed():
    out = _run((), "ops_f64", np.float64, DENORMAL_F64)
    assert out[0] == 1e-160 * 1e-160 and out[0] > 0 and out[1] == DENORMAL_F64 and out[2] == 1.0


def test_ftz_can_be_switched_off_for_an_experiment():
    out = _run(("-DCUDA_EMU_FTZ=0",), "ops_f32", np.float32, DENORMAL_F32)
    assert out[0] > 0 and out[1] == DENORMAL_F32 and out[2] == 1.0


def test_flushing_stays_inside_the_kernel():
    _run((), "ops_f32", np.float32, DENORMAL_F32)
    assert DENORMAL_F32 * np.float32(1.0) == DENORMAL_F32  # the calling thread still keeps denormals


def _ulps(got, want):
    return np.abs(got.astype(np.float64) - want) / np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)


def test_fast_intrinsics_carry_the_gpus_error():
    x = np.linspace(-80, 80, 4001, dtype=np.float32)
    e, lg, d = (np.empty_like(x) for _ in range(3))
    EmulatedModule(code=SOURCE).get_function("fast")((1,), (256,), (x, e, lg, d, np.int32(x.size)))
    exact = np.exp(x.astype(np.float64))
    err = _ulps(e, exact)
    assert np.all(err <= 2 + 1.173 * np.abs(x))       # CUDA's documented bound for __expf
    assert err.max() > 16                              # ...whose growth with |x| is modelled, not hidden
    arg = (np.abs(x) + np.float32(1)).astype(np.float64)  # as the kernel rounds it
    near_one = arg <= 2.0                              # CUDA's bounds for __logf: absolute there, else 3 ulp
    assert np.all(np.abs(lg[near_one] - np.log(arg[near_one])) <= 2**-21.41)
    assert np.all(_ulps(lg[~near_one], np.log(arg[~near_one])) <= 3)
    nonzero = x != 0
    assert np.all(_ulps(d[nonzero], 1.0 / x[nonzero].astype(np.float64)) <= 2)


def test_fast_division_by_a_huge_value_is_zero_as_documented():
    x = np.array([2.0**127, -(2.0**127), 2.0**125], dtype=np.float32)
    e, lg, d = (np.empty_like(x) for _ in range(3))
    EmulatedModule(code=SOURCE).get_function("fast")((1,), (32,), (x, e, lg, d, np.int32(x.size)))
    np.testing.assert_array_equal(d, [0.0, -0.0, np.float32(2.0**-125)])


FAST_INTRINSICS = re.compile(r"\b__(exp|exp10|log|log2|log10|pow|sin|cos|tan|sincos|fdivide|frsqrt_rn)f\s*\(")


@pytest.mark.parametrize("source", [*KERNEL_SOURCES, KERNEL_DIR / "common.cuh"], ids=lambda p: p.name)
def test_kernels_use_accurate_math_only(source):
    used = FAST_INTRINSICS.findall(strip_comments(source.read_text()))
    assert not used, f"{source.name} calls fast intrinsics {used}: common.cuh states why the kernels do not"
