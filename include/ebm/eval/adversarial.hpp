#pragma once
// White-box L-infinity attacks on a differentiable classifier, and the
// robustness curve (accuracy under attack against the budget eps) that
// compares classifiers, e.g. EGC's energy-based classifier with a plain one.
//
// A differentiable_classifier M (value_type T) offers
//   const tensor<T>& logits(const tensor<T>& x);             // [N, C] for x [N, ...]
//   const tensor<T>& logits_input_grad(const tensor<T>& gz); // d<gz, logits>/dx at the x of the last logits()
// (network_classifier adapts any network with forward / backward(gy, grad::input),
// e.g. eval::classifier or an nn::sequential ending in the logits).
//
//   fgsm  (Goodfellow et al. 2015):  x_adv = clamp(x + eps sign(grad_x CE), lo, hi);
//   pgd   (Madry et al. 2018):       x_adv = x + U(-eps, eps) (random start), then `iters` times
//                                    x_adv = P(x_adv + step sign(grad_x CE)),
//   P = projection onto {|x_adv - x|_inf <= eps} intersected with [lo, hi] (elementwise clamp).
//
// CE is the cross-entropy of the labels; its gradient with respect to the
// logits, softmax - onehot, is used scaled per sample by 1 / (1 - p_label),
// computed in log space: exp(z_c - logsumexp_{c' != y} z_c') for c != y and
// -1 for c = y.  A positive scale per sample leaves sign(grad_x CE) unchanged,
// but this form never underflows, so confidently classified samples (p_label
// within 1e-16 of 1) are still attacked instead of getting a zero gradient.
// Coordinates with a zero gradient do not move (sign(0) = 0).
//
// The images must lie in [lo, hi] (default [-1, 1], ebm's image range); the
// attacks keep them there, and PGD's iterates stay within eps of x up to the
// rounding of x +- eps.  accuracy() counts argmax(logits) == label (ties go to
// the lower class).  robustness_curve() attacks the data set in batches of
// opt.batch images (so it runs on tens of thousands) at every eps of a list:
//
//   auto curve = ebm::eval::robustness_curve(model, test.images().view(), test.labels(),
//                                            {0.0, 2 / 255.0, 4 / 255.0, 8 / 255.0}, ebm::eval::attack::pgd, rng);
//   for (auto [eps, acc] : curve) std::cout << eps << ' ' << acc << '\n';
//
// Randomness: pgd with random_start draws x.size() uniforms (fill_uniform)
// per call (none when eps = 0); fgsm draws nothing.  robustness_curve calls the attack once per
// batch, eps by eps, so its draws depend on the batch size.  eps = 0 is the
// clean accuracy (no attack runs; both attacks return x unchanged there).
#include <algorithm>
#include <cmath>
#include <concepts>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "../nn/layer.hpp"

namespace ebm::eval {

template <class M>
concept differentiable_classifier = requires(M& m, const tensor<typename M::value_type>& x) {
  typename M::value_type;
  { m.logits(x) } -> std::convertible_to<const tensor<typename M::value_type>&>;
  { m.logits_input_grad(x) } -> std::convertible_to<const tensor<typename M::value_type>&>;
};

/// A network with the derivative contract (forward = logits, backward with
/// grad::input) as a differentiable_classifier; refers to the network.
template <class Net>
class network_classifier {
 public:
  using value_type = typename Net::value_type;
  using tensor_type = tensor<value_type>;

  explicit network_classifier(Net& net) : net_(&net) {}
  const tensor_type& logits(const tensor_type& x) { return net_->forward(x); }
  const tensor_type& logits_input_grad(const tensor_type& gz) { return net_->backward(gz, grad::input); }

 private:
  Net* net_;
};

enum class attack { fgsm, pgd };

/// Settings of robustness_curve (the budget eps comes with each point).
struct attack_options {
  int iters = 10;            ///< PGD iterations
  double step_ratio = 0;     ///< PGD step = step_ratio * eps; 0 = 2.5 / iters (Madry et al.)
  bool random_start = true;  ///< PGD starts at a uniform point of the eps-ball
  double lo = -1, hi = 1;    ///< the valid pixel range
  index_t batch = 256;       ///< images per attacked batch
};

struct robustness_point {
  double eps;
  double accuracy;  ///< fraction of images still classified correctly under attack
};

namespace detail {
template <class M>
constexpr void check_classifier() {
  static_assert(differentiable_classifier<M>,
                "the attack needs a classifier with logits(x) -> const tensor<T>& [N, C] and "
                "logits_input_grad(gz) -> const tensor<T>& (ebm/eval/adversarial.hpp); wrap a network in "
                "network_classifier");
}

template <class T>
void check_attack_inputs(const char* who, tensor_view<const T> x, std::span<const int> labels, double lo,
                         double hi) {
  const shape& s = x.shape();
  EBM_REQUIRE(s.rank() >= 1, who, ": need a batch [N, ...] of images, got shape ", s);
  EBM_REQUIRE(static_cast<index_t>(labels.size()) == s[0], who, ": ", labels.size(), " labels for ", s[0],
              " images");
  EBM_REQUIRE(lo < hi, who, ": need lo < hi, got [", lo, ", ", hi, "]");
  const index_t per = s.sample_size();
  for (index_t i = 0; i < x.size(); ++i)
    EBM_REQUIRE(double(x[i]) >= lo && double(x[i]) <= hi, who, ": image ", i / per, " has value ", x[i],
                " at index ", i % per, ", outside the pixel range [", lo, ", ", hi, "]");
}

/// Checks logits [N, C] (C >= 2, finite) against the labels.
template <class T>
void check_logits(const char* who, const tensor<T>& z, std::span<const int> labels) {
  const index_t n = static_cast<index_t>(labels.size());
  EBM_REQUIRE(z.rank() == 2 && z.extent(0) == n, who, ": the classifier returned logits of shape ", z.shape(),
              " for ", n, " images (expected [", n, ", classes])");
  const index_t C = z.extent(1);
  EBM_REQUIRE(C >= 2, who, ": need at least 2 classes, the classifier has ", C);
  for (index_t i = 0; i < n; ++i) {
    const int y = labels[static_cast<std::size_t>(i)];
    EBM_REQUIRE(y >= 0 && y < C, who, ": label ", y, " of image ", i, " is out of range [0, ", C, ")");
    for (index_t c = 0; c < C; ++c)
      EBM_REQUIRE(std::isfinite(z(i, c)), who, ": the logits of image ", i, " are not finite (", z(i, c),
                  " for class ", c, ")");
  }
}

/// grad_x CE at x (scaled per sample by 1 / (1 - p_label); see the header).
template <class M, class T>
const tensor<T>& ce_input_grad(const char* who, M& model, const tensor<T>& x, std::span<const int> labels,
                               tensor<T>& gz) {
  const tensor<T>& z = model.logits(x);
  check_logits(who, z, labels);
  const index_t n = z.extent(0), C = z.extent(1);
  gz.resize(z.shape());
  for (index_t i = 0; i < n; ++i) {
    const int y = labels[static_cast<std::size_t>(i)];
    double mx = -std::numeric_limits<double>::infinity();
    for (index_t c = 0; c < C; ++c)
      if (c != y) mx = std::max(mx, double(z(i, c)));
    double s = 0;
    for (index_t c = 0; c < C; ++c)
      if (c != y) s += std::exp(double(z(i, c)) - mx);
    const double lse = mx + std::log(s);
    for (index_t c = 0; c < C; ++c) gz(i, c) = c == y ? T(-1) : T(std::exp(double(z(i, c)) - lse));
  }
  const tensor<T>& gx = model.logits_input_grad(gz);
  require_same_shape(x.shape(), gx.shape(), who);
  return gx;
}

template <class T>
T sign(T v) {
  return T((v > T(0)) - (v < T(0)));
}

/// How many images argmax(logits) classifies as their label.
template <class M, class T>
index_t count_correct(const char* who, M& model, const tensor<T>& x, std::span<const int> labels) {
  const tensor<T>& z = model.logits(x);
  check_logits(who, z, labels);
  index_t correct = 0;
  for (index_t i = 0; i < z.extent(0); ++i) {
    index_t best = 0;
    for (index_t c = 1; c < z.extent(1); ++c)
      if (z(i, c) > z(i, best)) best = c;
    correct += best == labels[static_cast<std::size_t>(i)];
  }
  return correct;
}
}  // namespace detail

/// Fast gradient sign method: clamp(x + eps sign(grad_x CE), lo, hi).
template <class M>
tensor<typename M::value_type> fgsm(M& model, const tensor<typename M::value_type>& x, std::span<const int> labels,
                                    typename M::value_type eps, typename M::value_type lo = -1,
                                    typename M::value_type hi = 1) {
  using T = typename M::value_type;
  detail::check_classifier<M>();
  detail::check_attack_inputs<T>("fgsm", x, labels, double(lo), double(hi));
  EBM_REQUIRE(eps >= T(0), "fgsm: eps must be non-negative, got ", eps);
  tensor<T> gz;
  const tensor<T>& g = detail::ce_input_grad("fgsm", model, x, labels, gz);
  tensor<T> adv;
  adv.resize(x.shape());
  for (index_t i = 0; i < x.size(); ++i) adv[i] = std::clamp(x[i] + eps * detail::sign(g[i]), lo, hi);
  return adv;
}

/// Projected gradient descent on the CE (ascent), `iters` sign steps of
/// size `step`, projected onto the eps-ball around x and [lo, hi].
template <class M>
tensor<typename M::value_type> pgd(M& model, const tensor<typename M::value_type>& x, std::span<const int> labels,
                                   typename M::value_type eps, typename M::value_type step, int iters, philox& rng,
                                   bool random_start = true, typename M::value_type lo = -1,
                                   typename M::value_type hi = 1) {
  using T = typename M::value_type;
  detail::check_classifier<M>();
  detail::check_attack_inputs<T>("pgd", x, labels, double(lo), double(hi));
  EBM_REQUIRE(eps >= T(0), "pgd: eps must be non-negative, got ", eps);
  EBM_REQUIRE(iters >= 0, "pgd: iters must be non-negative, got ", iters);
  EBM_REQUIRE(step > T(0) || iters == 0, "pgd: the step must be positive, got ", step);
  auto project = [&](index_t i, T v) { return std::clamp(v, std::max(lo, x[i] - eps), std::min(hi, x[i] + eps)); };
  tensor<T> adv = x;
  if (random_start && eps > T(0)) {
    rng.fill_uniform(adv.span(), -eps, eps);
    for (index_t i = 0; i < x.size(); ++i) adv[i] = project(i, x[i] + adv[i]);
  }
  tensor<T> gz;
  for (int k = 0; k < iters; ++k) {
    const tensor<T>& g = detail::ce_input_grad("pgd", model, adv, labels, gz);
    for (index_t i = 0; i < x.size(); ++i) adv[i] = project(i, adv[i] + step * detail::sign(g[i]));
  }
  return adv;
}

/// The fraction of images [N, ...] whose argmax logit is their label, in
/// batches of `batch` images.
template <class M>
double accuracy(M& model, tensor_view<const typename M::value_type> x, std::span<const int> labels,
                index_t batch = 256) {
  using T = typename M::value_type;
  detail::check_classifier<M>();
  const shape& s = x.shape();
  EBM_REQUIRE(s.rank() >= 1 && s[0] >= 1, "accuracy: need a non-empty batch [N, ...], got shape ", s);
  EBM_REQUIRE(static_cast<index_t>(labels.size()) == s[0], "accuracy: ", labels.size(), " labels for ", s[0],
              " images");
  EBM_REQUIRE(batch >= 1, "accuracy: the batch size must be positive, got ", batch);
  index_t correct = 0;
  tensor<T> xb;
  for (index_t first = 0; first < s[0]; first += batch) {
    const index_t n = std::min(batch, s[0] - first);
    xb = tensor<T>(x.samples(first, n));
    correct += detail::count_correct("accuracy", model, xb, labels.subspan(static_cast<std::size_t>(first),
                                                                           static_cast<std::size_t>(n)));
  }
  return double(correct) / double(s[0]);
}

/// Accuracy under attack at each eps, over images [N, ...] in [opt.lo, opt.hi].
template <class M>
std::vector<robustness_point> robustness_curve(M& model, tensor_view<const typename M::value_type> x,
                                               std::span<const int> labels, const std::vector<double>& eps,
                                               attack kind, philox& rng, const attack_options& opt = {}) {
  using T = typename M::value_type;
  detail::check_classifier<M>();
  const shape& s = x.shape();
  EBM_REQUIRE(s.rank() >= 1 && s[0] >= 1, "robustness_curve: need a non-empty batch [N, ...], got shape ", s);
  detail::check_attack_inputs<T>("robustness_curve", x, labels, opt.lo, opt.hi);
  EBM_REQUIRE(opt.batch >= 1, "robustness_curve: the batch size must be positive, got ", opt.batch);
  EBM_REQUIRE(kind == attack::fgsm || opt.iters >= 1, "robustness_curve: PGD needs iters >= 1, got ", opt.iters);
  EBM_REQUIRE(opt.step_ratio >= 0, "robustness_curve: step_ratio must be non-negative, got ", opt.step_ratio);
  for (double e : eps) EBM_REQUIRE(e >= 0, "robustness_curve: eps must be non-negative, got ", e);
  const double ratio = opt.step_ratio > 0 ? opt.step_ratio : 2.5 / std::max(opt.iters, 1);
  std::vector<robustness_point> curve;
  tensor<T> xb;
  for (double e : eps) {
    index_t correct = 0;
    for (index_t first = 0; first < s[0]; first += opt.batch) {
      const index_t n = std::min(opt.batch, s[0] - first);
      xb = tensor<T>(x.samples(first, n));
      const auto lb = labels.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(n));
      if (e > 0) {
        if (kind == attack::fgsm)
          xb = fgsm(model, xb, lb, T(e), T(opt.lo), T(opt.hi));
        else
          xb = pgd(model, xb, lb, T(e), T(ratio * e), opt.iters, rng, opt.random_start, T(opt.lo), T(opt.hi));
      }
      correct += detail::count_correct("robustness_curve", model, xb, lb);
    }
    curve.push_back({e, double(correct) / double(s[0])});
  }
  return curve;
}

}  // namespace ebm::eval
