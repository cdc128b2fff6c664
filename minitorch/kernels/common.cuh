// Device helpers shared by the fused kernels: warp/block reductions in a fixed order.
//
// Every reduction here combines values along the same tree on every run, so results are
// bit-for-bit reproducible (no float atomics anywhere in minitorch's kernels).
#pragma once

#define FULL_MASK 0xffffffffu

// Floating-point mode, decided once for every kernel (tests/kernels/test_cupy_nvrtc.py checks the GPU build):
// - flush to zero: CuPy's RawModule always appends -ftz=true, so float denormal inputs and results are 0 on
//   the GPU; the emulator flushes them too (emulator/launch.h). double math is never flushed.
// - accurate math only: expf, logf, sqrtf, IEEE division (NVRTC's defaults -prec-div/-prec-sqrt=true). No
//   fast intrinsics (__expf, __logf, __fdividef, ...): their error grows with |x| (__expf: 2 + 1.17|x| ulp)
//   and the references and PyTorch use accurate exp. The kernels are memory-bound, so they cost nothing.
// - left to the compilers: contraction of a*b+c into an fma (on by default in NVRTC, never in the emulator):
//   results may differ from the emulator's in the last bit of such expressions.
// NVRTC compiles without <cmath>; supply the two IEEE constants the kernels use.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#ifndef NAN
#define NAN __int_as_float(0x7fffffff)
#endif

// Sum over the 32 lanes of a warp; the total lands in lane 0 (butterfly order is fixed).
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_down_sync(FULL_MASK, v, offset);
    return v;
}

// Sum over a whole block (blockDim.x a multiple of 32, at most 1024); result valid in thread 0.
// `scratch` must hold 32 values; it is reused, so callers __syncthreads() before reusing it.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    const int n_warps = blockDim.x / 32;
    if (warp == 0) {
        v = lane < n_warps ? scratch[lane] : T(0);
        v = warp_sum(v);
    }
    return v;
}

// Running (max, sum of exp(x - max)) of a stream of logits: softmax in one read.
struct OnlineSoftmax {
    float m;  // running max (-inf while empty)
    float s;  // sum of exp(x - m) over the values seen

    __device__ __forceinline__ void push(float x) {
        if (x > m) {  // new max: rescale what we had (exp(-inf) = 0 covers the empty state)
            s = s * expf(m - x) + 1.0f;
            m = x;
        } else if (m != -INFINITY) {  // skipping -inf vs -inf avoids exp(NaN)
            s += expf(x - m);
        }
    }

    __device__ __forceinline__ void merge(float m2, float s2) {
        const float mm = fmaxf(m, m2);
        if (mm == -INFINITY) return;  // both empty (all -inf so far)
        s = s * expf(m - mm) + s2 * expf(m2 - mm);
        m = mm;
    }

    // Merge across a warp with a fixed xor butterfly; every lane ends with the row total.
    __device__ __forceinline__ void warp_merge() {
        for (int offset = 16; offset > 0; offset >>= 1) {
            const float m2 = __shfl_xor_sync(FULL_MASK, m, offset);
            const float s2 = __shfl_xor_sync(FULL_MASK, s, offset);
            merge(m2, s2);
        }
    }
};

// Welford (count, mean, M2): numerically stable one-pass variance, mergeable in any fixed order.
struct Welford {
    float n, mean, m2;

    __device__ __forceinline__ void push(float x) {
        n += 1.0f;
        const float d = x - mean;
        mean += d / n;
        m2 += d * (x - mean);
    }

    __device__ __forceinline__ void merge(float nb, float meanb, float m2b) {
        const float nt = n + nb;
        if (nt == 0.0f) return;
        const float d = meanb - mean;
        const float fb = nb / nt;
        mean += d * fb;
        m2 += m2b + d * d * n * fb;
        n = nt;
    }

    // Tree merge down to lane 0 (same order every run).
    __device__ __forceinline__ void warp_merge() {
        for (int offset = 16; offset > 0; offset >>= 1) {
            const float nb = __shfl_down_sync(FULL_MASK, n, offset);
            const float meanb = __shfl_down_sync(FULL_MASK, mean, offset);
            const float m2b = __shfl_down_sync(FULL_MASK, m2, offset);
            merge(nb, meanb, m2b);
        }
    }
};

// Walks the elements of one channel of an (N, C, HW) tensor, `stride` elements at a time,
// without a 64-bit division per element: (n, hw) advance by a precomputed (dn, dhw).
struct ChannelWalk {
    long long n, hw, dn, dhw, HW, N, plane_stride;

    __device__ __forceinline__ ChannelWalk(long long start, long long stride, long long N_, long long C, long long HW_)
        : n(start / HW_), hw(start % HW_), dn(stride / HW_), dhw(stride % HW_), HW(HW_), N(N_), plane_stride(C * HW_) {}

    __device__ __forceinline__ bool valid() const { return n < N; }
    __device__ __forceinline__ long long offset(long long c) const { return n * plane_stride + c * HW + hw; }
    __device__ __forceinline__ void next() {
        n += dn;
        hw += dhw;
        if (hw >= HW) { hw -= HW; n += 1; }
    }
};
