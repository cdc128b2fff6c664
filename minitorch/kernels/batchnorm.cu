// Fused BatchNorm for x of shape (N, C) or (N, C, HW) (any spatial dims flattened into HW).
//
// Training forward: per-channel Welford statistics (running-stat update fused into their last
// step), then one elementwise normalise + affine. Eval forward: the elementwise launch alone.
// Backward: per-channel sums of dy and dy*x_hat, then one elementwise pass for dx.
// Two reduction layouts: (N, C) puts 32 channels across a warp so every row read is coalesced;
// (N, C, HW) gives each channel blocks that walk its HW-contiguous planes. When one block per
// channel (tile) would leave the GPU idle, grid.y splits the batch into S slices: each writes a
// partial, and a *_finish kernel merges the S partials in slice order. Every merge happens in a
// fixed order (no atomics), so results are reproducible run to run.
#include "common.cuh"

// Per-channel epilogue of the statistics kernels: save (mean, invstd), update running stats.
__device__ __forceinline__ void finish_stats(int c, Welford w, float* __restrict__ mean, float* __restrict__ invstd,
                                             float* __restrict__ running_mean, float* __restrict__ running_var,
                                             int has_running, float momentum, float eps) {
    const float var = w.m2 / w.n;  // biased: used to normalise
    mean[c] = w.mean;
    invstd[c] = 1.0f / sqrtf(var + eps);
    if (has_running) {  // running_var tracks the unbiased estimate, as in PyTorch
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * w.mean;
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (w.m2 / (w.n - 1.0f));
    }
}

// A block's merged statistics: final when the batch is not split (S = 1), else partial[s][c].
// `partial` holds 3 planes of S*C floats: counts, means, M2s.
__device__ __forceinline__ void emit_stats(int c, Welford w, float* __restrict__ partial, int C, float* mean,
                                           float* invstd, float* running_mean, float* running_var,
                                           int has_running, float momentum, float eps) {
    if (gridDim.y == 1) {
        finish_stats(c, w, mean, invstd, running_mean, running_var, has_running, momentum, eps);
        return;
    }
    const long long plane = (long long)gridDim.y * C, at = (long long)blockIdx.y * C + c;
    partial[at] = w.n;
    partial[plane + at] = w.mean;
    partial[2 * plane + at] = w.m2;
}

// (N, C): block (32, Y); thread (tx, ty) owns channel blockIdx.x*32 + tx and rows ty + Y*(s + S*k).
extern "C" __global__ void bn_stats_nc(const float* __restrict__ x, long long N, int C, float* __restrict__ partial,
                                       float* __restrict__ mean, float* __restrict__ invstd,
                                       float* __restrict__ running_mean, float* __restrict__ running_var,
                                       int has_running, float momentum, float eps) {
    __shared__ float sh_n[32][32], sh_mean[32][32], sh_m2[32][32];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int c = blockIdx.x * 32 + tx;
    Welford w{0.0f, 0.0f, 0.0f};
    if (c < C)
        for (long long n = (long long)blockIdx.y * blockDim.y + ty; n < N; n += (long long)gridDim.y * blockDim.y)
            w.push(x[n * C + c]);
    sh_n[ty][tx] = w.n; sh_mean[ty][tx] = w.mean; sh_m2[ty][tx] = w.m2;
    __syncthreads();
    if (ty == 0 && c < C) {
        for (int k = 1; k < (int)blockDim.y; ++k) w.merge(sh_n[k][tx], sh_mean[k][tx], sh_m2[k][tx]);
        emit_stats(c, w, partial, C, mean, invstd, running_mean, running_var, has_running, momentum, eps);
    }
}

// (N, C, HW): blocks (c, s) for channel c; warps merge by shuffles, then thread 0 merges the warps.
extern "C" __global__ void bn_stats_nchw(const float* __restrict__ x, long long N, int C, long long HW,
                                         float* __restrict__ partial, float* __restrict__ mean,
                                         float* __restrict__ invstd, float* __restrict__ running_mean,
                                         float* __restrict__ running_var, int has_running, float momentum, float eps) {
    __shared__ float sh_n[32], sh_mean[32], sh_m2[32];
    const int c = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    Welford w{0.0f, 0.0f, 0.0f};
    const long long first = (long long)blockIdx.y * blockDim.x + threadIdx.x, stride = (long long)gridDim.y * blockDim.x;
    for (ChannelWalk it(first, stride, N, C, HW); it.valid(); it.next()) w.push(x[it.offset(c)]);
    w.warp_merge();
    if (lane == 0) { sh_n[warp] = w.n; sh_mean[warp] = w.mean; sh_m2[warp] = w.m2; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < (int)(blockDim.x / 32); ++k) w.merge(sh_n[k], sh_mean[k], sh_m2[k]);
        emit_stats(c, w, partial, C, mean, invstd, running_mean, running_var, has_running, momentum, eps);
    }
}

// Split batch (S > 1): one thread per channel merges the S partials in slice order.
extern "C" __global__ void bn_stats_finish(const float* __restrict__ partial, int S, int C, float* __restrict__ mean,
                                           float* __restrict__ invstd, float* __restrict__ running_mean,
                                           float* __restrict__ running_var, int has_running, float momentum,
                                           float eps) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const long long plane = (long long)S * C;
    Welford w{0.0f, 0.0f, 0.0f};
    for (int s = 0; s < S; ++s) {
        const long long at = (long long)s * C + c;
        w.merge(partial[at], partial[plane + at], partial[2 * plane + at]);
    }
    finish_stats(c, w, mean, invstd, running_mean, running_var, has_running, momentum, eps);
}

// y = (x - mean_c) * a_c + b_c with a_c = w_c * invstd_c. For eval, `stat` holds running_var
// (stat_is_var = 1) and invstd is formed here, so eval is this single launch.
extern "C" __global__ void bn_apply(const float* __restrict__ x, float* __restrict__ y, const float* __restrict__ w,
                                    const float* __restrict__ b, const float* __restrict__ mean,
                                    const float* __restrict__ stat, long long total, int C, long long HW,
                                    int has_w, int has_b, int stat_is_var, float eps) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const int c = (int)((i / HW) % C);
        const float inv = stat_is_var ? 1.0f / sqrtf(stat[c] + eps) : stat[c];
        const float a = has_w ? w[c] * inv : inv;
        y[i] = (x[i] - mean[c]) * a + (has_b ? b[c] : 0.0f);
    }
}

// Backward sums of one block: final (dbias = sum dy, dweight = invstd * sum dy (x - mean)) when the
// batch is not split, else partial[s][c] in 2 planes of S*C floats.
__device__ __forceinline__ void emit_sums(int c, float s_dy, float s_dyx, float* __restrict__ partial, int C,
                                          const float* __restrict__ invstd, float* __restrict__ dweight,
                                          float* __restrict__ dbias) {
    if (gridDim.y == 1) {
        dbias[c] = s_dy;
        dweight[c] = s_dyx * invstd[c];
        return;
    }
    const long long at = (long long)blockIdx.y * C + c;
    partial[at] = s_dy;
    partial[(long long)gridDim.y * C + at] = s_dyx;
}

// Backward sums, (N, C) layout (same thread mapping as bn_stats_nc).
extern "C" __global__ void bn_bwd_reduce_nc(const float* __restrict__ dy, const float* __restrict__ x,
                                            const float* __restrict__ mean, const float* __restrict__ invstd,
                                            long long N, int C, float* __restrict__ partial,
                                            float* __restrict__ dweight, float* __restrict__ dbias) {
    __shared__ float sh_dy[32][32], sh_dyx[32][32];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int c = blockIdx.x * 32 + tx;
    float s_dy = 0.0f, s_dyx = 0.0f;  // s_dyx = sum dy * (x - mean); times invstd once at the end
    if (c < C) {
        const float mu = mean[c];
        for (long long n = (long long)blockIdx.y * blockDim.y + ty; n < N; n += (long long)gridDim.y * blockDim.y) {
            const long long i = n * C + c;
            s_dy += dy[i];
            s_dyx += dy[i] * (x[i] - mu);
        }
    }
    sh_dy[ty][tx] = s_dy; sh_dyx[ty][tx] = s_dyx;
    __syncthreads();
    if (ty == 0 && c < C) {
        for (int k = 1; k < (int)blockDim.y; ++k) { s_dy += sh_dy[k][tx]; s_dyx += sh_dyx[k][tx]; }
        emit_sums(c, s_dy, s_dyx, partial, C, invstd, dweight, dbias);
    }
}

// Backward sums, (N, C, HW) layout (same block mapping as bn_stats_nchw).
extern "C" __global__ void bn_bwd_reduce_nchw(const float* __restrict__ dy, const float* __restrict__ x,
                                              const float* __restrict__ mean, const float* __restrict__ invstd,
                                              long long N, int C, long long HW, float* __restrict__ partial,
                                              float* __restrict__ dweight, float* __restrict__ dbias) {
    __shared__ float scratch[32];
    const int c = blockIdx.x;
    const float mu = mean[c];
    float s_dy = 0.0f, s_dyx = 0.0f;
    const long long first = (long long)blockIdx.y * blockDim.x + threadIdx.x, stride = (long long)gridDim.y * blockDim.x;
    for (ChannelWalk it(first, stride, N, C, HW); it.valid(); it.next()) {
        const long long i = it.offset(c);
        s_dy += dy[i];
        s_dyx += dy[i] * (x[i] - mu);
    }
    s_dy = block_sum(s_dy, scratch);
    __syncthreads();  // scratch is reused by the second sum
    s_dyx = block_sum(s_dyx, scratch);
    if (threadIdx.x == 0) emit_sums(c, s_dy, s_dyx, partial, C, invstd, dweight, dbias);
}

// Split batch (S > 1): one thread per channel adds the S partial sums in slice order.
extern "C" __global__ void bn_bwd_finish(const float* __restrict__ partial, int S, int C,
                                         const float* __restrict__ invstd, float* __restrict__ dweight,
                                         float* __restrict__ dbias) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s_dy = 0.0f, s_dyx = 0.0f;
    for (int s = 0; s < S; ++s) {
        s_dy += partial[(long long)s * C + c];
        s_dyx += partial[(long long)(S + s) * C + c];
    }
    dbias[c] = s_dy;
    dweight[c] = s_dyx * invstd[c];
}

// dx = w * invstd * (dy - dbias/n - x_hat * dweight/n): one read of dy and x, one write of dx.
extern "C" __global__ void bn_bwd_apply(const float* __restrict__ dy, const float* __restrict__ x,
                                        const float* __restrict__ w, const float* __restrict__ mean,
                                        const float* __restrict__ invstd, const float* __restrict__ dweight,
                                        const float* __restrict__ dbias, float* __restrict__ dx, long long total,
                                        int C, long long HW, float inv_n, int has_w) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const int c = (int)((i / HW) % C);
        const float inv = invstd[c];
        const float xhat = (x[i] - mean[c]) * inv;
        const float a = has_w ? w[c] * inv : inv;
        dx[i] = a * (dy[i] - dbias[c] * inv_n - xhat * (dweight[c] * inv_n));
    }
}
