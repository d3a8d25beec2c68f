#pragma once
// Metropolis-adjusted Langevin algorithm (Roberts and Tweedie 1996): the
// Langevin step with eta = s as a proposal,
//
//   x' = x - (s/2) grad E(x) + sqrt(s) eps,
//   q(x' | x) ∝ exp(-|x' - x + (s/2) grad E(x)|^2 / (2 s)),
//
// accepted per chain with probability
//   min(1, exp(E(x) - E(x') + log q(x | x') - log q(x' | x))),
// so exp(-E) is exactly invariant whatever the step size (which only sets
// the acceptance rate, ~0.574 being optimal in high dimension).
//
//   ebm::mala<double> sampler(0.3);
//   ebm::chain_stats st = sampler.run(energy, x, 1000, rng);   // x: [N, ...] chains
//   st.acceptance_rate();  st.acceptance_rate(chain);
//
// One energy_and_grad per step (the current point's energy and gradient are
// kept between steps; each run() starts with one extra evaluation).  A mask
// (x's shape or one sample's) restricts proposals to the non-zero entries;
// the acceptance ratio is then that of the restricted chain, which targets
// the conditional law of the masked entries given the others.
//
// Divergence: a proposal with a non-finite position or energy +Inf (or a NaN
// energy at a position beyond sqrt(max T), where energies overflow) has zero
// density and is rejected (counted in chain_stats::divergent); any other NaN
// energy, a non-finite gradient at a finite proposal, or a non-finite start,
// is a broken energy and throws ebm::error naming the chain and the step.
// Randomness per step: x.size() normals, then N uniforms, from the philox.
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "../core/philox.hpp"
#include "chain_stats.hpp"
#include "detail/chain.hpp"
#include "detail/metropolis.hpp"

namespace ebm {

template <class T>
class mala {
  static_assert(std::is_floating_point_v<T>, "mala: T must be a floating-point type");

 public:
  using value_type = T;
  using tensor_type = tensor<T, cpu>;

  explicit mala(T step) { set_step(step); }
  T step_size() const { return step_; }
  void set_step(T step) {
    EBM_REQUIRE(step > T(0), "mala: the step size must be positive, got ", step);
    step_ = step;
  }

  /// Runs `steps` iterations on the chains x ([N, ...]) in place; on_step(t, x)
  /// is called after each iteration's accept/reject.
  template <class E, class Observer = no_observer>
  chain_stats run(E& energy, tensor_type& x, int steps, philox& rng, tensor_view<const T> mask = {},
                  Observer&& on_step = {}) {
    detail::check_energy_for_sampler<E, T>();
    EBM_REQUIRE(steps >= 0, "mala::run: negative number of steps ", steps);
    EBM_REQUIRE(x.rank() >= 1 && x.extent(0) > 0, "mala: x must be a non-empty batch [N, ...], got ", x.shape());
    const detail::update_mask<T> m(mask, x.shape(), "mala");
    const index_t n = x.extent(0), per = x.shape().sample_size();
    chain_stats st;
    st.accepted.assign(static_cast<std::size_t>(n), 0);

    detail::mh_state<T> cur;
    cur.evaluate(energy, x, "mala", 0, steps);
    ++st.grad_evals;
    xp_.resize(x.shape());
    z_.resize(x.shape());
    u_.resize(static_cast<std::size_t>(n));
    const T half = step_ / T(2), sd = std::sqrt(step_);
    const double inv_2s = 1.0 / (2.0 * double(step_));

    for (int t = 0; t < steps; ++t) {
      rng.fill_normal(z_.span());
      for (index_t i = 0; i < x.size(); ++i)
        xp_[i] = m.active(i) ? x[i] - half * cur.g[i] + sd * z_[i] : x[i];
      const auto& ep = energy.energy_and_grad(xp_, gp_);
      ++st.grad_evals;
      rng.fill_uniform(std::span<double>(u_), 0.0, 1.0);
      for (index_t c = 0; c < n; ++c) {
        const index_t b = c * per;
        if (detail::proposal_overflowed(xp_.data() + b, per, ep[c])) {
          ++st.divergent;
          continue;
        }
        detail::require_finite_proposal("mala", ep[c], gp_.data() + b, per, c, t, steps);
        // log q(x' | x) = -|sqrt(s) z|^2 / (2s) = -|z|^2 / 2 on the active entries.
        double fwd = 0, bwd = 0;
        for (index_t j = b; j < b + per; ++j) {
          if (!m.active(j)) continue;
          fwd += 0.5 * double(z_[j]) * double(z_[j]);
          const double r = double(x[j]) - double(xp_[j]) + double(half) * double(gp_[j]);
          bwd += r * r * inv_2s;
        }
        const double log_alpha = double(cur.e[c]) - double(ep[c]) - bwd + fwd;
        if (std::log(u_[static_cast<std::size_t>(c)]) < log_alpha) {
          ++st.accepted[static_cast<std::size_t>(c)];
          std::copy_n(xp_.data() + b, per, x.data() + b);
          std::copy_n(gp_.data() + b, per, cur.g.data() + b);
          cur.e[c] = ep[c];
        }
      }
      on_step(t, std::as_const(x));
    }
    st.steps = steps;
    return st;
  }

 private:
  T step_;
  tensor_type xp_, z_, gp_;
  std::vector<double> u_;
};

}  // namespace ebm
