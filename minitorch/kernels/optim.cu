// Multi-tensor optimizer steps: every parameter of a model updated in a single launch.
//
// The launcher passes device tables instead of one launch per tensor:
//   ptrs[role * T + t]  pointer to tensor t's param / grad / state (role order per kernel),
//   sizes[t]            its element count,
//   chunk_start[t]      first global chunk of tensor t (chunk_start[T] = total chunks).
// Blocks loop over chunks of `chunk` elements; a chunk never straddles two tensors, so each
// block finds its tensor once (binary search) and then streams contiguous memory.
#include "common.cuh"

// Tensor t owning global chunk k: the last t with chunk_start[t] <= k.
__device__ __forceinline__ int tensor_of_chunk(const long long* __restrict__ chunk_start, int T, long long k) {
    int lo = 0, hi = T - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (chunk_start[mid] <= k) lo = mid; else hi = mid - 1;
    }
    return lo;
}

// Adam / AdamW (decoupled = 1), PyTorch semantics, optionally AMSGrad and maximize. Roles: 0 param, 1 grad,
// 2 exp_avg, 3 exp_avg_sq, 4 max_exp_avg_sq (read only when amsgrad; the launcher repeats role 3 otherwise).
// step_size = lr / (1 - beta1^step) and bc2_sqrt = sqrt(1 - beta2^step) come from the host.
extern "C" __global__ void adam_multi(float* const* __restrict__ ptrs, const long long* __restrict__ sizes,
                                      const long long* __restrict__ chunk_start, int T, long long chunk, float lr,
                                      float beta1, float beta2, float eps, float weight_decay, int decoupled,
                                      int amsgrad, int maximize, float step_size, float bc2_sqrt) {
    const long long n_chunks = chunk_start[T];
    for (long long k = blockIdx.x; k < n_chunks; k += gridDim.x) {
        const int t = tensor_of_chunk(chunk_start, T, k);
        float* p = ptrs[t];
        const float* g = ptrs[T + t];
        float* m = ptrs[2 * T + t];
        float* v = ptrs[3 * T + t];
        float* vmax = ptrs[4 * T + t];
        const long long begin = (k - chunk_start[t]) * chunk;
        const long long end = begin + chunk < sizes[t] ? begin + chunk : sizes[t];
        for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) {
            float pi = p[i], gi = maximize ? -g[i] : g[i];
            if (weight_decay != 0.0f) {
                if (decoupled) pi *= 1.0f - lr * weight_decay;  // AdamW: shrink the weight itself
                else gi += weight_decay * pi;                    // Adam: L2 term joins the gradient
            }
            const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
            float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            if (amsgrad) {  // the running maximum normalises; NaN propagates as torch.maximum's does
                const float old = vmax[i];
                vi = (old != old || old > vi) ? old : vi;
                vmax[i] = vi;
            }
            p[i] = pi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
        }
    }
}

// SGD with optional momentum (and dampening) / nesterov / L2 weight decay / maximize. Roles: 0 param, 1 grad,
// 2 momentum buffer (only read when has_momentum; a buffer's first step runs with dampening 0 on a zero
// buffer, which stores buf = g, PyTorch's clone).
extern "C" __global__ void sgd_multi(float* const* __restrict__ ptrs, const long long* __restrict__ sizes,
                                     const long long* __restrict__ chunk_start, int T, long long chunk, float lr,
                                     float momentum, float dampening, float weight_decay, int nesterov,
                                     int has_momentum, int maximize) {
    const long long n_chunks = chunk_start[T];
    for (long long k = blockIdx.x; k < n_chunks; k += gridDim.x) {
        const int t = tensor_of_chunk(chunk_start, T, k);
        float* p = ptrs[t];
        const float* g = ptrs[T + t];
        float* buf = ptrs[2 * T + t];
        const long long begin = (k - chunk_start[t]) * chunk;
        const long long end = begin + chunk < sizes[t] ? begin + chunk : sizes[t];
        for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) {
            const float pi = p[i];
            float gi = maximize ? -g[i] : g[i];
            if (weight_decay != 0.0f) gi += weight_decay * pi;
            if (has_momentum) {
                const float b = momentum * buf[i] + (dampening != 0.0f ? (1.0f - dampening) * gi : gi);
                buf[i] = b;
                gi = nesterov ? gi + momentum * b : b;
            }
            p[i] = pi - lr * gi;
        }
    }
}

// Adagrad, PyTorch semantics. Roles: 0 param, 1 grad, 2 sum. clr = lr / (1 + (step - 1) * lr_decay) comes
// from the host (the launcher batches tensors by step count).
extern "C" __global__ void adagrad_multi(float* const* __restrict__ ptrs, const long long* __restrict__ sizes,
                                         const long long* __restrict__ chunk_start, int T, long long chunk, float clr,
                                         float weight_decay, float eps, int maximize) {
    const long long n_chunks = chunk_start[T];
    for (long long k = blockIdx.x; k < n_chunks; k += gridDim.x) {
        const int t = tensor_of_chunk(chunk_start, T, k);
        float* p = ptrs[t];
        const float* g = ptrs[T + t];
        float* sum = ptrs[2 * T + t];
        const long long begin = (k - chunk_start[t]) * chunk;
        const long long end = begin + chunk < sizes[t] ? begin + chunk : sizes[t];
        for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) {
            const float pi = p[i];
            float gi = maximize ? -g[i] : g[i];
            if (weight_decay != 0.0f) gi += weight_decay * pi;
            const float s = sum[i] + gi * gi;
            sum[i] = s;
            p[i] = pi - clr * (gi / (sqrtf(s) + eps));
        }
    }
}

// Adadelta, PyTorch semantics. Roles: 0 param, 1 grad, 2 square_avg, 3 acc_delta.
extern "C" __global__ void adadelta_multi(float* const* __restrict__ ptrs, const long long* __restrict__ sizes,
                                          const long long* __restrict__ chunk_start, int T, long long chunk, float lr,
                                          float rho, float eps, float weight_decay, int maximize) {
    const long long n_chunks = chunk_start[T];
    for (long long k = blockIdx.x; k < n_chunks; k += gridDim.x) {
        const int t = tensor_of_chunk(chunk_start, T, k);
        float* p = ptrs[t];
        const float* g = ptrs[T + t];
        float* sq = ptrs[2 * T + t];
        float* acc = ptrs[3 * T + t];
        const long long begin = (k - chunk_start[t]) * chunk;
        const long long end = begin + chunk < sizes[t] ? begin + chunk : sizes[t];
        for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) {
            const float pi = p[i];
            float gi = maximize ? -g[i] : g[i];
            if (weight_decay != 0.0f) gi += weight_decay * pi;
            const float s = rho * sq[i] + (1.0f - rho) * gi * gi;
            sq[i] = s;
            const float delta = sqrtf(acc[i] + eps) / sqrtf(s + eps) * gi;  // RMS of past updates / RMS of grads
            acc[i] = rho * acc[i] + (1.0f - rho) * delta * delta;
            p[i] = pi - lr * delta;
        }
    }
}
