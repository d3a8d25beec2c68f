#pragma once
// Kernels of training_kernels<cuda> (declared in training.hpp).
#include <algorithm>
#include <type_traits>

#include "launch.cuh"
#include "random.cuh"
#include "tensor.cuh"
#include "training.hpp"

namespace ebm {

namespace detail {

// Explicitly rounded arithmetic: nvcc may not fuse these into FMAs, so each
// operation rounds as the host's (non-contracted) loop does.
__device__ EBM_INLINE float train_add(float a, float b) { return __fadd_rn(a, b); }
__device__ EBM_INLINE double train_add(double a, double b) { return __dadd_rn(a, b); }
__device__ EBM_INLINE float train_sub(float a, float b) { return __fsub_rn(a, b); }
__device__ EBM_INLINE double train_sub(double a, double b) { return __dsub_rn(a, b); }
__device__ EBM_INLINE float train_mul(float a, float b) { return __fmul_rn(a, b); }
__device__ EBM_INLINE double train_mul(double a, double b) { return __dmul_rn(a, b); }
__device__ EBM_INLINE float train_div(float a, float b) { return __fdiv_rn(a, b); }
__device__ EBM_INLINE double train_div(double a, double b) { return __ddiv_rn(a, b); }
__device__ EBM_INLINE float train_sqrt(float a) { return __fsqrt_rn(a); }
__device__ EBM_INLINE double train_sqrt(double a) { return __dsqrt_rn(a); }

/// Threads per block of the reduction kernels (a power of two).
inline constexpr int train_reduce_threads = 256;

/// The sum of v over the block's threads in a fixed tree order; the result
/// is valid in thread 0.  Every thread of the block must call it.
__device__ EBM_INLINE double train_block_sum(double v) {
  __shared__ double part[train_reduce_threads];
  part[threadIdx.x] = v;
  __syncthreads();
  for (int w = train_reduce_threads / 2; w > 0; w /= 2) {
    if (static_cast<int>(threadIdx.x) < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  return part[0];
}

/// Status words of a Langevin step: [0] clipped chains, [1] and [2] the
/// first chain with a non-finite energy / state, stored as ~c (so that the
/// zeroed word means "none" and atomicMax keeps the smallest chain index).
inline constexpr int train_status_words = 3;

/// Block c: the norm of chain c's (active) gradient entries and its step
/// factor half, or half max / norm when the norm exceeds max (as the host:
/// a NaN norm is not clipped).
template <class T>
__global__ void train_langevin_clip_kernel(const T* g, index_t per, const T* mask, index_t period, T half,
                                           T max_norm, T* scale, std::uint32_t* status) {
  const index_t c = blockIdx.x;
  const T* gc = g + c * per;
  double s = 0;
  for (index_t j = threadIdx.x; j < per; j += blockDim.x) {
    if (mask && mask[(c * per + j) % period] == T(0)) continue;
    const double v = static_cast<double>(gc[j]);
    s += v * v;
  }
  s = train_block_sum(s);
  if (threadIdx.x == 0) {
    const double norm = ::sqrt(s);
    T f = half;
    if (norm > static_cast<double>(max_norm)) {
      f = static_cast<T>(static_cast<double>(half) * static_cast<double>(max_norm) / norm);
      atomicAdd(status, 1u);
    }
    scale[c] = f;
  }
}

/// One thread per Philox block of the noise (lanes entries of x), and for
/// the first `chains` indices one energy each:
///   x_i <- clamp(x_i - f_c g_i + sd z_i) where the mask allows,
/// then any NaN or Inf in the new x_i or in e_c is reported.
template <class T>
__global__ void train_langevin_update_kernel(T* x, const T* g, const T* e, index_t chains, index_t per, T half,
                                             const T* scale, T sd, bool clamp, T lo, T hi, const T* mask,
                                             index_t period, std::uint64_t seed, std::uint64_t stream,
                                             std::uint64_t base, std::uint32_t* status) {
  constexpr int lanes = philox_lanes<T>;
  const index_t n = chains * per;
  const index_t blocks = (n + lanes - 1) / lanes;
  const index_t work = blocks > chains ? blocks : chains;
  EBM_GRID_STRIDE_LOOP(b, work) {
    if (b < blocks) {
      const philox_block r = philox4x32_10(seed, base + static_cast<std::uint64_t>(b), stream);
      for (int l = 0; l < lanes; ++l) {
        const index_t i = b * lanes + l;
        if (i >= n) break;
        T v = x[i];
        if (!mask || mask[i % period] != T(0)) {
          const T f = scale ? scale[i / per] : half;
          const T z = philox_normal_lane(r, l, T(0));
          v = train_add(train_sub(v, train_mul(f, g[i])), train_mul(sd, z));
          if (clamp) v = v < lo ? lo : (hi < v ? hi : v);  // std::clamp(v, lo, hi)
          x[i] = v;
        }
        if (!::isfinite(v)) atomicMax(status + 2, ~static_cast<std::uint32_t>(i / per));
      }
    }
    if (b < chains && !::isfinite(e[b])) atomicMax(status + 1, ~static_cast<std::uint32_t>(b));
  }
}

template <class T>
__global__ void train_mix_kernel(T* x, const T* y, index_t n, T a, T b) {
  EBM_GRID_STRIDE_LOOP(i, n) x[i] = train_add(train_mul(a, x[i]), train_mul(b, y[i]));
}

template <class T>
__global__ void train_energy_weights_kernel(const T* y, T* gy, index_t n, T scale, T sign, T two_alpha) {
  EBM_GRID_STRIDE_LOOP(i, n) gy[i] = train_mul(scale, train_add(sign, train_mul(two_alpha, y[i])));
}

template <class T>
__global__ void train_adam_kernel(T* w, const T* g, T* m, T* v, index_t n, optim::detail::adam_coefficients<T> c) {
  const T one_b1 = train_sub(T(1), c.b1), one_b2 = train_sub(T(1), c.b2);
  EBM_GRID_STRIDE_LOOP(i, n) {
    const T wi = w[i];
    const T gi = train_add(g[i], train_mul(c.l2, wi));
    const T mi = train_add(train_mul(c.b1, m[i]), train_mul(one_b1, gi));
    const T vi = train_add(train_mul(c.b2, v[i]), train_mul(train_mul(one_b2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    const T denom = train_add(train_mul(train_sqrt(vi), c.inv_sqrt_c2), c.eps);
    w[i] = train_sub(train_mul(c.shrink, wi), train_div(train_mul(c.step_size, mi), denom));
  }
}

template <class T>
__global__ void train_sgd_kernel(T* w, const T* g, T* b, index_t n, optim::detail::sgd_coefficients<T> c) {
  EBM_GRID_STRIDE_LOOP(i, n) {
    const T wi = w[i];
    const T gi = train_add(g[i], train_mul(c.l2, wi));
    if (!b) {
      w[i] = train_sub(wi, train_mul(c.lr, gi));
      continue;
    }
    const T bi = c.first ? gi : train_add(train_mul(c.mu, b[i]), gi);
    b[i] = bi;
    w[i] = train_sub(wi, train_mul(c.lr, c.nesterov ? train_add(gi, train_mul(c.mu, bi)) : bi));
  }
}

template <class T>
__global__ void train_ema_kernel(T* a, const T* w, index_t n, T d, T c) {
  EBM_GRID_STRIDE_LOOP(i, n) a[i] = train_add(train_mul(d, a[i]), train_mul(c, w[i]));
}

template <class T>
__global__ void train_swap_kernel(T* a, T* b, index_t n) {
  EBM_GRID_STRIDE_LOOP(i, n) {
    const T t = a[i];
    a[i] = b[i];
    b[i] = t;
  }
}

template <class T>
__global__ void train_scale_kernel(T* x, index_t n, T s) {
  EBM_GRID_STRIDE_LOOP(i, n) x[i] = train_mul(x[i], s);
}

/// partial[block] = the sum of g_i^2 over the block's grid-stride share.
template <class T>
__global__ void train_sum_squares_kernel(const T* g, index_t n, double* partial) {
  double s = 0;
  EBM_GRID_STRIDE_LOOP(i, n) {
    const double v = static_cast<double>(g[i]);
    s += v * v;
  }
  s = train_block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

/// *out = the sum of partial[0..n) (one block, fixed order).
template <class U>
__global__ void train_sum_partials_kernel(const U* partial, index_t n, U* out) {
  U s = 0;
  for (index_t i = threadIdx.x; i < n; i += blockDim.x) s += partial[i];
  s = train_block_sum(s);
  if (threadIdx.x == 0) *out = s;
}

template <class T>
constexpr void check_training_scalar() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "training_kernels<cuda>: float or double");
}

}  // namespace detail

template <class T>
detail::langevin_update_result training_kernels<cuda>::langevin_update(langevin_workspace<T>& ws, const cuda& dev,
                                                                       const detail::langevin_update_args<T>& a) {
  detail::check_training_scalar<T>();
  EBM_REQUIRE(a.chains > 0 && a.per > 0, "langevin (device): empty batch of ", a.chains, " chains of ", a.per,
              " entries");
  EBM_REQUIRE(a.chains <= 0x7fffffff, "langevin (device): too many chains (", a.chains, ")");
  detail::cuda_device_guard guard(dev.device());
  // Status and scales on dev's stream (see langevin_workspace::gradient):
  // zero() and the read-back below use the buffer's own stream.
  if (ws.status.capacity() == 0 || ws.status.device() != dev) ws.status = tensor<std::uint32_t, cuda>(dev);
  ws.status.resize(shape{detail::train_status_words}).zero();
  const T* scale = nullptr;
  if (a.max_grad_norm > T(0)) {
    if (ws.scale.capacity() == 0 || ws.scale.device() != dev) ws.scale = tensor<T, cuda>(dev);
    ws.scale.resize(shape{a.chains});
    detail::train_langevin_clip_kernel<<<static_cast<unsigned>(a.chains), detail::train_reduce_threads, 0,
                                         dev.stream()>>>(a.g, a.per, a.mask, a.mask_period, a.half,
                                                         a.max_grad_norm, ws.scale.data(), ws.status.data());
    EBM_CUDA_CHECK_LAUNCH();
    scale = ws.scale.data();
  }
  constexpr int lanes = detail::philox_lanes<T>;
  const index_t blocks = (a.chains * a.per + lanes - 1) / lanes;
  detail::train_langevin_update_kernel<<<detail::cuda_blocks(std::max(blocks, a.chains)), detail::cuda_threads, 0,
                                         dev.stream()>>>(a.x, a.g, a.energies, a.chains, a.per, a.half, scale, a.sd,
                                                         a.clamp, a.lo, a.hi, a.mask, a.mask_period, a.seed,
                                                         a.stream, a.offset, ws.status.data());
  EBM_CUDA_CHECK_LAUNCH();
  copy(ws.status, ws.status_host);  // one small copy; waits for the step
  detail::langevin_update_result r;
  r.clipped = static_cast<index_t>(ws.status_host[0]);
  if (ws.status_host[1] != 0) {
    r.bad_energy_chain = static_cast<index_t>(~ws.status_host[1]);
    T v{};
    EBM_CUDA_CHECK(cudaMemcpyAsync(&v, a.energies + r.bad_energy_chain, sizeof(T), cudaMemcpyDeviceToHost,
                                   dev.stream()));
    EBM_CUDA_CHECK(cudaStreamSynchronize(dev.stream()));
    r.bad_energy = static_cast<double>(v);
  }
  if (ws.status_host[2] != 0) r.bad_state_chain = static_cast<index_t>(~ws.status_host[2]);
  return r;
}

template <class T>
void training_kernels<cuda>::mix(const cuda& dev, T* x, const T* y, index_t n, T a, T b) {
  detail::check_training_scalar<T>();
  if (n <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::train_mix_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(x, y, n, a, b);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void training_kernels<cuda>::energy_weights(const cuda& dev, const T* y, T* gy, index_t n, T scale, T sign,
                                            T alpha) {
  detail::check_training_scalar<T>();
  if (n <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::train_energy_weights_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
      y, gy, n, scale, sign, T(2) * alpha);  // T(2) alpha is exact, as on the host
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void training_kernels<cuda>::adam(const cuda& dev, T* w, const T* g, T* m, T* v, index_t n,
                                  const optim::detail::adam_coefficients<T>& c) {
  detail::check_training_scalar<T>();
  if (n <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::train_adam_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(w, g, m, v, n, c);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void training_kernels<cuda>::sgd(const cuda& dev, T* w, const T* g, T* b, index_t n,
                                 const optim::detail::sgd_coefficients<T>& c) {
  detail::check_training_scalar<T>();
  if (n <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::train_sgd_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(w, g, b, n, c);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void training_kernels<cuda>::ema(const cuda& dev, T* avg, const T* w, index_t n, T d, T c) {
  detail::check_training_scalar<T>();
  if (n <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::train_ema_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(avg, w, n, d, c);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void training_kernels<cuda>::swap(const cuda& dev, T* a, T* b, index_t n) {
  if (n <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::train_swap_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(a, b, n);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void training_kernels<cuda>::scale(const cuda& dev, T* x, index_t n, T s) {
  detail::check_training_scalar<T>();
  if (n <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::train_scale_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(x, n, s);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
double training_kernels<cuda>::grad_sq_norm(const std::vector<param_ref<T, cuda>>& params) {
  detail::check_training_scalar<T>();
  // Blocks per tensor: a function of its size alone, so the summation order
  // (and the result) is the same on every run.
  constexpr index_t max_blocks = 256;
  std::vector<index_t> blocks;
  index_t total = 0;
  for (const auto& p : params) {
    const index_t n = p.grad->size();
    const index_t b = n > 0 ? std::min<index_t>(detail::cuda_blocks(n, detail::train_reduce_threads), max_blocks) : 0;
    blocks.push_back(b);
    total += b;
  }
  if (total == 0) return 0;
  const cuda dev = params.front().grad->device();
  detail::cuda_device_guard guard(dev.device());
  tensor<double, cuda> partial(dev);
  partial.resize(shape{total + 1});  // the last element receives the sum
  index_t off = 0;
  for (std::size_t k = 0; k < params.size(); ++k) {
    if (blocks[k] == 0) continue;
    detail::train_sum_squares_kernel<<<static_cast<unsigned>(blocks[k]), detail::train_reduce_threads, 0,
                                       dev.stream()>>>(params[k].grad->data(), params[k].grad->size(),
                                                       partial.data() + off);
    EBM_CUDA_CHECK_LAUNCH();
    off += blocks[k];
  }
  detail::train_sum_partials_kernel<double><<<1, detail::train_reduce_threads, 0, dev.stream()>>>(
      partial.data(), total, partial.data() + total);
  EBM_CUDA_CHECK_LAUNCH();
  double sq = 0;
  EBM_CUDA_CHECK(cudaMemcpyAsync(&sq, partial.data() + total, sizeof(double), cudaMemcpyDeviceToHost, dev.stream()));
  EBM_CUDA_CHECK(cudaStreamSynchronize(dev.stream()));
  return sq;
}

}  // namespace ebm
