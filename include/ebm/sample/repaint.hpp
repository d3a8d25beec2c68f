#pragma once
// RePaint (Lugmayr et al. 2022): inpainting with an unconditional diffusion
// model by resampling the known pixels.  Given images x0 [N, ...] and a mask
// (1 = known pixel, kept; 0 = to fill), every reverse step of a ddpm or ddim
// sampler (sample/diffusion.hpp) becomes
//
//   x_known   = sqrt(abar_prev) x0 + sqrt(1 - abar_prev) z      (q(x_prev | x0); = x0 exactly at the end)
//   x_unknown = the sampler's step from x                        (p(x_prev | x), optionally guided)
//   x_prev    = m * x_known + (1 - m) * x_unknown,
//
// where prev is the next noise level (t - 1 for ddpm, the next of
// ddim::timesteps() for ddim, clean x_0 after the last).  Replacement alone
// leaves the filled pixels out of harmony with the known ones (the known
// pixels' noise is drawn independently of what the model generated), so
// RePaint resamples: after reaching a level it goes back up `jump_length`
// levels with the forward process,
//
//   x_hi = sqrt(abar_hi / abar_lo) x_lo + sqrt(1 - abar_hi / abar_lo) z
//          (one ddpm step up: x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z),
//
// and walks down again, `resample` times in all per jump point.  Jump points
// are every jump_length-th level counted from the last timestep, as in the
// paper's get_schedule_jump; levels() lists the resulting walk.  resample = 1
// is plain replacement; the cost is about resample x the sampler's steps.
// The paper uses jump_length = 10, resample = 10.  On Gaussian data (exact
// score, tests/sample/repaint_test.cpp) the filled pixels' mean bias shrinks
// roughly like 1/resample (plain replacement is far off); with
// ddpm::variance::beta their variance converges too, while with the posterior
// variance it drifts low as resample grows (0.25 instead of 0.36 at
// resample 40 on a 100-step schedule).
//
//   ebm::repaint sampler(ebm::ddpm<float>(ebm::noise_schedule::linear(1000)), 10, 10);
//   ebm::tensor<float> x = sampler.sample(model, images, mask, rng);   // mask 1 = keep
//
// The mask has the images' shape or one image's shape (shared by the batch)
// and holds only 0 and 1.  Known pixels of the output equal x0 exactly; what
// x0 holds at unknown pixels is never read.  Classifier guidance (a guidance
// with one label per image) is passed to every reverse step.
//
// Randomness: sample() draws the starting noise with one fill_normal of
// x.size() normals (the known pixels start at sqrt(abar) x0 + sqrt(1 - abar)
// times the same normals).  Each reverse step draws what the sampler's step
// draws, then one normal per known pixel (none at the last step, none without
// known pixels: with an all-zero mask and resample = 1 the result is the
// sampler's own sample() bit for bit); each step up draws x.size() normals.
//
// Devices: repaint<T, D> wraps ddpm<T, D> or ddim<T, D> and takes tensors on
// D.  On ebm::cuda the images, the mask and the walk stay on the GPU; the
// mask and the known images are copied to the host once per call for the
// checks above and to number the known pixels (the order in which they take
// the normals of a replacement step), and every update is a kernel.
#include <cmath>
#include <span>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../core/philox.hpp"
#include "../device/cpu/elementwise.hpp"
#include "../objective/detail/diffusion_device.hpp"
#include "../objective/noise_schedule.hpp"
#include "detail/chain.hpp"
#include "diffusion.hpp"
#include "score_model.hpp"

namespace ebm {

template <class T, class D = cpu>
class repaint {
  static_assert(std::is_floating_point_v<T>, "repaint: T must be a floating-point type");

 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  /// Ancestral steps t -> t - 1 of a ddpm sampler (its variance and clipping
  /// settings are kept).  resample >= 1, jump_length >= 1.
  explicit repaint(ddpm<T, D> sampler, int resample = 1, int jump_length = 1)
      : sampler_(std::move(sampler)), resample_(resample), jump_(jump_length) {
    const int T_ = std::get<ddpm<T, D>>(sampler_).schedule().steps();
    std::vector<int> base;
    for (int t = T_ - 1; t >= 0; --t) base.push_back(t);
    init(std::move(base));
  }
  /// Steps between ddim::timesteps() (its eta and clipping settings are kept).
  explicit repaint(ddim<T, D> sampler, int resample = 1, int jump_length = 1)
      : sampler_(std::move(sampler)), resample_(resample), jump_(jump_length) {
    init(std::get<ddim<T, D>>(sampler_).timesteps());
  }

  const noise_schedule& schedule() const {
    return std::visit([](const auto& s) -> const noise_schedule& { return s.schedule(); }, sampler_);
  }
  int resample() const { return resample_; }
  int jump_length() const { return jump_; }
  /// The noise levels visited, starting at the first timestep and ending at
  /// -1 (clean images): a decrease is a reverse step, an increase a step up.
  const std::vector<int>& levels() const { return levels_; }
  /// How many reverse steps (score evaluations) one run takes.
  int reverse_steps() const {
    int n = 0;
    for (std::size_t k = 0; k + 1 < levels_.size(); ++k) n += levels_[k + 1] < levels_[k];
    return n;
  }

  /// Draws the starting noise at levels().front() and runs the walk: N
  /// inpainted images, the known pixels of `known` [N, ...] kept.
  template <class M>
  tensor_type sample(M& model, const tensor_type& known, const tensor_type& mask, philox& rng,
                     const guidance& g = {}) {
    if constexpr (std::is_same_v<D, cpu>) {
      const index_t period = check_inputs(known, mask);
      tensor<T> x(known.shape());
      rng.fill_normal(x.span());
      const double ab = schedule().alpha_bar(levels_.front());
      const T a = T(std::sqrt(ab)), b = T(std::sqrt(1 - ab));
      for (index_t i = 0; i < x.size(); ++i)
        if (mask[i % period] != T(0)) x[i] = a * known[i] + b * x[i];
      walk(model, x, known, mask, period, rng, g);
      return x;
    } else {
      const index_t period = prepare_device(known, mask);
      tensor_type x(known.device());
      x.resize(known.shape());
      fill_normal(x, rng);
      const double ab = schedule().alpha_bar(levels_.front());
      const T a = T(std::sqrt(ab)), b = T(std::sqrt(1 - ab));
      diffusion_kernels<D>::template blend_known<T>(x.device(), x.data(), known.data(), mask.data(), x.size(),
                                                    period, a, b);
      walk_device(model, x, known, mask, period, rng, g);
      return x;
    }
  }
  /// Runs the walk on x (the state at levels().front() on entry, the
  /// inpainted images on exit).
  template <class M>
  void run(M& model, tensor_type& x, const tensor_type& known, const tensor_type& mask, philox& rng,
           const guidance& g = {}) {
    if constexpr (std::is_same_v<D, cpu>) {
      const index_t period = check_inputs(known, mask);
      require_same_shape(known.shape(), x.shape(), "repaint::run (state x against the known images)");
      walk(model, x, known, mask, period, rng, g);
    } else {
      const index_t period = prepare_device(known, mask);
      require_same_shape(known.shape(), x.shape(), "repaint::run (state x against the known images)");
      walk_device(model, x, known, mask, period, rng, g);
    }
  }

 private:
  void init(std::vector<int> base) {
    EBM_REQUIRE(resample_ >= 1, "repaint: resample must be at least 1 (1 = plain replacement), got ", resample_);
    EBM_REQUIRE(jump_ >= 1, "repaint: jump_length must be at least 1, got ", jump_);
    const int S = static_cast<int>(base.size());
    EBM_REQUIRE(resample_ == 1 || jump_ < S, "repaint: jump_length ", jump_, " leaves no room to jump in ", S,
                " reverse steps (need jump_length < steps)");
    // Position p of base is level base[p]; p = S is the clean image (-1).
    // Jump points: q = S - 1 - p in {0, j, 2j, ...} with q < S - j.
    std::vector<int> remaining(static_cast<std::size_t>(S), 0);
    for (int q = 0; q < S - jump_; q += jump_) remaining[static_cast<std::size_t>(S - 1 - q)] = resample_ - 1;
    base.push_back(-1);
    levels_.assign(1, base.front());
    for (int p = 0; p < S;) {
      levels_.push_back(base[static_cast<std::size_t>(++p)]);
      if (p < S && remaining[static_cast<std::size_t>(p)] > 0) {
        --remaining[static_cast<std::size_t>(p)];
        for (int k = 0; k < jump_; ++k) levels_.push_back(base[static_cast<std::size_t>(--p)]);
      }
    }
  }

  /// Validates the images and the mask; returns the mask's period (its size).
  static index_t check_inputs(const tensor<T>& known, const tensor<T>& mask) {
    const shape& ks = known.shape();
    EBM_REQUIRE(ks.rank() >= 1 && ks[0] >= 1, "repaint: the known images must be a batch [N, ...] with N >= 1, got ",
                ks);
    const shape& ms = mask.shape();
    bool per_image = ms.rank() == ks.rank() - 1;
    for (int d = 0; per_image && d < ms.rank(); ++d) per_image = ms[d] == ks[d + 1];
    shape one;
    for (int d = 1; d < ks.rank(); ++d) one.push_back(ks[d]);
    EBM_REQUIRE(ms == ks || per_image, "repaint: the mask must have the shape of the known images (", ks,
                ") or of one image (", one, "), got ", ms);
    const index_t period = mask.size();
    for (index_t i = 0; i < period; ++i)
      EBM_REQUIRE(mask[i] == T(0) || mask[i] == T(1), "repaint: mask entry ", i, " is ", mask[i],
                  "; the mask must hold only 0 (to fill) and 1 (known)");
    const index_t per = ks.sample_size();
    for (index_t i = 0; i < known.size(); ++i)
      EBM_REQUIRE(mask[i % period] == T(0) || std::isfinite(known[i]), "repaint: known pixel ", i % per,
                  " of image ", i / per, " is not finite (", known[i], ")");
    return period;
  }

  template <class M>
  void walk(M& model, tensor<T>& x, const tensor<T>& known, const tensor<T>& mask, index_t period, philox& rng,
            const guidance& g) {
    static_assert(time_score_model<M>, "repaint needs a model with score(x, t, out) (sample/score_model.hpp)");
    static_assert(std::same_as<typename M::value_type, T>, "the sampler's scalar type must be the model's value_type");
    index_t n_known = 0;
    for (index_t i = 0; i < x.size(); ++i) n_known += mask[i % period] != T(0);
    const noise_schedule& sched = schedule();
    auto abar = [&](int level) { return level < 0 ? 1.0 : sched.alpha_bar(level); };
    const int steps = static_cast<int>(levels_.size()) - 1;
    for (int k = 0; k < steps; ++k) {
      const int t = levels_[static_cast<std::size_t>(k)], to = levels_[static_cast<std::size_t>(k + 1)];
      if (to < t) {
        reverse_step(model, x, t, to, rng, g);
        if (to < 0) {
          for (index_t i = 0; i < x.size(); ++i)
            if (mask[i % period] != T(0)) x[i] = known[i];
        } else if (n_known > 0) {
          const double ab = abar(to);
          const T a = T(std::sqrt(ab)), b = T(std::sqrt(1 - ab));
          z_.resize(shape{n_known});
          rng.fill_normal(z_.span());
          for (index_t i = 0, c = 0; i < x.size(); ++i)
            if (mask[i % period] != T(0)) x[i] = a * known[i] + b * z_[c++];
        }
        check_state(x, t, k, steps);
      } else {
        const double ratio = abar(to) / abar(t);
        const T a = T(std::sqrt(ratio)), b = T(std::sqrt(1 - ratio));
        z_.resize(x.shape());
        rng.fill_normal(z_.span());
        for (index_t i = 0; i < x.size(); ++i) x[i] = a * x[i] + b * z_[i];
      }
    }
  }

  /// One reverse move t -> to of the wrapped sampler (DDPM steps one level).
  template <class M, class X>
  void reverse_step(M& model, X& x, int t, int to, philox& rng, const guidance& g) {
    std::visit(
        [&](auto& s) {
          if constexpr (std::is_same_v<std::decay_t<decltype(s)>, ddpm<T, D>>)
            s.step(model, x, t, rng, g);
          else
            s.step(model, x, t, to, rng, g);
        },
        sampler_);
  }

  static void check_state(const tensor<T>& x, int t, int k, int steps) {
    const index_t n = x.extent(0), per = x.shape().sample_size();
    for (index_t c = 0; c < n; ++c)
      if (!detail::all_finite(x.data() + c * per, per))
        throw error(detail::concat("repaint: chain ", c, " produced a non-finite value (NaN or Inf) in the reverse "
                                   "step from timestep ", t, " (move ", k, " of the ", steps,
                                   " in levels(), counted from 0)"));
  }

  // --- the device path: check_inputs and walk with kernels -----------------
  /// Checks the images and the mask on host copies (check_inputs), numbers
  /// the known entries of one mask period (rank_, known_per_period_) and
  /// returns the period.
  index_t prepare_device(const tensor_type& known, const tensor_type& mask) {
    const tensor<T> known_host = to_host(known), mask_host = to_host(mask);
    const index_t period = check_inputs(known_host, mask_host);
    rank_host_.resize(shape{period});
    index_t c = 0;
    for (index_t i = 0; i < period; ++i) {
      rank_host_[i] = static_cast<int>(c);
      c += mask_host[i] != T(0);
    }
    known_per_period_ = c;
    detail::upload(rank_host_, rank_, known.device());
    return period;
  }

  template <class M>
  void walk_device(M& model, tensor_type& x, const tensor_type& known, const tensor_type& mask, index_t period,
                   philox& rng, const guidance& g) {
    static_assert(time_score_model<M>, "repaint needs a model with score(x, t, out) (sample/score_model.hpp)");
    static_assert(std::same_as<typename M::value_type, T>, "the sampler's scalar type must be the model's value_type");
    const D dev = x.device();
    const index_t n_known = (x.size() / period) * known_per_period_;
    const noise_schedule& sched = schedule();
    auto abar = [&](int level) { return level < 0 ? 1.0 : sched.alpha_bar(level); };
    const int steps = static_cast<int>(levels_.size()) - 1;
    detail::bind_to(z_, dev);
    for (int k = 0; k < steps; ++k) {
      const int t = levels_[static_cast<std::size_t>(k)], to = levels_[static_cast<std::size_t>(k + 1)];
      if (to < t) {
        reverse_step(model, x, t, to, rng, g);
        if (to < 0) {
          diffusion_kernels<D>::template replace_known<T>(dev, x.data(), known.data(), mask.data(), rank_.data(),
                                                          x.size(), period, known_per_period_, T(1), T(0), nullptr);
        } else if (n_known > 0) {
          const double ab = abar(to);
          const T a = T(std::sqrt(ab)), b = T(std::sqrt(1 - ab));
          z_.resize(shape{n_known});
          fill_normal(z_, rng);
          diffusion_kernels<D>::template replace_known<T>(dev, x.data(), known.data(), mask.data(), rank_.data(),
                                                          x.size(), period, known_per_period_, a, b, z_.data());
        }
        const index_t bad = diffusion_kernels<D>::template first_nonfinite_chain<T>(
            dev, x.data(), x.extent(0), x.shape().sample_size(), status_);
        if (bad >= 0)
          throw error(detail::concat("repaint: chain ", bad, " produced a non-finite value (NaN or Inf) in the "
                                     "reverse step from timestep ", t, " (move ", k, " of the ", steps,
                                     " in levels(), counted from 0)"));
      } else {
        const double ratio = abar(to) / abar(t);
        const T a = T(std::sqrt(ratio)), b = T(std::sqrt(1 - ratio));
        z_.resize(x.shape());
        fill_normal(z_, rng);
        elementwise<D>::axpby(dev, a, x.data(), b, z_.data(), x.data(), x.size());
      }
    }
  }

  std::variant<ddpm<T, D>, ddim<T, D>> sampler_;
  int resample_, jump_;
  std::vector<int> levels_;
  tensor_type z_;
  // Device runs only: the rank of each known entry within a mask period.
  tensor<int, cpu> rank_host_;
  tensor<int, D> rank_;
  index_t known_per_period_ = 0;
  detail::diffusion_status<D> status_;
};

}  // namespace ebm
