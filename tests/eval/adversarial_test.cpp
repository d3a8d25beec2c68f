#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <ebm/core/philox.hpp>
#include <ebm/eval/adversarial.hpp>
#include <ebm/nn/linear.hpp>

using namespace ebm;
using namespace ebm::eval;

namespace {
// logits = W x + b with W [C, D]; the input gradient of <gz, logits> is gz W.
template <class T = double>
struct linear_model {
  using value_type = T;
  index_t C, D;
  std::vector<T> W, b;
  tensor<T> z, gx;
  shape xs;
  int logits_calls = 0;

  linear_model(index_t classes, index_t dim, std::uint64_t seed, double scale = 1) : C(classes), D(dim) {
    philox rng(seed);
    W.resize(static_cast<std::size_t>(C * D));
    b.resize(static_cast<std::size_t>(C));
    rng.fill_normal(std::span<T>(W), T(0), T(scale));
    rng.fill_normal(std::span<T>(b), T(0), T(0.1 * scale));
  }
  T w(index_t c, index_t j) const { return W[static_cast<std::size_t>(c * D + j)]; }

  const tensor<T>& logits(const tensor<T>& x) {
    ++logits_calls;
    REQUIRE(x.shape().sample_size() == D);
    xs = x.shape();
    const index_t n = x.extent(0);
    z.resize(shape{n, C});
    for (index_t i = 0; i < n; ++i)
      for (index_t c = 0; c < C; ++c) {
        T s = b[static_cast<std::size_t>(c)];
        for (index_t j = 0; j < D; ++j) s += w(c, j) * x[i * D + j];
        z(i, c) = s;
      }
    return z;
  }
  const tensor<T>& logits_input_grad(const tensor<T>& g) {
    gx.resize(xs);
    for (index_t i = 0; i < xs[0]; ++i)
      for (index_t j = 0; j < D; ++j) {
        T s = 0;
        for (index_t c = 0; c < C; ++c) s += g(i, c) * w(c, j);
        gx[i * D + j] = s;
      }
    return gx;
  }
  /// z_label - max of the other logits (> 0: classified correctly).
  double margin(const tensor<T>& x, index_t i, int label) {
    const tensor<T>& zz = logits(x);
    double other = -std::numeric_limits<double>::infinity();
    for (index_t c = 0; c < C; ++c)
      if (c != label) other = std::max(other, double(zz(i, c)));
    return double(zz(i, label)) - other;
  }
};
static_assert(differentiable_classifier<linear_model<double>>);
static_assert(differentiable_classifier<network_classifier<nn::linear<float>>>);
static_assert(!differentiable_classifier<nn::linear<float>>);

tensor<double> uniform_images(const shape& s, double lo, double hi, std::uint64_t seed) {
  tensor<double> x(s);
  philox rng(seed);
  rng.fill_uniform(x.span(), lo, hi);
  return x;
}
std::vector<int> random_labels(index_t n, int classes, std::uint64_t seed) {
  philox rng(seed);
  std::vector<int> y(static_cast<std::size_t>(n));
  for (int& v : y) v = static_cast<int>(rng.uniform_int(static_cast<std::uint64_t>(classes)));
  return y;
}
template <class T>
std::vector<int> predicted(linear_model<T>& m, const tensor<T>& x) {
  const tensor<T>& z = m.logits(x);
  std::vector<int> y;
  for (index_t i = 0; i < z.extent(0); ++i) {
    int best = 0;
    for (index_t c = 1; c < z.extent(1); ++c)
      if (z(i, c) > z(i, best)) best = static_cast<int>(c);
    y.push_back(best);
  }
  return y;
}
double sgn(double v) { return double((v > 0) - (v < 0)); }
}  // namespace

TEST_CASE("FGSM on a two-class linear classifier lowers every margin by exactly eps ||w_y - w_other||_1") {
  const index_t N = 50, D = 20;
  linear_model<double> m(2, D, 1);
  // Images in [-0.5, 0.5] with eps 0.1: no clamping at [-1, 1].
  const tensor<double> x = uniform_images(shape{N, 4, 5}, -0.5, 0.5, 2);
  const auto labels = random_labels(N, 2, 3);
  const double eps = 0.1;
  const tensor<double> adv = fgsm(m, x, labels, eps);
  REQUIRE(adv.shape() == x.shape());
  for (index_t i = 0; i < N; ++i) {
    const int y = labels[static_cast<std::size_t>(i)], o = 1 - y;
    double l1 = 0;
    for (index_t j = 0; j < D; ++j) {
      l1 += std::abs(m.w(y, j) - m.w(o, j));
      CHECK(adv[i * D + j] == x[i * D + j] + eps * sgn(m.w(o, j) - m.w(y, j)));
    }
    CHECK(m.margin(adv, i, y) == doctest::Approx(m.margin(x, i, y) - eps * l1).epsilon(1e-12));
  }

  // A very confident classifier (margins ~ 1e4, so softmax - onehot underflows to exactly 0
  // in double) is still attacked: the gradient is taken in the scaled, log-space form.
  linear_model<double> sure(2, D, 1, 1e4);
  const auto own = predicted(sure, x);
  CHECK(sure.margin(x, 0, own[0]) > 800);
  const tensor<double> adv2 = fgsm(sure, x, own, eps);
  for (index_t i = 0; i < N; ++i) {
    const int y = own[static_cast<std::size_t>(i)], o = 1 - y;
    for (index_t j = 0; j < D; ++j) CHECK(adv2[i * D + j] == x[i * D + j] + eps * sgn(sure.w(o, j) - sure.w(y, j)));
  }

  // float: the same directions.
  linear_model<float> mf(2, D, 1);
  const tensor<float> xf = tensor_cast<float>(x);
  const tensor<float> advf = fgsm(mf, xf, labels, 0.1f);
  for (index_t i = 0; i < N; ++i) {
    const int y = labels[static_cast<std::size_t>(i)], o = 1 - y;
    for (index_t j = 0; j < D; ++j)
      CHECK(advf[i * D + j] == xf[i * D + j] + 0.1f * float(sgn(mf.w(o, j) - mf.w(y, j))));
  }
}

TEST_CASE("FGSM and PGD keep images in [lo, hi]; PGD never leaves the eps-ball") {
  const index_t N = 300, D = 30;
  linear_model<double> m(4, D, 5);
  const tensor<double> x = uniform_images(shape{N, D}, -1, 1, 6);  // many pixels near the bounds
  const auto labels = predicted(m, x);
  for (double eps : {0.05, 0.3}) {
    INFO("eps " << eps);
    const tensor<double> f = fgsm(m, x, labels, eps);
    int clamped = 0;
    for (index_t i = 0; i < x.size(); ++i) {
      CHECK(f[i] >= -1.0);
      CHECK(f[i] <= 1.0);
      if (f[i] == -1.0 || f[i] == 1.0)
        ++clamped;
      else
        CHECK(std::abs(f[i] - x[i]) == doctest::Approx(eps).epsilon(1e-12));
    }
    CHECK(clamped > 0);
    for (bool start : {true, false}) {
      philox rng(7);
      const tensor<double> p = pgd(m, x, labels, eps, eps / 4, 20, rng, start);
      for (index_t i = 0; i < x.size(); ++i) {
        CHECK(p[i] >= -1.0);
        CHECK(p[i] <= 1.0);
        CHECK(std::abs(p[i] - x[i]) <= eps * (1 + 1e-12));
      }
      CHECK(rng.offset() == (start ? std::uint64_t(x.size() / 2) : 0u));  // double uniforms: 2 per block
    }
  }
  // A random start alone (no iterations) is a uniform point of the ball (and of [lo, hi]).
  philox rng(8);
  const tensor<double> r = pgd(m, x, labels, 0.2, 0.05, 0, rng);
  double moved = 0;
  for (index_t i = 0; i < x.size(); ++i) {
    CHECK(std::abs(r[i] - x[i]) <= 0.2 * (1 + 1e-12));
    CHECK(std::abs(r[i]) <= 1.0);
    moved = std::max(moved, std::abs(r[i] - x[i]));
  }
  CHECK(moved > 0.19);
}

TEST_CASE("PGD is at least as strong as FGSM, and equal to it on two-class linear models") {
  const index_t N = 400, D = 30;
  // Two classes: the worst case in the box is FGSM's corner, and PGD (step eps/5, 20
  // iterations, from anywhere in the ball) reaches exactly that corner.
  linear_model<double> two(2, D, 11);
  const tensor<double> x2 = uniform_images(shape{N, D}, -0.5, 0.5, 12);
  const auto y2 = random_labels(N, 2, 13);
  philox rng(14);
  const tensor<double> f2 = fgsm(two, x2, y2, 0.1), p2 = pgd(two, x2, y2, 0.1, 0.02, 20, rng);
  CHECK(std::memcmp(f2.data(), p2.data(), sizeof(double) * f2.size()) == 0);

  // Four classes: PGD follows the changing worst class and does better.
  linear_model<double> four(4, D, 15);
  const tensor<double> x4 = uniform_images(shape{N, D}, -1, 1, 16);
  const auto y4 = predicted(four, x4);
  CHECK(accuracy(four, x4.view(), y4) == 1.0);
  for (double eps : {0.02, 0.05, 0.1}) {
    INFO("eps " << eps);
    const double acc_f = accuracy(four, fgsm(four, x4, y4, eps).view(), y4);
    const double acc_p = accuracy(four, pgd(four, x4, y4, eps, eps / 4, 20, rng).view(), y4);
    CHECK(acc_p <= acc_f);
    CHECK(acc_f < 1.0);
  }
}

TEST_CASE("eps = 0 leaves the images and the accuracy unchanged") {
  const index_t N = 200, D = 10;
  linear_model<double> m(3, D, 21);
  const tensor<double> x = uniform_images(shape{N, D}, -1, 1, 22);
  const auto labels = random_labels(N, 3, 23);  // about a third correct
  const double clean = accuracy(m, x.view(), labels);
  CHECK(clean > 0.1);
  CHECK(clean < 0.9);
  const tensor<double> f = fgsm(m, x, labels, 0.0);
  philox rng(24);
  const tensor<double> p = pgd(m, x, labels, 0.0, 0.01, 5, rng);
  for (index_t i = 0; i < x.size(); ++i) {
    CHECK(f[i] == x[i]);
    CHECK(p[i] == x[i]);
  }
  CHECK(rng.offset() == 0);
  CHECK(accuracy(m, f.view(), labels) == clean);
  for (attack kind : {attack::fgsm, attack::pgd}) {
    const auto curve = robustness_curve(m, x.view(), labels, {0.0}, kind, rng);
    REQUIRE(curve.size() == 1);
    CHECK(curve[0].eps == 0.0);
    CHECK(curve[0].accuracy == clean);
  }
}

TEST_CASE("robustness_curve: batch by batch, exact on a two-class linear model") {
  // With images in [-0.5, 0.5] and eps <= 0.4 nothing is clamped, so under FGSM (and PGD,
  // which reaches the same corner) image i stays correct iff margin_i > eps ||w_y - w_o||_1.
  const index_t N = 1001, D = 16;
  linear_model<double> m(2, D, 31);
  const tensor<double> x = uniform_images(shape{N, 1, 4, 4}, -0.5, 0.5, 32);
  const auto labels = predicted(m, x);
  const std::vector<double> eps{0.0, 0.01, 0.03, 0.1, 0.4};
  std::vector<double> expected;
  for (double e : eps) {
    index_t ok = 0;
    for (index_t i = 0; i < N; ++i) {
      const int y = labels[static_cast<std::size_t>(i)];
      double l1 = 0;
      for (index_t j = 0; j < D; ++j) l1 += std::abs(m.w(y, j) - m.w(1 - y, j));
      ok += m.margin(x, i, y) > e * l1;
    }
    expected.push_back(double(ok) / double(N));
  }
  CHECK(expected.front() == 1.0);
  CHECK(expected.back() < 0.2);
  philox rng(33);
  for (attack kind : {attack::fgsm, attack::pgd})
    for (index_t batch : {index_t(64), index_t(5000)}) {
      INFO("attack " << (kind == attack::fgsm ? "fgsm" : "pgd") << ", batch " << batch);
      attack_options opt;
      opt.batch = batch;
      opt.iters = 20;
      const int before = m.logits_calls;
      const auto curve = robustness_curve(m, x.view(), labels, eps, kind, rng, opt);
      REQUIRE(curve.size() == eps.size());
      for (std::size_t k = 0; k < eps.size(); ++k) {
        CHECK(curve[k].eps == eps[k]);
        CHECK(curve[k].accuracy == expected[k]);
      }
      // Batches of at most `batch` images: (ceil(N / batch)) logits calls per eps, plus
      // the attacks' own (1 per FGSM, 20 per PGD) for eps > 0.
      const int batches = static_cast<int>((N + batch - 1) / batch), per_attack = kind == attack::fgsm ? 1 : 20;
      CHECK(m.logits_calls - before == batches * (5 + 4 * per_attack));
    }
}

TEST_CASE("network_classifier adapts a network with forward / backward") {
  const index_t N = 40, D = 12, C = 3;
  linear_model<double> ref(C, D, 41);
  nn::linear<double> layer(D, C);
  std::copy(ref.W.begin(), ref.W.end(), layer.weight().begin());
  std::copy(ref.b.begin(), ref.b.end(), layer.bias().begin());
  network_classifier net(layer);
  const tensor<double> x = uniform_images(shape{N, D}, -1, 1, 42);
  const auto labels = random_labels(N, C, 43);
  CHECK(accuracy(net, x.view(), labels) == accuracy(ref, x.view(), labels));
  const tensor<double> a = fgsm(net, x, labels, 0.05), b = fgsm(ref, x, labels, 0.05);
  for (index_t i = 0; i < x.size(); ++i) CHECK(a[i] == b[i]);
}

namespace {
// Misbehaving classifiers for the error tests.
struct wrong_rows {
  using value_type = double;
  tensor<double> z, g;
  const tensor<double>& logits(const tensor<double>& x) { return z = tensor<double>(shape{x.extent(0) + 1, 3}); }
  const tensor<double>& logits_input_grad(const tensor<double>&) { return g; }
};
struct wrong_grad {
  using value_type = double;
  tensor<double> z, g;
  const tensor<double>& logits(const tensor<double>& x) { return z = tensor<double>(shape{x.extent(0), 3}); }
  const tensor<double>& logits_input_grad(const tensor<double>& gz) {
    return g = tensor<double>(shape{gz.extent(0), 7});
  }
};
struct one_class {
  using value_type = double;
  tensor<double> z, g;
  const tensor<double>& logits(const tensor<double>& x) { return z = tensor<double>(shape{x.extent(0), 1}); }
  const tensor<double>& logits_input_grad(const tensor<double>&) { return g; }
};
struct nan_logits {
  using value_type = double;
  tensor<double> z, g;
  const tensor<double>& logits(const tensor<double>& x) {
    z = tensor<double>(shape{x.extent(0), 2});
    z(1, 1) = std::numeric_limits<double>::quiet_NaN();
    return z;
  }
  const tensor<double>& logits_input_grad(const tensor<double>&) { return g; }
};
}  // namespace

TEST_CASE("attacks refuse mismatched labels, shapes and settings with clear errors") {
  linear_model<double> m(3, 4, 51);
  const tensor<double> x = uniform_images(shape{5, 4}, -1, 1, 52);
  const std::vector<int> labels{0, 1, 2, 0, 1}, short_labels{0, 1, 2};
  philox rng(1);
  CHECK_THROWS_WITH_AS(fgsm(m, x, short_labels, 0.1), doctest::Contains("fgsm: 3 labels for 5 images"), ebm::error);
  CHECK_THROWS_WITH_AS(pgd(m, x, short_labels, 0.1, 0.01, 3, rng), doctest::Contains("pgd: 3 labels for 5 images"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(accuracy(m, x.view(), short_labels), doctest::Contains("accuracy: 3 labels for 5 images"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(robustness_curve(m, x.view(), short_labels, {0.1}, attack::fgsm, rng),
                       doctest::Contains("3 labels for 5 images"), ebm::error);
  const std::vector<int> bad_label{0, 1, 3, 0, 1}, negative{0, -1, 0, 0, 0};
  CHECK_THROWS_WITH_AS(fgsm(m, x, bad_label, 0.1), doctest::Contains("label 3 of image 2 is out of range [0, 3)"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(accuracy(m, x.view(), negative), doctest::Contains("label -1 of image 1"), ebm::error);

  tensor<double> outside = x;
  outside(3, 2) = 1.5;
  CHECK_THROWS_WITH_AS(fgsm(m, outside, labels, 0.1),
                       doctest::Contains("image 3 has value 1.5 at index 2, outside the pixel range [-1, 1]"),
                       ebm::error);
  CHECK_NOTHROW(fgsm(m, outside, labels, 0.1, -2.0, 2.0));
  CHECK_THROWS_WITH_AS(fgsm(m, x, labels, -0.1), doctest::Contains("eps must be non-negative"), ebm::error);
  CHECK_THROWS_WITH_AS(fgsm(m, x, labels, 0.1, 1.0, -1.0), doctest::Contains("need lo < hi"), ebm::error);
  CHECK_THROWS_WITH_AS(pgd(m, x, labels, 0.1, 0.0, 3, rng), doctest::Contains("the step must be positive"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(pgd(m, x, labels, 0.1, 0.01, -1, rng), doctest::Contains("iters must be non-negative"),
                       ebm::error);
  attack_options opt;
  opt.batch = 0;
  CHECK_THROWS_WITH_AS(robustness_curve(m, x.view(), labels, {0.1}, attack::fgsm, rng, opt),
                       doctest::Contains("batch size must be positive"), ebm::error);
  CHECK_THROWS_WITH_AS(robustness_curve(m, x.view(), labels, {0.1, -0.2}, attack::fgsm, rng),
                       doctest::Contains("eps must be non-negative, got -0.2"), ebm::error);
  CHECK_THROWS_WITH_AS(accuracy(m, tensor<double>(shape{0, 4}).view(), std::vector<int>{}),
                       doctest::Contains("non-empty batch"), ebm::error);

  wrong_rows rows;
  CHECK_THROWS_WITH_AS(fgsm(rows, x, labels, 0.1),
                       doctest::Contains("logits of shape [6, 3] for 5 images (expected [5, classes])"), ebm::error);
  wrong_grad grads;
  CHECK_THROWS_WITH_AS(fgsm(grads, x, labels, 0.1),
                       doctest::Contains("fgsm: shape mismatch, expected [5, 4] but got [5, 7]"), ebm::error);
  one_class single;
  CHECK_THROWS_WITH_AS(accuracy(single, x.view(), std::vector<int>(5, 0)), doctest::Contains("at least 2 classes"),
                       ebm::error);
  nan_logits nans;
  CHECK_THROWS_WITH_AS(fgsm(nans, x, std::vector<int>(5, 0), 0.1),
                       doctest::Contains("the logits of image 1 are not finite"), ebm::error);
}
