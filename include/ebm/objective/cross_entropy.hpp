#pragma once
// Cross-entropy over logits z [N, C] with label smoothing (Szegedy et al.
// 2016), the classification term of EGC (eq. 17):
//
//   q_i = (1 − ε) onehot(y_i) + ε/C,   L = −(1/N) Σ_i Σ_c q_ic log softmax(z_i)_c,
//   ∂L/∂z_ic = (softmax(z_i)_c − q_ic) / N.
//
// log softmax is evaluated as z − max z − log Σ exp(z − max z), stable for
// any logits.  Two entry points: on a network (forward, then one backward
// with grad::params), and on logits a caller computed itself (a classifier
// head shared with an energy, as in EGC).
//
//   objective::cross_entropy<float> ce(0.1f);   // 10% label smoothing
//   float loss = ce(classifier, x, labels);     // accumulates ∇θ L
//
// On a device (cross_entropy<T, ebm::cuda>, in a .cu file including
// ebm/device/cuda/cuda.cuh) the logits and their gradient stay there: the
// labels (checked on the host) are copied over, one kernel
// (diffusion_kernels<D>::cross_entropy) runs the host's per-row loops, and
// the N per-row losses and hits are read back for the loss and accuracy.
#include <algorithm>
#include <cmath>
#include <span>
#include <type_traits>

#include "../nn/first_order.hpp"
#include "../nn/layer.hpp"
#include "detail/diffusion_device.hpp"
#include "detail/energy_output.hpp"

namespace ebm::objective {

template <class T = float, class D = cpu>
class cross_entropy {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  explicit cross_entropy(T label_smoothing = T(0)) : smoothing_(label_smoothing) {
    EBM_REQUIRE(label_smoothing >= T(0) && label_smoothing < T(1),
                "cross_entropy: label smoothing must be in [0, 1), got ", label_smoothing);
  }

  T label_smoothing() const { return smoothing_; }
  /// Fraction of the last batch whose largest logit was the label.
  double accuracy() const { return accuracy_; }

  /// Returns L for the network's logits on x and adds weight·∇θ L to the
  /// parameter gradients.
  template <class Net>
  T operator()(Net& net, const tensor_type& x, std::span<const int> labels, T weight = T(1)) {
    require_network<Net>();
    first_order_scope first_order;  // forward and backward only
    const tensor_type& z = net.forward(x);
    const T loss = loss_and_grad(z, labels, &gz_, weight);
    net.backward(gz_, grad::params);
    return loss;
  }
  /// The loss alone; parameter gradients are left untouched.
  template <class Net>
  T evaluate(Net& net, const tensor_type& x, std::span<const int> labels) {
    require_network<Net>();
    return loss_and_grad(net.forward(x), labels, nullptr);
  }

  /// L for logits [N, C]; when `glogits` is given it is resized to the shape
  /// of the logits and set to weight·∂L/∂z.
  T loss_and_grad(const tensor_type& logits, std::span<const int> labels, tensor_type* glogits,
                  T weight = T(1)) {
    EBM_REQUIRE(logits.rank() == 2 && logits.extent(0) > 0 && logits.extent(1) > 0,
                "cross_entropy: expected logits [N, C], got ", logits.shape());
    const index_t n = logits.extent(0), c = logits.extent(1);
    EBM_REQUIRE(static_cast<index_t>(labels.size()) == n, "cross_entropy: got ", labels.size(),
                " labels for ", n, " rows of logits");
    const double off = double(smoothing_) / double(c), on = 1.0 - double(smoothing_) + off;
    if constexpr (!std::is_same_v<D, cpu>) {
      return device_loss_and_grad(logits, labels, glogits, weight, on, off);
    } else {
      if (glogits) glogits->resize(logits.shape());
      double loss = 0;
      index_t correct = 0;
      for (index_t i = 0; i < n; ++i) {
        const int y = labels[static_cast<std::size_t>(i)];
        EBM_REQUIRE(0 <= y && y < c, "cross_entropy: label ", y, " of sample ", i,
                    " is outside [0, ", c, ")");
        const T* z = logits.data() + i * c;
        const index_t arg = std::max_element(z, z + c) - z;
        correct += arg == y;
        const double zmax = double(z[arg]);
        double sum = 0;
        for (index_t k = 0; k < c; ++k) sum += std::exp(double(z[k]) - zmax);
        const double log_norm = zmax + std::log(sum);
        for (index_t k = 0; k < c; ++k) {
          const double q = k == y ? on : off;
          const double log_p = double(z[k]) - log_norm;
          loss -= q * log_p;
          if (glogits) (*glogits)[i * c + k] = static_cast<T>(double(weight) * (std::exp(log_p) - q) / double(n));
        }
      }
      accuracy_ = double(correct) / double(n);
      return static_cast<T>(loss / double(n));
    }
  }

 private:
  template <class Net>
  static constexpr void require_network() {
    if constexpr (std::is_same_v<D, cpu>)
      detail::require_host_network<Net>();
    else
      detail::require_network_on<Net, D>();
  }

  T device_loss_and_grad(const tensor_type& logits, std::span<const int> labels, tensor_type* glogits, T weight,
                         double on, double off) {
    const index_t n = logits.extent(0), c = logits.extent(1);
    const D dev = logits.device();
    labels_host_.resize(shape{n});
    for (index_t i = 0; i < n; ++i) {
      const int y = labels[static_cast<std::size_t>(i)];
      EBM_REQUIRE(0 <= y && y < c, "cross_entropy: label ", y, " of sample ", i, " is outside [0, ", c, ")");
      labels_host_[i] = y;
    }
    ebm::detail::upload(labels_host_, labels_, dev);
    if (glogits) {
      ebm::detail::bind_to(*glogits, dev);
      glogits->resize(logits.shape());
    }
    ebm::detail::bind_to(rows_, dev);
    rows_.resize(shape{2 * n});
    diffusion_kernels<D>::template cross_entropy<T>(dev, logits.data(), labels_.data(), n, c, on, off, nullptr,
                                                    double(weight), double(n), glogits ? glogits->data() : nullptr,
                                                    rows_.data());
    copy(rows_, rows_host_);
    double loss = 0, correct = 0;
    for (index_t i = 0; i < n; ++i) loss += rows_host_[i], correct += rows_host_[n + i];
    accuracy_ = correct / double(n);
    return static_cast<T>(loss / double(n));
  }

  T smoothing_;
  double accuracy_ = 0;
  tensor_type gz_;
  // Device runs only: the labels, the per-row losses and hits.
  tensor<int, cpu> labels_host_;
  tensor<int, D> labels_;
  tensor<double, D> rows_;
  tensor<double, cpu> rows_host_;
};

}  // namespace ebm::objective
