// cuda_emu.h — lets g++ compile minitorch's CUDA kernel sources for the CPU emulator.
// Device-side API only: builtins, qualifiers, math, atomics, barriers, warp collectives.
// The scheduler that gives them meaning (one fiber per CUDA thread) is runtime.cpp.
#pragma once
#include <cmath>
#include <math.h>
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <cstddef>
#include <climits>
#include <type_traits>

#define MINITORCH_EMULATOR 1
#ifndef __CUDACC__
#define __CUDACC__ 1
#endif

// ---- qualifiers -------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __grid_constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
// restrict would let g++ cache global loads across a barrier, where other fibers write.
#define __restrict__
// One copy per OS thread = one per running block: blocks of a worker run one after another.
#define __shared__ static thread_local

#pragma GCC visibility push(hidden)

// ---- built-in variables -----------------------------------------------------------------
struct uint3 { unsigned int x, y, z; };
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};
// Set by the scheduler before it resumes each fiber (thread-local: blocks run on several OS threads).
extern __thread uint3 threadIdx;
extern __thread uint3 blockIdx;
extern __thread dim3 blockDim;
extern __thread dim3 gridDim;
static constexpr int warpSize = 32;

// ---- vector types -----------------------------------------------------------------------
#define CUDA_EMU_VEC2(T, N, A) struct __attribute__((aligned(A))) N { T x, y; }; \
  inline N make_##N(T x, T y) { return N{x, y}; }
#define CUDA_EMU_VEC3(T, N) struct N { T x, y, z; }; \
  inline N make_##N(T x, T y, T z) { return N{x, y, z}; }
#define CUDA_EMU_VEC4(T, N, A) struct __attribute__((aligned(A))) N { T x, y, z, w; }; \
  inline N make_##N(T x, T y, T z, T w) { return N{x, y, z, w}; }
CUDA_EMU_VEC2(float, float2, 8)
CUDA_EMU_VEC3(float, float3)
CUDA_EMU_VEC4(float, float4, 16)
CUDA_EMU_VEC2(int, int2, 8)
CUDA_EMU_VEC3(int, int3)
CUDA_EMU_VEC4(int, int4, 16)
CUDA_EMU_VEC2(unsigned int, uint2, 8)
CUDA_EMU_VEC4(unsigned int, uint4, 16)
CUDA_EMU_VEC2(double, double2, 16)
CUDA_EMU_VEC2(long long, longlong2, 16)
CUDA_EMU_VEC4(unsigned char, uchar4, 4)
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return uint3{x, y, z}; }

// ---- runtime entry points (runtime.cpp) -------------------------------------------------
namespace cuda_emu {
enum WarpOp : int {
  W_SYNCWARP = 1, W_IDX, W_UP, W_DOWN, W_XOR, W_BALLOT, W_ANY, W_ALL,
  W_RADD, W_RMIN_I, W_RMAX_I, W_RMIN_U, W_RMAX_U, W_RAND, W_ROR, W_RXOR, W_ACTIVE,
};
// Blocks the calling fiber until all lanes named in mask arrive; returns this lane's result bits.
unsigned long long warp_collective(int op, unsigned mask, unsigned long long bits, int arg, int width,
                                   const char* file, int line);
// Blocks until every thread of the block arrives; returns how many passed a nonzero pred.
int block_barrier(int pred, const char* file, int line);
[[noreturn]] void trap(const char* what, const char* file, int line);
void* dynamic_smem();  // this OS thread's dynamic shared buffer (stable address)

template <class T> inline unsigned long long to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "warp shuffle of a type over 8 bytes");
  unsigned long long b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T> inline T from_bits(unsigned long long b) { T v; std::memcpy(&v, &b, sizeof(T)); return v; }
}  // namespace cuda_emu

#define CUDA_EMU_SITE const char* file_ = __builtin_FILE(), int line_ = __builtin_LINE()

// ---- barriers and fences ----------------------------------------------------------------
inline void __syncthreads(CUDA_EMU_SITE) { cuda_emu::block_barrier(0, file_, line_); }
inline int __syncthreads_count(int p, CUDA_EMU_SITE) { return cuda_emu::block_barrier(p != 0, file_, line_); }
inline int __syncthreads_and(int p, CUDA_EMU_SITE) {
  return cuda_emu::block_barrier(p != 0, file_, line_) == int(blockDim.x * blockDim.y * blockDim.z);
}
inline int __syncthreads_or(int p, CUDA_EMU_SITE) { return cuda_emu::block_barrier(p != 0, file_, line_) > 0; }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
[[noreturn]] inline void __trap(CUDA_EMU_SITE) { cuda_emu::trap("__trap()", file_, line_); }
inline void __nanosleep(unsigned) {}

// ---- warp collectives -------------------------------------------------------------------
inline void __syncwarp(unsigned mask = 0xffffffffu, CUDA_EMU_SITE) {
  cuda_emu::warp_collective(cuda_emu::W_SYNCWARP, mask, 0, 0, 32, file_, line_);
}
#define CUDA_EMU_SHFL(NAME, OP, ARGT)                                                        \
  template <class T> inline T NAME(unsigned mask, T var, ARGT arg, int width = 32, CUDA_EMU_SITE) { \
    return cuda_emu::from_bits<T>(cuda_emu::warp_collective(cuda_emu::OP, mask, cuda_emu::to_bits(var), \
                                                            int(arg), width, file_, line_)); \
  }
CUDA_EMU_SHFL(__shfl_sync, W_IDX, int)
CUDA_EMU_SHFL(__shfl_up_sync, W_UP, unsigned)
CUDA_EMU_SHFL(__shfl_down_sync, W_DOWN, unsigned)
CUDA_EMU_SHFL(__shfl_xor_sync, W_XOR, int)
#undef CUDA_EMU_SHFL
#define CUDA_EMU_VOTE(NAME, OP, RET, VT)                                                     \
  inline RET NAME(unsigned mask, VT v, CUDA_EMU_SITE) {                                      \
    return RET(cuda_emu::warp_collective(cuda_emu::OP, mask, cuda_emu::to_bits(v), 0, 32, file_, line_)); \
  }
CUDA_EMU_VOTE(__ballot_sync, W_BALLOT, unsigned, int)
CUDA_EMU_VOTE(__any_sync, W_ANY, int, int)
CUDA_EMU_VOTE(__all_sync, W_ALL, int, int)
CUDA_EMU_VOTE(__reduce_add_sync, W_RADD, unsigned, unsigned)
CUDA_EMU_VOTE(__reduce_min_sync, W_RMIN_U, unsigned, unsigned)
CUDA_EMU_VOTE(__reduce_max_sync, W_RMAX_U, unsigned, unsigned)
CUDA_EMU_VOTE(__reduce_add_sync, W_RADD, int, int)
CUDA_EMU_VOTE(__reduce_min_sync, W_RMIN_I, int, int)
CUDA_EMU_VOTE(__reduce_max_sync, W_RMAX_I, int, int)
CUDA_EMU_VOTE(__reduce_and_sync, W_RAND, unsigned, unsigned)
CUDA_EMU_VOTE(__reduce_or_sync, W_ROR, unsigned, unsigned)
CUDA_EMU_VOTE(__reduce_xor_sync, W_RXOR, unsigned, unsigned)
#undef CUDA_EMU_VOTE
// Fibers run one at a time, so "currently converged" is unknowable; report the warp's existing lanes.
inline unsigned __activemask() { return unsigned(cuda_emu::warp_collective(cuda_emu::W_ACTIVE, 0, 0, 0, 32, "", 0)); }

// ---- atomics (real atomics: blocks run on several OS threads) ----------------------------
template <class T> using cuda_emu_int_t = typename std::enable_if<std::is_integral<T>::value, T>::type;
#define CUDA_EMU_ATOMIC(NAME, BUILTIN)                                                       \
  template <class T> inline cuda_emu_int_t<T> NAME(T* p, cuda_emu_int_t<T> v) { return BUILTIN(p, v, __ATOMIC_RELAXED); }
CUDA_EMU_ATOMIC(atomicAdd, __atomic_fetch_add)
CUDA_EMU_ATOMIC(atomicSub, __atomic_fetch_sub)
CUDA_EMU_ATOMIC(atomicAnd, __atomic_fetch_and)
CUDA_EMU_ATOMIC(atomicOr, __atomic_fetch_or)
CUDA_EMU_ATOMIC(atomicXor, __atomic_fetch_xor)
CUDA_EMU_ATOMIC(atomicExch, __atomic_exchange_n)
#undef CUDA_EMU_ATOMIC
template <class T> inline cuda_emu_int_t<T> atomicCAS(T* p, cuda_emu_int_t<T> compare, cuda_emu_int_t<T> val) {
  __atomic_compare_exchange_n(p, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return compare;  // holds the old value whether or not the swap happened
}
namespace cuda_emu {
// Read-modify-write of any 4/8-byte type through a CAS loop on its bits.
template <class T, class F> inline T atomic_update(T* p, F f) {
  using B = typename std::conditional<sizeof(T) == 4, unsigned int, unsigned long long>::type;
  B* q = reinterpret_cast<B*>(p);
  B old = __atomic_load_n(q, __ATOMIC_RELAXED), next;
  do {
    next = to_bits(f(from_bits<T>(old)));
  } while (!__atomic_compare_exchange_n(q, &old, next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  return from_bits<T>(old);
}
}  // namespace cuda_emu
inline float atomicAdd(float* p, float v) { return cuda_emu::atomic_update(p, [v](float o) { return o + v; }); }
inline double atomicAdd(double* p, double v) { return cuda_emu::atomic_update(p, [v](double o) { return o + v; }); }
inline float atomicExch(float* p, float v) { return cuda_emu::atomic_update(p, [v](float) { return v; }); }
template <class T> inline cuda_emu_int_t<T> atomicMax(T* p, cuda_emu_int_t<T> v) {
  return cuda_emu::atomic_update(p, [v](T o) { return o < v ? v : o; });
}
template <class T> inline cuda_emu_int_t<T> atomicMin(T* p, cuda_emu_int_t<T> v) {
  return cuda_emu::atomic_update(p, [v](T o) { return v < o ? v : o; });
}
inline unsigned atomicInc(unsigned* p, unsigned m) {
  return cuda_emu::atomic_update(p, [m](unsigned o) { return o >= m ? 0u : o + 1; });
}
inline unsigned atomicDec(unsigned* p, unsigned m) {
  return cuda_emu::atomic_update(p, [m](unsigned o) { return (o == 0 || o > m) ? m : o - 1; });
}

// ---- math and bit intrinsics --------------------------------------------------------------
template <class A, class B> inline typename std::common_type<A, B>::type min(A a, B b) {
  using C = typename std::common_type<A, B>::type;
  return C(b) < C(a) ? C(b) : C(a);
}
template <class A, class B> inline typename std::common_type<A, B>::type max(A a, B b) {
  using C = typename std::common_type<A, B>::type;
  return C(a) < C(b) ? C(b) : C(a);
}
// The fast intrinsics as the GPU computes them: a float multiply around ex2.approx / lg2.approx / rcp.approx
// (libdevice's __nv_fast_*). The rounded multiply is the error that grows with |x| (__expf: 2 + 1.17|x| ulp),
// so it is reproduced exactly; exp2f/log2f stand for the approx instructions (within 2 ulp of them).
// minitorch's kernels call none of these (common.cuh); they are here for code that does.
inline float __expf(float x) { return exp2f(x * 1.44269504f); }
inline float __exp10f(float x) { return exp2f(x * 3.32192809f); }
inline float __logf(float x) { return log2f(x) * 0.693147181f; }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log2f(x) * 0.301029996f; }
inline float __powf(float a, float b) { return exp2f(b * log2f(a)); }
inline float __sinf(float x) { return sinf(x); }  // sin.approx's larger error outside [-pi, pi] is not modelled
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
// a * rcp(b): with flush to zero, 2^126 < |b| < 2^128 gives 0 (and inf / such b NaN), as CUDA documents.
inline float __fdividef(float a, float b) { return a * (1.0f / b); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline int __float_as_int(float x) { return cuda_emu::from_bits<int>(cuda_emu::to_bits(x)); }
inline unsigned __float_as_uint(float x) { return cuda_emu::from_bits<unsigned>(cuda_emu::to_bits(x)); }
inline float __int_as_float(int x) { return cuda_emu::from_bits<float>(cuda_emu::to_bits(x)); }
inline float __uint_as_float(unsigned x) { return cuda_emu::from_bits<float>(cuda_emu::to_bits(x)); }
inline long long __double_as_longlong(double x) { return cuda_emu::from_bits<long long>(cuda_emu::to_bits(x)); }
inline double __longlong_as_double(long long x) { return cuda_emu::from_bits<double>(cuda_emu::to_bits(x)); }
inline int __float2int_rn(float x) { return int(nearbyintf(x)); }
inline int __float2int_rz(float x) { return int(x); }
inline float __int2float_rn(int x) { return float(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline int __clz(int x) { return x ? __builtin_clz(unsigned(x)) : 32; }
inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
template <class T> inline T __ldg(const T* p) { return *p; }

#pragma GCC visibility pop
