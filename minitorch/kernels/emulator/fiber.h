// fiber.h — user-space context switching for runtime.cpp: a pool of small stacks and a switch.
// On x86-64 the switch is a dozen instructions of assembly, because swapcontext() makes a
// sigprocmask syscall per switch and a barrier costs one switch per CUDA thread. Elsewhere,
// or with -DCUDA_EMU_UCONTEXT, makecontext/swapcontext is used instead.
#pragma once
#include <sys/mman.h>
#include <unistd.h>
#include <cstdlib>
#include <mutex>
#include <vector>
#if !defined(__x86_64__) && !defined(CUDA_EMU_UCONTEXT)
#define CUDA_EMU_UCONTEXT 1
#endif
#ifdef CUDA_EMU_UCONTEXT
#include <ucontext.h>
#endif
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace cuda_emu {

#ifdef __SANITIZE_ADDRESS__
constexpr bool kAsan = true;
constexpr size_t kDefaultStack = 256 * 1024;  // instrumented frames carry redzones
#else
constexpr bool kAsan = false;
constexpr size_t kDefaultStack = 64 * 1024;
#endif

inline size_t stack_size() {
  static const size_t size = [] {
    const char* kb = std::getenv("MINITORCH_EMU_STACK_KB");
    size_t s = kb ? size_t(std::atol(kb)) * 1024 : kDefaultStack;
    return s < 16 * 1024 ? kDefaultStack : (s + 4095) & ~size_t(4095);
  }();
  return size;
}

// Stacks are recycled across blocks and launches; a PROT_NONE page below each turns an
// overflow into a segfault instead of silently corrupting the neighbouring fiber's stack.
class StackPool {
 public:
  char* take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        char* s = free_.back();
        free_.pop_back();
        return s;
      }
    }
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    void* m = mmap(nullptr, stack_size() + page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    mprotect(m, page, PROT_NONE);
    return static_cast<char*>(m) + page;
  }
  void give(char* s) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(s);
  }

 private:
  std::mutex mu_;
  std::vector<char*> free_;
};

#ifdef CUDA_EMU_UCONTEXT
struct Context {
  ucontext_t uc;
  bool made = false;
};
inline void ctx_init(Context& c, char* stack_lo, void (*entry)()) {
  if (!c.made) getcontext(&c.uc);  // once per stack: later starts re-make the saved context
  c.made = true;
  c.uc.uc_stack.ss_sp = stack_lo;
  c.uc.uc_stack.ss_size = stack_size();
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
inline void ctx_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#else
struct Context {
  void* sp = nullptr;
};
extern "C" void cuda_emu_ctx_switch(void** save_sp, void* load_sp);
#ifdef CUDA_EMU_FIBER_IMPL  // defined by runtime.cpp alone: the symbol must exist once per library
// Saves callee-saved registers and the FP control words on the current stack, stores the stack
// pointer in *save_sp, and resumes the stack at load_sp the same way (System V x86-64 ABI).
asm(R"(
  .text
  .p2align 4
  .globl cuda_emu_ctx_switch
  .hidden cuda_emu_ctx_switch
  .type cuda_emu_ctx_switch, @function
cuda_emu_ctx_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cuda_emu_ctx_switch, .-cuda_emu_ctx_switch
)");
#endif
// Lays out a frame that cuda_emu_ctx_switch "returns" into: entry starts as if just called.
inline void ctx_init(Context& c, char* stack_lo, void (*entry)()) {
  auto* top = reinterpret_cast<unsigned long long*>(stack_lo + stack_size());  // 16-aligned
  top[-1] = 0;                                                  // entry's return address: none
  top[-2] = reinterpret_cast<unsigned long long>(entry);        // popped by ret
  for (int i = 3; i <= 8; ++i) top[-i] = 0;                     // rbp rbx r12 r13 r14 r15
  top[-9] = 0x1F80ull | (0x037Full << 32);                      // default MXCSR, x87 control word
  c.sp = &top[-9];
}
inline void ctx_switch(Context& from, Context& to) { cuda_emu_ctx_switch(&from.sp, to.sp); }
#endif

// AddressSanitizer must be told about every stack switch, or it reports false positives on
// fiber stacks (see sanitizer/common_interface_defs.h); these compile to nothing otherwise.
inline void asan_start_switch(void** fake_save, const void* bottom, size_t size) {
#ifdef __SANITIZE_ADDRESS__
  __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
  (void)fake_save, (void)bottom, (void)size;
#endif
}
inline void asan_finish_switch(void* fake, const void** old_bottom, size_t* old_size) {
#ifdef __SANITIZE_ADDRESS__
  __sanitizer_finish_switch_fiber(fake, old_bottom, old_size);
#else
  (void)fake, (void)old_bottom, (void)old_size;
#endif
}
// A fiber abandoned mid-frame (error in its block) leaves poisoned redzones on its stack.
inline void asan_unpoison(char* lo, size_t size) {
#ifdef __SANITIZE_ADDRESS__
  __asan_unpoison_memory_region(lo, size);
#else
  (void)lo, (void)size;
#endif
}

}  // namespace cuda_emu
