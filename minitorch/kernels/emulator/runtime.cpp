// runtime.cpp — the emulator's scheduler. Each CUDA thread is a fiber; a block's fibers run
// round-robin on one OS thread until each has exited or stopped at a rendezvous
// (__syncthreads or a warp collective). Rendezvous are then resolved, or reported as
// divergence: nothing waits forever, because every round either releases a fiber or fails.
#define CUDA_EMU_FIBER_IMPL
#include "scheduler.h"
#include "launch.h"

#include <algorithm>
#include <cstdarg>
#include <string>
#include <thread>

__thread uint3 threadIdx;
__thread uint3 blockIdx;
__thread dim3 blockDim;
__thread dim3 gridDim;

namespace cuda_emu {

__thread Worker* tl_worker = nullptr;

std::string fmt(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

namespace {
StackPool& pool() {
  static StackPool* p = new StackPool;  // never freed: worker threads may outlive static dtors
  return *p;
}

// Per OS thread and address-stable, so `extern __shared__` can be rewritten to a
// `static thread_local` pointer initialised once (see build.py).
struct DynamicSmem {
  char* p = nullptr;
  ~DynamicSmem() { std::free(p); }
  char* get() {
    if (!p) p = static_cast<char*>(std::aligned_alloc(256, kMaxDynamicSmem));
    return p;
  }
};
thread_local DynamicSmem tl_smem;

__attribute__((no_sanitize_address)) void fiber_main() {
  Worker* w = tl_worker;
  w->fiber_started();
  try {
    w->launch().thunk(w->launch().args);
  } catch (...) {
    w->fail_current("a C++ exception escaped the kernel", "", 0);
  }
  w->exit_current();
}
}  // namespace

void* dynamic_smem() { return tl_smem.get(); }

// ---- fiber side -----------------------------------------------------------------------------
void Worker::fiber_started() { asan_finish_switch(nullptr, &sched_lo_, &sched_size_); }

void Worker::yield(bool dying) {
  Thread* t = cur_;
  asan_start_switch(dying ? nullptr : &t->fake, sched_lo_, sched_size_);
  ctx_switch(t->ctx, sched_);
  asan_finish_switch(t->fake, &sched_lo_, &sched_size_);
}

void Worker::exit_current() {
  cur_->state = DONE;
  ++n_done_;
  yield(true);
  __builtin_unreachable();
}

void Worker::fail_current(const std::string& what, const char* file, int line) {
  std::string at = line ? fmt(" at %s:%d", file, line) : std::string();
  fail(fmt("%s in thread (%u,%u,%u)", (what + at).c_str(), cur_->tid.x, cur_->tid.y, cur_->tid.z));
}

// ---- scheduler side ---------------------------------------------------------------------------
Worker::Worker(Launch& L) : L_(L) {
  const dim3 b = L.block;
  th_.resize(size_t(b.x) * b.y * b.z);
  for (size_t i = 0; i < th_.size(); ++i) {
    th_[i].tid = uint3{unsigned(i % b.x), unsigned(i / b.x % b.y), unsigned(i / (size_t(b.x) * b.y))};
    th_[i].stack = pool().take();
    if (!th_[i].stack) ok_ = false;
  }
  if (!ok_) L.fail("out of memory for fiber stacks");
  run_.reserve(th_.size());
}

Worker::~Worker() {
  for (Thread& t : th_) {
    if (!t.stack) continue;
    if (kAsan && failed_) asan_unpoison(t.stack, stack_size());  // abandoned mid-frame
    pool().give(t.stack);
  }
}

std::string Worker::where() const {
  return fmt("kernel '%s' block (%u,%u,%u)", L_.kernel, blockIdx.x, blockIdx.y, blockIdx.z);
}

void Worker::fail(const std::string& msg) {
  failed_ = true;
  L_.fail(where() + ": " + msg);
}

void Worker::resume(Thread& t) {
  cur_ = &t;
  threadIdx = t.tid;
  asan_start_switch(&sched_fake_, t.stack, stack_size());
  ctx_switch(sched_, t.ctx);
  asan_finish_switch(sched_fake_, nullptr, nullptr);
}

void Worker::release(Thread& t) {
  if (t.state == AT_WARP) --n_warp_;
  t.state = READY;
  run_.push_back(int(&t - th_.data()));
}

bool Worker::run_block() {
  const int n = int(th_.size());
  run_.clear();
  for (int i = 0; i < n; ++i) {
    Thread& t = th_[i];
    ctx_init(t.ctx, t.stack, &fiber_main);
    t.state = READY;
    run_.push_back(i);
  }
  n_done_ = n_warp_ = 0;
  if (L_.shmem) std::memset(tl_smem.get(), 0xff, L_.shmem);  // uninitialised reads see NaN / -1
  for (;;) {
    batch_.swap(run_);
    run_.clear();
    for (int i : batch_) {
      resume(th_[i]);
      if (failed_) return false;
    }
    if (!run_.empty()) continue;
    if (n_done_ == n) return true;
    if (n_warp_) {
      if (resolve_warps()) continue;
      if (!failed_) fail(warp_deadlock());
      return false;
    }
    if (!release_barrier()) return false;
  }
}

bool Worker::release_barrier() {
  const Thread* first = nullptr;
  const Thread* exited = nullptr;
  int count = 0, waiting = 0;
  for (const Thread& t : th_) {
    if (t.state == DONE) {
      if (!exited) exited = &t;
      continue;
    }
    ++waiting;
    count += t.pred;
    if (!first) {
      first = &t;
    } else if (!same_site(*first, t)) {
      fail(fmt("threads wait at different __syncthreads(): thread (%u,%u,%u) at %s:%d, thread (%u,%u,%u) at %s:%d",
               first->tid.x, first->tid.y, first->tid.z, first->file, first->line, t.tid.x, t.tid.y, t.tid.z,
               t.file, t.line));
      return false;
    }
  }
  if (exited) {
    fail(fmt("thread (%u,%u,%u) exited while %d other thread(s) wait at __syncthreads() (%s:%d); "
             "every thread of a block must reach each barrier",
             exited->tid.x, exited->tid.y, exited->tid.z, waiting, first->file, first->line));
    return false;
  }
  for (Thread& t : th_) {
    t.result = (unsigned long long)count;
    release(t);
  }
  return true;
}

void Worker::run() {
  if (!ok_) return;
  tl_worker = this;
  blockDim = L_.block;
  gridDim = L_.grid;
  const unsigned long long gx = L_.grid.x, gy = L_.grid.y;
#ifdef __SANITIZE_ADDRESS__  // bytes past the requested dynamic shared memory are out of bounds
  __asan_poison_memory_region(tl_smem.get() + L_.shmem, kMaxDynamicSmem - L_.shmem);
#endif
  for (;;) {
    if (L_.failed.load(std::memory_order_relaxed)) break;
    const unsigned long long b = L_.next.fetch_add(1);
    if (b >= L_.nblocks) break;
    blockIdx = uint3{unsigned(b % gx), unsigned(b / gx % gy), unsigned(b / (gx * gy))};
    if (!run_block()) break;
  }
#ifdef __SANITIZE_ADDRESS__
  __asan_unpoison_memory_region(tl_smem.get(), kMaxDynamicSmem);
#endif
  tl_worker = nullptr;
}

int launch(const char* kernel, const unsigned* grid, const unsigned* block, size_t shmem,
           void (*thunk)(void**), void** args, char* err, size_t errlen) {
  auto report = [&](const std::string& m) {
    std::snprintf(err, errlen, "%s", m.c_str());
    return 1;
  };
  const dim3 g(grid[0], grid[1], grid[2]), b(block[0], block[1], block[2]);
  const unsigned long long nthreads = 1ull * b.x * b.y * b.z, nblocks = 1ull * g.x * g.y * g.z;
  if (nthreads == 0 || nthreads > 1024 || b.z > 64)
    return report(fmt("kernel '%s': invalid block (%u,%u,%u): need 1 to 1024 threads and z <= 64", kernel,
                      b.x, b.y, b.z));
  if (nblocks == 0 || g.x > 2147483647u || g.y > 65535 || g.z > 65535)
    return report(fmt("kernel '%s': invalid grid (%u,%u,%u): need x in [1, 2^31-1], y and z in [1, 65535]",
                      kernel, g.x, g.y, g.z));
  if (shmem > kMaxDynamicSmem)
    return report(fmt("kernel '%s': %zu bytes of dynamic shared memory exceed %zu", kernel, shmem,
                      kMaxDynamicSmem));
  Launch L;
  L.kernel = kernel, L.grid = g, L.block = b, L.shmem = shmem, L.thunk = thunk, L.args = args;
  L.nblocks = nblocks;
  // Spread blocks over OS threads only when there is enough work to pay for starting them,
  // unless MINITORCH_EMU_THREADS asks for a number.
  const char* env = std::getenv("MINITORCH_EMU_THREADS");
  unsigned long long want = env ? std::strtoull(env, nullptr, 10)
                                : std::min<unsigned long long>(std::thread::hardware_concurrency(),
                                                               std::max(1ull, nblocks * nthreads / 4096));
  want = std::min(std::max(want, 1ull), nblocks);
  std::vector<std::thread> extra;
  auto body = [&L] {
    Worker w(L);
    w.run();
  };
  for (unsigned long long i = 1; i < want; ++i) {
    try {
      extra.emplace_back(body);
    } catch (...) {
      break;  // fewer OS threads is still correct
    }
  }
  body();
  for (std::thread& t : extra) t.join();
  std::fflush(stdout);  // device printf interleaves sensibly with Python output
  return L.failed ? report(L.error) : 0;
}

}  // namespace cuda_emu
