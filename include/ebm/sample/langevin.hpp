#pragma once
// Langevin dynamics (CF-EBM eq. 3) with step-size and noise-variance policies:
//
//   x <- x - (s_t / 2) grad E(x) + sqrt(eta_t) eps,   eps ~ N(0, I),
//
// for t = 0 .. steps-1.  s_t and eta_t come from two schedules
// (sample/schedules.hpp); eta = s gives the unadjusted Langevin algorithm
// (ULA), whose stationary law approaches exp(-E) as s -> 0.
//
//   ebm::langevin sampler{ebm::schedule::constant(1.0f),        // s = 1
//                         ebm::schedule::cf_ebm_decay(2e-2f)};  // eta_t -> 0
//   sampler.clamp(-1, 1).clip_grad_norm(100.0f);                // optional guards
//   ebm::philox rng(seed);
//   ebm::chain_stats st = sampler.run(energy, x, 60, rng);      // x: [N, ...], in place
//   sampler.run(energy, x, 60, rng, {}, [&](int t, const auto& x) { ... });  // observe each step
//
// Shorthands: unadjusted_langevin(s) (s = eta = s constant) and
// cf_ebm_langevin<T>() (s = 1, eta_t = 2e-2 - 2e-2 / (T - t + 1)).
//
// Options (off by default):
//   clamp(lo, hi)       after each step, clamp every moved entry to [lo, hi];
//   clip_grad_norm(c)   before each step, rescale any sample's gradient whose
//                       Euclidean norm exceeds c to norm c (counted in
//                       chain_stats::clipped): one exploding chain cannot
//                       throw the others off, and sampling from an untrained
//                       network stays bounded.
// A mask (run's last argument; x's shape or one sample's shape) restricts the
// update to the entries where it is non-zero; the others are never written,
// so they stay bit-identical (inpainting).  Noise is drawn for every entry
// either way, so a seed gives the same noise with and without a mask.
//
// Reproducibility: all randomness comes from the philox passed to run(), one
// fill_normal of x.size() per step.  After each step the state and energies
// are checked: a NaN or Inf throws ebm::error naming the chain and the step.
//
// Devices: run() and step() take the chains as tensor<T, D>.  With D = cpu
// the loops below do the work, in chunks of chains on the energy's thread pool
// (its device(), else the default pool; the numbers do not depend on the
// thread count); with another device (ebm::cuda, in a .cu file
// that includes ebm/device/cuda/cuda.cuh) the energy must live on that device,
// a mask is a view of device memory, and each step is the energy's gradient
// plus the device's fused update (training_kernels<D>::langevin_update: the
// per-chain gradient norms when clipping, then one kernel for update, clamp,
// mask and the finiteness checks of state and energies, whose verdict is read
// back once per step to throw the same errors as the host).  The noise is the
// one fill_normal would draw at the same generator state, so a device chain
// follows the host chain with the same seed up to rounding.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "../core/philox.hpp"
#include "chain_stats.hpp"
#include "detail/chain.hpp"
#include "schedules.hpp"

namespace ebm {

template <class T, class StepPolicy = schedule::constant<T>, class NoisePolicy = StepPolicy>
class langevin {
  static_assert(std::is_floating_point_v<T>, "langevin: T must be a floating-point type");
  static_assert(step_schedule<StepPolicy, T>,
                "langevin: StepPolicy must be callable as policy(t, steps) -> T (sample/schedules.hpp)");
  static_assert(step_schedule<NoisePolicy, T>,
                "langevin: NoisePolicy must be callable as policy(t, steps) -> T (sample/schedules.hpp)");

 public:
  using value_type = T;
  using tensor_type = tensor<T, cpu>;

  langevin(StepPolicy step, NoisePolicy noise) : step_(step), noise_(noise) {}

  /// Clamps moved entries to [lo, hi] after every step.
  langevin& clamp(T lo, T hi) {
    EBM_REQUIRE(lo < hi, "langevin::clamp: need lo < hi, got [", lo, ", ", hi, "]");
    lo_ = lo, hi_ = hi, clamp_ = true;
    return *this;
  }
  /// Rescales per-sample gradients with norm above max_norm (> 0) to max_norm.
  langevin& clip_grad_norm(T max_norm) {
    EBM_REQUIRE(max_norm > T(0), "langevin::clip_grad_norm: the bound must be positive, got ", max_norm);
    max_grad_norm_ = max_norm;
    return *this;
  }
  const StepPolicy& step_policy() const { return step_; }
  const NoisePolicy& noise_policy() const { return noise_; }

  /// Runs `steps` steps on the batch x ([N, ...]) in place; on_step(t, x)
  /// is called after each step.
  template <class E, class D, class Observer = no_observer>
  chain_stats run(E& energy, tensor<T, D>& x, int steps, philox& rng, tensor_view<const T> mask = {},
                  Observer&& on_step = {}) {
    detail::check_energy_for_sampler<E, T, D>();
    EBM_REQUIRE(steps >= 0, "langevin::run: negative number of steps ", steps);
    chain_stats st;
    for (int t = 0; t < steps; ++t) {
      st.clipped += step(energy, x, t, steps, rng, mask);
      on_step(t, std::as_const(x));
    }
    st.steps = steps;
    st.grad_evals = steps;
    return st;
  }

  /// One step (number t of a chain of `steps`); returns how many per-sample
  /// gradients were clipped.
  template <class E, class D>
  index_t step(E& energy, tensor<T, D>& x, int t, int steps, philox& rng, tensor_view<const T> mask = {}) {
    detail::check_energy_for_sampler<E, T, D>();
    EBM_REQUIRE(x.rank() >= 1 && x.extent(0) > 0, "langevin: x must be a non-empty batch [N, ...], got ",
                x.shape());
    const detail::update_mask<T> m(mask, x.shape(), "langevin");
    const T s = static_cast<T>(step_(t, steps));
    const T eta = static_cast<T>(noise_(t, steps));
    EBM_REQUIRE(s >= T(0) && eta >= T(0), "langevin: step size and noise variance must be non-negative, got s = ",
                s, " and eta = ", eta, " at step ", t);
    if constexpr (std::is_same_v<D, cpu>)
      return host_step(energy, x, t, steps, rng, m, s / T(2), std::sqrt(eta));
    else
      return device_step(energy, x, t, steps, rng, m, s / T(2), std::sqrt(eta));
  }

 private:
  template <class E>
  index_t host_step(E& energy, tensor_type& x, int t, int steps, philox& rng, const detail::update_mask<T>& m,
                    T half, T sd) {
    const auto& e = energy.energy_and_grad(x, g_);
    require_same_shape(x.shape(), g_.shape(), "langevin (gradient)");
    noise_buf_.resize(x.shape());
    const philox noise = rng;  // this step's draws: one fill_normal of x.size(), split by chains below
    rng.advance(noise_blocks(x.size()));

    // Chains are independent: the noise and the update run over the pool in
    // chunks of chains (serial, they cost a few percent of a step on 2 threads
    // and more on many).  Each chunk draws its own part of the fill, so the
    // numbers do not depend on the thread count.
    const index_t n = x.extent(0), per = x.shape().sample_size();
    std::atomic<index_t> clipped{0};
    const index_t grain = std::max<index_t>(1, (index_t(1) << 14) / std::max<index_t>(1, per));  // ≥ 16k entries
    detail::host_device_of(energy).parallel_for(n, grain, [&](index_t first, index_t last) {
      T* z = noise_buf_.data() + first * per;
      noise.fill_normal_at(std::span<T>(z, static_cast<std::size_t>((last - first) * per)),
                           static_cast<std::uint64_t>(first * per));
      index_t local = 0;
      for (index_t c = first; c < last; ++c) {
        const index_t b = c * per;
        T scale = half;
        if (max_grad_norm_ > T(0)) {
          const double norm = std::sqrt(detail::sample_sq_norm(g_.data(), b, per, m));
          if (norm > double(max_grad_norm_)) {
            scale = static_cast<T>(double(half) * double(max_grad_norm_) / norm);
            ++local;
          }
        }
        T* xc = x.data() + b;
        const T* gc = g_.data() + b;
        const T* zc = noise_buf_.data() + b;
        if (m.empty()) {
          for (index_t j = 0; j < per; ++j) xc[j] = xc[j] - scale * gc[j] + sd * zc[j];
          if (clamp_)
            for (index_t j = 0; j < per; ++j) xc[j] = std::clamp(xc[j], lo_, hi_);
        } else {
          for (index_t j = 0; j < per; ++j) {
            if (!m.active(b + j)) continue;
            const T v = xc[j] - scale * gc[j] + sd * zc[j];
            xc[j] = clamp_ ? std::clamp(v, lo_, hi_) : v;
          }
        }
      }
      clipped += local;
    });
    if (!detail::all_finite(e.data(), e.size()))
      for (index_t c = 0; c < n; ++c)
        if (!std::isfinite(e[c]))
          throw error(detail::concat("langevin: chain ", c, " has a non-finite energy (", e[c], ") at step ", t,
                                     " of ", steps, " (steps counted from 0)"));
    detail::require_finite_chains("langevin", x, t, steps, "the state");
    return clipped.load();
  }

  template <class E, class D>
  index_t device_step(E& energy, tensor<T, D>& x, int t, int steps, philox& rng, const detail::update_mask<T>& m,
                      T half, T sd) {
    using kernels = training_kernels<D>;
    auto& ws = scratch_.template get<typename kernels::template langevin_workspace<T>>();
    auto& g = ws.gradient(x.device());
    const auto& e = energy.energy_and_grad(x, g);
    require_same_shape(x.shape(), g.shape(), "langevin (gradient)");
    const index_t n = x.extent(0);
    EBM_REQUIRE(e.size() == n, "langevin: the energy returned ", e.shape(), " for a batch of ", n, " chains");
    const detail::langevin_update_args<T> a{x.data(), g.data(), e.data(), n, x.shape().sample_size(), half, sd,
                                            max_grad_norm_, clamp_, lo_, hi_, m.data(), m.period(),
                                            rng.seed(), rng.stream(), rng.offset()};
    const detail::langevin_update_result r = kernels::langevin_update(ws, x.device(), a);
    rng.advance(noise_blocks(x.size()));
    if (r.bad_energy_chain >= 0)
      throw error(detail::concat("langevin: chain ", r.bad_energy_chain, " has a non-finite energy (",
                                 static_cast<T>(r.bad_energy), ") at step ", t, " of ", steps,
                                 " (steps counted from 0)"));
    if (r.bad_state_chain >= 0)
      throw error(detail::concat("langevin: chain ", r.bad_state_chain,
                                 " produced a non-finite value (NaN or Inf) in the state at step ", t, " of ", steps,
                                 " (steps counted from 0)"));
    return r.clipped;
  }
  /// Philox blocks one fill_normal of n elements of T consumes.
  static std::uint64_t noise_blocks(index_t n) { return philox::normal_blocks<T>(static_cast<std::uint64_t>(n)); }

  StepPolicy step_;
  NoisePolicy noise_;
  bool clamp_ = false;
  T lo_ = -std::numeric_limits<T>::infinity(), hi_ = std::numeric_limits<T>::infinity();
  T max_grad_norm_ = T(0);
  tensor_type g_, noise_buf_;
  detail::scratch_slot scratch_;  // device buffers (training_kernels<D>::langevin_workspace)
};

template <class S, class N>
langevin(S, N) -> langevin<typename S::value_type, S, N>;

/// Unadjusted Langevin algorithm: constant step s with noise variance s.
template <class T>
langevin<T> unadjusted_langevin(T step) {
  return langevin<T>(schedule::constant<T>(step), schedule::constant<T>(step));
}

/// CF-EBM's sampler (appendix A.2): s = 1, eta_t = 2e-2 - 2e-2 / (T - t + 1).
template <class T>
langevin<T, schedule::constant<T>, schedule::cf_ebm_decay<T>> cf_ebm_langevin(T step = T(1),
                                                                              T noise0 = T(2e-2)) {
  return {schedule::constant<T>(step), schedule::cf_ebm_decay<T>(noise0)};
}

}  // namespace ebm
