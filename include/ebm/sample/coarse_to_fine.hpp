#pragma once
// The coarse-to-fine chain initializer of CF-EBM (Algorithm 1, "smooth MCMC
// sampling"): at a stage change the new, finer model's chains do not start
// from pure noise but from the coarse model's samples,
//
//   x_coarse ~ U(-1, 1) at half the resolution, then T_coarse · (1 - beta)
//              Langevin steps on the coarse energy,
//   x        = (1 - beta) · Upsample(x_coarse) + beta · U(-1, 1),
//
// so that while the new blocks fade in (beta: 0 -> 1) the chains begin close
// to what the well-trained coarse model generates, and from beta = 1 on they
// start from noise exactly as in the single-stage short-run EBM.
#include <cmath>
#include <type_traits>

#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "../nn/upsample.hpp"
#include "chain_stats.hpp"

namespace ebm {

/// The number of coarse Langevin steps at fading factor beta: round(T (1 - beta)).
inline int coarse_steps(int coarse_langevin_steps, double beta) {
  return static_cast<int>(std::lround(coarse_langevin_steps * (1.0 - beta)));
}

/// Fills x [n, C, H, W] with coarse-to-fine start points.  `coarse_energy`
/// scores [n, C, H/2, W/2] images; `sampler` runs `coarse_langevin_steps ·
/// (1 - beta)` steps on it (sampler.run(energy, x, steps, rng)).  `scratch`
/// holds the coarse chains (reused between calls).  Returns the coarse
/// chains' statistics (zero steps when beta = 1).  x and scratch may live on
/// a device (tensor<T, cuda>, with an energy on that device): the uniform
/// fills draw the host's numbers, upsampling and mixing run as kernels.
template <class T, class D, class CoarseEnergy, class Sampler>
chain_stats coarse_to_fine_init(tensor<T, D>& x, const shape& fine_shape, CoarseEnergy& coarse_energy,
                                Sampler& sampler, int coarse_langevin_steps, T beta, philox& rng,
                                tensor<T, D>& scratch,
                                nn::upsample_mode mode = nn::upsample_mode::nearest) {
  EBM_REQUIRE(fine_shape.rank() == 4 && fine_shape[2] % 2 == 0 && fine_shape[3] % 2 == 0,
              "coarse_to_fine_init: expected a fine batch shape [N, C, H, W] with even H and W, got ",
              fine_shape);
  EBM_REQUIRE(beta >= T(0) && beta <= T(1), "coarse_to_fine_init: beta must lie in [0, 1], got ", beta);
  x.resize(fine_shape);
  chain_stats stats;
  if constexpr (std::is_same_v<D, cpu>) {
    if (beta >= T(1)) {
      rng.fill_uniform<T>(x.span(), T(-1), T(1));
      return stats;
    }
    scratch.resize(shape{fine_shape[0], fine_shape[1], fine_shape[2] / 2, fine_shape[3] / 2});
    rng.fill_uniform<T>(scratch.span(), T(-1), T(1));
    const int steps = coarse_steps(coarse_langevin_steps, double(beta));
    if (steps > 0) stats = sampler.run(coarse_energy, scratch, steps, rng);
    nn::upsample2x<T>(scratch.view(), x.view(), mode);
    tensor<T> noise(fine_shape);
    rng.fill_uniform<T>(noise.span(), T(-1), T(1));
    for (index_t i = 0; i < x.size(); ++i) x[i] = (T(1) - beta) * x[i] + beta * noise[i];
  } else {
    // The same draws in the same order; fill_uniform(tensor<T, D>&, ...) is
    // the device's fill (found by argument-dependent lookup).
    const D dev = x.device();
    if (beta >= T(1)) {
      fill_uniform(x, rng, T(-1), T(1));
      return stats;
    }
    scratch.resize(shape{fine_shape[0], fine_shape[1], fine_shape[2] / 2, fine_shape[3] / 2});
    fill_uniform(scratch, rng, T(-1), T(1));
    const int steps = coarse_steps(coarse_langevin_steps, double(beta));
    if (steps > 0) stats = sampler.run(coarse_energy, scratch, steps, rng);
    spatial_kernels<D>::template upsample2x<T>(dev, scratch.data(), x.data(), fine_shape[0] * fine_shape[1],
                                               fine_shape[2] / 2, fine_shape[3] / 2, mode);
    tensor<T, D> noise(dev);
    noise.resize(fine_shape);
    fill_uniform(noise, rng, T(-1), T(1));
    training_kernels<D>::template mix<T>(dev, x.data(), noise.data(), x.size(), T(1) - beta, beta);
  }
  return stats;
}

}  // namespace ebm
