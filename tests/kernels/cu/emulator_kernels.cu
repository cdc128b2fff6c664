// Small kernels exercising the CPU emulator (tests/kernels/test_emulator.py).
// Written as ordinary CUDA: they also compile with nvcc.
#include <assert.h>

#define BLOCK 256

// Every thread writes its global (x, y) coordinates and the launch shape.
extern "C" __global__ void index2d(int* out, int width, int height) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= width || y >= height) return;
  int* o = out + 4 * (y * (long long)width + x);
  o[0] = x;
  o[1] = y;
  o[2] = gridDim.x * 100 + gridDim.y;
  o[3] = blockDim.x * 100 + blockDim.y;
}

// Per-block sums through a static shared array and a tree of __syncthreads.
extern "C" __global__ void block_sum_static(const float* __restrict__ x, float* __restrict__ out, long long n) {
  __shared__ float buf[BLOCK];
  const long long i = blockIdx.x * (long long)BLOCK + threadIdx.x;
  buf[threadIdx.x] = i < n ? x[i] : 0.0f;
  __syncthreads();
  for (int s = BLOCK / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = buf[0];
}

// Row sums of a (rows, cols) matrix: one block per row, dynamic shared memory sized blockDim.x.
extern "C" __global__ void row_sum_dynamic(const double* x, double* out, int cols) {
  extern __shared__ __align__(16) double smem[];
  const double* row = x + (long long)blockIdx.x * cols;
  double acc = 0.0;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) acc += row[j];
  smem[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) smem[threadIdx.x] += smem[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = smem[0];
}

// Warp reductions and votes. out per warp: [down-sum, xor-sum (lane 7), broadcast of lane 3,
// ballot of odd values, any(v > 100), all(v >= 0), shfl_up prefix of lane 31 (width 16)].
extern "C" __global__ void warp_ops(const float* x, float* out) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x % warpSize;
  const int w = t / warpSize;
  const float v = x[t];
  float down = v, both = v;
  for (int off = 16; off > 0; off /= 2) down += __shfl_down_sync(0xffffffffu, down, off);
  for (int m = 16; m > 0; m /= 2) both += __shfl_xor_sync(0xffffffffu, both, m);
  const float third = __shfl_sync(0xffffffffu, v, 3);
  const unsigned odd = __ballot_sync(0xffffffffu, int(v) % 2 != 0);
  const int any = __any_sync(0xffffffffu, v > 100.0f), all = __all_sync(0xffffffffu, v >= 0.0f);
  float scan = v;  // inclusive prefix sum within groups of 16 lanes
  for (int off = 1; off < 16; off *= 2) {
    const float up = __shfl_up_sync(0xffffffffu, scan, off, 16);
    if ((lane & 15) >= off) scan += up;
  }
  __syncwarp();
  if (lane == 0) {
    out[w * 8 + 0] = down;
    out[w * 8 + 2] = third;
    out[w * 8 + 3] = float(__popc(odd));
    out[w * 8 + 4] = float(any);
    out[w * 8 + 5] = float(all);
  }
  if (lane == 7) out[w * 8 + 1] = both;
  if (lane == 31) out[w * 8 + 6] = scan;
}

// Histogram and totals from every thread at once.
extern "C" __global__ void atomics(const int* labels, long long n, unsigned* hist, float* fsum,
                                   unsigned long long* count, int* maxval, double* dsum) {
  const long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (i >= n) return;
  atomicAdd(&hist[labels[i]], 1u);
  atomicAdd(fsum, 0.5f);
  atomicAdd(count, 1ull);
  atomicMax(maxval, labels[i]);
  atomicAdd(dsum, (double)labels[i]);
  int* slot = maxval + 1;  // first thread to arrive claims it
  atomicCAS(slot, -1, 7);
}

// Bug: thread 3 leaves before the barrier the others wait at.
extern "C" __global__ void early_return_barrier(float* out) {
  if (threadIdx.x == 3) return;
  out[threadIdx.x] = 1.0f;
  __syncthreads();
  out[threadIdx.x] += out[(threadIdx.x + 1) % blockDim.x];
}

// Bug: the two halves of the block wait at different barriers.
extern "C" __global__ void split_barrier(float* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1.0f;
}

// Bug: lane 5 has exited, yet the full-mask shuffle names it.
extern "C" __global__ void shuffle_after_exit(float* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, 1.0f, 1);
}

// Bug (caught by the AddressSanitizer build): writes one element past the end.
extern "C" __global__ void write_past_end(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.0f;
}

extern "C" __global__ void trap_in_block(int* out, int bad_block) {
  if (blockIdx.x == bad_block && threadIdx.x == 1) __trap();
  out[blockIdx.x] = 1;
}

extern "C" __global__ void checked_labels(const int* labels, int classes) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  assert(labels[i] < classes);
}

extern "C" __global__ void scale(float* x, float a, unsigned long long n) {
  const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
  if (i < n) x[i] *= a;
}

// Bug (caught by the AddressSanitizer build): reads one element past the dynamic shared memory.
extern "C" __global__ void shared_past_end(float* out) {
  extern __shared__ float tile[];
  tile[threadIdx.x] = 1.0f;
  __syncthreads();
  out[threadIdx.x] = tile[threadIdx.x + 1];
}
