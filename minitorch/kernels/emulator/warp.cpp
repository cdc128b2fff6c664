// warp.cpp — resolves warp collectives once every fiber of a block is suspended: a group of
// lanes (the mask) completes when all of its lanes wait at the same collective with the same
// mask; if no group can complete and nothing else can run, the block is reported deadlocked.
#include "scheduler.h"

namespace cuda_emu {
namespace {

const char* op_name(int op) {
  switch (op) {
    case W_SYNCWARP: return "__syncwarp";
    case W_IDX: return "__shfl_sync";
    case W_UP: return "__shfl_up_sync";
    case W_DOWN: return "__shfl_down_sync";
    case W_XOR: return "__shfl_xor_sync";
    case W_BALLOT: return "__ballot_sync";
    case W_ANY: return "__any_sync";
    case W_ALL: return "__all_sync";
    case W_ACTIVE: return "__activemask";
    default: return "__reduce_*_sync";
  }
}

// Lane b joins lane a's collective: same intrinsic, same mask, and (except for __syncwarp,
// which CUDA lets different call sites satisfy) the same call site.
bool joins(const Thread& a, const Thread& b) {
  return b.state == AT_WARP && b.op == a.op && b.mask == a.mask && (a.op == W_SYNCWARP || same_site(a, b));
}

unsigned lanes_of(int n, int base) {
  const int lanes = n - base < 32 ? n - base : 32;
  return lanes == 32 ? ~0u : (1u << lanes) - 1;
}

// Reads the lane this shuffle takes its value from, per the CUDA programming guide.
int source_lane(const Thread& t, int lane) {
  const int w = t.width, seg = lane & ~(w - 1);
  switch (t.op) {
    case W_IDX: return seg + (t.arg & (w - 1));
    case W_UP: return (unsigned)(lane - seg) >= (unsigned)t.arg ? lane - t.arg : lane;
    case W_DOWN: return (long long)(lane - seg) + (unsigned)t.arg < w ? lane + t.arg : lane;
    default: {  // W_XOR: later groups are out of reach and yield the lane's own value
      const int src = lane ^ (t.arg & 31);
      return src >= seg + w ? lane : src;
    }
  }
}

unsigned long long reduce(int op, const Thread* lanes, unsigned group) {
  unsigned long long acc = op == W_RAND ? ~0ull : 0;
  bool first = true;
  for (unsigned g = group; g; g &= g - 1) {
    const Thread& t = lanes[__builtin_ctz(g)];
    const unsigned u = unsigned(t.val);
    const int i = int(u);
    switch (op) {
      case W_BALLOT: case W_ANY: case W_ALL: acc |= (t.val != 0) ? 1ull << __builtin_ctz(g) : 0; break;
      case W_RADD: acc = unsigned(acc + u); break;
      case W_RAND: acc &= u; break;
      case W_ROR: acc |= u; break;
      case W_RXOR: acc ^= u; break;
      case W_RMIN_U: acc = first || u < unsigned(acc) ? u : acc; break;
      case W_RMAX_U: acc = first || u > unsigned(acc) ? u : acc; break;
      case W_RMIN_I: acc = first || i < int(acc) ? u : acc; break;
      case W_RMAX_I: acc = first || i > int(acc) ? u : acc; break;
    }
    first = false;
  }
  if (op == W_ANY) return acc != 0;
  if (op == W_ALL) return acc == group;
  return acc;
}

}  // namespace

bool Worker::resolve_warps() {
  bool progress = false;
  const int n = int(th_.size());
  for (int base = 0; base < n && !failed_; base += 32) {
    const unsigned exist = lanes_of(n, base);
    for (int l = 0; base + l < n && !failed_; ++l) {
      Thread& a = th_[base + l];
      if (a.state != AT_WARP) continue;
      if (a.op == W_ACTIVE) {
        a.result = exist;
        release(a);
        progress = true;
        continue;
      }
      if (!(a.mask >> l & 1u)) {
        cur_ = &a;
        fail_current(fmt("%s with mask 0x%08x, which does not name the calling lane %d", op_name(a.op), a.mask, l),
                     a.file, a.line);
        return false;
      }
      // Lanes past the end of a partial warp do not exist; exited lanes never block __syncwarp.
      unsigned group = a.mask & exist;
      bool ready = true;
      for (unsigned g = group; g && ready; g &= g - 1) {
        const Thread& b = th_[base + __builtin_ctz(g)];
        if (a.op == W_SYNCWARP && b.state == DONE) group &= ~(1u << __builtin_ctz(g));
        else ready = joins(a, b);
      }
      if (ready && finish_warp(base, group, a.op)) progress = true;
    }
  }
  return progress && !failed_;
}

bool Worker::finish_warp(int base, unsigned group, int op) {
  Thread* lanes = &th_[base];
  if (op >= W_BALLOT) {
    const unsigned long long r = reduce(op, lanes, group);
    for (unsigned g = group; g; g &= g - 1) lanes[__builtin_ctz(g)].result = r;
  } else if (op != W_SYNCWARP) {
    for (unsigned g = group; g; g &= g - 1) {
      const int lane = __builtin_ctz(g);
      Thread& t = lanes[lane];
      if (t.width < 1 || t.width > 32 || (t.width & (t.width - 1))) {
        cur_ = &t;
        fail_current(fmt("%s width %d is not a power of two in [1, 32]", op_name(op), t.width), t.file, t.line);
        return false;
      }
      const int src = source_lane(t, lane);
      if (!(group >> src & 1u)) {
        cur_ = &t;
        fail_current(fmt("%s in lane %d reads lane %d, which is not a live lane named in mask 0x%08x",
                         op_name(op), lane, src, t.mask),
                     t.file, t.line);
        return false;
      }
      t.result = lanes[src].val;
    }
  }
  for (unsigned g = group; g; g &= g - 1) release(lanes[__builtin_ctz(g)]);
  return true;
}

std::string Worker::warp_deadlock() const {
  const int n = int(th_.size());
  for (int i = 0; i < n; ++i) {
    const Thread& a = th_[i];
    if (a.state != AT_WARP) continue;
    const int base = i & ~31;
    for (unsigned g = a.mask & lanes_of(n, base); g; g &= g - 1) {
      const Thread& b = th_[base + __builtin_ctz(g)];
      if (joins(a, b)) continue;
      std::string what = b.state == DONE      ? std::string("has exited")
                         : b.state == AT_SYNC ? fmt("waits at __syncthreads() (%s:%d)", b.file, b.line)
                                              : fmt("waits at %s (%s:%d, mask 0x%08x)", op_name(b.op), b.file,
                                                    b.line, b.mask);
      return fmt("warp divergence: thread (%u,%u,%u) waits at %s (%s:%d, mask 0x%08x), but lane %d of its warp, "
                 "thread (%u,%u,%u), %s",
                 a.tid.x, a.tid.y, a.tid.z, op_name(a.op), a.file, a.line, a.mask, __builtin_ctz(g), b.tid.x,
                 b.tid.y, b.tid.z, what.c_str());
    }
  }
  return "warp collectives deadlocked";
}

}  // namespace cuda_emu
