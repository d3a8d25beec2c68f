#include <doctest/doctest.h>

#include <Eigen/Core>
#include <cmath>
#include <ebm/eval/pca_gaussian.hpp>
#include <vector>

using namespace ebm;

namespace {
// Two classes in 6 pixels that live in the plane spanned by u = (1,1,0,0,0,0)/√2
// and v = (0,0,1,-1,0,0)/√2 around the pixel offset c: class 0 has
// coefficients N((−0.3, 0.1), diag(0.01, 0.0025)), class 1 has
// N((0.3, −0.1), diag(0.0025, 0.01)).  Three quarters are class 0.
struct plane_data {
  tensor<float> images;
  std::vector<int> labels;
};
plane_data make_data(index_t n, std::uint64_t seed) {
  plane_data d;
  d.images = tensor<float>(shape{n, 1, 2, 3});
  d.labels.resize(static_cast<std::size_t>(n));
  philox rng(seed);
  const double s = 1 / std::sqrt(2.0);
  const double c[6] = {0.1, 0.1, -0.2, -0.2, 0.05, 0.0};
  for (index_t i = 0; i < n; ++i) {
    const int k = i % 4 == 3 ? 1 : 0;
    d.labels[static_cast<std::size_t>(i)] = k;
    const double a = (k ? 0.3 : -0.3) + (k ? 0.05 : 0.1) * rng.normal();
    const double b = (k ? -0.1 : 0.1) + (k ? 0.1 : 0.05) * rng.normal();
    const double px[6] = {c[0] + a * s, c[1] + a * s, c[2] + b * s, c[3] - b * s, c[4], c[5]};
    for (int j = 0; j < 6; ++j) d.images[i * 6 + j] = static_cast<float>(px[j]);
  }
  return d;
}
}  // namespace

TEST_CASE("pca_gaussian: recovers the data plane, class priors and class Gaussians") {
  const auto d = make_data(8000, 1);
  eval::pca_gaussian<float> g(d.images.view(), d.labels, 2);
  CHECK(g.components() == 2);
  CHECK(g.num_classes() == 2);
  CHECK(g.explained_variance() == doctest::Approx(1.0).epsilon(1e-6));  // the data is planar
  const Eigen::MatrixXd& b = g.basis();
  CHECK((b.transpose() * b - Eigen::MatrixXd::Identity(2, 2)).norm() < 1e-10);
  // The basis spans u and v: projecting them onto it loses nothing.
  Eigen::VectorXd u = Eigen::VectorXd::Zero(6), v = Eigen::VectorXd::Zero(6);
  u[0] = u[1] = v[2] = 1 / std::sqrt(2.0);
  v[3] = -1 / std::sqrt(2.0);
  CHECK((b * (b.transpose() * u) - u).norm() < 1e-6);
  CHECK((b * (b.transpose() * v) - v).norm() < 1e-6);
  CHECK(g.prior(0) == doctest::Approx(0.75));
  CHECK(g.prior(1) == doctest::Approx(0.25));
  // The first component is mostly u, along which the classes are separated
  // (not exactly: the class means also differ along v, which tilts it).
  CHECK(std::abs(b.col(0).dot(u)) > 0.9);
  // Class covariances in component space: the spreads 0.1/0.05 (class 0) and 0.05/0.1 (class 1).
  Eigen::MatrixXd uv(6, 2);
  uv << u, v;
  const Eigen::MatrixXd r = b.transpose() * uv;  // rotation from (u, v) coefficients to components
  const Eigen::MatrixXd cov0 = r.transpose() * g.class_cov(0) * r, cov1 = r.transpose() * g.class_cov(1) * r;
  CHECK(cov0(0, 0) == doctest::Approx(0.01).epsilon(0.06));
  CHECK(cov0(1, 1) == doctest::Approx(0.0025).epsilon(0.06));
  CHECK(cov1(0, 0) == doctest::Approx(0.0025).epsilon(0.1));
  CHECK(cov1(1, 1) == doctest::Approx(0.01).epsilon(0.1));
  // Components are centred on the overall mean, coefficients (−0.15, 0.05):
  // class 1 sits at (0.3, −0.1) − (−0.15, 0.05) = (0.45, −0.15).
  const Eigen::Vector2d m1 = r.transpose() * g.class_mean(1);
  CHECK(m1[0] == doctest::Approx(0.45).epsilon(0.02));
  CHECK(m1[1] == doctest::Approx(-0.15).epsilon(0.05));
}

TEST_CASE("pca_gaussian: samples follow the fitted classes and stay in [-1, 1]") {
  const auto d = make_data(4000, 2);
  eval::pca_gaussian<float> g(d.images.view(), d.labels, 2);
  philox rng(3);
  std::vector<int> labels;
  const tensor<float> x = g.sample(20000, rng, &labels);
  CHECK(x.shape() == shape{20000, 1, 2, 3});
  index_t ones = 0;
  double mean_a1 = 0;
  const double s = 1 / std::sqrt(2.0);
  for (index_t i = 0; i < 20000; ++i) {
    const int k = labels[static_cast<std::size_t>(i)];
    ones += k;
    // The coefficient along u of class-1 samples has mean 0.3.
    if (k) mean_a1 += (double(x[i * 6]) - 0.1) / s;
    CHECK(x[i * 6 + 4] == doctest::Approx(0.05).epsilon(1e-4));  // the constant pixel
  }
  CHECK(double(ones) / 20000 == doctest::Approx(0.25).epsilon(0.05));
  CHECK(mean_a1 / double(ones) == doctest::Approx(0.3).epsilon(0.03));
  for (float v : x) CHECK((v >= -1.f && v <= 1.f));

  // A deliberately huge class spread is clamped.
  tensor<float> wide(shape{4, 1, 1, 2});
  const float vals[] = {-1, -1, 1, 1, -1, 1, 1, -1};
  std::copy_n(vals, 8, wide.data());
  const std::vector<int> one_class(4, 0);
  eval::pca_gaussian<float> gw(wide.view(), one_class, 2);
  const tensor<float> xw = gw.sample(500, rng);
  float lo = 0, hi = 0;
  for (float v : xw) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo == -1.f);
  CHECK(hi == 1.f);
}

TEST_CASE("pca_gaussian: deterministic for a thread count, and argument errors") {
  const auto d = make_data(3000, 4);
  eval::pca_gaussian<float> a(d.images.view(), d.labels, 2, cpu(1)), b(d.images.view(), d.labels, 2, cpu(1));
  philox r1(9), r2(9);
  const tensor<float> xa = a.sample(50, r1), xb = b.sample(50, r2);
  CHECK(std::equal(xa.begin(), xa.end(), xb.begin()));
  CHECK_THROWS_AS(eval::pca_gaussian<float>(d.images.view(), d.labels, 7), ebm::error);
  const std::vector<int> short_labels(10, 0);
  CHECK_THROWS_AS(eval::pca_gaussian<float>(d.images.view(), short_labels, 2), ebm::error);
}
