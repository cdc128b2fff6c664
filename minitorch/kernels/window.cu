// Sliding-window kernels for conv2d and max_pool2d on contiguous (N, C, H, W) tensors.
//
// im2col / col2im use torch.nn.functional.unfold / fold's layout: cols (N, C*kh*kw, OH*OW), row
// c*kh*kw + ki*kw + kj. Every kernel has one thread per element it WRITES and gathers what it needs,
// so no two threads write one address: no atomics, and sums run in a fixed order (reproducible).
// The one exception, max_pool2d_backward_scatter, serves callers that cannot give the geometry.
// Window geometry (all ints): output (oh, ow) reads input rows oh*sh - ph + ki*dh, ki < kh (and
// the same for columns). The plane count N*C and every flat offset are 64-bit; quantities inside
// one plane (h, w, oh, ow, ki, kj) are 32-bit, so a thread divides in 64 bits only once.
// Each kernel is a template instantiated for float (_f32) and double (_f64).
#include "common.cuh"

#define WINDOW_ARGS int H, int W, int OH, int OW, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw

// Grid-stride loop over `total` items in 64 bits.
#define GRID_STRIDE(i, total) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (total); \
         i += (long long)gridDim.x * blockDim.x)

// One thread per (plane, oh, ow): it writes the kh*kw column entries of that output position.
// Threads of a warp hold consecutive l = oh*OW + ow, so each of their kh*kw stores is coalesced.
template <typename T>
__device__ __forceinline__ void im2col_impl(const T* __restrict__ x, T* __restrict__ cols, long long NC, WINDOW_ARGS) {
    const int L = OH * OW, K = kh * kw;
    GRID_STRIDE(i, NC * L) {
        const long long nc = i / L;
        const int l = (int)(i - nc * L), oh = l / OW, ow = l - oh * OW;
        const T* plane = x + nc * H * W;
        T* out = cols + nc * K * L + l;
        const int h0 = oh * sh - ph, w0 = ow * sw - pw;
        for (int ki = 0; ki < kh; ++ki) {
            const int h = h0 + ki * dh;
            const bool h_in = h >= 0 && h < H;
            for (int kj = 0; kj < kw; ++kj) {
                const int w = w0 + kj * dw;
                out[(long long)(ki * kw + kj) * L] = (h_in && w >= 0 && w < W) ? plane[(long long)h * W + w] : T(0);
            }
        }
    }
}

// One thread per input element (plane, h, w): sums the column entries that read it, in (ki, kj)
// order. Row h is read by kernel row ki of output row oh exactly when h + ph - ki*dh = oh*sh.
template <typename T>
__device__ __forceinline__ void col2im_impl(const T* __restrict__ cols, T* __restrict__ x, long long NC,
                                            WINDOW_ARGS) {
    const int L = OH * OW, K = kh * kw;
    const long long HW = (long long)H * W;
    GRID_STRIDE(i, NC * HW) {
        const long long nc = i / HW;
        const int hw = (int)(i - nc * HW), h = hw / W, w = hw - h * W;
        const T* in = cols + nc * K * L;
        T acc = T(0);
        for (int ki = 0; ki < kh; ++ki) {
            const int th = h + ph - ki * dh;
            if (th < 0) break;  // th only decreases with ki
            const int oh = th / sh;
            if (oh * sh != th || oh >= OH) continue;
            for (int kj = 0; kj < kw; ++kj) {
                const int tw = w + pw - kj * dw;
                if (tw < 0) break;
                const int ow = tw / sw;
                if (ow * sw != tw || ow >= OW) continue;
                acc += in[(long long)(ki * kw + kj) * L + oh * OW + ow];
            }
        }
        x[i] = acc;
    }
}

__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }  // no header needed under NVRTC

// First window position inside the input (PyTorch steps the start past the padding by dilation).
__device__ __forceinline__ int first_inside(int start, int d) {
    return start >= 0 ? start : start + ((-start + d - 1) / d) * d;
}

// One thread per output (plane, oh, ow). PyTorch's rule, kept exactly: take v when v > max or v is
// NaN, so ties keep the first max in scan order, a NaN wins (the last NaN if several), and a window
// of -inf keeps the index of its first element inside the input. Padding never wins: it is skipped.
template <typename T>
__device__ __forceinline__ void max_pool_fwd_impl(const T* __restrict__ x, T* __restrict__ y,
                                                  long long* __restrict__ indices, long long NC, WINDOW_ARGS) {
    const int L = OH * OW;
    GRID_STRIDE(i, NC * L) {
        const long long nc = i / L;
        const int l = (int)(i - nc * L), oh = l / OW, ow = l - oh * OW;
        const T* plane = x + nc * H * W;
        const int h_end = imin(oh * sh - ph + (kh - 1) * dh + 1, H), w_end = imin(ow * sw - pw + (kw - 1) * dw + 1, W);
        const int h_start = first_inside(oh * sh - ph, dh), w_start = first_inside(ow * sw - pw, dw);
        long long best_at = (long long)h_start * W + w_start;
        T best = T(-INFINITY);
        for (int h = h_start; h < h_end; h += dh) {
            for (int w = w_start; w < w_end; w += dw) {
                const long long at = (long long)h * W + w;
                const T v = plane[at];
                if (v > best || v != v) {  // v != v: NaN (no isnan needed, no fast-math here)
                    best = v;
                    best_at = at;
                }
            }
        }
        y[i] = best;
        indices[i] = best_at;
    }
}

// One thread per input element (plane, h, w): sums grad over the outputs whose window extent covers
// (h, w) and whose saved index is (h, w) — PyTorch's CUDA gather, in (oh, ow) order.
template <typename T>
__device__ __forceinline__ void max_pool_bwd_impl(const T* __restrict__ grad, const long long* __restrict__ indices,
                                                  T* __restrict__ dx, long long NC, WINDOW_ARGS) {
    const int L = OH * OW;
    const int ext_h = (kh - 1) * dh + 1, ext_w = (kw - 1) * dw + 1;
    const long long HW = (long long)H * W;
    GRID_STRIDE(i, NC * HW) {
        const long long nc = i / HW;
        const int hw = (int)(i - nc * HW), h = hw / W, w = hw - h * W;
        // Outputs oh with oh*sh - ph <= h <= oh*sh - ph + ext_h - 1.
        const int oh0 = h + ph < ext_h ? 0 : (h + ph - ext_h) / sh + 1, oh1 = imin((h + ph) / sh + 1, OH);
        const int ow0 = w + pw < ext_w ? 0 : (w + pw - ext_w) / sw + 1, ow1 = imin((w + pw) / sw + 1, OW);
        const long long* idx = indices + nc * L;
        const T* g = grad + nc * L;
        T acc = T(0);
        for (int oh = oh0; oh < oh1; ++oh)
            for (int ow = ow0; ow < ow1; ++ow)
                if (idx[oh * OW + ow] == hw) acc += g[oh * OW + ow];
        dx[i] = acc;
    }
}

// Without the window geometry (the reference's signature has none) the gather above is impossible:
// one thread per output adds its grad at its index. Exact and reproducible when windows do not
// overlap (each input receives at most one add); with overlap the order of float adds varies.
template <typename T>
__device__ __forceinline__ void max_pool_bwd_scatter_impl(const T* __restrict__ grad,
                                                          const long long* __restrict__ indices, T* __restrict__ dx,
                                                          long long NC, long long L, long long HW) {
    GRID_STRIDE(i, NC * L) {
        const long long at = indices[i];
        if (at >= 0 && at < HW) atomicAdd(dx + (i / L) * HW + at, grad[i]);  // a bad index is dropped, never written
    }
}

#define WINDOW_PASS H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw

// extern "C" entry points written out (not macro-generated) so nvcc logs, the emulator and the
// launchers all see their names.
extern "C" __global__ void im2col_f32(const float* __restrict__ x, float* __restrict__ cols, long long NC,
                                      WINDOW_ARGS) {
    im2col_impl<float>(x, cols, NC, WINDOW_PASS);
}
extern "C" __global__ void col2im_f32(const float* __restrict__ cols, float* __restrict__ x, long long NC,
                                      WINDOW_ARGS) {
    col2im_impl<float>(cols, x, NC, WINDOW_PASS);
}
extern "C" __global__ void max_pool2d_forward_f32(const float* __restrict__ x, float* __restrict__ y,
                                                  long long* __restrict__ indices, long long NC, WINDOW_ARGS) {
    max_pool_fwd_impl<float>(x, y, indices, NC, WINDOW_PASS);
}
extern "C" __global__ void max_pool2d_backward_f32(const float* __restrict__ grad,
                                                   const long long* __restrict__ indices, float* __restrict__ dx,
                                                   long long NC, WINDOW_ARGS) {
    max_pool_bwd_impl<float>(grad, indices, dx, NC, WINDOW_PASS);
}
extern "C" __global__ void max_pool2d_backward_scatter_f32(const float* __restrict__ grad,
                                                           const long long* __restrict__ indices,
                                                           float* __restrict__ dx, long long NC, long long L,
                                                           long long HW) {
    max_pool_bwd_scatter_impl<float>(grad, indices, dx, NC, L, HW);
}
extern "C" __global__ void im2col_f64(const double* __restrict__ x, double* __restrict__ cols, long long NC,
                                      WINDOW_ARGS) {
    im2col_impl<double>(x, cols, NC, WINDOW_PASS);
}
extern "C" __global__ void col2im_f64(const double* __restrict__ cols, double* __restrict__ x, long long NC,
                                      WINDOW_ARGS) {
    col2im_impl<double>(cols, x, NC, WINDOW_PASS);
}
extern "C" __global__ void max_pool2d_forward_f64(const double* __restrict__ x, double* __restrict__ y,
                                                  long long* __restrict__ indices, long long NC, WINDOW_ARGS) {
    max_pool_fwd_impl<double>(x, y, indices, NC, WINDOW_PASS);
}
extern "C" __global__ void max_pool2d_backward_f64(const double* __restrict__ grad,
                                                   const long long* __restrict__ indices, double* __restrict__ dx,
                                                   long long NC, WINDOW_ARGS) {
    max_pool_bwd_impl<double>(grad, indices, dx, NC, WINDOW_PASS);
}
extern "C" __global__ void max_pool2d_backward_scatter_f64(const double* __restrict__ grad,
                                                           const long long* __restrict__ indices,
                                                           double* __restrict__ dx, long long NC, long long L,
                                                           long long HW) {
    max_pool_bwd_scatter_impl<double>(grad, indices, dx, NC, L, HW);
}
