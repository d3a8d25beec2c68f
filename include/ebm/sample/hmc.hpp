#pragma once
// Hamiltonian Monte Carlo (Duane et al. 1987; Neal 2011) with a leapfrog
// integrator of L steps of size eps and a scalar or diagonal mass M:
//
//   p ~ N(0, M);  H(x, p) = E(x) + p^T M^-1 p / 2;
//   L times:  p -= (eps/2) grad E(x);  x += eps M^-1 p;  p -= (eps/2) grad E(x);
//   accept the end point per chain with probability min(1, exp(H_start - H_end)).
//
// Leapfrog is volume-preserving and reversible, so the acceptance step makes
// exp(-E) exactly invariant; eps and L only set the acceptance rate and how
// far each proposal travels.  A diagonal mass equal to the target's precision
// (1 / variance per coordinate) makes a badly scaled target look isotropic.
//
//   ebm::hmc<double> sampler(0.2, 10);                            // eps, L, mass 1
//   ebm::hmc<double> scaled(0.2, 10, std::vector<double>{...});   // diagonal mass
//   sampler.jitter(0.2);                  // optional: eps ~ U(0.8, 1.2) eps per iteration
//   ebm::chain_stats st = sampler.run(energy, x, 500, rng);
//
// Jitter: a fixed trajectory length eps L can resonate with the target (on a
// Gaussian, a length near a half period maps x - mu to about -(x - mu) and
// the chain barely mixes).  jitter(j) draws each iteration's step uniformly
// from [(1 - j) eps, (1 + j) eps], independently of the state, so the chain
// stays exact and no single length dominates (Neal 2011, "MCMC using
// Hamiltonian dynamics", on randomising the step size).
//
// L energy_and_grad calls per iteration (plus one per run()).  Masks,
// divergences (rejected, counted) and broken energies (thrown, naming the
// chain and iteration) are handled as in MALA (sample/mala.hpp): with a mask,
// momenta live on the masked entries only and the others are never written.
// Randomness per iteration: one uniform for the jittered step (only with
// jitter > 0), x.size() normals (momenta), then N uniforms.
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
class hmc {
  static_assert(std::is_floating_point_v<T>, "hmc: T must be a floating-point type");

 public:
  using value_type = T;
  using tensor_type = tensor<T, cpu>;

  /// Scalar mass m (M = m I).
  hmc(T step, int leapfrog_steps, T mass = T(1)) : hmc(step, leapfrog_steps, std::vector<T>{mass}) {}
  /// Diagonal mass, one entry per feature of a sample (a single entry = scalar mass).
  hmc(T step, int leapfrog_steps, std::vector<T> diagonal_mass) : mass_(std::move(diagonal_mass)) {
    set_step(step);
    EBM_REQUIRE(leapfrog_steps >= 1, "hmc: need at least one leapfrog step, got ", leapfrog_steps);
    L_ = leapfrog_steps;
    EBM_REQUIRE(!mass_.empty(), "hmc: the mass needs at least one entry");
    for (T v : mass_) EBM_REQUIRE(v > T(0), "hmc: masses must be positive, got ", v);
    for (T v : mass_) {
      inv_mass_.push_back(T(1) / v);
      sqrt_mass_.push_back(std::sqrt(v));
    }
  }

  T step_size() const { return step_; }
  void set_step(T step) {
    EBM_REQUIRE(step > T(0), "hmc: the step size must be positive, got ", step);
    step_ = step;
  }
  int leapfrog_steps() const { return L_; }
  /// Draws each iteration's step from [(1 - j) eps, (1 + j) eps]; 0 <= j < 1.
  hmc& jitter(T j) {
    EBM_REQUIRE(j >= T(0) && j < T(1), "hmc::jitter: need 0 <= j < 1, got ", j);
    jitter_ = j;
    return *this;
  }
  const std::vector<T>& mass() const { return mass_; }

  /// Runs `steps` iterations on the chains x ([N, ...]) in place; on_step(t, x)
  /// is called after each iteration's accept/reject.
  template <class E, class Observer = no_observer>
  chain_stats run(E& energy, tensor_type& x, int steps, philox& rng, tensor_view<const T> mask = {},
                  Observer&& on_step = {}) {
    detail::check_energy_for_sampler<E, T>();
    EBM_REQUIRE(steps >= 0, "hmc::run: negative number of iterations ", steps);
    EBM_REQUIRE(x.rank() >= 1 && x.extent(0) > 0, "hmc: x must be a non-empty batch [N, ...], got ", x.shape());
    const index_t n = x.extent(0), per = x.shape().sample_size();
    EBM_REQUIRE(mass_.size() == 1 || static_cast<index_t>(mass_.size()) == per, "hmc: the diagonal mass has ",
                mass_.size(), " entries but a sample has ", per, " features");
    const detail::update_mask<T> m(mask, x.shape(), "hmc");
    // Per-feature 1/m and sqrt(m) (a scalar mass broadcast to every feature).
    const auto feature = [&](const std::vector<T>& v) {
      return v.size() == 1 ? std::vector<T>(static_cast<std::size_t>(per), v[0]) : v;
    };
    const std::vector<T> inv_m = feature(inv_mass_), sqrt_m = feature(sqrt_mass_);
    chain_stats st;
    st.accepted.assign(static_cast<std::size_t>(n), 0);

    detail::mh_state<T> cur;
    cur.evaluate(energy, x, "hmc", 0, steps);
    ++st.grad_evals;
    p_.resize(x.shape());
    xq_.resize(x.shape());
    k0_.resize(static_cast<std::size_t>(n));
    u_.resize(static_cast<std::size_t>(n));
    for (int t = 0; t < steps; ++t) {
      const T eps = jitter_ > T(0) ? step_ * (T(1) + jitter_ * T(2 * rng.uniform() - 1)) : step_;
      const T h = eps / T(2);
      // Momenta p = sqrt(M) z on the active entries; K0 = p^T M^-1 p / 2 = |z|^2 / 2.
      rng.fill_normal(p_.span());
      std::fill(k0_.begin(), k0_.end(), 0.0);
      for (index_t c = 0; c < n; ++c)
        for (index_t j = 0, i = c * per; j < per; ++j, ++i) {
          if (!m.active(i)) {
            p_[i] = T(0);
            continue;
          }
          k0_[static_cast<std::size_t>(c)] += 0.5 * double(p_[i]) * double(p_[i]);
          p_[i] *= sqrt_m[static_cast<std::size_t>(j)];
        }
      std::copy_n(x.data(), x.size(), xq_.data());
      const tensor_type* g = &cur.g;
      const tensor_type* e = nullptr;
      for (int l = 0; l < L_; ++l) {
        for (index_t c = 0; c < n; ++c)
          for (index_t j = 0, i = c * per; j < per; ++j, ++i) {
            if (!m.active(i)) continue;
            p_[i] -= h * (*g)[i];
            xq_[i] += eps * inv_m[static_cast<std::size_t>(j)] * p_[i];
          }
        e = &energy.energy_and_grad(xq_, gq_);
        ++st.grad_evals;
        g = &gq_;
        for (index_t i = 0; i < x.size(); ++i)
          if (m.active(i)) p_[i] -= h * gq_[i];
      }
      rng.fill_uniform(std::span<double>(u_), 0.0, 1.0);
      for (index_t c = 0; c < n; ++c) {
        const index_t b = c * per;
        const T ec = (*e)[c];
        if (detail::proposal_overflowed(xq_.data() + b, per, ec)) {
          ++st.divergent;
          continue;
        }
        detail::require_finite_proposal("hmc", ec, gq_.data() + b, per, c, t, steps);
        double k1 = 0;
        for (index_t j = 0; j < per; ++j)
          if (m.active(b + j))
            k1 += 0.5 * double(p_[b + j]) * double(p_[b + j]) * double(inv_m[static_cast<std::size_t>(j)]);
        if (!std::isfinite(k1)) {
          ++st.divergent;
          continue;
        }
        const double log_alpha = (double(cur.e[c]) + k0_[static_cast<std::size_t>(c)]) - (double(ec) + k1);
        if (std::log(u_[static_cast<std::size_t>(c)]) < log_alpha) {
          ++st.accepted[static_cast<std::size_t>(c)];
          std::copy_n(xq_.data() + b, per, x.data() + b);
          std::copy_n(gq_.data() + b, per, cur.g.data() + b);
          cur.e[c] = ec;
        }
      }
      on_step(t, std::as_const(x));
    }
    st.steps = steps;
    return st;
  }

 private:
  T step_;
  T jitter_ = T(0);
  int L_;
  std::vector<T> mass_, inv_mass_, sqrt_mass_;
  tensor_type p_, xq_, gq_;
  std::vector<double> k0_, u_;
};

}  // namespace ebm
