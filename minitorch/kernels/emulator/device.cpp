// device.cpp — what kernel code calls into (declared in cuda_emu.h): barriers, warp
// collectives and traps record what the current fiber waits at, then yield to the scheduler.
#include "scheduler.h"

#include <assert.h>

namespace cuda_emu {

static Worker* current_worker(const char* what) {
  if (!tl_worker) {
    std::fprintf(stderr, "cuda_emu: %s called outside a kernel launch\n", what);
    std::abort();
  }
  return tl_worker;
}

int block_barrier(int pred, const char* file, int line) {
  Worker* w = current_worker("__syncthreads");
  Thread* t = w->current();
  t->state = AT_SYNC;
  t->pred = pred;
  t->file = file;
  t->line = line;
  w->yield(false);
  return int(t->result);
}

unsigned long long warp_collective(int op, unsigned mask, unsigned long long bits, int arg, int width,
                                   const char* file, int line) {
  Worker* w = current_worker("a warp collective");
  Thread* t = w->current();
  t->state = AT_WARP;
  t->op = op;
  t->mask = mask;
  t->val = bits;
  t->arg = arg;
  t->width = width;
  t->file = file;
  t->line = line;
  w->count_warp_waiter();
  w->yield(false);
  return t->result;
}

void trap(const char* what, const char* file, int line) {
  Worker* w = current_worker(what);
  w->fail_current(what, file, line);
  w->exit_current();
}

#ifdef __SANITIZE_ADDRESS__
// ASan's report names the source line; this adds which CUDA thread was running.
static void asan_death() {
  if (Worker* w = tl_worker; w && w->current()) {
    const uint3 t = w->current()->tid;
    std::fprintf(stderr, "cuda_emu: the error above happened in kernel '%s' block (%u,%u,%u) thread (%u,%u,%u)\n",
                 w->launch().kernel, blockIdx.x, blockIdx.y, blockIdx.z, t.x, t.y, t.z);
  }
}
[[maybe_unused]] static const bool asan_death_registered = (__sanitizer_set_death_callback(asan_death), true);
#endif

}  // namespace cuda_emu

// Device-side assert(): fail the launch with a message instead of aborting the process.
extern "C" void __assert_fail(const char* expr, const char* file, unsigned line, const char* fn) noexcept {
  if (!cuda_emu::tl_worker) {
    std::fprintf(stderr, "%s:%u: %s: Assertion `%s' failed.\n", file, line, fn, expr);
    std::abort();
  }
  cuda_emu::Worker* w = cuda_emu::tl_worker;
  w->fail_current(cuda_emu::fmt("assertion `%s' failed", expr), file, int(line));
  w->exit_current();
}
