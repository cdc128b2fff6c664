// launch.h — turns each `extern "C" __global__` kernel into C entry points Python can call
// with a `void**` argument array, the way cuLaunchKernel takes kernelParams.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

// CuPy compiles every kernel with -ftz=true (it appends it after the caller's options, and NVRTC keeps the
// last): float denormal inputs and results are flushed to zero on the GPU. The emulator does the same unless
// built with -DCUDA_EMU_FTZ=0. GPU -ftz leaves double math alone, while the CPU's flag would flush doubles too:
// a kernel taking a double (or double*) argument therefore runs unflushed (float math inside it is then not
// flushed either; minitorch has no kernel that mixes them).
#ifndef CUDA_EMU_FTZ
#define CUDA_EMU_FTZ 1
#endif

namespace cuda_emu {

// Flush denormal inputs (DAZ) and results (FTZ) to zero in this fiber: each fiber has its own control
// register (fiber.h saves MXCSR on a switch and starts fibers at the default), so nothing else is affected.
inline void flush_denormals() {
#if defined(__SSE__)
  _mm_setcsr(_mm_getcsr() | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
#elif defined(__aarch64__)
  uint64_t fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  __asm__ volatile("msr fpcr, %0" : : "r"(fpcr | (uint64_t(1) << 24)));  // FZ: inputs and results
#endif
}

template <class T> using bare_t = std::remove_cv_t<std::remove_pointer_t<std::remove_cv_t<T>>>;
template <class... A> constexpr bool takes_double(void (*)(A...)) {
  return (false || ... || std::is_same<bare_t<A>, double>::value);
}

int launch(const char* kernel, const unsigned* grid, const unsigned* block, size_t shmem,
           void (*thunk)(void**), void** args, char* err, size_t errlen);

template <class... A, std::size_t... I>
inline void invoke(void (*f)(A...), void** args, std::index_sequence<I...>) {
  f(*static_cast<std::remove_cv_t<A>*>(args[I])...);  // copies each value, as a launch does
}

template <class... A> constexpr std::size_t arity(void (*)(A...)) { return sizeof...(A); }

// Runs on every fiber: sets the floating-point mode, unpacks the argument array and calls the kernel.
template <auto F> void thunk(void** args) {
  if constexpr (CUDA_EMU_FTZ && !takes_double(F)) flush_denormals();
  invoke(F, args, std::make_index_sequence<arity(F)>{});
}

// A type as Python checks it: kind letter (i u f b, S for other types) and size in bytes.
template <class T> std::string value_code() {
  using U = std::remove_cv_t<T>;
  const std::string size = std::to_string(sizeof(U));
  if (std::is_same<U, bool>::value) return "b1";
  if (std::is_integral<U>::value) return (std::is_signed<U>::value ? "i" : "u") + size;
  if (std::is_floating_point<U>::value) return "f" + size;
  return "S" + size;
}
template <class T> std::string param_code() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_pointer<U>::value) {
    using P = std::remove_cv_t<std::remove_pointer_t<U>>;
    if constexpr (std::is_void<P>::value) return "P";
    else return "P" + value_code<P>();
  } else {
    return value_code<U>();
  }
}

// Comma-separated codes, e.g. "Pf4,Pi8,i4,f4" for (const float*, long long*, int, float).
template <class... A> const char* signature(void (*)(A...)) {
  static const std::string s = [] {
    std::string r;
    ((r += (r.empty() ? "" : ",") + param_code<A>()), ...);
    return r;
  }();
  return s.c_str();
}

}  // namespace cuda_emu

#define CUDA_EMU_EXPORT(name)                                                                 \
  extern "C" __attribute__((visibility("default"))) int cuda_emu_launch_##name(              \
      const unsigned* grid, const unsigned* block, size_t shmem, void** args, char* err, size_t errlen) { \
    return ::cuda_emu::launch(#name, grid, block, shmem, &::cuda_emu::thunk<&name>, args, err, errlen); \
  }                                                                                           \
  extern "C" __attribute__((visibility("default"))) const char* cuda_emu_signature_##name() { \
    return ::cuda_emu::signature(&name);                                                      \
  }
