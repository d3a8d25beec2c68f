#pragma once
// Exponential moving average of parameters (Polyak averaging), the weights
// diffusion models and EBMs are usually evaluated with:
//
//   θ̄ ← d θ̄ + (1 − d) θ      after every optimizer step,
//
// with d = decay, or with warm-up d = min(decay, (1 + k) / (10 + k)) at the
// k-th update (TensorFlow's ExponentialMovingAverage), so early averages are
// not dominated by the initial weights.  The average starts as a copy of the
// parameters.  For evaluation the averages are swapped into the network and
// back (a swap exchanges buffers' contents, so nothing is lost):
//
//   optim::ema<float> avg(collect_params(net), 0.999);
//   ...; opt.step(); avg.update();
//   { auto scope = avg.swapped(); refresh(net); sample(net); }   // averaged weights
//   refresh(net);                                                  // live weights again
//
// Blocks with derived state (spectral norm) need refresh(net) after a swap;
// like the optimizers, ema leaves that to the caller.
//
// ema<T, ebm::cuda> keeps the averages on the device (one fused kernel per
// parameter tensor for update and swap).
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../nn/layer.hpp"
#include "detail/param_state.hpp"

namespace ebm::optim {

template <class T = float, class D = cpu>
class ema {
 public:
  using value_type = T;
  using param_list = std::vector<param_ref<T, D>>;

  explicit ema(param_list params, double decay = 0.999, bool warmup = false)
      : params_(std::move(params)), decay_(decay), warmup_(warmup) {
    detail::require_known_device<D>();
    EBM_REQUIRE(0 <= decay && decay <= 1, "ema: decay must be in [0, 1], got ", decay);
    avg_.reserve(params_.size());
    for (auto& p : params_) avg_.push_back(*p.value);
  }

  /// The decay the next update() uses.
  double current_decay() const {
    return warmup_ ? std::min(decay_, (1.0 + double(updates_)) / (10.0 + double(updates_))) : decay_;
  }

  /// θ̄ ← d θ̄ + (1 − d) θ.
  void update() {
    EBM_REQUIRE(!swapped_, "ema::update: the averages are swapped into the network; swap back first");
    const T d = T(current_decay()), c = T(1) - d;
    ++updates_;
    for (std::size_t p = 0; p < params_.size(); ++p) {
      const T* w = params_[p].value->data();
      T* a = avg_[p].data();
      const index_t n = avg_[p].size();
      if constexpr (std::is_same_v<D, cpu>)
        for (index_t i = 0; i < n; ++i) a[i] = d * a[i] + c * w[i];
      else
        training_kernels<D>::template ema<T>(avg_[p].device(), a, w, n, d, c);
    }
  }

  /// Exchanges the parameters and their averages (call again to undo).
  /// Contents are exchanged, not buffers: the network's tensors keep their
  /// memory (on a device: one swap kernel per tensor).
  void swap() {
    for (std::size_t p = 0; p < params_.size(); ++p) {
      if constexpr (std::is_same_v<D, cpu>)
        std::swap_ranges(avg_[p].begin(), avg_[p].end(), params_[p].value->begin());
      else
        training_kernels<D>::template swap<T>(avg_[p].device(), avg_[p].data(), params_[p].value->data(),
                                              avg_[p].size());
    }
    swapped_ = !swapped_;
  }
  /// Whether the averages are in the network now.
  bool is_swapped() const { return swapped_; }

  /// Swaps the averages in now and back when the guard is destroyed.
  class scoped_swap {
   public:
    explicit scoped_swap(ema& e) : e_(&e) { e_->swap(); }
    scoped_swap(scoped_swap&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
    scoped_swap(const scoped_swap&) = delete;
    scoped_swap& operator=(const scoped_swap&) = delete;
    scoped_swap& operator=(scoped_swap&&) = delete;
    ~scoped_swap() {
      if (e_) e_->swap();
    }

   private:
    ema* e_;
  };
  [[nodiscard]] scoped_swap swapped() { return scoped_swap(*this); }

  /// Copies the averages into the parameters for good (e.g. before export).
  void copy_to_params() {
    EBM_REQUIRE(!swapped_, "ema::copy_to_params: swap back first");
    for (std::size_t p = 0; p < params_.size(); ++p) *params_[p].value = avg_[p];
  }

  double decay() const { return decay_; }
  const tensor<T, D>& average(std::size_t i) const { return avg_.at(i); }

  std::int64_t update_count() const { return updates_; }
  void set_update_count(std::int64_t k) { updates_ = k; }
  /// Visits the state as f(name, x): the update counter ("updates", which
  /// drives the warm-up) and the averages "ema.<param>".
  template <class F>
  void visit_state(F&& f) {
    EBM_REQUIRE(!swapped_, "ema::visit_state: the averages are swapped into the network; swap back first");
    f(std::string_view("updates"), updates_);
    detail::visit_named(params_, avg_, "ema.", f);
  }

 private:
  param_list params_;
  std::vector<tensor<T, D>> avg_;
  double decay_;
  bool warmup_;
  bool swapped_ = false;
  std::int64_t updates_ = 0;
};

}  // namespace ebm::optim
