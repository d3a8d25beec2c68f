#include <doctest/doctest.h>

#include <ebm/ebm.hpp>
#include <ebm/testing/derivative_check.hpp>

using namespace ebm;
using ebm::testing::check_derivatives;

TEST_CASE("linear: forward values and the derivative contract") {
  nn::linear<double> l(3, 2);
  l.weight() = tensor<double>(shape{2, 3});
  for (int i = 0; i < 6; ++i) l.weight()[i] = i + 1;  // [[1,2,3],[4,5,6]]
  l.bias()[0] = 0.5, l.bias()[1] = -1;
  tensor<double> x(shape{1, 3});
  x[0] = 1, x[1] = 0, x[2] = -1;
  const auto& y = l.forward(x);
  CHECK(y.shape() == shape{1, 2});
  CHECK(y[0] == doctest::Approx(-2 + 0.5));
  CHECK(y[1] == doctest::Approx(-2 - 1));

  nn::linear<double> l2(5, 3);
  auto r = check_derivatives(l2, shape{4, 5});
  INFO(r.str());
  CHECK(r.ok());
  // [N, C, H, W] inputs are read as [N, C*H*W].
  nn::linear<double> l3(12, 2, false);
  r = check_derivatives(l3, shape{2, 3, 2, 2});
  INFO(r.str());
  CHECK(r.ok());
}

TEST_CASE("linear: bad shapes are reported with what was expected") {
  nn::linear<float> l(5, 3);
  tensor<float> x(shape{4, 6});
  CHECK_THROWS_WITH_AS(l.forward(x), doctest::Contains("expected input [N, 5]"), ebm::error);
  CHECK_THROWS_AS(nn::linear<float>(0, 3), ebm::error);
  tensor<float> ok(shape{4, 5});
  l.forward(ok);
  tensor<float> bad_gy(shape{4, 2});
  CHECK_THROWS_WITH_AS(l.backward(bad_gy), doctest::Contains("expected [4, 3] but got [4, 2]"), ebm::error);
}

template <class Act>
void check_activation(Act a, const char* name) {
  INFO(name);
  nn::activation<Act, double> layer(a);
  auto r = check_derivatives(layer, shape{3, 2, 4, 4});
  INFO(r.str());
  CHECK(r.ok());
  // f' and f'' of the policy itself against central differences of f.
  for (double x : {-3.1, -1.2, -0.3, 0.4, 1.1, 2.7}) {
    const double h = 1e-5;
    CHECK(a.df(x) == doctest::Approx((a.f(x + h) - a.f(x - h)) / (2 * h)).epsilon(1e-7));
    CHECK(a.d2f(x) == doctest::Approx((a.df(x + h) - a.df(x - h)) / (2 * h)).epsilon(1e-6));
  }
}

TEST_CASE("activations: f, f', f'' and the layer contract") {
  check_activation(act::swish{}, "swish");
  check_activation(act::gelu{}, "gelu");
  check_activation(act::celu{0.7}, "celu");
  check_activation(act::softplus{}, "softplus");
  check_activation(act::tanh{}, "tanh");
  check_activation(act::sigmoid{}, "sigmoid");
  check_activation(act::relu{}, "relu");
  check_activation(act::leaky_relu{0.1}, "leaky_relu");
  check_activation(act::identity{}, "identity");
}

TEST_CASE("activations: reference values and numerical stability") {
  CHECK(act::swish{}.f(1.0) == doctest::Approx(0.7310585786300049));
  CHECK(act::gelu{}.f(1.0) == doctest::Approx(0.8413447460685429));
  CHECK(act::softplus{}.f(0.0) == doctest::Approx(0.6931471805599453));
  CHECK(act::softplus{}.f(800.0) == doctest::Approx(800.0));
  CHECK(act::softplus{}.f(-800.0) == doctest::Approx(0.0));
  CHECK(std::isfinite(act::swish{}.df(-800.0f)));
  CHECK(act::celu{2.0}.f(-1.0) == doctest::Approx(2.0 * (std::exp(-0.5) - 1)));
}

TEST_CASE("activations: the float kernels (vectorised swish) agree with double") {
  // elementwise<cpu> runs swish in float through a vectorised sigmoid on
  // AVX-512; every pass must match the double policy, including the
  // saturated tails and a length that leaves a partial vector.
  const index_t n = 16 * 7 + 5;
  std::vector<float> x(n), dx(n), gy(n), dgy(n), y(n), d(n), dgx(n);
  philox rng(11);
  for (index_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(rng.normal() * 4.0);
    dx[i] = static_cast<float>(rng.normal());
    gy[i] = static_cast<float>(rng.normal());
    dgy[i] = static_cast<float>(rng.normal());
  }
  const float extremes[] = {0.0f, -0.0f, 1e-6f, -30.0f, 30.0f, -88.0f, 88.0f, -150.0f, 150.0f, -1e4f, 1e4f};
  for (std::size_t i = 0; i < std::size(extremes); ++i) x[i] = extremes[i];
  for (int threads : {1, 2}) {
    const cpu dev(threads);
    const act::swish a;
    elementwise<cpu>::act_forward(dev, a, x.data(), y.data(), d.data(), n);
    elementwise<cpu>::act_backward_tangent(dev, a, x.data(), d.data(), dx.data(), gy.data(), dgy.data(),
                                           dgx.data(), n);
    for (index_t i = 0; i < n; ++i) {
      const double xi = x[i];
      const double fy = a.f(xi), fd = a.df(xi);
      const double fdgx = a.d2f(xi) * dx[i] * gy[i] + fd * dgy[i];
      CAPTURE(xi);
      CHECK(std::isfinite(y[i]));
      CHECK(std::isfinite(d[i]));
      CHECK(std::isfinite(dgx[i]));
      CHECK(std::abs(y[i] - fy) <= 1e-6 * std::max(1.0, std::abs(fy)));
      CHECK(std::abs(d[i] - fd) <= 1e-6 * std::max(1.0, std::abs(fd)));
      CHECK(std::abs(dgx[i] - fdgx) <= 2e-6 * std::max(1.0, std::abs(fdgx)));
    }
  }
}

TEST_CASE("sequential: an MLP passes the checker; parameters are named by position") {
  nn::sequential net{nn::linear<double>(4, 6), nn::swish<double>{}, nn::linear<double>(6, 5),
                     nn::softplus<double>{}, nn::linear<double>(5, 1)};
  auto params = collect_params(net);
  REQUIRE(params.size() == 6);
  CHECK(params[0].name == "0.weight");
  CHECK(params[5].name == "4.bias");
  CHECK(param_count(net) == 4 * 6 + 6 + 6 * 5 + 5 + 5 + 1);
  auto r = check_derivatives(net, shape{3, 4});
  INFO(r.str());
  CHECK(r.ok());
}

TEST_CASE("initialize: a seed reproduces the parameters") {
  nn::sequential a{nn::linear<float>(4, 6), nn::linear<float>(6, 1)};
  nn::sequential b{nn::linear<float>(4, 6), nn::linear<float>(6, 1)};
  nn::initialize(a, 9);
  nn::initialize(b, 9);
  auto pa = collect_params(a), pb = collect_params(b);
  for (std::size_t i = 0; i < pa.size(); ++i)
    for (index_t j = 0; j < pa[i].value->size(); ++j) CHECK((*pa[i].value)[j] == (*pb[i].value)[j]);
}

TEST_CASE("the checker catches a wrong derivative") {
  // A deliberately broken activation: f' off by 1%.
  struct bad {
    double f(double x) const { return x * x * x; }
    double df(double x) const { return 3.03 * x * x; }
    double d2f(double x) const { return 6 * x; }
  };
  nn::activation<bad, double> layer;
  auto r = check_derivatives(layer, shape{2, 3});
  CHECK_FALSE(r.ok());
}
