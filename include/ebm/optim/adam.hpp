#pragma once
// Adam (Kingma & Ba 2015) with optional L2 or decoupled (AdamW, Loshchilov &
// Hutter 2019) weight decay.  At step k = 1, 2, ... with gradient g:
//
//   g ← g + λθ                    (L2 weight decay, decoupled = false)
//   m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
//   θ ← θ − lr λ θ               (decoupled weight decay)
//   θ ← θ − lr · (m / (1 − β₁ᵏ)) / (√(v / (1 − β₂ᵏ)) + ε)
//
// which is PyTorch's torch.optim.Adam / AdamW.  CF-EBM trains with β₁ = 0.5,
// β₂ = 0.999.  The optimizer reads and writes the tensors of
// collect_params(net); it neither zeroes gradients nor calls refresh(net)
// (the trainer does both).  Its state (the step counter, m and v per
// parameter) is visited by name for checkpoints (io::save_state).
//
//   optim::adam<float> opt(collect_params(net), {.lr = 1e-4, .beta1 = 0.5});
//   zero_grad(net); loss(...); opt.step(); refresh(net);
//
// adam<T, ebm::cuda> (parameters of a network built on the GPU) keeps m and
// v on the device and updates each parameter tensor with one fused kernel
// (the same expression, rounded operation by operation as the host loop).
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../nn/layer.hpp"
#include "detail/param_state.hpp"

namespace ebm::optim {

struct adam_options {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  bool decoupled_weight_decay = false;  ///< AdamW when true
};

template <class T = float, class D = cpu>
class adam {
 public:
  using value_type = T;
  using param_list = std::vector<param_ref<T, D>>;

  explicit adam(param_list params, adam_options opt = {})
      : params_(std::move(params)), opt_(opt), m_(detail::zeros_like(params_)),
        v_(detail::zeros_like(params_)) {
    detail::require_known_device<D>();
    EBM_REQUIRE(opt.lr >= 0 && opt.eps > 0 && opt.weight_decay >= 0,
                "adam: need lr >= 0, eps > 0, weight_decay >= 0");
    EBM_REQUIRE(0 <= opt.beta1 && opt.beta1 < 1 && 0 <= opt.beta2 && opt.beta2 < 1,
                "adam: betas must be in [0, 1), got ", opt.beta1, " and ", opt.beta2);
  }

  void step() {
    ++steps_;
    const double k = double(steps_);
    const double c1 = 1 - std::pow(opt_.beta1, k), c2 = 1 - std::pow(opt_.beta2, k);
    const T b1 = T(opt_.beta1), b2 = T(opt_.beta2);
    // θ -= lr/c1 · m / (√v/√c2 + ε), written to need one division per element.
    const T step_size = T(opt_.lr / c1), inv_sqrt_c2 = T(1 / std::sqrt(c2)), eps = T(opt_.eps);
    const T l2 = opt_.decoupled_weight_decay ? T(0) : T(opt_.weight_decay);
    const T shrink = opt_.decoupled_weight_decay ? T(1 - opt_.lr * opt_.weight_decay) : T(1);
    for (std::size_t p = 0; p < params_.size(); ++p) {
      T* w = params_[p].value->data();
      const T* g = params_[p].grad->data();
      T* m = m_[p].data();
      T* v = v_[p].data();
      const index_t n = params_[p].value->size();
      if constexpr (std::is_same_v<D, cpu>) {
        for (index_t i = 0; i < n; ++i) {
          const T gi = g[i] + l2 * w[i];
          m[i] = b1 * m[i] + (T(1) - b1) * gi;
          v[i] = b2 * v[i] + (T(1) - b2) * gi * gi;
          w[i] = shrink * w[i] - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + eps);
        }
      } else {
        training_kernels<D>::template adam<T>(params_[p].value->device(), w, g, m, v, n,
                                              {b1, b2, step_size, inv_sqrt_c2, eps, l2, shrink});
      }
    }
  }

  /// Zeroes the gradients of the optimised parameters.
  void zero_grad() {
    for (auto& p : params_) p.grad->zero();
  }

  double lr() const { return opt_.lr; }
  void set_lr(double lr) { opt_.lr = lr; }
  const adam_options& options() const { return opt_; }
  const param_list& params() const { return params_; }

  /// Steps taken so far (bias correction depends on it; part of the state).
  std::int64_t step_count() const { return steps_; }
  void set_step_count(std::int64_t k) { steps_ = k; }
  /// Visits the state as f(name, x): the step counter ("step", an
  /// std::int64_t) and the moment tensors "m.<param>", "v.<param>" (the
  /// protocol of io::save_state / io::load_state).
  template <class F>
  void visit_state(F&& f) {
    f(std::string_view("step"), steps_);
    detail::visit_named(params_, m_, "m.", f);
    detail::visit_named(params_, v_, "v.", f);
  }

 private:
  param_list params_;
  adam_options opt_;
  std::vector<tensor<T, D>> m_, v_;
  std::int64_t steps_ = 0;
};

}  // namespace ebm::optim
