// launch.h — turns each `extern "C" __global__` kernel into C entry points Python can call
// with a `void**` argument array, the way cuLaunchKernel takes kernelParams.
#pragma once
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

namespace cuda_emu {

int launch(const char* kernel, const unsigned* grid, const unsigned* block, size_t shmem,
           void (*thunk)(void**), void** args, char* err, size_t errlen);

template <class... A, std::size_t... I>
inline void invoke(void (*f)(A...), void** args, std::index_sequence<I...>) {
  f(*static_cast<std::remove_cv_t<A>*>(args[I])...);  // copies each value, as a launch does
}

template <class... A> constexpr std::size_t arity(void (*)(A...)) { return sizeof...(A); }

// Runs on every fiber: unpacks the argument array and calls the kernel.
template <auto F> void thunk(void** args) { invoke(F, args, std::make_index_sequence<arity(F)>{}); }

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
