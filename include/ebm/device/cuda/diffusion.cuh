#pragma once
// Kernels of diffusion_kernels<cuda> (declared in diffusion.hpp).
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "diffusion.hpp"
#include "launch.cuh"

namespace ebm {

namespace detail {

// Explicitly rounded arithmetic: nvcc may not contract these into FMAs.
__device__ EBM_INLINE float diff_add(float a, float b) { return __fadd_rn(a, b); }
__device__ EBM_INLINE double diff_add(double a, double b) { return __dadd_rn(a, b); }
__device__ EBM_INLINE float diff_sub(float a, float b) { return __fsub_rn(a, b); }
__device__ EBM_INLINE double diff_sub(double a, double b) { return __dsub_rn(a, b); }
__device__ EBM_INLINE float diff_mul(float a, float b) { return __fmul_rn(a, b); }
__device__ EBM_INLINE double diff_mul(double a, double b) { return __dmul_rn(a, b); }
__device__ EBM_INLINE float diff_div(float a, float b) { return __fdiv_rn(a, b); }
__device__ EBM_INLINE double diff_div(double a, double b) { return __ddiv_rn(a, b); }
/// exp evaluated in double and rounded to T (as close to the host's libm as
/// a GPU gets; see random.cuh).
template <class T>
__device__ EBM_INLINE T diff_exp(T v) {
  return static_cast<T>(::exp(static_cast<double>(v)));
}

/// Threads per block of the per-sample reductions.
inline constexpr int diff_reduce_threads = 256;

/// Sum of one double per thread over the block, in a fixed tree order; the
/// result is valid in thread 0.  Every thread of the block must call it.
__device__ EBM_INLINE double diff_block_sum(double v) {
  __shared__ double part[diff_reduce_threads];
  part[threadIdx.x] = v;
  __syncthreads();
  for (int s = diff_reduce_threads / 2; s > 0; s /= 2) {
    if (static_cast<int>(threadIdx.x) < s) part[threadIdx.x] = __dadd_rn(part[threadIdx.x], part[threadIdx.x + s]);
    __syncthreads();
  }
  const double r = part[0];
  __syncthreads();  // part may be reused by the next call
  return r;
}

template <class T>
__global__ void diff_noise_kernel(const T* x0, const T* eps, const T* c0, const T* sigma, T* xt,
                                  index_t total, index_t per) {
  EBM_GRID_STRIDE_LOOP(j, total) {
    const index_t i = j / per;
    xt[j] = diff_add(diff_mul(c0[i], x0[j]), diff_mul(sigma[i], eps[j]));
  }
}

template <class T>
__global__ void diff_fisher_residual_kernel(const T* g, const T* eps, const T* a, const T* b,
                                            const T* scale, T* v, double* sq, index_t n,
                                            index_t per) {
  for (index_t i = blockIdx.x; i < n; i += gridDim.x) {
    const T ai = a[i], bi = b[i], si = scale[i];
    double acc = 0;
    for (index_t j = i * per + threadIdx.x; j < (i + 1) * per; j += blockDim.x) {
      const T r = diff_sub(diff_mul(ai, g[j]), diff_mul(bi, eps[j]));
      acc = __dadd_rn(acc, __dmul_rn(double(r), double(r)));
      v[j] = diff_mul(si, r);
    }
    acc = diff_block_sum(acc);
    if (threadIdx.x == 0) sq[i] = acc;
  }
}

template <class T>
__global__ void diff_cross_entropy_kernel(const T* z, const int* labels, index_t n, index_t k,
                                          double on, double off, const double* pre,
                                          double pre_all, double div, T* gz, double* out) {
  EBM_GRID_STRIDE_LOOP(i, n) {
    const int y = labels[i];
    const T* zi = z + i * k;
    if (y < 0) {
      if (gz)
        for (index_t c = 0; c < k; ++c) gz[i * k + c] = T(0);
      out[i] = 0;
      out[n + i] = 0;
      continue;
    }
    index_t arg = 0;
    T mx = zi[0];
    for (index_t c = 1; c < k; ++c)
      if (zi[c] > mx) mx = zi[c], arg = c;
    const double zmax = double(mx);
    double sum = 0;
    for (index_t c = 0; c < k; ++c) sum = __dadd_rn(sum, ::exp(__dsub_rn(double(zi[c]), zmax)));
    const double log_norm = __dadd_rn(zmax, ::log(sum));
    const double p_i = pre ? pre[i] : pre_all;
    double ce = 0;
    for (index_t c = 0; c < k; ++c) {
      const double q = c == y ? on : off;
      const double log_p = __dsub_rn(double(zi[c]), log_norm);
      ce = __dsub_rn(ce, __dmul_rn(q, log_p));
      if (gz) gz[i * k + c] = static_cast<T>(__ddiv_rn(__dmul_rn(p_i, __dsub_rn(::exp(log_p), q)), div));
    }
    out[i] = ce;
    out[n + i] = arg == y ? 1.0 : 0.0;
  }
}

template <class T>
__global__ void diff_log_prob_logit_grad_kernel(const T* z, const int* labels, index_t n, index_t k,
                                                T* gz) {
  EBM_GRID_STRIDE_LOOP(i, n) {
    const int y = labels[i];
    const T* zi = z + i * k;
    T m = zi[0];
    for (index_t c = 1; c < k; ++c) m = m < zi[c] ? zi[c] : m;
    T sum(0);
    for (index_t c = 0; c < k; ++c) sum = diff_add(sum, diff_exp(diff_sub(zi[c], m)));
    for (index_t c = 0; c < k; ++c)
      gz[i * k + c] = diff_sub(c == y ? T(1) : T(0), diff_div(diff_exp(diff_sub(zi[c], m)), sum));
  }
}

template <class T>
__global__ void diff_reverse_step_kernel(T* x, const T* s, const T* z, index_t n,
                                         diffusion_kernels<cuda>::step_coefficients<T> c) {
  const bool noisy = c.sd > T(0);
  EBM_GRID_STRIDE_LOOP(i, n) {
    const T xi = x[i], si = s[i];
    T x0 = diff_mul(diff_add(xi, diff_mul(c.one_m_ab, si)), c.inv_sqrt_ab);
    if (c.clip) x0 = x0 < c.lo ? c.lo : (c.hi < x0 ? c.hi : x0);  // std::clamp
    const T noise = noisy ? diff_mul(c.sd, z[i]) : T(0);
    if (c.ddim) {
      // With clipping, eps is re-derived from the clamped x0 (sample/diffusion.hpp).
      const T eps = c.clip ? diff_mul(diff_sub(xi, diff_mul(c.sqrt_ab, x0)), c.inv_sqrt_one_m_ab)
                           : diff_mul(-c.sqrt_one_m_ab, si);
      x[i] = diff_add(diff_add(diff_mul(c.c_x0, x0), diff_mul(c.c_eps, eps)), noise);
    } else {
      x[i] = diff_add(diff_add(diff_mul(c.c_x0, x0), diff_mul(c.c_x, xi)), noise);
    }
  }
}

template <class T>
__global__ void diff_blend_known_kernel(T* x, const T* known, const T* mask, index_t n,
                                        index_t period, T a, T b) {
  EBM_GRID_STRIDE_LOOP(i, n) {
    if (mask[i % period] != T(0)) x[i] = diff_add(diff_mul(a, known[i]), diff_mul(b, x[i]));
  }
}

template <class T>
__global__ void diff_replace_known_kernel(T* x, const T* known, const T* mask, const int* rank,
                                          index_t n, index_t period, index_t known_per_period,
                                          T a, T b, const T* z) {
  EBM_GRID_STRIDE_LOOP(i, n) {
    const index_t p = i % period;
    if (mask[p] == T(0)) continue;
    if (!z) {
      x[i] = known[i];
    } else {
      const index_t c = (i / period) * known_per_period + rank[p];
      x[i] = diff_add(diff_mul(a, known[i]), diff_mul(b, z[c]));
    }
  }
}

template <class T>
__global__ void diff_first_nonfinite_kernel(const T* x, index_t total, index_t per,
                                            unsigned long long* first) {
  EBM_GRID_STRIDE_LOOP(i, total) {
    if (!isfinite(x[i])) atomicMin(first, static_cast<unsigned long long>(i / per));
  }
}

template <class T>
__global__ void diff_bitwise_equal_kernel(const T* a, const T* b, index_t n,
                                          unsigned long long* differ) {
  using U = std::conditional_t<sizeof(T) == 8, unsigned long long, unsigned int>;
  static_assert(sizeof(U) == sizeof(T));
  const U* ua = reinterpret_cast<const U*>(a);
  const U* ub = reinterpret_cast<const U*>(b);
  EBM_GRID_STRIDE_LOOP(i, n) {
    if (ua[i] != ub[i]) *differ = 1ull;  // every writer stores the same value
  }
}

/// Reads the status word back (waits for the stream).
inline unsigned long long diff_read_status(const cuda& dev,
                                           const diffusion_kernels<cuda>::status_buffer& s) {
  unsigned long long h = 0;
  EBM_CUDA_CHECK(cudaMemcpyAsync(&h, s.data(), sizeof h, cudaMemcpyDeviceToHost, dev.stream()));
  EBM_CUDA_CHECK(cudaStreamSynchronize(dev.stream()));
  return h;
}

/// The status word on dev's stream, set to all ones (0xff bytes) or zero.
inline void diff_reset_status(const cuda& dev, diffusion_kernels<cuda>::status_buffer& s, bool ones) {
  if (s.capacity() == 0) s = diffusion_kernels<cuda>::status_buffer(dev);
  s.resize(shape{1});
  EBM_CUDA_CHECK(cudaMemsetAsync(s.data(), ones ? 0xff : 0, sizeof(unsigned long long), dev.stream()));
}

}  // namespace detail

template <class T>
void diffusion_kernels<cuda>::noise(const cuda& dev, const T* x0, const T* eps, const T* c0,
                                    const T* sigma, T* xt, index_t n, index_t per) {
  const index_t total = n * per;
  if (total <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::diff_noise_kernel<<<detail::cuda_blocks(total), detail::cuda_threads, 0, dev.stream()>>>(
      x0, eps, c0, sigma, xt, total, per);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void diffusion_kernels<cuda>::fisher_residual(const cuda& dev, const T* g, const T* eps, const T* a,
                                              const T* b, const T* scale, T* v, double* sq,
                                              index_t n, index_t per) {
  if (n <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  const unsigned blocks = static_cast<unsigned>(n < detail::cuda_max_blocks ? n : detail::cuda_max_blocks);
  detail::diff_fisher_residual_kernel<<<blocks, detail::diff_reduce_threads, 0, dev.stream()>>>(
      g, eps, a, b, scale, v, sq, n, per);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void diffusion_kernels<cuda>::cross_entropy(const cuda& dev, const T* z, const int* labels, index_t n,
                                            index_t k, double on, double off, const double* pre,
                                            double pre_all, double div, T* gz, double* out) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::diff_cross_entropy_kernel<<<detail::cuda_blocks(n, 64), 64, 0, dev.stream()>>>(
      z, labels, n, k, on, off, pre, pre_all, div, gz, out);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void diffusion_kernels<cuda>::log_prob_logit_grad(const cuda& dev, const T* z, const int* labels,
                                                  index_t n, index_t k, T* gz) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::diff_log_prob_logit_grad_kernel<<<detail::cuda_blocks(n, 64), 64, 0, dev.stream()>>>(
      z, labels, n, k, gz);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void diffusion_kernels<cuda>::reverse_step(const cuda& dev, T* x, const T* s, const T* z, index_t n,
                                           const step_coefficients<T>& c) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::diff_reverse_step_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
      x, s, z, n, c);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void diffusion_kernels<cuda>::blend_known(const cuda& dev, T* x, const T* known, const T* mask,
                                          index_t n, index_t period, T a, T b) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::diff_blend_known_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
      x, known, mask, n, period, a, b);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void diffusion_kernels<cuda>::replace_known(const cuda& dev, T* x, const T* known, const T* mask,
                                            const int* rank, index_t n, index_t period,
                                            index_t known_per_period, T a, T b, const T* z) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::diff_replace_known_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0,
                                      dev.stream()>>>(x, known, mask, rank, n, period,
                                                      known_per_period, a, b, z);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
index_t diffusion_kernels<cuda>::first_nonfinite_chain(const cuda& dev, const T* x, index_t chains,
                                                       index_t per, status_buffer& status) {
  const index_t total = chains * per;
  if (total <= 0) return -1;
  detail::cuda_device_guard g(dev.device());
  detail::diff_reset_status(dev, status, true);
  detail::diff_first_nonfinite_kernel<<<detail::cuda_blocks(total), detail::cuda_threads, 0,
                                        dev.stream()>>>(x, total, per, status.data());
  EBM_CUDA_CHECK_LAUNCH();
  const unsigned long long first = detail::diff_read_status(dev, status);
  return first == ~0ull ? index_t(-1) : static_cast<index_t>(first);
}

template <class T>
bool diffusion_kernels<cuda>::bitwise_equal(const cuda& dev, const T* a, const T* b, index_t n,
                                            status_buffer& status) {
  if (n <= 0) return true;
  detail::cuda_device_guard g(dev.device());
  detail::diff_reset_status(dev, status, false);
  detail::diff_bitwise_equal_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
      a, b, n, status.data());
  EBM_CUDA_CHECK_LAUNCH();
  return detail::diff_read_status(dev, status) == 0;
}

}  // namespace ebm
