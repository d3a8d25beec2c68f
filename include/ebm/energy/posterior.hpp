#pragma once
// posterior_energy<E>: a prior energy plus a quadratic data term, the energy
// of the posterior of x given an observation y = x + noise with Gaussian noise
// of known variance,
//
//   U(x) = E(x) + (w / 2) ||x - y||^2,      grad U(x) = grad E(x) + w (x - y),
//
// so exp(-U) ∝ exp(-E(x)) · N(y; x, I / w).  With E the negative log prior
// and noise variance sigma^2, w = 1 / sigma^2; when the prior is exp(-E / tau)
// (an energy learned at temperature tau, as CF-EBM's is: see
// cf_ebm::model::denoise) and the sampler runs at that temperature, the data
// term must be scaled alike: w = tau / sigma^2.  Running any sampler on U
// samples the posterior (Langevin started at y: denoising); noise-free
// descent on U finds its mode (MAP).
//
//   auto post = ebm::posterior_of(prior, noisy, 1 / (sigma * sigma));
//   sampler.run(post, x, steps, rng);
//
// The observation has x's shape, or holds fewer samples M with the batch size
// N a multiple of M: chain i is tied to observation i mod M (M observations
// times K chains each, in blocks of M).  The prior is referred to, not owned;
// the observation is copied.
#include <cmath>
#include <utility>

#include "concept.hpp"

namespace ebm {

template <class E>
class posterior_energy {
  static_assert(energy_function<E>,
                "posterior_energy: the prior needs energy(x) and energy_and_grad(x, g) (ebm/energy/concept.hpp)");

 public:
  using value_type = typename E::value_type;
  using device_type = typename E::device_type;
  using tensor_type = tensor<value_type, device_type>;
  static_assert(std::same_as<device_type, cpu>, "posterior_energy: host tensors only (device_type ebm::cpu)");

  /// `weight` w >= 0 is the data term's precision in the prior's energy units.
  posterior_energy(E& prior, tensor_type observation, value_type weight)
      : prior_(&prior), y_(std::move(observation)), w_(weight) {
    EBM_REQUIRE(y_.rank() >= 1 && y_.extent(0) > 0, "posterior_energy: the observation must be a non-empty batch "
                "[M, ...], got ", y_.shape());
    EBM_REQUIRE(w_ >= value_type(0) && std::isfinite(w_), "posterior_energy: the weight must be finite and >= 0, "
                "got ", w_);
  }

  E& prior() { return *prior_; }
  const tensor_type& observation() const { return y_; }
  value_type weight() const { return w_; }
  void set_weight(value_type w) {
    EBM_REQUIRE(w >= value_type(0) && std::isfinite(w), "posterior_energy: the weight must be finite and >= 0, got ",
                w);
    w_ = w;
  }

  const tensor_type& energy(const tensor_type& x) {
    check(x);
    e_ = prior_->energy(x);
    add_data_term(x, nullptr);
    return e_;
  }
  const tensor_type& energy_and_grad(const tensor_type& x, tensor_type& g) {
    check(x);
    e_ = prior_->energy_and_grad(x, g);
    require_same_shape(x.shape(), g.shape(), "posterior_energy (prior gradient)");
    add_data_term(x, &g);
    return e_;
  }

 private:
  void check(const tensor_type& x) const {
    EBM_REQUIRE(x.rank() == y_.rank() && x.rank() >= 1 && x.shape().sample_size() == y_.shape().sample_size() &&
                    x.extent(0) % y_.extent(0) == 0,
                "posterior_energy: x ", x.shape(), " does not match the observation ", y_.shape(),
                " (same sample shape, and a batch that is a multiple of the observation's)");
  }
  void add_data_term(const tensor_type& x, tensor_type* g) {
    const index_t n = x.extent(0), m = y_.extent(0), per = x.shape().sample_size();
    for (index_t i = 0; i < n; ++i) {
      const value_type* xi = x.data() + i * per;
      const value_type* yi = y_.data() + (i % m) * per;
      double sq = 0;
      for (index_t j = 0; j < per; ++j) {
        const double d = double(xi[j]) - double(yi[j]);
        sq += d * d;
      }
      e_[i] += static_cast<value_type>(0.5 * double(w_) * sq);
      if (g) {
        value_type* gi = g->data() + i * per;
        for (index_t j = 0; j < per; ++j) gi[j] += w_ * (xi[j] - yi[j]);
      }
    }
  }

  E* prior_;
  tensor_type y_;
  value_type w_;
  tensor_type e_;
};

template <class E>
posterior_energy<E> posterior_of(E& prior, tensor<typename E::value_type, typename E::device_type> observation,
                                 typename E::value_type weight) {
  return posterior_energy<E>(prior, std::move(observation), weight);
}

}  // namespace ebm
