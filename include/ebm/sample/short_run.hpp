#pragma once
// short_run: a fixed number T of sampler steps from a fixed initial
// distribution (Nijkamp et al. 2019; CF-EBM §2): the chains are not meant to
// mix, the energy is trained so that T steps from the initializer land on
// data-like samples.
//
//   ebm::short_run sampler{ebm::init::uniform_noise<float>(ebm::shape{3, 32, 32}),
//                          ebm::cf_ebm_langevin<float>(), 60};
//   ebm::tensor<float> x;
//   sampler.sample(energy, x, 64, rng);   // 64 chains of 60 steps from U(-1, 1)
//
// Init is a chain initializer (sample/initializers.hpp or the replay buffer),
// Sampler anything with run(energy, x, steps, rng, mask) returning
// chain_stats (langevin, mala, hmc).  When the initializer has a mask()
// (inpainting) the sampler moves only the masked entries; when it has
// finish(x) (replay buffer) it receives the chains' end points.
#include <utility>

#include "chain_stats.hpp"
#include "initializers.hpp"
#include "langevin.hpp"

namespace ebm {

template <class T, class Init, class Sampler>
class short_run {
  static_assert(chain_initializer<Init, T>,
                "short_run: Init needs initialize(tensor<T>& x, index_t n, philox& rng) (sample/initializers.hpp)");

 public:
  using value_type = T;

  short_run(Init init, Sampler sampler, int steps)
      : init_(std::move(init)), sampler_(std::move(sampler)), steps_(steps) {
    EBM_REQUIRE(steps >= 0, "short_run: negative number of steps ", steps);
  }

  Init& initializer() { return init_; }
  Sampler& sampler() { return sampler_; }
  int steps() const { return steps_; }
  void set_steps(int steps) {
    EBM_REQUIRE(steps >= 0, "short_run: negative number of steps ", steps);
    steps_ = steps;
  }
  /// Statistics of the last sample() call.
  const chain_stats& stats() const { return stats_; }

  /// Initializes n chains into x and runs them for steps() steps.  x may be
  /// a device tensor when the initializer and the sampler accept one (the
  /// noise initializers and langevin do).
  template <class E, class D>
  void sample(E& energy, tensor<T, D>& x, index_t n, philox& rng) {
    init_.initialize(x, n, rng);
    if constexpr (requires { init_.mask(); })
      stats_ = sampler_.run(energy, x, steps_, rng, init_.mask());
    else
      stats_ = sampler_.run(energy, x, steps_, rng);
    if constexpr (requires { init_.finish(x); }) init_.finish(x);
  }
  template <class E>
  tensor<T> sample(E& energy, index_t n, philox& rng) {
    tensor<T> x;
    sample(energy, x, n, rng);
    return x;
  }

 private:
  Init init_;
  Sampler sampler_;
  int steps_;
  chain_stats stats_;
};

template <class Init, class Sampler>
short_run(Init, Sampler, int) -> short_run<typename Sampler::value_type, Init, Sampler>;

/// CF-EBM's short-run sampler: U(-1, 1) start, s = 1, eta_t decaying to 0.
template <class T>
auto cf_ebm_short_run(shape sample_shape, int steps, T step = T(1), T noise0 = T(2e-2)) {
  return short_run(init::uniform_noise<T>(sample_shape), cf_ebm_langevin<T>(step, noise0), steps);
}

}  // namespace ebm
