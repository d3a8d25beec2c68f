#pragma once
// Kernels of the device Langevin samplers (declared in langevin.hpp).
#include <algorithm>

#include "langevin.hpp"
#include "launch.cuh"
#include "random.cuh"
#include "tensor.cuh"

namespace ebm {

namespace detail {

/// All steps of every chain for a Gaussian energy: block b runs chain b.
/// Shared memory holds the chain's state x and the residual r = x - mu.
/// coef[2t], coef[2t+1] = s_t / 2, sqrt(eta_t).  grad_j = sum_k P[k, j] r_k
/// (P symmetric; this order reads P coalesced across threads).
template <class T>
__global__ void gaussian_langevin_kernel(T* x, const T* mu, const T* P, const T* coef, index_t D,
                                         int steps, std::uint64_t seed, std::uint64_t stream,
                                         std::uint64_t base, std::uint64_t blocks_per_step) {
  extern __shared__ __align__(16) unsigned char ebm_langevin_smem[];
  T* xs = reinterpret_cast<T*>(ebm_langevin_smem);
  T* rs = xs + D;
  const index_t chain = blockIdx.x;
  T* xc = x + chain * D;
  for (index_t j = threadIdx.x; j < D; j += blockDim.x) xs[j] = xc[j];
  __syncthreads();
  for (int t = 0; t < steps; ++t) {
    const T half = coef[2 * t], sd = coef[2 * t + 1];
    for (index_t j = threadIdx.x; j < D; j += blockDim.x) rs[j] = xs[j] - mu[j];
    __syncthreads();
    const std::uint64_t step_base = base + static_cast<std::uint64_t>(t) * blocks_per_step;
    for (index_t j = threadIdx.x; j < D; j += blockDim.x) {
      T g(0);
      for (index_t k = 0; k < D; ++k) g += P[k * D + j] * rs[k];
      const T z = philox_normal_at<T>(seed, stream, step_base, chain * D + j);
      xs[j] = xs[j] - half * g + sd * z;  // only thread j touches xs[j]
    }
    __syncthreads();  // rs is rewritten by the next step
  }
  for (index_t j = threadIdx.x; j < D; j += blockDim.x) xc[j] = xs[j];
}

/// x <- x - half g + sd eps, eps drawn at block offset *counter + step_offset.
template <class T>
__global__ void langevin_update_kernel(T* x, const T* g, index_t n, T half, T sd,
                                       std::uint64_t seed, std::uint64_t stream,
                                       const std::uint64_t* counter, std::uint64_t step_offset) {
  const std::uint64_t base = *counter + step_offset;
  EBM_GRID_STRIDE_LOOP(i, n) {
    const T z = philox_normal_at<T>(seed, stream, base, i);
    x[i] = x[i] - half * g[i] + sd * z;
  }
}

template <class U>
__global__ void counter_add_kernel(U* counter, U v) {
  *counter += v;
}

}  // namespace detail

template <class T, class StepPolicy, class NoisePolicy>
void gaussian_langevin(tensor<T, cuda>& x, const tensor<T, cuda>& mean,
                       const tensor<T, cuda>& precision, int steps, const StepPolicy& step,
                       const NoisePolicy& noise, philox& rng) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "gaussian_langevin: float or double");
  EBM_REQUIRE(x.rank() >= 1 && x.extent(0) > 0, "gaussian_langevin: x must be a non-empty batch [N, D], got ",
              x.shape());
  const index_t N = x.extent(0), D = x.shape().sample_size();
  EBM_REQUIRE(D > 0 && mean.size() == D && precision.size() == D * D,
              "gaussian_langevin: x has ", D, " features per sample but the mean is ", mean.shape(),
              " and the precision ", precision.shape(), " (expected [", D, "] and [", D, ", ", D, "])");
  const std::size_t smem = 2 * static_cast<std::size_t>(D) * sizeof(T);
  EBM_REQUIRE(smem <= 48 * 1024, "gaussian_langevin: ", D,
              " dimensions exceed the 48 KiB of shared memory per chain (2 D sizeof(T))");
  EBM_REQUIRE(N <= 0x7fffffff, "gaussian_langevin: too many chains (", N, ")");
  const std::vector<T> c = detail::langevin_coefficients<T>(steps, step, noise, "gaussian_langevin");
  const std::uint64_t per_step = detail::noise_blocks<T>(x.size());
  if (steps > 0) {
    const cuda dev = x.device();
    tensor<T, cpu> hc;
    hc.resize(shape{2 * static_cast<index_t>(steps)});
    std::copy(c.begin(), c.end(), hc.begin());
    tensor<T, cuda> coef(dev);
    copy(hc, coef);  // freed (stream-ordered) after the kernel
    const index_t warps = (D + 31) / 32;
    const int threads = static_cast<int>(warps * 32 < 1024 ? warps * 32 : 1024);
    detail::cuda_device_guard g(dev.device());
    detail::gaussian_langevin_kernel<<<static_cast<unsigned>(N), threads, smem, dev.stream()>>>(
        x.data(), mean.data(), precision.data(), coef.data(), D, steps, rng.seed(), rng.stream(),
        rng.offset(), per_step);
    EBM_CUDA_CHECK_LAUNCH();
  }
  rng.advance(per_step * static_cast<std::uint64_t>(steps));
}

template <class Net, class StepPolicy, class NoisePolicy>
auto cuda_langevin_chain<Net, StepPolicy, NoisePolicy>::gradient(const tensor_type& x)
    -> const tensor_type& {
  const tensor_type& e = net_->forward(x);
  EBM_REQUIRE(e.rank() >= 1 && e.extent(0) == x.extent(0) && e.size() == x.extent(0),
              "cuda_langevin_chain: the network must output one energy per sample ([N, 1]); for input ",
              x.shape(), " it returned ", e.shape());
  if (!(ones_.shape() == e.shape())) ones_.resize(e.shape()).fill(T(1));
  const tensor_type& g = net_->backward(ones_, grad::input);
  require_same_shape(x.shape(), g.shape(), "cuda_langevin_chain (gradient)");
  return g;
}

template <class Net, class StepPolicy, class NoisePolicy>
void cuda_langevin_chain<Net, StepPolicy, NoisePolicy>::prepare(tensor_type& x) {
  gradient(x);
  // Load the update kernels now (CUDA loads kernels lazily, at their first
  // use), so that capture only records launches.
  detail::cuda_device_guard guard(dev_.device());
  cudaFuncAttributes attr{};
  EBM_CUDA_CHECK(cudaFuncGetAttributes(&attr, detail::langevin_update_kernel<T>));
  EBM_CUDA_CHECK(cudaFuncGetAttributes(&attr, detail::counter_add_kernel<std::uint64_t>));
}

template <class Net, class StepPolicy, class NoisePolicy>
void cuda_langevin_chain<Net, StepPolicy, NoisePolicy>::run(tensor_type& x) {
  EBM_REQUIRE(x.rank() >= 1 && x.extent(0) > 0,
              "cuda_langevin_chain: x must be a non-empty batch [N, ...], got ", x.shape());
  const index_t n = x.size();
  const std::uint64_t per_step = detail::noise_blocks<T>(n);
  for (int t = 0; t < steps_; ++t) {
    const tensor_type& g = gradient(x);
    detail::cuda_device_guard guard(dev_.device());
    detail::langevin_update_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0,
                                     dev_.stream()>>>(
        x.data(), g.data(), n, coef_[2 * static_cast<std::size_t>(t)],
        coef_[2 * static_cast<std::size_t>(t) + 1], seed_, stream_, counter_.data(),
        per_step * static_cast<std::uint64_t>(t));
    EBM_CUDA_CHECK_LAUNCH();
  }
  detail::cuda_device_guard guard(dev_.device());
  detail::counter_add_kernel<<<1, 1, 0, dev_.stream()>>>(counter_.data(),
                                                         per_step * static_cast<std::uint64_t>(steps_));
  EBM_CUDA_CHECK_LAUNCH();
}

}  // namespace ebm
