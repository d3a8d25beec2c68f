#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include <ebm/core/philox.hpp>
#include <ebm/sample/interpolate.hpp>

using namespace ebm;

namespace {
template <class T>
double norm(const T* p, index_t n) {
  double s = 0;
  for (index_t i = 0; i < n; ++i) s += double(p[i]) * double(p[i]);
  return std::sqrt(s);
}
template <class T>
double angle(const T* p, const T* q, index_t n) {
  double d = 0;
  for (index_t i = 0; i < n; ++i) d += double(p[i]) * double(q[i]);
  return std::acos(std::clamp(d / (norm(p, n) * norm(q, n)), -1.0, 1.0));
}
template <class T>
tensor<T> normal(const shape& s, std::uint64_t seed) {
  tensor<T> x(s);
  philox rng(seed);
  rng.fill_normal(x.span());
  return x;
}
}  // namespace

TEST_CASE("slerp: end points are exact, the angle moves linearly, a quarter circle by hand") {
  tensor<double> a(shape{1, 2}), b(shape{1, 2});
  a[0] = 2, a[1] = 0, b[0] = 0, b[1] = 2;
  const tensor<double> mid = slerp(a, b, 0.5);
  CHECK(mid[0] == doctest::Approx(std::sqrt(2.0)).epsilon(1e-15));
  CHECK(mid[1] == doctest::Approx(std::sqrt(2.0)).epsilon(1e-15));
  const tensor<double> third = slerp(a, b, 1.0 / 3);
  CHECK(third[0] == doctest::Approx(2 * std::cos(std::numbers::pi / 6)).epsilon(1e-15));
  CHECK(third[1] == doctest::Approx(2 * std::sin(std::numbers::pi / 6)).epsilon(1e-15));

  // Batches [N, C, H, W]: each sample on its own great circle.
  for (double lambda : {0.0, 1.0}) {
    const auto x = normal<float>(shape{3, 2, 4, 4}, 1), y = normal<float>(shape{3, 2, 4, 4}, 2);
    const tensor<float> s = slerp(x, y, float(lambda));
    CHECK(std::memcmp(s.data(), (lambda == 0 ? x : y).data(), sizeof(float) * s.size()) == 0);
  }
  // With equal norms the angle to a grows linearly in lambda.
  const auto x = normal<double>(shape{3, 50}, 3);
  auto y = normal<double>(shape{3, 50}, 4);
  for (index_t n = 0; n < 3; ++n) {
    const double r = norm(x.data() + n * 50, 50) / norm(y.data() + n * 50, 50);
    for (index_t j = 0; j < 50; ++j) y[n * 50 + j] *= r;
  }
  for (double lambda : {0.1, 0.5, 0.8}) {
    const tensor<double> s = slerp(x, y, lambda);
    for (index_t n = 0; n < 3; ++n) {
      const double theta = angle(x.data() + n * 50, y.data() + n * 50, 50);
      CHECK(angle(x.data() + n * 50, s.data() + n * 50, 50) == doctest::Approx(lambda * theta).epsilon(1e-10));
      CHECK(angle(s.data() + n * 50, y.data() + n * 50, 50) == doctest::Approx((1 - lambda) * theta).epsilon(1e-10));
    }
  }
}

TEST_CASE("slerp keeps the norm of equal-norm noises; lerp does not") {
  const index_t D = 3 * 16 * 16;
  auto a = normal<double>(shape{1, 3, 16, 16}, 5), b = normal<double>(shape{1, 3, 16, 16}, 6);
  const double na = norm(a.data(), D), scale = na / norm(b.data(), D);
  for (double& v : b) v *= scale;
  for (double lambda : {0.05, 0.25, 0.5, 0.75, 0.99}) {
    const tensor<double> s = slerp(a, b, lambda);
    CHECK(norm(s.data(), D) == doctest::Approx(na).epsilon(1e-12));
  }
  // Two independent noises are nearly orthogonal: the lerp midpoint has ~1/sqrt(2) of the norm.
  const tensor<double> l = lerp(a, b, 0.5);
  CHECK(norm(l.data(), D) / na == doctest::Approx(std::sqrt(0.5)).epsilon(0.05));

  // The path: [K, ...], first and last exact, norms kept (float: to float rounding).
  const auto fa = tensor_cast<float>(a), fb = tensor_cast<float>(b);
  const tensor<float> path = slerp_path(fa, fb, 9);
  CHECK(path.shape() == shape{9, 3, 16, 16});
  CHECK(std::memcmp(path.data(), fa.data(), sizeof(float) * D) == 0);
  CHECK(std::memcmp(path.data() + 8 * D, fb.data(), sizeof(float) * D) == 0);
  for (index_t k = 0; k < 9; ++k) {
    CHECK(norm(path.data() + k * D, D) == doctest::Approx(na).epsilon(1e-5));
    const tensor<float> one = slerp(fa, fb, float(k) / 8);
    for (index_t j = 0; j < D; ++j) CHECK(path[k * D + j] == doctest::Approx(one[j]).epsilon(1e-6));
  }
}

TEST_CASE("slerp falls back to lerp for parallel, opposite and zero samples") {
  tensor<double> a(shape{3, 2}), b(shape{3, 2});
  // Sample 0: parallel (b = 2a); 1: opposite; 2: a zero vector.
  a(0, 0) = 1, a(0, 1) = 1, b(0, 0) = 2, b(0, 1) = 2;
  a(1, 0) = 1, a(1, 1) = -2, b(1, 0) = -1, b(1, 1) = 2;
  a(2, 0) = 0, a(2, 1) = 0, b(2, 0) = 3, b(2, 1) = 1;
  for (double lambda : {0.0, 0.3, 0.5, 1.0}) {
    const tensor<double> s = slerp(a, b, lambda), l = lerp(a, b, lambda);
    for (index_t i = 0; i < s.size(); ++i) CHECK(s[i] == doctest::Approx(l[i]).epsilon(1e-15));
  }
  // Nearly parallel (angle 1e-9): lerp, which is within 1e-18 of the exact slerp there.
  a(0, 0) = 1, a(0, 1) = 0, b(0, 0) = 1, b(0, 1) = 1e-9;
  const tensor<double> s = slerp(a, b, 0.5);
  CHECK(s(0, 0) == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(s(0, 1) == doctest::Approx(0.5e-9).epsilon(1e-9));
  // Just above the threshold (angle 1e-5) the formula is still accurate.
  b(0, 0) = std::cos(1e-5), b(0, 1) = std::sin(1e-5);
  const tensor<double> t = slerp(a, b, 0.5);
  CHECK(std::atan2(t(0, 1), t(0, 0)) == doctest::Approx(0.5e-5).epsilon(1e-9));
  CHECK(std::hypot(t(0, 0), t(0, 1)) == doctest::Approx(1.0).epsilon(1e-15));
}

TEST_CASE("interpolation refuses mismatched shapes") {
  const tensor<double> a(shape{2, 3}, 1.0), b(shape{2, 4}, 1.0), c(shape{3, 3}, 1.0);
  CHECK_THROWS_WITH_AS(slerp(a, b, 0.5), doctest::Contains("slerp: shape mismatch, expected [2, 3] but got [2, 4]"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(slerp(a, c, 0.5), doctest::Contains("shape mismatch"), ebm::error);
  CHECK_THROWS_WITH_AS(lerp(a, b, 0.5), doctest::Contains("lerp: shape mismatch"), ebm::error);
  CHECK_THROWS_WITH_AS(slerp_path(a, a, 4), doctest::Contains("single samples [1, ...], got [2, 3]"), ebm::error);
  const tensor<double> one(shape{1, 3}, 1.0), other(shape{1, 2}, 1.0);
  CHECK_THROWS_WITH_AS(slerp_path(one, other, 4), doctest::Contains("slerp_path: shape mismatch"), ebm::error);
  CHECK_THROWS_WITH_AS(slerp_path(one, one, 1), doctest::Contains("need at least 2 interpolants"), ebm::error);
  const tensor<double> scalar(shape{}, 1.0);
  CHECK_THROWS_WITH_AS(slerp(scalar, scalar, 0.5), doctest::Contains("rank-0"), ebm::error);
}
