#pragma once
// Reverse diffusion driven by a score model (sample/score_model.hpp): the
// generation procedure of EGC (Guo et al. 2023, §3.1-3.2), ancestral DDPM
// (Ho et al. 2020) and DDIM (Song et al. 2021), with classifier guidance.
//
// Both start from x_T ~ N(0, I) and, at each timestep t of the noise_schedule
// (objective/noise_schedule.hpp; abar = alpha_bar), turn the score
// s = grad log p_t(x) into the Tweedie estimate of x_0 (EGC eqs. 8-10):
//
//   x0_hat = (x_t + (1 - abar_t) s) / sqrt(abar_t),   eps_hat = -sqrt(1 - abar_t) s.
//
// ddpm: t = T-1 .. 0, x_{t-1} ~ q(x_{t-1} | x_t, x_0 = x0_hat) (EGC eq. 7):
//   mean = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0_hat
//        + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t        (= (x_t + beta_t s) / sqrt(alpha_t)),
//   variance beta_tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t (posterior, the default) or beta_t;
//   no noise at t = 0.  (EGC's eq. 7 prints sqrt(abar_t) in the second
//   coefficient; DDPM's posterior, used here, has sqrt(alpha_t).)
// ddim: S timesteps tau evenly spaced from T-1 down to 0 (rounded), then x_0:
//   sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev),
//   x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps_hat + sigma z,
//   eta = 0 deterministic, eta = 1 with S = T the DDPM posterior.
//
// Classifier guidance (EGC eq. 16): with guidance{labels, scale}, the score is
// s + scale * grad log p_t(y | x) from the model's class_log_prob_grad; scale
// 0 never calls it, so unguided and zero-scale sampling are bit-identical.
// clip_denoised(lo, hi) clamps x0_hat (images in [-1, 1]); DDIM then uses
// eps_hat = (x_t - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t) of the clamped
// x0_hat (GLIDE, guided-diffusion), without which guidance reverses where
// x0_hat saturates (step()).
//
//   ebm::ddim<float> sampler(ebm::noise_schedule::linear(1000), 50);
//   ebm::tensor<float> x = sampler.sample(model, ebm::shape{16, 3, 32, 32}, rng, {labels, 6.0});
//
// Randomness: sample() draws x_T with one fill_normal; each step with
// non-zero noise draws x.size() normals.  A non-finite value stops sampling
// with ebm::error naming the chain and the timestep.
//
// Devices: ddpm<T, D> and ddim<T, D> take tensor<T, D> and a score model on
// D (sample/score_model.hpp).  On ebm::cuda (a .cu file including
// ebm/device/cuda/cuda.cuh) the state, the score and the noise stay on the
// GPU: the noise comes from the device Philox (the numbers of the host's
// fill_normal), each update is one kernel of diffusion_kernels<D>, guidance
// adds through elementwise<D>::axpy, and the per-step finiteness check reads
// one word back.
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

#include "../core/philox.hpp"
#include "../device/cpu/elementwise.hpp"
#include "../objective/detail/diffusion_device.hpp"
#include "../objective/noise_schedule.hpp"
#include "detail/chain.hpp"
#include "score_model.hpp"

namespace ebm {

/// Classifier guidance: one label per chain and a scale (0 = unguided).
struct guidance {
  std::span<const int> labels;
  double scale = 0;
};

namespace detail {
/// The score of x at timestep t, plus scale * grad log p(y | x) when guided.
template <class T, class D, class M>
void guided_score(M& model, const tensor<T, D>& x, int t, const guidance& g, tensor<T, D>& s, tensor<T, D>& buf,
                  const char* who) {
  static_assert(time_score_model<M>, "reverse diffusion needs a model with score(x, t, out) (sample/score_model.hpp)");
  static_assert(std::same_as<typename M::value_type, T>, "the sampler's scalar type must be the model's value_type");
  static_assert(std::same_as<model_device_t<M>, D>, "the sampler's device must be the score model's device_type");
  if constexpr (!std::is_same_v<D, cpu>) {
    bind_to(s, x.device());
    bind_to(buf, x.device());
  }
  model.score(x, t, s);
  require_same_shape(x.shape(), s.shape(), "reverse diffusion (score)");
  if (g.scale == 0) return;
  if constexpr (guided_score_model<M>) {
    EBM_REQUIRE(static_cast<index_t>(g.labels.size()) == x.extent(0), who, ": guidance has ", g.labels.size(),
                " labels for ", x.extent(0), " chains");
    model.class_log_prob_grad(x, t, g.labels, buf);
    require_same_shape(x.shape(), buf.shape(), "reverse diffusion (guidance)");
    const T scale = static_cast<T>(g.scale);
    if constexpr (std::is_same_v<D, cpu>) {
      for (index_t i = 0; i < s.size(); ++i) s[i] += scale * buf[i];
    } else {
      elementwise<D>::axpy(x.device(), scale, buf.data(), s.data(), s.size());
    }
  } else {
    throw error(concat(who, ": guidance scale ", g.scale,
                       " needs a model with class_log_prob_grad(x, t, labels, out)"));
  }
}

template <class T>
void check_diffusion_state(const char* who, const tensor<T>& x, int t, int k, int steps) {
  const index_t n = x.extent(0), per = x.shape().sample_size();
  for (index_t c = 0; c < n; ++c)
    if (!all_finite(x.data() + c * per, per))
      throw error(concat(who, ": chain ", c, " produced a non-finite value (NaN or Inf) at timestep ", t,
                         " (reverse step ", k, " of ", steps, ", counted from 0)"));
}
/// The same check on a device: one kernel, one word read back.
template <class T, class D>
void check_diffusion_state(const char* who, const tensor<T, D>& x, int t, int k, int steps,
                           typename diffusion_kernels<D>::status_buffer& status) {
  const index_t n = x.extent(0), per = x.shape().sample_size();
  const index_t c = diffusion_kernels<D>::template first_nonfinite_chain<T>(x.device(), x.data(), n, per, status);
  if (c >= 0)
    throw error(concat(who, ": chain ", c, " produced a non-finite value (NaN or Inf) at timestep ", t,
                       " (reverse step ", k, " of ", steps, ", counted from 0)"));
}

/// A tensor of the given shape holding N(0, 1) noise from `rng` (the same
/// numbers on every device).
template <class T, class D>
tensor<T, D> normal_tensor(const shape& s, philox& rng) {
  if constexpr (std::is_same_v<D, cpu>) {
    tensor<T> x(s);
    rng.fill_normal(x.span());
    return x;
  } else {
    tensor<T, D> x;
    x.resize(s);
    fill_normal(x, rng);
    return x;
  }
}
/// z = N(0, 1) noise of x's shape, on x's device.
template <class T, class D>
void fill_noise_like(tensor<T, D>& z, const tensor<T, D>& x, philox& rng) {
  if constexpr (std::is_same_v<D, cpu>) {
    z.resize(x.shape());
    rng.fill_normal(z.span());
  } else {
    bind_to(z, x.device());
    z.resize(x.shape());
    fill_normal(z, rng);
  }
}
}  // namespace detail

template <class T, class D = cpu>
class ddpm {
  static_assert(std::is_floating_point_v<T>, "ddpm: T must be a floating-point type");

 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;
  enum class variance { posterior, beta };

  explicit ddpm(noise_schedule schedule, variance v = variance::posterior)
      : sched_(std::move(schedule)), var_(v) {}

  const noise_schedule& schedule() const { return sched_; }
  ddpm& clip_denoised(T lo, T hi) {
    EBM_REQUIRE(lo < hi, "ddpm::clip_denoised: need lo < hi, got [", lo, ", ", hi, "]");
    clip_ = true, lo_ = lo, hi_ = hi;
    return *this;
  }

  /// One ancestral step x_t -> x_{t-1} in place.
  template <class M>
  void step(M& model, tensor_type& x, int t, philox& rng, const guidance& g = {}) {
    EBM_REQUIRE(t >= 0 && t < sched_.steps(), "ddpm: timestep ", t, " out of range [0, ", sched_.steps(), ")");
    detail::guided_score(model, x, t, g, s_, buf_, "ddpm");
    const double ab = sched_.alpha_bar(t), ab_prev = sched_.alpha_bar_prev(t), beta = sched_.beta(t);
    const T inv_sqrt_ab = T(1 / std::sqrt(ab)), one_m_ab = T(1 - ab);
    const T c0 = T(std::sqrt(ab_prev) * beta / (1 - ab));
    const T c1 = T(std::sqrt(1 - beta) * (1 - ab_prev) / (1 - ab));
    const double var = t == 0 ? 0.0 : (var_ == variance::posterior ? (1 - ab_prev) / (1 - ab) * beta : beta);
    const T sd = T(std::sqrt(var));
    if (sd > T(0)) detail::fill_noise_like(z_, x, rng);
    if constexpr (std::is_same_v<D, cpu>) {
      for (index_t i = 0; i < x.size(); ++i) {
        T x0 = (x[i] + one_m_ab * s_[i]) * inv_sqrt_ab;
        if (clip_) x0 = std::clamp(x0, lo_, hi_);
        x[i] = c0 * x0 + c1 * x[i] + (sd > T(0) ? sd * z_[i] : T(0));
      }
    } else {
      typename diffusion_kernels<D>::template step_coefficients<T> c;
      c.ddim = false;
      c.inv_sqrt_ab = inv_sqrt_ab, c.one_m_ab = one_m_ab, c.c_x0 = c0, c.c_x = c1, c.sd = sd;
      c.clip = clip_, c.lo = lo_, c.hi = hi_;
      diffusion_kernels<D>::template reverse_step<T>(x.device(), x.data(), s_.data(),
                                                     sd > T(0) ? z_.data() : nullptr, x.size(), c);
    }
  }

  /// Runs t = T-1 .. 0 on x (x_T on entry, x_0 on exit).
  template <class M>
  void run(M& model, tensor_type& x, philox& rng, const guidance& g = {}) {
    const int T_ = sched_.steps();
    for (int t = T_ - 1, k = 0; t >= 0; --t, ++k) {
      step(model, x, t, rng, g);
      check_state(x, t, k, T_);
    }
  }
  /// Draws x_T ~ N(0, I) of the given batch shape and runs the chain.
  template <class M>
  tensor_type sample(M& model, const shape& batch_shape, philox& rng, const guidance& g = {}) {
    tensor_type x = detail::normal_tensor<T, D>(batch_shape, rng);
    run(model, x, rng, g);
    return x;
  }

 private:
  void check_state(const tensor_type& x, int t, int k, int steps) {
    if constexpr (std::is_same_v<D, cpu>)
      detail::check_diffusion_state("ddpm", x, t, k, steps);
    else
      detail::check_diffusion_state("ddpm", x, t, k, steps, status_);
  }

  noise_schedule sched_;
  variance var_;
  bool clip_ = false;
  T lo_ = -std::numeric_limits<T>::infinity(), hi_ = std::numeric_limits<T>::infinity();
  tensor_type s_, buf_, z_;
  detail::diffusion_status<D> status_;
};

template <class T, class D = cpu>
class ddim {
  static_assert(std::is_floating_point_v<T>, "ddim: T must be a floating-point type");

 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  /// `steps` timesteps evenly spaced over the schedule's (1 <= steps <= T); eta >= 0.
  ddim(noise_schedule schedule, int steps, T eta = T(0)) : sched_(std::move(schedule)), eta_(eta) {
    const int T_ = sched_.steps();
    EBM_REQUIRE(steps >= 1 && steps <= T_, "ddim: need 1 <= steps <= ", T_, " (the schedule's), got ", steps);
    EBM_REQUIRE(eta >= T(0), "ddim: eta must be non-negative, got ", eta);
    for (int i = steps - 1; i >= 0; --i)
      tau_.push_back(steps == 1 ? T_ - 1 : static_cast<int>(std::lround(double(i) * (T_ - 1) / (steps - 1))));
  }

  const noise_schedule& schedule() const { return sched_; }
  /// The timesteps visited, in order (descending, ending at 0).
  const std::vector<int>& timesteps() const { return tau_; }
  T eta() const { return eta_; }
  ddim& clip_denoised(T lo, T hi) {
    EBM_REQUIRE(lo < hi, "ddim::clip_denoised: need lo < hi, got [", lo, ", ", hi, "]");
    clip_ = true, lo_ = lo, hi_ = hi;
    return *this;
  }

  /// One step from timestep t to t_prev (< t; -1 means x_0), in place.
  template <class M>
  void step(M& model, tensor_type& x, int t, int t_prev, philox& rng, const guidance& g = {}) {
    EBM_REQUIRE(t >= 0 && t < sched_.steps() && t_prev >= -1 && t_prev < t, "ddim: bad step from timestep ", t,
                " to ", t_prev);
    detail::guided_score(model, x, t, g, s_, buf_, "ddim");
    const double ab = sched_.alpha_bar(t), ab_prev = t_prev < 0 ? 1.0 : sched_.alpha_bar(t_prev);
    const double sigma = double(eta_) * std::sqrt((1 - ab_prev) / (1 - ab)) * std::sqrt(1 - ab / ab_prev);
    const T inv_sqrt_ab = T(1 / std::sqrt(ab)), one_m_ab = T(1 - ab), sqrt_one_m_ab = T(std::sqrt(1 - ab));
    const T a = T(std::sqrt(ab_prev)), b = T(std::sqrt(std::max(0.0, 1 - ab_prev - sigma * sigma)));
    const T sd = T(sigma);
    // With clipping, eps_hat is re-derived from the clamped x0_hat (as GLIDE
    // and guided-diffusion do): x_prev must be a point consistent with the
    // x0_hat it moves to.  Mixing the clamped x0_hat with the raw eps_hat
    // reverses classifier guidance where x0_hat saturates (all of it at high
    // noise): its push on x0_hat is clamped away, and only eps_hat's, of the
    // opposite sign, is left.
    const T sqrt_ab = T(std::sqrt(ab)), inv_sqrt_one_m_ab = T(1 / std::sqrt(1 - ab));
    if (sd > T(0)) detail::fill_noise_like(z_, x, rng);
    if constexpr (std::is_same_v<D, cpu>) {
      for (index_t i = 0; i < x.size(); ++i) {
        T x0 = (x[i] + one_m_ab * s_[i]) * inv_sqrt_ab;
        if (clip_) x0 = std::clamp(x0, lo_, hi_);
        const T eps = clip_ ? (x[i] - sqrt_ab * x0) * inv_sqrt_one_m_ab : -sqrt_one_m_ab * s_[i];
        x[i] = a * x0 + b * eps + (sd > T(0) ? sd * z_[i] : T(0));
      }
    } else {
      typename diffusion_kernels<D>::template step_coefficients<T> c;
      c.ddim = true;
      c.inv_sqrt_ab = inv_sqrt_ab, c.one_m_ab = one_m_ab, c.sqrt_one_m_ab = sqrt_one_m_ab;
      c.sqrt_ab = sqrt_ab, c.inv_sqrt_one_m_ab = inv_sqrt_one_m_ab;
      c.c_x0 = a, c.c_eps = b, c.sd = sd;
      c.clip = clip_, c.lo = lo_, c.hi = hi_;
      diffusion_kernels<D>::template reverse_step<T>(x.device(), x.data(), s_.data(),
                                                     sd > T(0) ? z_.data() : nullptr, x.size(), c);
    }
  }

  /// Runs the timesteps() on x (x_T on entry, x_0 on exit).
  template <class M>
  void run(M& model, tensor_type& x, philox& rng, const guidance& g = {}) {
    const int S = static_cast<int>(tau_.size());
    for (int k = 0; k < S; ++k) {
      const int t = tau_[static_cast<std::size_t>(k)];
      step(model, x, t, k + 1 < S ? tau_[static_cast<std::size_t>(k + 1)] : -1, rng, g);
      check_state(x, t, k, S);
    }
  }
  template <class M>
  tensor_type sample(M& model, const shape& batch_shape, philox& rng, const guidance& g = {}) {
    tensor_type x = detail::normal_tensor<T, D>(batch_shape, rng);
    run(model, x, rng, g);
    return x;
  }

 private:
  void check_state(const tensor_type& x, int t, int k, int steps) {
    if constexpr (std::is_same_v<D, cpu>)
      detail::check_diffusion_state("ddim", x, t, k, steps);
    else
      detail::check_diffusion_state("ddim", x, t, k, steps, status_);
  }

  noise_schedule sched_;
  T eta_;
  std::vector<int> tau_;
  bool clip_ = false;
  T lo_ = -std::numeric_limits<T>::infinity(), hi_ = std::numeric_limits<T>::infinity();
  tensor_type s_, buf_, z_;
  detail::diffusion_status<D> status_;
};

}  // namespace ebm
