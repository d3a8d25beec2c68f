#pragma once
// Kernels of conv_kernels<cuda> (declared in conv.hpp): the fused epilogue
// of the forward pass (bias, activation, f'), the diagonal scales of the
// tangent and backward passes, and the bias gradient.
#include "conv.hpp"
#include "elementwise.cuh"
#include "launch.cuh"

namespace ebm {

namespace detail {

/// v = in + b[channel]; y = f(v); z = v and d = f'(v) when non-null.  `in`
/// may alias y or z (each element is read before it is written).
template <class Act, class T>
__global__ void conv_bias_act_kernel(Act a, const T* in, const T* b, T* y, T* z, T* d, index_t n,
                                     index_t plane, index_t channels) {
  EBM_GRID_STRIDE_LOOP(i, n) {
    const T v = in[i] + (b ? b[(i / plane) % channels] : T(0));
    y[i] = a.f(v);
    if (z) z[i] = v;
    if (d) d[i] = a.df(v);
  }
}

/// gb[c] += sum over n and the plane of gz[n, c, :]: one block per channel,
/// each thread sums a fixed strided subset, then a fixed tree reduction in
/// shared memory (deterministic).
inline constexpr int conv_bias_threads = 256;
template <class T>
__global__ void conv_bias_grad_kernel(const T* gz, T* gb, index_t batch, index_t channels,
                                      index_t plane) {
  __shared__ T part[conv_bias_threads];
  const index_t c = blockIdx.x;
  const index_t total = batch * plane;
  T acc(0);
  for (index_t k = threadIdx.x; k < total; k += conv_bias_threads) {
    const index_t n = k / plane, p = k % plane;
    acc += gz[(n * channels + c) * plane + p];
  }
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int s = conv_bias_threads / 2; s > 0; s /= 2) {
    if (static_cast<int>(threadIdx.x) < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) gb[c] += part[0];
}

}  // namespace detail

template <class T, class Act>
void conv_kernels<cuda>::forward(const cuda& dev, const conv_geometry& g, const T* x, const T* w,
                                 const T* b, const Act& act, T* y, T* z, T* d, workspace<T>& ws) {
  if (g.batch == 0) return;
  T* out = z ? z : y;
  conv_forward(dev, g, x, w, out, ws);
  constexpr bool identity = std::is_same_v<Act, act::identity>;
  if (identity && !b && !z && !d) return;  // y already holds conv(x, W)
  const index_t n = g.batch * g.out_channels * g.out_plane();
  if (n == 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::conv_bias_act_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
      act, out, b, y, z, d, n, g.out_plane(), g.out_channels);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void conv_kernels<cuda>::forward_scaled(const cuda& dev, const conv_geometry& g, const T* x,
                                        const T* w, const T* scale, T* y, T* raw,
                                        workspace<T>& ws) {
  if (g.batch == 0) return;
  T* out = raw ? raw : y;
  conv_forward(dev, g, x, w, out, ws);
  const index_t n = g.batch * g.out_channels * g.out_plane();
  if (scale) {
    elementwise<cuda>::mul(dev, scale, out, y, n);
  } else if (raw) {
    detail::cuda_device_guard guard(dev.device());
    EBM_CUDA_CHECK(cudaMemcpyAsync(y, raw, sizeof(T) * static_cast<std::size_t>(n),
                                   cudaMemcpyDeviceToDevice, dev.stream()));
  }
}

template <class T>
void conv_kernels<cuda>::backward(const cuda& dev, const conv_geometry& g, const T* x, const T* w,
                                  const T* gy, const T* scale, T* gx, T* gw, T* gb,
                                  workspace<T>& ws) {
  if (g.batch == 0 || (!gx && !gw && !gb)) return;
  const index_t n = g.batch * g.out_channels * g.out_plane();
  const T* gz = gy;
  if (scale) {
    T* buf = ws.buffer(dev, n);
    elementwise<cuda>::mul(dev, scale, gy, buf, n);
    gz = buf;
  }
  if (gb && g.out_channels > 0) {
    EBM_REQUIRE(g.out_channels <= 0x7fffffff, "conv_kernels<cuda>::backward: too many channels");
    detail::cuda_device_guard guard(dev.device());
    detail::conv_bias_grad_kernel<<<static_cast<unsigned>(g.out_channels),
                                    detail::conv_bias_threads, 0, dev.stream()>>>(
        gz, gb, g.batch, g.out_channels, g.out_plane());
    EBM_CUDA_CHECK_LAUNCH();
  }
  if (gw) conv_backward_filter(dev, g, x, gz, gw, ws);
  if (gx) conv_backward_data(dev, g, w, gz, gx, ws);
}

}  // namespace ebm
