#pragma once
// Philox fills of device memory with the counter mapping of core/philox.hpp,
// so a generator state gives the same numbers on the CPU and the GPU:
//
//   ebm::philox rng(seed);
//   ebm::fill_uniform(x, rng, -1.0f, 1.0f);   // x: tensor<float, cuda>
//   ebm::fill_normal(z, rng);                 // N(0, 1)
//
// Like philox::fill_uniform / fill_normal on a span of the same length, each
// call consumes ceil(n / 4) blocks (float) or ceil(n / 2) blocks (double) and
// advances `rng` on the host by as much.  Uniform fills are bit-identical to
// the host's; normal fills agree to within rounding of log/sin/cos (the
// device evaluates them in double and rounds, the host uses libm).
//
// Declarations only: the kernels are in random.cuh.  uniform_init for device
// tensors (the hook nn layers call when built on ebm::cuda) draws on the host
// and copies, so device and host layers initialised from one generator
// state hold identical parameters.
#include <cstdint>
#include <span>

#include "../../core/philox.hpp"
#include "tensor.hpp"

namespace ebm {

/// out[i] uniform in [lo, hi), i < n; advances rng by the blocks consumed.
template <class T>
void fill_uniform(const cuda& dev, philox& rng, T* out, index_t n, T lo, T hi);
/// out[i] = mean + stddev * N(0, 1), i < n; advances rng by the blocks consumed.
template <class T>
void fill_normal(const cuda& dev, philox& rng, T* out, index_t n, T mean = T(0), T stddev = T(1));

/// Uniform in [lo, hi) over the whole tensor, on its stream.
template <class T>
void fill_uniform(tensor<T, cuda>& t, philox& rng, T lo, T hi) {
  fill_uniform<T>(t.device(), rng, t.data(), t.size(), lo, hi);
}
/// mean + stddev * N(0, 1) over the whole tensor, on its stream.
template <class T>
void fill_normal(tensor<T, cuda>& t, philox& rng, T mean = T(0), T stddev = T(1)) {
  fill_normal<T>(t.device(), rng, t.data(), t.size(), mean, stddev);
}

/// Uniform(-bound, bound) parameter initialisation of a device tensor: the
/// overload that ebm::nn::uniform_init calls in layers built on ebm::cuda
/// (found by argument-dependent lookup).  Draws with philox::fill_uniform on
/// the host and copies, so the values equal those of a host layer.
template <class T>
void uniform_init(tensor<T, cuda>& t, T bound, philox& rng) {
  tensor<T, cpu> h;
  h.resize(t.shape());
  rng.fill_uniform<T>(h.span(), -bound, bound);
  copy(h, t);
}

}  // namespace ebm
