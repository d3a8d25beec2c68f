#pragma once
// Maximum likelihood for energy-based models, in its contrastive form
// (CF-EBM eq. 2).  For p_θ(x) ∝ exp(−E_θ(x)) the gradient of the negative
// log-likelihood is E_data[∇θ E] − E_model[∇θ E]; with model samples from a
// sampler (treated as constants: no gradient flows through the chains) it is
// the gradient of the surrogate loss
//
//   L = mean_i E(x_i) − mean_j E(s_j) + α (mean_i E(x_i)² + mean_j E(s_j)²),
//
// whose optional second term (α ≥ 0) keeps the energies near zero (Du &
// Mordatch 2019); without it only energy differences are pinned down and the
// raw values can drift.  The gradient is one backward pass per batch with
// per-sample weights  (±1 + 2α E)/N  and grad::params only.
//
//   objective::maximum_likelihood<float> ml;          // or ml(0.1f) with the L2 term
//   zero_grad(net);
//   float loss = ml(net, data, samples);              // accumulates ∇θ L
//   adam.step();
//
// On a device (maximum_likelihood<T, ebm::cuda> with a network built on it,
// in a .cu file including ebm/device/cuda/cuda.cuh) the batches and the
// network stay there; each batch's N energies are copied to the host once
// for the loss and its statistics (the same double sums as on the host), and
// the backward weights are written by a kernel
// (training_kernels<D>::energy_weights).
#include <cstddef>
#include <type_traits>

#include "../nn/first_order.hpp"
#include "../nn/layer.hpp"
#include "detail/energy_output.hpp"

namespace ebm::objective {

template <class T = float, class D = cpu>
class maximum_likelihood {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  /// What the last call measured (for progress reports).
  struct statistics {
    double loss = 0;           ///< the full loss, regulariser included
    double energy_data = 0;    ///< mean E over the data batch
    double energy_sample = 0;  ///< mean E over the model samples
    double regularizer = 0;    ///< α (mean E(data)² + mean E(sample)²)
  };

  /// `energy_l2` is α, the weight of the energy-magnitude term (0 = off).
  explicit maximum_likelihood(T energy_l2 = T(0)) : alpha_(energy_l2) {
    EBM_REQUIRE(energy_l2 >= T(0), "maximum_likelihood: the energy L2 weight must be >= 0, got ",
                energy_l2);
  }

  T energy_l2() const { return alpha_; }
  void set_energy_l2(T alpha) { alpha_ = alpha; }
  const statistics& last() const { return stats_; }

  /// Returns L for the batches and adds weight·∇θ L to the network's
  /// parameter gradients.  `data` [N, ...] and `samples` [M, ...] may differ
  /// in batch size.
  template <class Net>
  T operator()(Net& net, const tensor_type& data, const tensor_type& samples, T weight = T(1)) {
    return run(net, data, samples, weight, true);
  }

  /// The loss alone; parameter gradients are left untouched.
  template <class Net>
  T evaluate(Net& net, const tensor_type& data, const tensor_type& samples) {
    return run(net, data, samples, T(1), false);
  }

 private:
  struct moments {
    double mean = 0, mean_sq = 0;
  };

  template <class Net>
  T run(Net& net, const tensor_type& data, const tensor_type& samples, T weight, bool grads) {
    if constexpr (std::is_same_v<D, cpu>)
      detail::require_host_network<Net>();
    else
      detail::require_network_on<Net, D>();
    EBM_REQUIRE(data.rank() >= 1 && data.extent(0) > 0 && samples.rank() >= 1 &&
                    samples.extent(0) > 0,
                "maximum_likelihood: both batches must be non-empty, got data ", data.shape(),
                " and samples ", samples.shape());
    const moments d = pass(net, data, T(1), weight, grads);
    const moments s = pass(net, samples, T(-1), weight, grads);
    stats_.energy_data = d.mean;
    stats_.energy_sample = s.mean;
    stats_.regularizer = double(alpha_) * (d.mean_sq + s.mean_sq);
    stats_.loss = d.mean - s.mean + stats_.regularizer;
    return static_cast<T>(stats_.loss);
  }

  // One batch: forward, the energy moments, and (when asked) the backward
  // pass with gy_i = weight (sign + 2α E_i) / n, the derivative of
  // weight (sign·mean E + α mean E²) with respect to E_i.
  template <class Net>
  moments pass(Net& net, const tensor_type& x, T sign, T weight, bool grads) {
    first_order_scope first_order;  // forward and backward only
    const tensor_type& y = net.forward(x);
    detail::require_energies(y, x, "maximum_likelihood");
    const index_t n = x.extent(0);
    if constexpr (std::is_same_v<D, cpu>) {
      const moments m = energy_moments(y.data(), n);
      if (grads) {
        gy_.resize(y.shape());
        const T scale = weight / T(n);
        for (index_t i = 0; i < n; ++i) gy_[i] = scale * (sign + T(2) * alpha_ * y[i]);
        net.backward(gy_, grad::params);
      }
      return m;
    } else {
      copy(y, y_host_);  // the device's copy (waits for the forward pass)
      const moments m = energy_moments(y_host_.data(), n);
      if (grads) {
        if (gy_.capacity() == 0) gy_ = tensor_type(y.device());  // on the network's stream
        gy_.resize(y.shape());
        training_kernels<D>::template energy_weights<T>(y.device(), y.data(), gy_.data(), n, weight / T(n), sign,
                                                        alpha_);
        net.backward(gy_, grad::params);
      }
      return m;
    }
  }

  static moments energy_moments(const T* y, index_t n) {
    moments m;
    for (index_t i = 0; i < n; ++i) {
      m.mean += double(y[i]);
      m.mean_sq += double(y[i]) * double(y[i]);
    }
    m.mean /= double(n);
    m.mean_sq /= double(n);
    return m;
  }

  T alpha_;
  statistics stats_;
  tensor_type gy_;
  tensor<T, cpu> y_host_;  // a device's energies, copied for the moments
};

}  // namespace ebm::objective
