#pragma once
// Parameter initialisation.  Every layer initialises itself on construction
// from a process-wide generator (like PyTorch's global seed: deterministic in
// program order); nn::initialize(block, seed) re-initialises a whole block
// tree reproducibly from one seed.
#include <cmath>
#include <cstdint>

#include "../core/philox.hpp"
#include "../core/tensor.hpp"

namespace ebm::nn {

namespace detail {
inline philox& default_init_rng() {
  static thread_local philox rng(0x5eedULL, 0x1a7e5ULL);
  return rng;
}
}  // namespace detail

/// Uniform(-bound, bound) fill (PyTorch's default for conv and linear layers:
/// bound = 1/sqrt(fan_in) for weights and biases).
template <class T>
void uniform_init(tensor<T>& t, T bound, philox& rng) {
  rng.fill_uniform<T>(t.span(), -bound, bound);
}

/// Re-initialises every parameter of a block tree from `rng`.
template <class L>
void initialize(L& block, philox& rng) {
  if constexpr (requires { block.init(rng); }) block.init(rng);
}
template <class L>
void initialize(L& block, std::uint64_t seed) {
  philox rng(seed, 0x1a7e5ULL);
  initialize(block, rng);
}

}  // namespace ebm::nn
