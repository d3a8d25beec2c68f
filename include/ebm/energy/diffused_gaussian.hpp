#pragma once
// diffused_gaussian_mixture<T>: a Gaussian-mixture data set pushed through the
// diffusion forward process of a noise schedule, with exact time-dependent
// energies and scores.  If x_0 ~ sum_k pi_k N(mu_k, Sigma_k) and
// x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, then
//
//   x_t ~ sum_k pi_k N(sqrt(abar_t) mu_k, abar_t Sigma_k + (1 - abar_t) I),
//
// a mixture again: at(t) returns it.  This is the exact score model the
// reverse-diffusion samplers (sample/diffusion.hpp) are tested against:
//
//   score(x, t, out)                       out = grad log p_t(x) = -grad E(x, t)
//   class_log_prob_grad(x, t, labels, out) out = grad log p_t(k = label | x) (component = class)
//   energy(x, t), energy_and_grad(x, t, g) E(x, t) = -log p_t(x)
//
// With one component (diffused_gaussian()) the data set is N(mu, Sigma).
// Timesteps t index the schedule (0 .. steps-1); the mixture at the most
// recent t is cached, so the score and the guidance of one step share it.
#include <cmath>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "../objective/noise_schedule.hpp"
#include "gaussian_mixture.hpp"

namespace ebm {

template <class T = double>
class diffused_gaussian_mixture {
 public:
  using value_type = T;
  using device_type = cpu;
  using tensor_type = tensor<T>;
  using matrix = typename gaussian<T>::matrix;

  diffused_gaussian_mixture(gaussian_mixture<T> data, noise_schedule schedule)
      : data_(std::move(data)), schedule_(std::move(schedule)) {}

  const gaussian_mixture<T>& data() const { return data_; }
  const noise_schedule& schedule() const { return schedule_; }

  /// The law of x_t.
  gaussian_mixture<T>& at(int t) {
    EBM_REQUIRE(t >= 0 && t < schedule_.steps(), "diffused_gaussian_mixture: timestep ", t, " out of range [0, ",
                schedule_.steps(), ")");
    if (t != cached_t_) {
      const T ab = static_cast<T>(schedule_.alpha_bar(t));
      std::vector<T> w;
      std::vector<gaussian<T>> comps;
      for (index_t k = 0; k < data_.components(); ++k) {
        const auto& c = data_.component(k);
        w.push_back(data_.weight(k));
        comps.emplace_back(c.mean() * std::sqrt(ab),
                           c.covariance() * ab + matrix::Identity(c.dim(), c.dim()) * (T(1) - ab));
      }
      cache_.emplace(std::move(w), std::move(comps));
      cached_t_ = t;
    }
    return *cache_;
  }

  void score(const tensor_type& x, int t, tensor_type& out) { at(t).score(x, out); }
  void class_log_prob_grad(const tensor_type& x, int t, std::span<const int> labels, tensor_type& out) {
    at(t).class_log_prob_grad(x, labels, out);
  }
  const tensor_type& energy(const tensor_type& x, int t) { return at(t).energy(x); }
  const tensor_type& energy_and_grad(const tensor_type& x, int t, tensor_type& g) {
    return at(t).energy_and_grad(x, g);
  }

 private:
  gaussian_mixture<T> data_;
  noise_schedule schedule_;
  std::optional<gaussian_mixture<T>> cache_;  // the law at cached_t_
  int cached_t_ = -1;
};

/// N(mu, Sigma) data under the diffusion forward process.
template <class T>
diffused_gaussian_mixture<T> diffused_gaussian(gaussian<T> data, noise_schedule schedule) {
  return {gaussian_mixture<T>({T(1)}, {std::move(data)}), std::move(schedule)};
}

}  // namespace ebm
