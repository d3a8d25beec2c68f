#pragma once
// Stochastic gradient descent with optional momentum, Nesterov momentum and
// L2 weight decay, as PyTorch's torch.optim.SGD (dampening 0):
//
//   g ← g + λθ
//   b ← g at the first step, μ b + g afterwards        (μ > 0)
//   g ← g + μ b  (Nesterov)  or  g ← b  (heavy ball)
//   θ ← θ − lr g
//
// Like adam it reads collect_params(net), leaves zeroing and refresh(net) to
// the trainer, and exposes its state ("momentum.<param>", step counter).
//
//   optim::sgd<float> opt(collect_params(net), {.lr = 0.1, .momentum = 0.9, .nesterov = true});
//
// sgd<T, ebm::cuda> updates each parameter tensor with one fused kernel.
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../nn/layer.hpp"
#include "detail/param_state.hpp"

namespace ebm::optim {

struct sgd_options {
  double lr = 1e-2;
  double momentum = 0;
  bool nesterov = false;
  double weight_decay = 0;
};

template <class T = float, class D = cpu>
class sgd {
 public:
  using value_type = T;
  using param_list = std::vector<param_ref<T, D>>;

  explicit sgd(param_list params, sgd_options opt = {})
      : params_(std::move(params)), opt_(opt),
        buf_(opt.momentum > 0 ? detail::zeros_like(params_) : std::vector<tensor<T, D>>{}) {
    detail::require_known_device<D>();
    detail::require_grads(params_);
    EBM_REQUIRE(opt.lr >= 0 && opt.momentum >= 0 && opt.weight_decay >= 0,
                "sgd: need lr, momentum and weight_decay >= 0");
    EBM_REQUIRE(!opt.nesterov || opt.momentum > 0, "sgd: Nesterov momentum needs momentum > 0");
  }

  void step() {
    const T lr = T(opt_.lr), mu = T(opt_.momentum), l2 = T(opt_.weight_decay);
    const bool first = steps_ == 0;
    ++steps_;
    for (std::size_t p = 0; p < params_.size(); ++p) {
      T* w = params_[p].value->data();
      const T* g = params_[p].grad->data();
      const index_t n = params_[p].value->size();
      if constexpr (std::is_same_v<D, cpu>) {
        if (buf_.empty()) {
          for (index_t i = 0; i < n; ++i) w[i] -= lr * (g[i] + l2 * w[i]);
          continue;
        }
        T* b = buf_[p].data();
        for (index_t i = 0; i < n; ++i) {
          const T gi = g[i] + l2 * w[i];
          b[i] = first ? gi : mu * b[i] + gi;
          w[i] -= lr * (opt_.nesterov ? gi + mu * b[i] : b[i]);
        }
      } else {
        // One fused kernel per tensor (a null buffer: no momentum).
        training_kernels<D>::template sgd<T>(params_[p].value->device(), w, g,
                                             buf_.empty() ? nullptr : buf_[p].data(), n,
                                             {lr, mu, l2, first, opt_.nesterov});
      }
    }
  }

  void zero_grad() {
    for (auto& p : params_) p.grad->zero();
  }

  double lr() const { return opt_.lr; }
  void set_lr(double lr) { opt_.lr = lr; }
  const sgd_options& options() const { return opt_; }
  const param_list& params() const { return params_; }

  std::int64_t step_count() const { return steps_; }
  void set_step_count(std::int64_t k) { steps_ = k; }
  /// Visits the state as f(name, x): the step counter ("step") and, with
  /// momentum, the buffers "momentum.<param>".
  template <class F>
  void visit_state(F&& f) {
    f(std::string_view("step"), steps_);
    if (!buf_.empty()) detail::visit_named(params_, buf_, "momentum.", f);
  }

 private:
  param_list params_;
  sgd_options opt_;
  std::vector<tensor<T, D>> buf_;
  std::int64_t steps_ = 0;
};

}  // namespace ebm::optim
