#pragma once
// The EGC training objective (Guo et al. 2023, eq. 17 and Algorithm 1; the
// weights of the authors' released code):
//
//   L = Fisher(x_t) + γ · (1/N) Σ_{i labelled} √ᾱ(t_i) · CE_smooth(z(x_t)_i, y_i)
//
// with t_i uniform over the schedule (or, with low_t_fraction, partly drawn
// from its low-noise end, the Fisher term importance-weighted back),
// x_t = √ᾱ x0 + σ ε, the Fisher residual r = a ∇ₓE − b ε of
// objective/denoising_fisher.hpp (default: Algorithm 1's unit-noise target,
// a = b = 1) averaged over features and batch,
// Fisher = (1/N) Σ_i (1/D) ‖r_i‖² (the released code's mean-squared error),
// and z the attention-pooled logits of the same forward pass.  Label
// smoothing 0.2 and γ = 0.005 are the paper's defaults.  A fraction of the
// labels (10%) is dropped to the null label: those samples train the energy
// only (and, for networks with a label input, the null-label embedding, so one
// model also samples unconditionally).  With no labels at all the objective is
// the unsupervised EGC (labels latent): the Fisher term alone.
//
// One forward, one input-gradient backward and one tangent pass give the
// exact gradient of both terms (egc::model::backward_tangent with a logit
// seed; the Fisher part is the forward-over-reverse Hessian-vector product of
// denoising_fisher.hpp).
//
// On a device (egc_loss<T, ebm::cuda> with egc::model<T, ebm::cuda>, in a .cu
// file including ebm/device/cuda/cuda.cuh) the whole step stays there: t and
// the label drops are drawn on the host with the same philox calls as on the
// CPU (t is copied over), ε by the device Philox (the host's numbers), x_t,
// the Fisher residual and the cross-entropy seed are kernels of
// diffusion_kernels<D>, and the per-sample ‖r_i‖², cross-entropies and hits
// (3N doubles) are read back once for the loss and its parts.
#include <cmath>
#include <span>
#include <type_traits>
#include <vector>

#include "../core/philox.hpp"
#include "../nn/layer.hpp"
#include "denoising_fisher.hpp"
#include "detail/diffusion_device.hpp"
#include "noise_schedule.hpp"

namespace ebm::objective {

struct egc_options {
  fisher_target target = fisher_target::noise_unscaled;  ///< Algorithm 1: ‖∇ₓE − ε‖²
  double gamma = 0.005;             ///< weight of the classification term
  double label_smoothing = 0.2;     ///< of the cross-entropy
  bool sqrt_alpha_bar_weight = true;  ///< weight each sample's CE by √ᾱ(t)
  double label_drop = 0.1;          ///< probability of replacing a label by the null label
  bool mean_over_features = true;   ///< Fisher residual averaged (true) or ½-summed over features
  /// Share of the batch whose t is drawn from the low-noise end [0, low_t_steps)
  /// instead of the whole schedule (0: Algorithm 1's uniform t).  The Fisher
  /// term of each sample is importance-weighted by p_uniform(t) / p_drawn(t),
  /// so its expectation stays the uniform-t Fisher divergence; the
  /// cross-entropy is not reweighted, so the classifier sees more nearly
  /// clean images (at uniform t, only ~10% of a linear-schedule batch has
  /// ᾱ > 0.9).  Not in the paper: a lever for short training runs.
  double low_t_fraction = 0;
  int low_t_steps = 100;            ///< the low-noise range's size (timesteps; read when low_t_fraction > 0)
};

template <class T = float, class D = cpu>
class egc_loss {
 public:
  using tensor_type = tensor<T, D>;
  static constexpr int null_label = -1;

  explicit egc_loss(noise_schedule schedule, egc_options opt = {}) : sched_(std::move(schedule)), opt_(opt) {
    EBM_REQUIRE(opt_.gamma >= 0, "egc_loss: gamma must be >= 0, got ", opt_.gamma);
    EBM_REQUIRE(opt_.label_smoothing >= 0 && opt_.label_smoothing < 1,
                "egc_loss: label smoothing must be in [0, 1), got ", opt_.label_smoothing);
    EBM_REQUIRE(opt_.label_drop >= 0 && opt_.label_drop <= 1, "egc_loss: label_drop must be in [0, 1], got ",
                opt_.label_drop);
    EBM_REQUIRE(opt_.low_t_fraction >= 0 && opt_.low_t_fraction < 1,
                "egc_loss: low_t_fraction must be in [0, 1), got ", opt_.low_t_fraction);
    EBM_REQUIRE(opt_.low_t_fraction == 0 || (opt_.low_t_steps >= 1 && opt_.low_t_steps <= sched_.steps()),
                "egc_loss: low_t_steps must be in [1, ", sched_.steps(), "] (the schedule's steps), got ",
                opt_.low_t_steps);
  }

  const noise_schedule& schedule() const { return sched_; }
  const egc_options& options() const { return opt_; }

  /// Draws t, ε and the label drops from `rng`, returns L and adds weight·∇θ L
  /// to the model's parameter gradients.  `labels` may be empty (unsupervised).
  template <class Model>
  T operator()(Model& m, const tensor_type& x0, std::span<const int> labels, philox& rng, T weight = T(1)) {
    check(x0, labels);
    const index_t n = x0.extent(0);
    tensor<T, cpu>& th = ebm::detail::host_side(t_, t_host_);
    th.resize(shape{n});
    for (index_t i = 0; i < n; ++i) {
      // With low_t_fraction = 0 no extra draw is made: the stream (and every
      // run and checkpoint before the option existed) is unchanged.
      const bool low = opt_.low_t_fraction > 0 && rng.uniform() < opt_.low_t_fraction;
      th[i] = T(rng.uniform_int(static_cast<std::uint64_t>(low ? opt_.low_t_steps : sched_.steps())));
    }
    ebm::detail::publish(t_host_, t_, x0);
    ebm::detail::bind_like(eps_, x0);
    eps_.resize(x0.shape());
    if constexpr (on_host) rng.fill_normal<T>(eps_.span());
    else fill_normal(eps_, rng);  // the device Philox: the numbers rng.fill_normal would draw
    used_.assign(labels.begin(), labels.end());
    for (auto& y : used_)
      if (opt_.label_drop > 0 && rng.uniform() < opt_.label_drop) y = null_label;
    return run(m, x0, weight, true);
  }
  /// The same at given timesteps, noise and labels (null_label = unlabelled);
  /// with grads = false the loss alone.
  template <class Model>
  T operator()(Model& m, const tensor_type& x0, std::span<const int> labels, std::span<const int> t,
               const tensor_type& eps, T weight = T(1), bool grads = true) {
    check(x0, labels);
    const index_t n = x0.extent(0);
    EBM_REQUIRE(static_cast<index_t>(t.size()) == n, "egc_loss: ", t.size(), " timesteps for a batch of ", n);
    require_same_shape(x0.shape(), eps.shape(), "egc_loss (noise)");
    tensor<T, cpu>& th = ebm::detail::host_side(t_, t_host_);
    th.resize(shape{n});
    for (index_t i = 0; i < n; ++i) {
      EBM_REQUIRE(0 <= t[i] && t[i] < sched_.steps(), "egc_loss: timestep ", t[i], " of sample ", i,
                  " is outside [0, ", sched_.steps(), ")");
      th[i] = T(t[i]);
    }
    ebm::detail::publish(t_host_, t_, x0);
    ebm::detail::bind_like(eps_, x0);
    eps_ = eps;
    used_.assign(labels.begin(), labels.end());
    return run(m, x0, weight, grads);
  }

  /// Parts of the last loss: the Fisher term and the (unweighted, √ᾱ-weighted
  /// mean) cross-entropy over the labelled samples.
  double fisher() const { return fisher_; }
  double cross_entropy() const { return ce_; }
  /// Accuracy of the noisy batch's logits on its labelled samples.
  double accuracy() const { return accuracy_; }
  const tensor_type& noised() const { return xt_; }
  const tensor_type& timesteps() const { return t_; }
  /// The Fisher term's importance weight at timestep t: p_uniform(t) / p_drawn(t)
  /// (1 for every t when low_t_fraction = 0).
  double fisher_weight(int t) const {
    const double p = opt_.low_t_fraction;
    if (p == 0) return 1.0;
    const double low = t < opt_.low_t_steps ? p * double(sched_.steps()) / double(opt_.low_t_steps) : 0.0;
    return 1.0 / ((1 - p) + low);
  }

 private:
  static constexpr bool on_host = std::is_same_v<D, cpu>;

  void check(const tensor_type& x0, std::span<const int> labels) const {
    EBM_REQUIRE(x0.rank() >= 2 && x0.extent(0) > 0, "egc_loss: expected a non-empty batch [N, ...], got ",
                x0.shape());
    EBM_REQUIRE(labels.empty() || static_cast<index_t>(labels.size()) == x0.extent(0), "egc_loss: ",
                labels.size(), " labels for a batch of ", x0.extent(0), " (give none for unsupervised training)");
  }

  /// Per-sample coefficients for both paths, one row of coef_host_ each (in
  /// T): √ᾱ_t, σ_t, the residual's a and b (r = a·∇E − b·ε) and the tangent
  /// direction's scale weight·2·norm·a·w_F; the CE weights (√ᾱ_t or 1) in
  /// w_ce_, the Fisher importance weights w_F in w_fisher_.
  void coefficients(index_t n, T weight, double norm) {
    const tensor<T, cpu>& t = ebm::detail::host_side(t_, t_host_);
    coef_host_.resize(shape{5, n});
    T* c = coef_host_.data();
    w_ce_.assign(static_cast<std::size_t>(n), 0.0);
    w_fisher_.assign(static_cast<std::size_t>(n), 1.0);
    for (index_t i = 0; i < n; ++i) {
      const int ti = static_cast<int>(t[i]);
      const T c0 = T(sched_.sqrt_alpha_bar(ti)), sigma = T(sched_.sigma(ti));
      const double a = opt_.target == fisher_target::noise ? double(sigma) : 1.0;
      const double b = opt_.target == fisher_target::score ? 1.0 / double(sigma) : 1.0;
      c[i] = c0;
      c[n + i] = sigma;
      c[2 * n + i] = T(a);
      c[3 * n + i] = T(b);
      const double wf = fisher_weight(ti);
      c[4 * n + i] = T(double(weight) * 2 * norm * a * wf);
      w_ce_[static_cast<std::size_t>(i)] = opt_.sqrt_alpha_bar_weight ? double(c0) : 1.0;
      w_fisher_[static_cast<std::size_t>(i)] = wf;
    }
  }

  /// Sets the model's time and labels, runs the forward pass at x_t and
  /// returns the input gradient ∇ₓE (ones_ holds the energies' shape).
  template <class Model>
  const tensor_type& input_gradient(Model& m, const D& dev) {
    m.set_time(t_);
    if constexpr (requires { m.set_labels(std::span<const int>(used_)); }) {
      if (!used_.empty()) m.set_labels(std::span<const int>(used_));
      else m.clear_labels();
    }
    const tensor_type& y = m.forward(xt_);
    const tensor_type& g = ebm::detail::backward_of_ones(m, ones_, y.shape(), dev);
    require_same_shape(xt_.shape(), g.shape(), "egc_loss (input gradient)");
    return g;
  }

  /// The second-order pass: the tangent along v_ and the parameter gradients
  /// of the Fisher term, plus the cross-entropy's when `seed` holds its
  /// gradient with respect to the logits.
  template <class Model>
  void tangent_pass(Model& m, const D& dev, const tensor_type* seed) {
    m.forward_tangent(v_);
    const tensor_type& zeros = ebm::detail::zero_seed(zeros_, ones_.shape(), dev);
    if (seed) m.backward_tangent(zeros, grad::params, seed);
    else m.backward_tangent(zeros, grad::params);
  }

  index_t count_labelled() const {
    index_t k = 0;
    for (int y_i : used_) k += y_i != null_label;
    return k;
  }

  template <class Model>
  T run(Model& m, const tensor_type& x0, T weight, bool grads) {
    if constexpr (on_host) return run_host(m, x0, weight, grads);
    else return run_device(m, x0, weight, grads);
  }

  template <class Model>
  T run_host(Model& m, const tensor_type& x0, T weight, bool grads) {
    const index_t n = x0.extent(0), d = x0.shape().sample_size();
    const double norm = opt_.mean_over_features ? 1.0 / (double(n) * double(d)) : 0.5 / double(n);
    coefficients(n, weight, norm);
    const T* c = coef_host_.data();
    ebm::detail::noise_on_host(x0, eps_, c, xt_);
    const tensor_type& g = input_gradient(m, cpu{});

    // Fisher term and its tangent direction v = weight · ∂Fisher/∂g.
    v_.resize(xt_.shape());
    double fisher = 0;
    for (index_t i = 0; i < n; ++i) {
      double sq = 0;
      const T scale = c[4 * n + i];
      for (index_t j = i * d; j < (i + 1) * d; ++j) {
        const T r = c[2 * n + i] * g[j] - c[3 * n + i] * eps_[j];
        sq += double(r) * double(r);
        v_[j] = scale * r;
      }
      fisher += norm * w_fisher_[static_cast<std::size_t>(i)] * sq;
    }
    fisher_ = fisher;

    // Cross-entropy on the labelled samples (seed on the logits).
    ce_ = 0;
    accuracy_ = 0;
    const tensor_type* seed = nullptr;
    const index_t labelled = count_labelled();
    if constexpr (requires { m.logits(); }) {
    if (labelled > 0 && opt_.gamma > 0) {
      const tensor_type& z = m.logits();
      const index_t k = z.extent(1);
      gz_.resize(z.shape());
      gz_.zero();
      const double off = opt_.label_smoothing / double(k), on = 1 - opt_.label_smoothing + off;
      double ce = 0;
      index_t correct = 0;
      for (index_t i = 0; i < n; ++i) {
        const int y_i = used_[static_cast<std::size_t>(i)];
        if (y_i == null_label) continue;
        EBM_REQUIRE(0 <= y_i && y_i < k, "egc_loss: label ", y_i, " of sample ", i, " is outside [0, ", k, ")");
        const T* zi = z.data() + i * k;
        double mx = zi[0];
        index_t arg = 0;
        for (index_t c = 1; c < k; ++c)
          if (zi[c] > mx) mx = zi[c], arg = c;
        correct += arg == y_i;
        double sum = 0;
        for (index_t c = 0; c < k; ++c) sum += std::exp(double(zi[c]) - mx);
        const double lognorm = mx + std::log(sum);
        double ce_i = 0;
        for (index_t c = 0; c < k; ++c) {
          const double q = c == y_i ? on : off, logp = double(zi[c]) - lognorm;
          ce_i -= q * logp;
          gz_[i * k + c] = T(double(weight) * opt_.gamma * w_ce_[i] / double(n) * (std::exp(logp) - q));
        }
        ce += w_ce_[i] * ce_i;
      }
      ce_ = ce / double(n);
      accuracy_ = double(correct) / double(labelled);
      seed = &gz_;
    }
    } else {
      EBM_REQUIRE(labelled == 0 || opt_.gamma == 0, "egc_loss: labels were given but the model has no logits()");
    }

    if (grads) tangent_pass(m, cpu{}, seed);
    return T(fisher_ + opt_.gamma * ce_);
  }

  // run_host's steps on a device: the per-sample coefficients are computed on
  // the host with run_host's formulas and copied, the loops are kernels, and
  // the per-sample sums come back in one read.
  template <class Model>
  T run_device(Model& m, const tensor_type& x0, T weight, bool grads) {
    static_assert(std::is_same_v<typename Model::device_type, D>,
                  "egc_loss: the model must live on the objective's device (its device_type must be D)");
    const index_t n = x0.extent(0), d = x0.shape().sample_size();
    const D dev = x0.device();
    const double norm = opt_.mean_over_features ? 1.0 / (double(n) * double(d)) : 0.5 / double(n);
    coefficients(n, weight, norm);
    ebm::detail::upload(coef_host_, coef_, dev);
    const T* cd = coef_.data();
    ebm::detail::bind_to(xt_, dev);
    xt_.resize(x0.shape());
    diffusion_kernels<D>::template noise<T>(dev, x0.data(), eps_.data(), cd, cd + n, xt_.data(), n, d);
    const tensor_type& g = input_gradient(m, dev);

    // Per-sample sums: ‖r_i‖² in [0, n), the cross-entropies in [n, 2n), hits in [2n, 3n).
    ebm::detail::bind_to(sums_, dev);
    sums_.resize(shape{3 * n});
    ebm::detail::bind_to(v_, dev);
    v_.resize(xt_.shape());
    diffusion_kernels<D>::template fisher_residual<T>(dev, g.data(), eps_.data(), cd + 2 * n, cd + 3 * n,
                                                      cd + 4 * n, v_.data(), sums_.data(), n, d);

    const tensor_type* seed = nullptr;
    const index_t labelled = count_labelled();
    if constexpr (requires { m.logits(); }) {
      if (labelled > 0 && opt_.gamma > 0) {
        const tensor_type& z = m.logits();
        const index_t k = z.extent(1);
        labels_host_.resize(shape{n});
        pre_host_.resize(shape{n});
        for (index_t i = 0; i < n; ++i) {
          const int y_i = used_[static_cast<std::size_t>(i)];
          EBM_REQUIRE(y_i == null_label || (0 <= y_i && y_i < k), "egc_loss: label ", y_i, " of sample ", i,
                      " is outside [0, ", k, ")");
          labels_host_[i] = y_i;
          pre_host_[i] = double(weight) * opt_.gamma * w_ce_[static_cast<std::size_t>(i)] / double(n);
        }
        ebm::detail::upload(labels_host_, labels_, dev);
        ebm::detail::upload(pre_host_, pre_, dev);
        ebm::detail::bind_to(gz_, dev);
        gz_.resize(z.shape());
        const double off = opt_.label_smoothing / double(k), on = 1 - opt_.label_smoothing + off;
        diffusion_kernels<D>::template cross_entropy<T>(dev, z.data(), labels_.data(), n, k, on, off, pre_.data(),
                                                        0.0, 1.0, gz_.data(), sums_.data() + n);
        seed = &gz_;
      }
    } else {
      EBM_REQUIRE(labelled == 0 || opt_.gamma == 0, "egc_loss: labels were given but the model has no logits()");
    }

    if (grads) tangent_pass(m, dev, seed);

    copy(sums_, sums_host_);  // waits for the passes queued before it
    double fisher = 0;
    for (index_t i = 0; i < n; ++i) fisher += norm * w_fisher_[static_cast<std::size_t>(i)] * sums_host_[i];
    fisher_ = fisher;
    ce_ = 0;
    accuracy_ = 0;
    if (seed) {
      double ce = 0, correct = 0;
      for (index_t i = 0; i < n; ++i) {
        if (used_[static_cast<std::size_t>(i)] == null_label) continue;
        ce += w_ce_[static_cast<std::size_t>(i)] * sums_host_[n + i];
        correct += sums_host_[2 * n + i];
      }
      ce_ = ce / double(n);
      accuracy_ = correct / double(labelled);
    }
    return T(fisher_ + opt_.gamma * ce_);
  }

  noise_schedule sched_;
  egc_options opt_;
  std::vector<int> used_;
  double fisher_ = 0, ce_ = 0, accuracy_ = 0;
  tensor_type xt_, eps_, t_, ones_, zeros_, v_, gz_;
  // Both paths: the per-sample coefficients (rows of coef_host_) and CE
  // weights.  Device runs only: the host staging of t, labels and CE factors,
  // their device copies, and the per-sample sums.
  tensor<T, cpu> coef_host_, t_host_;
  std::vector<double> w_ce_, w_fisher_;
  tensor<int, cpu> labels_host_;
  tensor<double, cpu> pre_host_, sums_host_;
  tensor_type coef_;
  tensor<int, D> labels_;
  tensor<double, D> pre_, sums_;
};

}  // namespace ebm::objective
