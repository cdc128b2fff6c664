// scheduler.h — state shared by runtime.cpp (fibers, blocks, launches) and warp.cpp (warp
// collectives). Internal to the emulator runtime; kernels only see cuda_emu.h.
#pragma once
#include "cuda_emu.h"
#include "fiber.h"

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace cuda_emu {

constexpr size_t kMaxDynamicSmem = 227 * 1024;  // the largest opt-in size of current GPUs

enum State : unsigned char { READY, AT_SYNC, AT_WARP, DONE };

// One CUDA thread: its fiber, and what it is waiting at while suspended.
struct Thread {
  Context ctx;
  char* stack = nullptr;
  void* fake = nullptr;  // ASan's fake stack while suspended
  uint3 tid{};
  State state = DONE;
  int op = 0, arg = 0, width = 32, pred = 0;
  unsigned mask = 0;
  const char* file = "";
  int line = 0;
  unsigned long long val = 0, result = 0;
};

struct Launch {
  const char* kernel = "";
  dim3 grid, block;
  size_t shmem = 0;
  void (*thunk)(void**) = nullptr;
  void** args = nullptr;
  unsigned long long nblocks = 0;
  std::atomic<unsigned long long> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string error;  // the first failure wins; later ones are usually its consequences

  void fail(const std::string& msg) {
    std::lock_guard<std::mutex> lock(mu);
    if (error.empty()) error = msg;
    failed = true;
  }
};

// Runs blocks of one launch on the calling OS thread, one block at a time.
class Worker {
 public:
  explicit Worker(Launch& L);
  ~Worker();
  void run();

  // Called on fibers.
  Thread* current() const { return cur_; }
  const Launch& launch() const { return L_; }
  void count_warp_waiter() { ++n_warp_; }
  // Frames of these stay on a fiber stack when it dies, so they must not leave ASan redzones.
  __attribute__((no_sanitize_address)) void fiber_started();
  __attribute__((no_sanitize_address)) void yield(bool dying);
  [[noreturn]] __attribute__((no_sanitize_address)) void exit_current();
  void fail_current(const std::string& what, const char* file, int line);

 private:
  bool run_block();
  void resume(Thread& t);
  void release(Thread& t);
  bool release_barrier();
  bool resolve_warps();                  // warp.cpp
  bool finish_warp(int base, unsigned group, int op);
  std::string warp_deadlock() const;
  std::string where() const;
  void fail(const std::string& msg);

  Launch& L_;
  std::vector<Thread> th_;
  std::vector<int> run_, batch_;  // fibers to resume this round / next round
  Context sched_;
  Thread* cur_ = nullptr;
  void* sched_fake_ = nullptr;
  const void* sched_lo_ = nullptr;
  size_t sched_size_ = 0;
  int n_done_ = 0, n_warp_ = 0;
  bool ok_ = true, failed_ = false;
};

extern __thread Worker* tl_worker;
std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));

inline bool same_site(const Thread& a, const Thread& b) {
  return a.line == b.line && (a.file == b.file || std::strcmp(a.file, b.file) == 0);
}

}  // namespace cuda_emu
