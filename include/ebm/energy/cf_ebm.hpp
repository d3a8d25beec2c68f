#pragma once
// The CF-EBM expanding energy (Zhao, Xie & Li, ICLR 2021, §3.2, appendix A.1,
// Table 6, Figure 8).
//
// Resolution levels l = 0 .. L (base_resolution · 2^l, e.g. 4, 8, 16, 32).
// Blocks, all convolutions spectrally normalised:
//   FromRGB_l : 1×1 conv (image channels -> ch(l)) + activation
//   Primal_l  : (l >= 1) two 3×3 convs with activation, the second with
//               stride 2, plus a residual branch of 2×2 average pooling and a
//               1×1 conv: ch(l) at r_l -> ch(l-1) at r_l / 2
//   Top       : 3×3 conv + activation, 4×4 valid conv + activation (r_0 = 4
//               -> 1×1), flatten, linear -> one energy per sample
//   Fade_l    : FromRGB_{l-1} ∘ AvgPool2 — the coarse model's entry point
//               applied to the pooled image, so that at beta = 0 the expanded
//               energy equals the coarse energy on pooled inputs exactly.
// At stage s (input resolution r_s) with fading factor beta:
//   h = beta · Primal_s(FromRGB_s(x)) + (1 - beta) · Fade_s(x)    (s >= 1)
//   h = FromRGB_0(x)                                              (s = 0)
//   E(x) = Top(Primal_1(... Primal_{s-1}(h)))
// The fade branch is not evaluated once beta = 1.
//
// Channel widths ch(l) follow Table 6 read from the finest level down: c at
// the finest resolution, then 2c, then 4c for every coarser level (for a
// 32×32 model with c = 32: 32, 64, 128, 128 channels at 32, 16, 8, 4).
// The pooling-then-1×1-conv order of the residual branch equals the paper's
// conv-then-pool (both are linear and commute) at a quarter of the cost.
//
// The whole stack exists from construction; the stage only selects which
// blocks run.  visit_params() visits the blocks of the current stage (what
// the optimizer trains); visit_all_params() visits every block (checkpoints).
#include <string>
#include <vector>

#include "../nn/activation.hpp"
#include "../nn/branch.hpp"
#include "../nn/conv2d.hpp"
#include "../nn/flatten.hpp"
#include "../nn/linear.hpp"
#include "../nn/pool.hpp"
#include "../nn/sequential.hpp"
#include "../nn/spectral_norm.hpp"

namespace ebm::cf_ebm {

struct config {
  int image_channels = 1;    ///< 1 (gray) or 3 (RGB)
  int c = 32;                ///< channel multiplier
  int base_resolution = 4;   ///< resolution of level 0 (the top block needs 4)
  int max_resolution = 32;   ///< finest resolution (base · 2^L)
  bool spectral_norm = true; ///< spectral normalisation of every convolution

  int levels() const {
    int l = 0;
    for (int r = base_resolution; r < max_resolution; r *= 2) ++l;
    return l + 1;
  }
  int resolution(int level) const { return base_resolution << level; }
  /// Channels of the feature maps at a level (Table 6 read from the finest).
  int channels(int level) const {
    const int from_top = levels() - 1 - level;
    return from_top == 0 ? c : from_top == 1 ? 2 * c : 4 * c;
  }
  /// Multiply-adds of one forward pass of the energy at a level (the Primal
  /// path; the Fade branch while fading is not counted): what a training
  /// step's cost scales with, used for progress estimates.
  double macs(int level) const {
    auto ch = [&](int l) { return double(channels(l)); };
    auto px = [&](int l) { return double(resolution(l)) * resolution(l); };
    double m = image_channels * ch(level) * px(level);  // FromRGB
    for (int l = level; l >= 1; --l)  // 3x3, 3x3 stride 2, pooled 1x1 branch
      m += 9 * ch(l) * ch(l) * px(l) + (9 + 1) * ch(l) * ch(l - 1) * px(l) / 4;
    // top block: 3x3 at 4x4, the 4x4 convolution to one pixel, the linear head
    return m + 9 * ch(0) * ch(0) * px(0) + 16 * ch(0) * ch(0) + ch(0);
  }
  void validate() const {
    EBM_REQUIRE(image_channels >= 1, "cf_ebm::config: image_channels must be >= 1, got ", image_channels);
    EBM_REQUIRE(c >= 1, "cf_ebm::config: channel multiplier c must be >= 1, got ", c);
    EBM_REQUIRE(base_resolution == 4, "cf_ebm::config: the top block's 4×4 convolution needs "
                "base_resolution 4, got ", base_resolution);
    EBM_REQUIRE(max_resolution >= base_resolution &&
                    (max_resolution & (max_resolution - 1)) == 0,
                "cf_ebm::config: max_resolution must be a power of two >= 4, got ", max_resolution);
  }
};

template <class T = float, class D = cpu, class Act = act::swish>
class energy {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  using conv_act = nn::spectral_norm<nn::conv2d<T, D, Act>>;
  using conv_lin = nn::spectral_norm<nn::conv2d<T, D, act::identity>>;
  using from_rgb_t = conv_act;
  using primal_t = nn::residual<nn::sequential<conv_act, conv_act>,
                                nn::sequential<nn::avg_pool2d<T, D>, conv_lin>>;
  using top_t = nn::sequential<conv_act, conv_act, nn::flatten<T, D>, nn::linear<T, D>>;
  // On the host the skip branch writes the residual sums itself (nn::branch_sum).
  using skip_t = nn::sequential<nn::avg_pool2d<T, D>, conv_lin>;
  static_assert(!std::is_same_v<D, cpu> || requires(skip_t& k, const tensor_type& t, tensor_type& o) {
    k.forward_add(t, t, T(1), o);
    k.backward_add(t, grad::input, t, o);
  });

  explicit energy(const config& cfg, D dev = {}) : cfg_(cfg), dev_(dev) {
    cfg_.validate();
    const int L = cfg_.levels();
    for (int l = 0; l < L; ++l) {
      from_rgb_.push_back(make_conv<Act>(cfg_.image_channels, cfg_.channels(l), 1, 1, 0));
      if (l >= 1)
        primal_.push_back(primal_t(
            nn::sequential{make_conv<Act>(cfg_.channels(l), cfg_.channels(l), 3, 1, 1),
                           make_conv<Act>(cfg_.channels(l), cfg_.channels(l - 1), 3, 2, 1)},
            nn::sequential{nn::avg_pool2d<T, D>(dev_),
                           make_conv<act::identity>(cfg_.channels(l), cfg_.channels(l - 1), 1, 1, 0)}));
    }
    const int top = cfg_.channels(0);
    top_.emplace_back(make_conv<Act>(top, top, 3, 1, 1), make_conv<Act>(top, top, 4, 1, 0),
                      nn::flatten<T, D>{}, nn::linear<T, D>(top, 1, true, dev_));
    pool_ = nn::avg_pool2d<T, D>(dev_);
  }

  const config& cfg() const { return cfg_; }
  const D& device() const { return dev_; }
  int levels() const { return cfg_.levels(); }
  int stage() const { return stage_; }
  T beta() const { return beta_; }
  int resolution() const { return cfg_.resolution(stage_); }
  /// Selects the active stage (0 = base resolution) and the fading factor.
  void set_stage(int stage, T beta = 1) {
    EBM_REQUIRE(stage >= 0 && stage < levels(), "cf_ebm::energy: stage ", stage, " out of range [0, ",
                levels(), ")");
    EBM_REQUIRE(beta >= T(0) && beta <= T(1), "cf_ebm::energy: beta must lie in [0, 1], got ", beta);
    stage_ = stage;
    beta_ = beta;
  }
  void set_beta(T beta) { set_stage(stage_, beta); }
  bool fading() const { return stage_ > 0 && beta_ < T(1); }

  // ------------------------------------------------------------- passes --
  const tensor_type& forward(const tensor_type& x) {
    const index_t r = resolution();
    EBM_REQUIRE(x.rank() == 4 && x.extent(1) == cfg_.image_channels && x.extent(2) == r && x.extent(3) == r,
                "cf_ebm::energy (stage ", stage_, "): expected images [N, ", cfg_.image_channels, ", ", r,
                ", ", r, "], got ", x.shape());
    const tensor_type* h = &from_rgb_[stage_].forward(x);
    if (stage_ > 0) {
      h = &primal_[stage_ - 1].forward(*h);
      if (fading()) {
        const tensor_type& fade = from_rgb_[stage_ - 1].forward(pool_.forward(x));
        mix_.resize(h->shape());
        elementwise<D>::axpby(dev_, beta_, h->data(), T(1) - beta_, fade.data(), mix_.data(), mix_.size());
        h = &mix_;
      }
      for (int l = stage_ - 1; l >= 1; --l) h = &primal_[l - 1].forward(*h);
    }
    return top_[0].forward(*h);
  }

  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    const grad inner = g | grad::input;
    const tensor_type* gh = &top_[0].backward(gy, inner);
    if (stage_ == 0) return from_rgb_[0].backward(*gh, g);
    for (int l = 1; l <= stage_ - 1; ++l) gh = &primal_[l - 1].backward(*gh, inner);
    if (!fading()) return from_rgb_[stage_].backward(primal_[stage_ - 1].backward(*gh, inner), g);
    scale_into(gp_, *gh, beta_);
    scale_into(gf_, *gh, T(1) - beta_);
    const tensor_type& gx_primal = from_rgb_[stage_].backward(primal_[stage_ - 1].backward(gp_, inner), g);
    const tensor_type& gx_fade = pool_.backward(from_rgb_[stage_ - 1].backward(gf_, inner), g);
    return sum_into(gx_, gx_primal, gx_fade, g);
  }

  const tensor_type& forward_tangent(const tensor_type& dx) {
    const tensor_type* dh = &from_rgb_[stage_].forward_tangent(dx);
    if (stage_ > 0) {
      dh = &primal_[stage_ - 1].forward_tangent(*dh);
      if (fading()) {
        const tensor_type& dfade = from_rgb_[stage_ - 1].forward_tangent(pool_.forward_tangent(dx));
        dmix_.resize(dh->shape());
        elementwise<D>::axpby(dev_, beta_, dh->data(), T(1) - beta_, dfade.data(), dmix_.data(), dmix_.size());
        dh = &dmix_;
      }
      for (int l = stage_ - 1; l >= 1; --l) dh = &primal_[l - 1].forward_tangent(*dh);
    }
    return top_[0].forward_tangent(*dh);
  }

  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    const grad inner = g | grad::input;
    const tensor_type* dgh = &top_[0].backward_tangent(dgy, inner);
    if (stage_ == 0) return from_rgb_[0].backward_tangent(*dgh, g);
    for (int l = 1; l <= stage_ - 1; ++l) dgh = &primal_[l - 1].backward_tangent(*dgh, inner);
    if (!fading())
      return from_rgb_[stage_].backward_tangent(primal_[stage_ - 1].backward_tangent(*dgh, inner), g);
    scale_into(dgp_, *dgh, beta_);
    scale_into(dgf_, *dgh, T(1) - beta_);
    const tensor_type& a = from_rgb_[stage_].backward_tangent(primal_[stage_ - 1].backward_tangent(dgp_, inner), g);
    const tensor_type& b = pool_.backward_tangent(from_rgb_[stage_ - 1].backward_tangent(dgf_, inner), g);
    return sum_into(dgx_, a, b, g);
  }

  // --------------------------------------------------------- parameters --
  /// Parameters of the blocks the current stage uses.
  template <class F>
  void visit_params(F&& f) {
    for_active([&](auto& block, const std::string& name) { ebm::visit_params(block, ebm::detail::prefixed(name, f)); });
  }
  /// Parameters of every block of every stage (for checkpoints).
  template <class F>
  void visit_all_params(F&& f) {
    for_all([&](auto& block, const std::string& name) { ebm::visit_params(block, ebm::detail::prefixed(name, f)); });
  }
  template <class F>
  void visit_buffers(F&& f) {
    for_all([&](auto& block, const std::string& name) { ebm::visit_buffers(block, ebm::detail::prefixed_buffer(name, f)); });
  }
  void on_buffers_loaded() {
    for_all([&](auto& block, const std::string&) { ebm::buffers_loaded(block); });
  }
  void init(philox& rng) {
    for_all([&](auto& block, const std::string&) { initialize(block, rng); });
  }
  /// After an optimizer step: one power iteration for every active
  /// spectral-norm block.
  void refresh() {
    for_active([&](auto& block, const std::string&) { ebm::refresh(block); });
  }

 private:
  template <class A>
  nn::spectral_norm<nn::conv2d<T, D, A>> make_conv(int cin, int cout, int k, int stride, int pad) {
    // Without spectral normalisation the wrapper stays (uniform types) but
    // is a transparent pass-through.
    return nn::spectral_norm<nn::conv2d<T, D, A>>(nn::conv2d<T, D, A>(cin, cout, k, stride, pad, true, dev_),
                                                   cfg_.spectral_norm ? 20 : 0, cfg_.spectral_norm);
  }
  template <class F>
  void for_active(F&& f) {
    f(top_[0], "top");
    for (int l = 1; l <= stage_; ++l) f(primal_[l - 1], "primal" + std::to_string(l));
    f(from_rgb_[stage_], "from_rgb" + std::to_string(stage_));
    if (fading()) f(from_rgb_[stage_ - 1], "from_rgb" + std::to_string(stage_ - 1));
  }
  template <class F>
  void for_all(F&& f) {
    f(top_[0], "top");
    for (int l = 1; l < levels(); ++l) f(primal_[l - 1], "primal" + std::to_string(l));
    for (int l = 0; l < levels(); ++l) f(from_rgb_[l], "from_rgb" + std::to_string(l));
  }
  void scale_into(tensor_type& out, const tensor_type& in, T w) {
    out.resize(in.shape());
    elementwise<D>::scale(dev_, w, in.data(), out.data(), in.size());
  }
  const tensor_type& sum_into(tensor_type& out, const tensor_type& a, const tensor_type& b, grad g) {
    if (!wants_input(g)) return out;
    out.resize(a.shape());
    elementwise<D>::axpby(dev_, T(1), a.data(), T(1), b.data(), out.data(), out.size());
    return out;
  }

  config cfg_;
  D dev_;
  int stage_ = 0;
  T beta_ = 1;
  std::vector<from_rgb_t> from_rgb_;
  std::vector<primal_t> primal_;
  std::vector<top_t> top_;  // one element (sequential has no default constructor)
  nn::avg_pool2d<T, D> pool_;
  tensor_type mix_, dmix_, gp_, gf_, gx_, dgp_, dgf_, dgx_;
};

}  // namespace ebm::cf_ebm
