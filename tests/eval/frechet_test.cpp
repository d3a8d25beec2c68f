#include <doctest/doctest.h>

#include <Eigen/QR>
#include <cmath>
#include <ebm/core/philox.hpp>
#include <ebm/eval/frechet.hpp>

using namespace ebm;
using eval::gaussian_stats;

namespace {
gaussian_stats make(Eigen::VectorXd mean, Eigen::MatrixXd cov) {
  gaussian_stats g;
  g.mean = std::move(mean);
  g.cov = std::move(cov);
  g.count = 100;
  return g;
}
Eigen::VectorXd vec(std::initializer_list<double> v) {
  Eigen::VectorXd r(static_cast<Eigen::Index>(v.size()));
  Eigen::Index i = 0;
  for (double x : v) r[i++] = x;
  return r;
}
}  // namespace

TEST_CASE("frechet_distance: one dimension, N(0, 1) against N(1, 4)") {
  // (0 - 1)^2 + 1 + 4 - 2 sqrt(1 * 4) = 2.
  const auto a = make(vec({0}), Eigen::MatrixXd::Constant(1, 1, 1.0));
  const auto b = make(vec({1}), Eigen::MatrixXd::Constant(1, 1, 4.0));
  CHECK(eval::frechet_distance(a, b) == doctest::Approx(2.0).epsilon(1e-14));
  CHECK(eval::frechet_distance(b, a) == doctest::Approx(2.0).epsilon(1e-14));
}

TEST_CASE("frechet_distance: diagonal covariances match the closed form") {
  // For diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
  const Eigen::VectorXd da = vec({0.5, 2.0, 3.0, 0.1, 7.0}), db = vec({1.5, 0.25, 3.0, 4.0, 0.01});
  const Eigen::VectorXd ma = vec({1, 2, 3, 4, 5}), mb = vec({0, 2, -1, 4, 5.5});
  const auto a = make(ma, da.asDiagonal().toDenseMatrix());
  const auto b = make(mb, db.asDiagonal().toDenseMatrix());
  double expected = (ma - mb).squaredNorm();
  for (int i = 0; i < 5; ++i) expected += std::pow(std::sqrt(da[i]) - std::sqrt(db[i]), 2);
  CHECK(eval::frechet_distance(a, b) == doctest::Approx(expected).epsilon(1e-12));
}

TEST_CASE("frechet_distance: rotated commuting covariances keep the closed form") {
  // Sigma_i = Q diag(l_i) Q^T with one orthogonal Q: tr sqrt(S1 S2) = sum sqrt(l1 l2).
  Eigen::MatrixXd r(4, 4);
  r << 1, 2, 0, 1, -1, 3, 1, 0, 2, 0, 1, -2, 0, 1, 4, 1;
  const Eigen::MatrixXd q = Eigen::HouseholderQR<Eigen::MatrixXd>(r).householderQ();
  const Eigen::VectorXd l1 = vec({4, 1, 0.25, 9}), l2 = vec({1, 1, 16, 0.04});
  const auto a = make(Eigen::VectorXd::Zero(4), q * l1.asDiagonal() * q.transpose());
  const auto b = make(Eigen::VectorXd::Zero(4), q * l2.asDiagonal() * q.transpose());
  double expected = 0;
  for (int i = 0; i < 4; ++i) expected += std::pow(std::sqrt(l1[i]) - std::sqrt(l2[i]), 2);
  CHECK(eval::frechet_distance(a, b) == doctest::Approx(expected).epsilon(1e-10));
}

TEST_CASE("frechet_distance: a non-commuting pair computed by hand") {
  // S1 S2 = [[2, 3], [1, 6]]: trace 8, determinant 9.  For a 2x2 matrix with
  // positive eigenvalues tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) = sqrt(14),
  // so d^2 = 4 + 4 - 2 sqrt(14) (equal means).
  Eigen::MatrixXd s1(2, 2), s2(2, 2);
  s1 << 2, 1, 1, 2;
  s2 << 1, 0, 0, 3;
  CHECK(eval::trace_sqrt_product(s1, s2) == doctest::Approx(std::sqrt(14.0)).epsilon(1e-13));
  CHECK(eval::trace_sqrt_product(s2, s1) == doctest::Approx(std::sqrt(14.0)).epsilon(1e-13));
  const auto a = make(vec({1, 1}), s1), b = make(vec({1, 1}), s2);
  CHECK(eval::frechet_distance(a, b) == doctest::Approx(8 - 2 * std::sqrt(14.0)).epsilon(1e-13));
}

TEST_CASE("frechet_distance: singular covariances stay finite") {
  // diag(1, 0) against diag(0, 1): tr sqrt(S1 S2) = 0, d^2 = 1 + 1.
  Eigen::MatrixXd s1 = Eigen::MatrixXd::Zero(2, 2), s2 = Eigen::MatrixXd::Zero(2, 2);
  s1(0, 0) = 1;
  s2(1, 1) = 1;
  CHECK(eval::frechet_distance(make(Eigen::VectorXd::Zero(2), s1), make(Eigen::VectorXd::Zero(2), s2)) ==
        doctest::Approx(2.0).epsilon(1e-14));
  // A rank-one covariance against itself is at distance 0, not NaN.
  Eigen::MatrixXd r1 = vec({1, 2, 3}) * vec({1, 2, 3}).transpose();
  const auto g = make(vec({0, 0, 0}), r1);
  const double d = eval::frechet_distance(g, g);
  CHECK(std::isfinite(d));
  CHECK(d == doctest::Approx(0.0).epsilon(1e-7));
}

TEST_CASE("fit_gaussian: mean and unbiased covariance of a small set") {
  // Rows (1, 2), (3, 4), (5, 0): mean (3, 2); deviations x: -2, 0, 2 and
  // y: 0, 2, -2; so var x = var y = 8/2 = 4 and cov = -4/2 = -2.
  const float data[] = {1, 2, 3, 4, 5, 0};
  const auto g = eval::fit_gaussian<float>(tensor_view<const float>(data, shape{3, 2}));
  CHECK(g.count == 3);
  CHECK(g.mean[0] == doctest::Approx(3));
  CHECK(g.mean[1] == doctest::Approx(2));
  CHECK(g.cov(0, 0) == doctest::Approx(4));
  CHECK(g.cov(1, 1) == doctest::Approx(4));
  CHECK(g.cov(0, 1) == doctest::Approx(-2));
  CHECK(g.cov(1, 0) == doctest::Approx(-2));
  CHECK_THROWS_AS(eval::fit_gaussian<float>(tensor_view<const float>(data, shape{1, 6})), ebm::error);
}

TEST_CASE("frechet_distance on features: identical sets give 0, a shift gives its squared length") {
  tensor<double> a(shape{500, 3});
  philox rng(7);
  rng.fill_normal<double>(a.span());
  tensor<double> b(a);
  CHECK(eval::frechet_distance<double>(a.view(), b.view()) == doctest::Approx(0.0).epsilon(1e-9));
  for (index_t i = 0; i < 500; ++i) b(i, 1) += 2.0;  // same covariance, mean moved by (0, 2, 0)
  CHECK(eval::frechet_distance<double>(a.view(), b.view()) == doctest::Approx(4.0).epsilon(1e-9));
}

TEST_CASE("frechet_distance: large samples approach the distance of their Gaussians") {
  // x ~ N(0, I) and y = 2 x' + 1 with x' ~ N(0, I) in 4 dimensions:
  // d^2 = 4 * 1 + 4 + 16 - 2 * 4 * 2 = 8.
  const index_t n = 40000, d = 4;
  tensor<double> x(shape{n, d}), y(shape{n, d});
  philox rng(11);
  rng.fill_normal<double>(x.span());
  rng.fill_normal<double>(y.span(), 1.0, 2.0);
  CHECK(eval::frechet_distance<double>(x.view(), y.view()) == doctest::Approx(8.0).epsilon(0.02));
}
