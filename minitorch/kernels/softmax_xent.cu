// Fused softmax + cross-entropy (class-index targets, ignore_index, label smoothing).
//
// Forward reads each logit once: an online (max, sum-exp) per thread, merged across the row,
// gives the row's log-sum-exp; only lse (N floats) is saved for backward. Per-row loss is
//   loss_i = lse_i - (1-eps) x[i,t_i] - (eps/C) sum_j x[i,j]
// computed from max-shifted values so |x| ~ 1e4 keeps its precision. Ignored rows write 0.
// Two launch shapes: a warp per row (C <= 1024) or a block per row (large C).
#include "common.cuh"

// Lane 0 of a row's group turns the merged row statistics into (loss, lse).
__device__ __forceinline__ void finish_row(const float* __restrict__ x, long long t, int C, float smoothing,
                                           OnlineSoftmax sm, float sum_x, float* loss, float* lse) {
    // t was validated by the caller; the bounds check only keeps a bad label from faulting.
    const float xt = (t >= 0 && t < C) ? x[t] : NAN;
    const float log_s = logf(sm.s);
    float l = log_s - (1.0f - smoothing) * (xt - sm.m);
    if (smoothing != 0.0f) l -= smoothing * (sum_x / C - sm.m);  // guarded: 0 * -inf would be NaN
    *loss = l;
    *lse = sm.m + log_s;
}

// One warp per row: blockDim.x = 32 * rows_per_block.
extern "C" __global__ void xent_forward_warp(const float* __restrict__ logits, const long long* __restrict__ target,
                                             float* __restrict__ row_loss, float* __restrict__ lse, long long N,
                                             int C, long long ignore_index, float smoothing) {
    const long long row = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= N) return;  // whole warps leave together, so the shuffles below stay full-mask
    const long long t = target[row];
    if (t == ignore_index) {  // never touch the logits: a row of -inf cannot produce NaN
        if (lane == 0) { row_loss[row] = 0.0f; lse[row] = 0.0f; }
        return;
    }
    const float* x = logits + row * C;
    OnlineSoftmax sm{-INFINITY, 0.0f};
    float sum_x = 0.0f;
    for (int j = lane; j < C; j += 32) {  // lanes read consecutive addresses: coalesced
        const float v = x[j];
        sm.push(v);
        sum_x += v;
    }
    sm.warp_merge();
    sum_x = warp_sum(sum_x);
    if (lane == 0) finish_row(x, t, C, smoothing, sm, sum_x, row_loss + row, lse + row);
}

// One block per row (blockDim.x a multiple of 32): per-warp merge, then warp 0 merges the warps.
extern "C" __global__ void xent_forward_block(const float* __restrict__ logits, const long long* __restrict__ target,
                                              float* __restrict__ row_loss, float* __restrict__ lse, long long N,
                                              int C, long long ignore_index, float smoothing) {
    __shared__ float sh_m[32], sh_s[32], sh_x[32];
    const long long row = blockIdx.x;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const long long t = target[row];
    if (t == ignore_index) {  // uniform across the block, so no thread is left at a barrier
        if (threadIdx.x == 0) { row_loss[row] = 0.0f; lse[row] = 0.0f; }
        return;
    }
    const float* x = logits + row * C;
    OnlineSoftmax sm{-INFINITY, 0.0f};
    float sum_x = 0.0f;
    for (int j = threadIdx.x; j < C; j += blockDim.x) {
        const float v = x[j];
        sm.push(v);
        sum_x += v;
    }
    sm.warp_merge();
    sum_x = warp_sum(sum_x);
    if (lane == 0) { sh_m[warp] = sm.m; sh_s[warp] = sm.s; sh_x[warp] = sum_x; }
    __syncthreads();
    if (warp == 0) {
        const bool has = lane < (int)(blockDim.x / 32);
        sm = OnlineSoftmax{has ? sh_m[lane] : -INFINITY, has ? sh_s[lane] : 0.0f};
        sum_x = has ? sh_x[lane] : 0.0f;
        sm.warp_merge();
        sum_x = warp_sum(sum_x);
        if (lane == 0) finish_row(x, t, C, smoothing, sm, sum_x, row_loss + row, lse + row);
    }
}

// Single block: sums per-row losses (or only counts kept rows when row_loss is null) in a fixed order.
// sh_f / sh_u: 32-slot shared scratch owned by the calling kernel.
__device__ __forceinline__ void sum_and_count(const float* __restrict__ row_loss, const long long* __restrict__ target,
                                              long long N, long long ignore_index, float* sh_f, unsigned int* sh_u,
                                              float* total, float* count) {
    float s = 0.0f;
    unsigned int k = 0;  // integer count: exact for any realistic N
    for (long long i = threadIdx.x; i < N; i += blockDim.x) {
        if (target[i] != ignore_index) k += 1;
        if (row_loss) s += row_loss[i];
    }
    s = block_sum(s, sh_f);
    k = block_sum(k, sh_u);
    *total = s;
    *count = (float)k;
}

// reduction = 'sum' (mean == 0) or 'mean' (mean == 1) of the per-row losses, into out[0].
// A mean over zero kept rows is 0/0 = NaN, as in PyTorch.
extern "C" __global__ void xent_reduce(const float* __restrict__ row_loss, const long long* __restrict__ target,
                                       long long N, long long ignore_index, int mean, float* __restrict__ out) {
    __shared__ float sh_f[32];
    __shared__ unsigned int sh_u[32];
    float total, count;
    sum_and_count(row_loss, target, N, ignore_index, sh_f, sh_u, &total, &count);
    if (threadIdx.x == 0) out[0] = mean ? total / count : total;
}

// Backward of 'mean': out[0] = grad[0] / (number of kept rows), kept on the device (no host sync).
extern "C" __global__ void xent_mean_scale(const float* __restrict__ grad, const long long* __restrict__ target,
                                           long long N, long long ignore_index, float* __restrict__ out) {
    __shared__ float sh_f[32];
    __shared__ unsigned int sh_u[32];
    float total, count;
    sum_and_count(nullptr, target, N, ignore_index, sh_f, sh_u, &total, &count);
    if (threadIdx.x == 0) out[0] = count > 0.0f ? grad[0] / count : 0.0f;  // all ignored: every dx is 0 anyway
}

// dx[i,j] = s_i (softmax(x_i)_j - q_ij),  q_ij = (1-eps)[j == t_i] + eps/C,  s_i = gscale[i * gstride].
// Groups of blockDim.x / rows_per_block threads share a row; blockIdx.y splits long rows.
extern "C" __global__ void xent_backward(const float* __restrict__ logits, const long long* __restrict__ target,
                                         const float* __restrict__ lse, const float* __restrict__ gscale,
                                         long long gstride, float* __restrict__ dx, long long N, int C,
                                         long long ignore_index, float smoothing, int rows_per_block) {
    const int group = blockDim.x / rows_per_block;
    const long long row = (long long)blockIdx.x * rows_per_block + threadIdx.x / group;
    if (row >= N) return;
    const long long t = target[row];
    const bool keep = t != ignore_index;
    const float s = keep ? gscale[row * gstride] : 0.0f;
    const float r = keep ? lse[row] : 0.0f;
    const float base = smoothing / C;
    const float* x = logits + row * C;
    float* d = dx + row * C;
    for (int j = blockIdx.y * group + threadIdx.x % group; j < C; j += gridDim.y * group) {
        const float q = (j == t) ? 1.0f - smoothing + base : base;
        d[j] = keep ? s * (expf(x[j] - r) - q) : 0.0f;  // select, not multiply: ignored rows may hold -inf
    }
}
