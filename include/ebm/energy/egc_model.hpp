#pragma once
// egc::model: the EGC network (energy/egc.hpp) with its two heads,
//
//   energy     E(x, t) = -Σ_pixels logsumexp_k f(x, t)[k]    -> [N, 1]
//   logits     z(x, t) = attention_pool(f(x, t))             -> [N, K]
//
// The model is a differentiable block from x to E (so the generic derivative
// checker, the denoising Fisher objective and the samplers take it as it is)
// and a classifier: after forward(x), logits() pools the same per-pixel
// logits, and logits_backward() sends a gradient of the logits back.
//
// backward_tangent() takes an optional first-order seed on the logits.  Since
// backward_tangent is linear in its incoming tangent, adding J_poolᵀ g_z to the
// tangent at f adds exactly J_θᵀ J_poolᵀ g_z, the cross-entropy gradient, to
// the parameter gradients: EGC's joint loss (objective/egc.hpp) costs one
// forward, one backward and one tangent pass.
//
// Adapters: egc::score_model (reverse diffusion, sample/diffusion.hpp) and
// egc::classifier (eval/adversarial.hpp, clean images at t = 0).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <type_traits>

#include "../nn/attention_pool.hpp"
#include "../nn/logsumexp.hpp"
#include "../objective/denoising_fisher.hpp"
#include "../objective/detail/diffusion_device.hpp"
#include "../objective/noise_schedule.hpp"
#include "egc.hpp"

namespace ebm::egc {

template <class T = float, class D = cpu>
class model {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  explicit model(config cfg, D dev = {})
      : net_(std::move(cfg), dev), lse_(dev), pool_(dev), dev_(dev) {}

  network<T, D>& net() { return net_; }
  const config& cfg() const { return net_.cfg(); }
  int classes() const { return net_.cfg().classes; }

  /// Timesteps [N] of the coming forward (the tensor must stay alive).
  void set_time(const tensor_type& t) { net_.set_time(t); }
  /// All samples at one timestep.
  void set_time(index_t n, int t) {
    t_own_.resize(shape{n});
    t_own_.fill(T(t));
    net_.set_time(t_own_);
  }
  void set_labels(std::span<const int> labels) { net_.set_labels(labels); }
  void clear_labels() { net_.clear_labels(); }

  // --- the energy as a differentiable block -------------------------------
  const tensor_type& forward(const tensor_type& x) {
    z_ = nullptr;
    f_ = &net_.forward(x);
    return lse_.forward(*f_);
  }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    return net_.backward(lse_.backward(gy, grad::input), g);
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    return lse_.forward_tangent(net_.forward_tangent(dx));
  }
  /// The tangent of backward(); with `logit_grad` the first-order gradient
  /// J_zᵀ logit_grad is added (see the header comment; logits() must have
  /// run after the last forward).
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input,
                                      const tensor_type* logit_grad = nullptr) {
    const tensor_type& dgf = lse_.backward_tangent(dgy, grad::input);
    if (!logit_grad) return net_.backward_tangent(dgf, g);
    require_pooled("backward_tangent with a logit gradient");
    const tensor_type& gp = pool_.backward(*logit_grad, grad::input);
    sum_.resize(dgf.shape());
    elementwise<D>::axpby(dev_, T(1), dgf.data(), T(1), gp.data(), sum_.data(), sum_.size());
    return net_.backward_tangent(sum_, g);
  }

  // --- the classifier --------------------------------------------------------
  /// Per-pixel logits f [N, K, R', R'] of the last forward.
  const tensor_type& pixel_logits() const {
    EBM_REQUIRE(f_, "egc::model::pixel_logits: call forward() first");
    return *f_;
  }
  /// Class logits [N, K] of the last forward (attention pool of f).
  const tensor_type& logits() {
    if (!z_) z_ = &pool_.forward(pixel_logits());
    return *z_;
  }
  /// gx = ∂<glogits, logits>/∂x (grad::input) and/or the parameter gradients.
  const tensor_type& logits_backward(const tensor_type& glogits, grad g = grad::input) {
    require_pooled("logits_backward");
    return net_.backward(pool_.backward(glogits, grad::input), g);
  }
  /// Logits of x at timestep t (clean images: t = 0).
  const tensor_type& classify(const tensor_type& x, int t = 0) {
    set_time(x.extent(0), t);
    forward(x);
    return logits();
  }

  template <class F>
  void visit_params(F&& f) { net_.visit_params(f); }
  void init(philox& rng) { nn::initialize(net_, rng); }

 private:
  void require_pooled(const char* who) const {
    EBM_REQUIRE(z_, "egc::model::", who, ": call logits() after forward() first");
  }

  network<T, D> net_;
  nn::logsumexp_energy<T, D> lse_;
  nn::attention_pool<T, D> pool_;
  D dev_;
  const tensor_type* f_ = nullptr;  // per-pixel logits of the last forward
  const tensor_type* z_ = nullptr;  // pooled logits, once logits() ran
  tensor_type t_own_, sum_;
};

/// Reverse diffusion's view of a model (sample/score_model.hpp): the score
/// at timestep t from the energy's input gradient, by the parameterisation
/// the model was trained with (objective/denoising_fisher.hpp):
///   noise_unscaled  ∇ₓE ≈ ε        → score = −∇ₓE / σ_t   (EGC Algorithm 1)
///   noise           σ_t ∇ₓE ≈ ε    → score = −∇ₓE
///   score           −∇ₓE ≈ score   → score = −∇ₓE
/// and classifier guidance ∇ₓ log p(y | x_t) = ∇ₓ (z_y − logsumexp z) from the
/// same forward pass (the sampler asks for both at the same x and t; the
/// forward is reused when x is bit-identical to the last call's).  On a
/// device (D = ebm::cuda) the score, the guidance seed and the bitwise
/// comparison are kernels; the labels are checked on the host and copied.
template <class T = float, class D = cpu>
class score_model {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  score_model(model<T, D>& m, noise_schedule schedule,
              objective::fisher_target target = objective::fisher_target::noise_unscaled)
      : m_(&m), sched_(std::move(schedule)), target_(target) {}

  /// Forgets the cached forward (call after the model's parameters changed).
  void reset() { last_t_ = -1; }

  void score(const tensor_type& x, int t, tensor_type& out) {
    run_forward(x, t);
    ones_.resize(shape{x.extent(0), 1});
    ones_.fill(T(1));
    const tensor_type& g = m_->backward(ones_, grad::input);
    const T c = target_ == objective::fisher_target::noise_unscaled ? T(-1 / sched_.sigma(t)) : T(-1);
    out.resize(x.shape());
    if constexpr (on_host) {
      for (index_t i = 0; i < out.size(); ++i) out[i] = c * g[i];
    } else {
      elementwise<D>::scale(x.device(), c, g.data(), out.data(), out.size());
    }
  }
  void class_log_prob_grad(const tensor_type& x, int t, std::span<const int> labels, tensor_type& out) {
    run_forward(x, t);
    const tensor_type& z = m_->logits();
    const index_t n = z.extent(0), k = z.extent(1);
    EBM_REQUIRE(static_cast<index_t>(labels.size()) == n, "egc::score_model: ", labels.size(),
                " labels for ", n, " chains");
    if constexpr (!on_host) {
      const D dev = x.device();
      labels_host_.resize(shape{n});
      for (index_t i = 0; i < n; ++i) {
        const int y = labels[static_cast<std::size_t>(i)];
        EBM_REQUIRE(0 <= y && y < k, "egc::score_model: guidance label ", y, " of chain ", i,
                    " is outside [0, ", k, ")");
        labels_host_[i] = y;
      }
      ebm::detail::upload(labels_host_, labels_, dev);
      ebm::detail::bind_to(gz_, dev);
      gz_.resize(z.shape());
      diffusion_kernels<D>::template log_prob_logit_grad<T>(dev, z.data(), labels_.data(), n, k, gz_.data());
    } else {
      gz_.resize(z.shape());
      for (index_t i = 0; i < n; ++i) {
        const int y = labels[static_cast<std::size_t>(i)];
        EBM_REQUIRE(0 <= y && y < k, "egc::score_model: guidance label ", y, " of chain ", i,
                    " is outside [0, ", k, ")");
        const T* zi = z.data() + i * k;
        const T m = *std::max_element(zi, zi + k);
        T sum = 0;
        for (index_t c = 0; c < k; ++c) sum += std::exp(zi[c] - m);
        for (index_t c = 0; c < k; ++c) gz_[i * k + c] = (c == y ? T(1) : T(0)) - std::exp(zi[c] - m) / sum;
      }
    }
    out = m_->logits_backward(gz_, grad::input);
  }

 private:
  static constexpr bool on_host = std::is_same_v<D, cpu>;

  void run_forward(const tensor_type& x, int t) {
    bool same = t == last_t_ && last_x_.shape() == x.shape();
    if constexpr (on_host) {
      same = same && std::memcmp(last_x_.data(), x.data(), sizeof(T) * std::size_t(x.size())) == 0;
    } else {
      same = same && diffusion_kernels<D>::template bitwise_equal<T>(x.device(), last_x_.data(), x.data(),
                                                                     x.size(), status_);
      ebm::detail::bind_to(last_x_, x.device());
      ebm::detail::bind_to(ones_, x.device());
    }
    if (same) return;
    m_->set_time(x.extent(0), t);
    m_->forward(x);
    last_x_ = x;
    last_t_ = t;
  }

  model<T, D>* m_;
  noise_schedule sched_;
  objective::fisher_target target_;
  tensor_type last_x_, ones_, gz_;
  int last_t_ = -1;
  // Device runs only: the guidance labels and the comparison's status word.
  tensor<int, cpu> labels_host_;
  tensor<int, D> labels_;
  ebm::detail::diffusion_status<D> status_;
};

/// The classifier at a fixed timestep (default 0, clean images) in the shape
/// eval/adversarial.hpp attacks: logits(x) and logits_input_grad(glogits).
template <class T = float, class D = cpu>
class classifier {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  explicit classifier(model<T, D>& m, int t = 0) : m_(&m), t_(t) {}
  const tensor_type& logits(const tensor_type& x) { return m_->classify(x, t_); }
  const tensor_type& logits_input_grad(const tensor_type& glogits) {
    return m_->logits_backward(glogits, grad::input);
  }

 private:
  model<T, D>* m_;
  int t_;
};

}  // namespace ebm::egc
